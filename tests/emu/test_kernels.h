// Host launchers of tests/emu/test_kernels.cu, the SIMT emulator's self-test kernels. Pointers
// are device memory; each returns the launch status (under the emulator: the kernel's outcome on
// the legacy stream, cudaSuccess when deferred on a created stream).
#pragma once

#include <cuda_runtime.h>

namespace fovea::emu_test {

cudaError_t launch_reverse(bool with_barrier, const int* in, int* out, cudaStream_t stream = nullptr);  // 1 x 64
cudaError_t launch_warp_rotate(bool synced, const int* in, int* out);            // 1 x 32
cudaError_t launch_barrier_after_early_exit(int* out, cudaStream_t stream = nullptr);    // 1 x 32
cudaError_t launch_barrier_in_both_branches(int* out);                           // 1 x 32
cudaError_t launch_shuffle_after_early_exit(int* out);                           // 1 x 32
cudaError_t launch_shuffle_beside_barrier(int* out);                             // 1 x 64
cudaError_t launch_shuffle_with_ballot_mask(int* out);                           // 1 x 64
cudaError_t launch_write_each_thread(dim3 grid, dim3 block, size_t dynamic_shared_bytes, int* out);
cudaError_t allow_write_each_thread_shared_bytes(int bytes);
cudaError_t launch_dynamic_reverse(int n, int read_offset, int* out);            // 1 x n, n ints shared
cudaError_t launch_shuffle_table(int width, int* out);                           // 1 x 32, out 32 x 8
cudaError_t launch_arrival_order(int* next, int* order, cudaStream_t stream = nullptr);  // 1 x 64, order[64]
cudaError_t launch_votes(int* out);                                              // 1 x 64, out 64 x 12
cudaError_t launch_atomics(int blocks, int threads, int* counters, float* sum, unsigned* wrap);

}  // namespace fovea::emu_test
