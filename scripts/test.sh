#!/usr/bin/env bash
# Installs missing Debian packages, configures, builds and runs every test with CTest.
# Exits non-zero on any failure. FOVEA_BUILD_DIR overrides the build directory (build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
fovea_install_deps

build=${FOVEA_BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOVEA_CUDA=off
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
