#!/usr/bin/env bash
# The test suite. Installs missing Debian packages, then:
#   1. builds FOVEA_CUDA=emu (CPU ops + every CUDA kernel on the SIMT emulator) and runs all
#      of ctest: unit, gradcheck, badinput, emu, e2e;
#   2. rebuilds the emulated kernels and their tests under AddressSanitizer and under the
#      shared-memory race detector and runs their emu tests;
#   3. builds FOVEA_CUDA=on with nvcc (CMAKE_CUDA_ARCHITECTURES, default "80;90"): the CUDA
#      targets and what links them, then runs the gpu label (each test says
#      "skipped: no GPU" and why when there is none).
# Exits non-zero on any failure. FOVEA_BUILD_DIR overrides the build directory (build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
fovea_install_deps

build=${FOVEA_BUILD_DIR:-build}
jobs=$(nproc)

echo "== emulated build: all tests"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOVEA_CUDA=emu
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"

echo "== emulated kernels under AddressSanitizer and the race detector"
bash scripts/emu_sanitizer_builds.sh "$build/sanitizers"

echo "== nvcc build (FOVEA_CUDA=on)"
cmake -S . -B "$build/nvcc" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFOVEA_CUDA=on \
      -DCMAKE_CUDA_ARCHITECTURES="${FOVEA_CUDA_ARCHITECTURES:-80;90}"
cmake --build "$build/nvcc" -j "$jobs" --target fovea fovea_cuda_tests
ctest --test-dir "$build/nvcc" -L gpu --output-on-failure -j "$jobs"
