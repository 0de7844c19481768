// Batch normalisation kernels; semantics match engine/cpu/norm.cpp.
//   batch_norm_stats_kernel, batch_norm_backward_kernel: a block per channel. Each thread sums
//     its strided share of the channel's batch·length elements in double; the block combines
//     the partial sums through a shuffle butterfly and, across warps, shared memory read in warp
//     order, so every result is deterministic. The backward block then writes the channel's
//     grad_x elements.
//   batch_norm_apply_kernel: a thread per element (grid-stride).
#include "kernels/common.h"
#include "kernels/norm.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// The sum of v over the block (kThreads threads), returned to every thread.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / kWarpSize];
  for (int lane_mask = kWarpSize / 2; lane_mask > 0; lane_mask /= 2) v += __shfl_xor_sync(kFullMask, v, lane_mask);
  if (threadIdx.x % kWarpSize == 0) warp_sums[threadIdx.x / kWarpSize] = v;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kThreads / kWarpSize; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums is rewritten by the next call
  return total;
}

// Offset of the i-th element (i < batch·length) of channel c.
__device__ inline int64_t channel_offset(NormLayout s, int64_t c, int64_t i) {
  return (i / s.length * s.channels + c) * s.length + i % s.length;
}

template <typename T>
__global__ void batch_norm_stats_kernel(const T* x, NormLayout s, T* mean, T* var) {
  const int64_t c = blockIdx.x, count = s.batch * s.length;
  double sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += x[channel_offset(s, c, i)];
  const double m = block_sum(sum) / static_cast<double>(count);
  double squares = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const double d = x[channel_offset(s, c, i)] - m;
    squares += d * d;
  }
  const double v = block_sum(squares) / static_cast<double>(count);
  if (threadIdx.x != 0) return;
  mean[c] = static_cast<T>(m);
  var[c] = static_cast<T>(v);
}

template <typename T>
__global__ void batch_norm_apply_kernel(const T* x, NormLayout s, const T* mean, const T* invstd, const T* weight,
                                        const T* bias, T* out) {
  const int64_t n = s.batch * s.channels * s.length;
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t c = i / s.length % s.channels;
    const T scale = invstd[c] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
    out[i] = x[i] * scale + shift;
  }
}

template <typename T>
__global__ void batch_norm_backward_kernel(const T* grad_out, const T* x, NormLayout s, const T* mean,
                                           const T* invstd, const T* weight, bool batch_stats, T* grad_x,
                                           T* grad_weight, T* grad_bias) {
  const int64_t c = blockIdx.x, count = s.batch * s.length;
  const double m = mean[c], inv = invstd[c];
  double dy_part = 0, dy_xhat_part = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t k = channel_offset(s, c, i);
    dy_part += grad_out[k];
    dy_xhat_part += grad_out[k] * (x[k] - m) * inv;
  }
  const double sum_dy = block_sum(dy_part), sum_dy_xhat = block_sum(dy_xhat_part);
  if (threadIdx.x == 0) {
    if (grad_weight) grad_weight[c] = static_cast<T>(sum_dy_xhat);
    if (grad_bias) grad_bias[c] = static_cast<T>(sum_dy);
  }
  if (!grad_x) return;
  const double scale = inv * (weight ? static_cast<double>(weight[c]) : 1.0);
  const double mean_dy = batch_stats ? sum_dy / static_cast<double>(count) : 0.0;
  const double mean_dy_xhat = batch_stats ? sum_dy_xhat / static_cast<double>(count) : 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t k = channel_offset(s, c, i);
    grad_x[k] = static_cast<T>(scale * (grad_out[k] - mean_dy - (x[k] - m) * inv * mean_dy_xhat));
  }
}

}  // namespace

cudaError_t launch_batch_norm_stats(ElementType type, const void* x, NormLayout s, void* mean, void* var,
                                    cudaStream_t stream) {
  if (s.channels == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(batch_norm_stats_kernel<T>, dim3(static_cast<unsigned>(s.channels)), dim3(kThreads), 0,
                         stream, static_cast<const T*>(x), s, static_cast<T*>(mean), static_cast<T*>(var));
  });
}

cudaError_t launch_batch_norm_apply(ElementType type, const void* x, NormLayout s, const void* mean,
                                    const void* invstd, const void* weight, const void* bias, void* out,
                                    cudaStream_t stream) {
  const int64_t n = s.batch * s.channels * s.length;
  if (n == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(batch_norm_apply_kernel<T>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<const T*>(x), s, static_cast<const T*>(mean), static_cast<const T*>(invstd),
                         static_cast<const T*>(weight), static_cast<const T*>(bias), static_cast<T*>(out));
  });
}

cudaError_t launch_batch_norm_backward(ElementType type, const void* grad_out, const void* x, NormLayout s,
                                       const void* mean, const void* invstd, const void* weight, bool batch_stats,
                                       void* grad_x, void* grad_weight, void* grad_bias, cudaStream_t stream) {
  if (s.channels == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(batch_norm_backward_kernel<T>, dim3(static_cast<unsigned>(s.channels)), dim3(kThreads), 0,
                         stream, static_cast<const T*>(grad_out), static_cast<const T*>(x), s,
                         static_cast<const T*>(mean), static_cast<const T*>(invstd), static_cast<const T*>(weight),
                         batch_stats, static_cast<T*>(grad_x), static_cast<T*>(grad_weight),
                         static_cast<T*>(grad_bias));
  });
}

}  // namespace fovea::kernels
