#!/usr/bin/env bash
# The main job: builds the fovea program and runs a small end-to-end training run and
# evaluation on built-in synthetic data, on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
fovea_install_deps

build=${FOVEA_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOVEA_CUDA="${FOVEA_CUDA:-emu}" > /dev/null
cmake --build "$build" --target fovea -j "$(nproc)"
"$build/bin/fovea" info
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$build/bin/fovea" train mlp --steps 300 --seed 0
