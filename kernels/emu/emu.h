// Host-side controls of the SIMT emulator that runs CUDA kernels on the CPU: scheduling seed,
// worker threads, fiber stack size, the text of the last error report and per-kernel launch
// counts. The CUDA runtime API itself (cudaMalloc, cudaLaunchKernelEx, ...) comes from
// <cuda_runtime.h> as usual.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fovea::emu {

// Seeds the order in which blocks and the threads of a block are scheduled. The initial seed
// is FOVEA_EMU_SEED from the environment, else a fixed value, so runs are reproducible. Setting
// a seed also restarts the launch sequence numbering that per-launch orders derive from.
void set_seed(std::uint64_t seed);
std::uint64_t seed();

// Worker threads that run blocks (default FOVEA_EMU_WORKERS, else the number of cores).
void set_workers(int count);
int workers();

// Stack bytes of each emulated thread (default FOVEA_EMU_STACK_KB KiB, else 64 KiB, 256 KiB
// under AddressSanitizer).
void set_stack_bytes(std::size_t bytes);
std::size_t stack_bytes();

// The most recent error report (kernel, block, thread, file:line and what went wrong), empty
// when none was made since the last clear_error(). Reports are also printed to stderr.
std::string last_report();

// Forgets the sticky error of a failed launch and its report, as cudaDeviceReset() does,
// without freeing device memory.
void clear_error();

// True when the kernels of this build were compiled for the shared-memory race detector.
bool race_detector_enabled();

struct LaunchCount {
  std::string kernel;  // demangled name, e.g. "fovea::reduce_rows<256>"
  std::uint64_t launches = 0;
};
// Launches that ran, per kernel, in this process.
std::vector<LaunchCount> launch_counts();

}  // namespace fovea::emu
