#!/usr/bin/env bash
# Builds the emulated CUDA kernels and their tests twice more, in BUILD_ROOT/emu-asan
# (AddressSanitizer + UBSan: global overruns) and BUILD_ROOT/emu-race (shared-memory race
# detector), then runs `ctest -L emu` in each. Only the targets behind `fovea_emu_tests` are
# built. Exits non-zero if a configure, build or test fails.
#
# usage: scripts/emu_sanitizer_builds.sh BUILD_ROOT [extra cmake -D options...]
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_ROOT [extra cmake -D options...]" >&2
  exit 2
fi
build_root=$1
shift
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

run_config() {
  local name=$1 build_type=$2 sanitize=$3
  shift 3
  local dir="$build_root/$name"
  echo "== $name: configure ($build_type, FOVEA_EMU_SANITIZE=$sanitize)"
  cmake -S "$source_dir" -B "$dir" -G Ninja -DFOVEA_CUDA=emu -DCMAKE_BUILD_TYPE="$build_type" \
        -DFOVEA_EMU_SANITIZE="$sanitize" "$@" || return 1
  echo "== $name: build fovea_emu_tests"
  cmake --build "$dir" --target fovea_emu_tests -j "$jobs" || return 1
  echo "== $name: ctest -L emu"
  local result=0
  ctest --test-dir "$dir" -L emu -j "$jobs" --output-on-failure || result=1
  if [[ -f "$dir/emu/coverage_summary.txt" ]]; then cat "$dir/emu/coverage_summary.txt"; fi
  return $result
}

status=0
run_config emu-asan Asan address "$@" || status=1
run_config emu-race Release race "$@" || status=1
if [[ $status -ne 0 ]]; then
  echo "emu sanitizer builds: FAILED (see the output above)" >&2
else
  echo "emu sanitizer builds: passed"
fi
exit $status
