// Kernels for the SIMT emulator's self-tests: each bug class the emulator must catch (shared
// race, warp lockstep assumption, barrier divergence, collective deadlock, global overrun,
// dynamic shared overrun) beside a correct kernel that must run without a report, plus kernels
// that pin down the semantics of shuffles, votes, barriers with predicates and atomics.
// They live here, not in kernels/, because most of them are wrong on purpose. Lines tagged
// "// @name" are the sites the tests expect in reports.
#include "tests/emu/test_kernels.h"

#include "emu/portable.h"

namespace fovea::emu_test {

__global__ void reverse_without_barrier(const int* in, int* out) {
  __shared__ int values[64];
  const int t = static_cast<int>(threadIdx.x);
  values[t] = in[t];  // @race-write
  out[t] = values[63 - t];  // @race-read
}

__global__ void reverse_with_barrier(const int* in, int* out) {
  __shared__ int values[64];
  const int t = static_cast<int>(threadIdx.x);
  values[t] = in[t];
  __syncthreads();
  out[t] = values[63 - t];
}

__global__ void warp_rotate_lockstep(const int* in, int* out) {
  __shared__ int ring[32];
  const int lane = static_cast<int>(threadIdx.x);
  ring[lane] = in[lane];
  __syncwarp();
  const int next = ring[(lane + 1) % 32];  // @lockstep-read
  ring[lane] = next;  // @lockstep-write
  __syncwarp();
  out[lane] = ring[lane];
}

__global__ void warp_rotate_synced(const int* in, int* out) {
  __shared__ int ring[32];
  const int lane = static_cast<int>(threadIdx.x);
  ring[lane] = in[lane];
  __syncwarp();
  const int next = ring[(lane + 1) % 32];
  __syncwarp();
  ring[lane] = next;
  __syncwarp();
  out[lane] = ring[lane];
}

__global__ void barrier_after_early_exit(int* out) {
  if (threadIdx.x >= 16) return;
  __syncthreads();  // @divergent-exit
  out[threadIdx.x] = 1;
}

__global__ void barrier_in_both_branches(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();  // @divergent-even
  } else {
    __syncthreads();  // @divergent-odd
  }
  out[threadIdx.x] = 1;
}

__global__ void shuffle_after_early_exit(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (lane >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, lane, 1);  // @deadlock-exit
}

__global__ void shuffle_beside_barrier(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  int value = lane;
  if (lane < 16) value = __shfl_xor_sync(0xffffffffu, value, 1);  // @deadlock-barrier-shfl
  __syncthreads();  // @deadlock-barrier
  out[threadIdx.x] = value;
}

__global__ void shuffle_with_ballot_mask(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const unsigned low_half = __ballot_sync(0xffffffffu, lane < 16);
  int value = lane;
  if (lane < 16) value = __shfl_xor_sync(low_half, value, 1);
  __syncthreads();
  out[threadIdx.x] = value;
}

__global__ void write_each_thread(int* out) { out[blockIdx.x * blockDim.x + threadIdx.x] = static_cast<int>(threadIdx.x); }  // @oob-write

__global__ void dynamic_reverse(int* out, int n, int read_offset) {
  FOVEA_DYNAMIC_SHARED(int, values);
  const int t = static_cast<int>(threadIdx.x);
  values[t] = t;
  __syncthreads();
  out[t] = values[n - 1 - t + read_offset];  // @dynamic-read
}

__global__ void shuffle_table(int* out, int width) {
  const int lane = static_cast<int>(threadIdx.x);
  const int value = 100 + lane;
  int* row = out + lane * 8;
  row[0] = __shfl_sync(0xffffffffu, value, 3, width);
  row[1] = __shfl_sync(0xffffffffu, value, lane + 5, width);
  row[2] = __shfl_sync(0xffffffffu, value, -1, width);
  row[3] = __shfl_up_sync(0xffffffffu, value, 3, width);
  row[4] = __shfl_down_sync(0xffffffffu, value, 3, width);
  row[5] = __shfl_xor_sync(0xffffffffu, value, 5, width);
  row[6] = __shfl_xor_sync(0xffffffffu, value, 16, width);
  row[7] = static_cast<int>(__shfl_sync(0xffffffffu, 0.5f + static_cast<float>(lane), 31 - lane, width) * 2.0f);
}

__global__ void votes(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int lane = t % 32;
  int* row = out + t * 12;
  row[11] = static_cast<int>(__activemask());
  row[0] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  row[1] = __any_sync(0xffffffffu, lane == 7);
  row[2] = __all_sync(0xffffffffu, lane < 31);
  row[3] = __syncthreads_count(t % 5 == 0);
  row[4] = __syncthreads_and(t < 1000);
  row[5] = __syncthreads_or(t == 40);
  row[6] = static_cast<int>(__match_any_sync(0xffffffffu, lane / 8));
  int all_equal = 0;
  row[7] = static_cast<int>(__match_all_sync(0xffffffffu, 7, &all_equal));
  row[8] = all_equal;
  row[9] = static_cast<int>(__reduce_add_sync(0xffffffffu, static_cast<unsigned>(lane)));
  row[10] = __reduce_min_sync(0xffffffffu, 10 - lane);
}

__global__ void atomics(int* counters, float* sum, unsigned* wrap) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(&counters[0], 1);
  atomicMax(&counters[1], t);
  atomicMin(&counters[2], t);
  atomicCAS(&counters[3], 0, t + 1);
  atomicAdd(sum, 0.5f);
  atomicInc(wrap, 9u);
}

__global__ void arrival_order(int* next, int* order) { order[atomicAdd(next, 1)] = static_cast<int>(threadIdx.x); }

cudaError_t launch_reverse(bool with_barrier, const int* in, int* out, cudaStream_t stream) {
  return launch_kernel(with_barrier ? reverse_with_barrier : reverse_without_barrier, 1, 64, 0, stream, in, out);
}

cudaError_t launch_warp_rotate(bool synced, const int* in, int* out) {
  return launch_kernel(synced ? warp_rotate_synced : warp_rotate_lockstep, 1, 32, 0, nullptr, in, out);
}

cudaError_t launch_barrier_after_early_exit(int* out, cudaStream_t stream) {
  return launch_kernel(barrier_after_early_exit, 1, 32, 0, stream, out);
}
cudaError_t launch_barrier_in_both_branches(int* out) { return launch_kernel(barrier_in_both_branches, 1, 32, 0, nullptr, out); }
cudaError_t launch_shuffle_after_early_exit(int* out) { return launch_kernel(shuffle_after_early_exit, 1, 32, 0, nullptr, out); }
cudaError_t launch_shuffle_beside_barrier(int* out) { return launch_kernel(shuffle_beside_barrier, 1, 64, 0, nullptr, out); }
cudaError_t launch_shuffle_with_ballot_mask(int* out) { return launch_kernel(shuffle_with_ballot_mask, 1, 64, 0, nullptr, out); }

cudaError_t launch_write_each_thread(dim3 grid, dim3 block, size_t dynamic_shared_bytes, int* out) {
  return launch_kernel(write_each_thread, grid, block, dynamic_shared_bytes, nullptr, out);  // @launch-site
}

cudaError_t allow_write_each_thread_shared_bytes(int bytes) {
  return cudaFuncSetAttribute(write_each_thread, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

cudaError_t launch_dynamic_reverse(int n, int read_offset, int* out) {
  return launch_kernel(dynamic_reverse, 1, n, n * sizeof(int), nullptr, out, n, read_offset);
}

cudaError_t launch_shuffle_table(int width, int* out) { return launch_kernel(shuffle_table, 1, 32, 0, nullptr, out, width); }
cudaError_t launch_arrival_order(int* next, int* order, cudaStream_t stream) {
  return launch_kernel(arrival_order, 1, 64, 0, stream, next, order);
}
cudaError_t launch_votes(int* out) { return launch_kernel(votes, 1, 64, 0, nullptr, out); }
cudaError_t launch_atomics(int blocks, int threads, int* counters, float* sum, unsigned* wrap) {
  return launch_kernel(atomics, blocks, threads, 0, nullptr, counters, sum, wrap);
}

}  // namespace fovea::emu_test
