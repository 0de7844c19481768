// Softmax / log_softmax and the negative log-likelihood kernels; semantics match
// engine/cpu/softmax.cpp.
//   softmax_rows_kernel      inner == 1. A row per warp (rows up to kWarpRowLength, 8 rows per
//                            block) or per block of 256 threads (longer rows). Each thread folds
//                            its elements into a running (max, sum of exp) pair (online softmax);
//                            pairs combine through a shuffle butterfly and, across warps, shared
//                            memory; a second pass writes the row. Two reads, one write.
//   softmax_columns_kernel   inner > 1 ([N, C, d] layouts): a thread per (outer, inner) column
//                            walks the class dim, so neighbouring threads read neighbouring
//                            addresses.
//   nll_check_targets_kernel one block counts the non-ignored targets and finds the first one out
//                            of range; the host reads the result before nll_forward_kernel runs.
//   nll_forward_kernel, nll_backward_kernel: a thread per sample, each writing its own element.
// Sums accumulate in the element type in an order fixed by the launch shape, so results are
// deterministic; f32 results agree with the CPU (which sums in double) within a few ulps.
#include <cmath>

#include "kernels/common.h"
#include "kernels/softmax.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpRowLength = 1024;
constexpr int kRowsPerWarpBlock = 8;
constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// The running state of a softmax row: its max and the sum of exp(x - max) so far.
template <typename T>
struct MaxSum {
  T max;
  T sum;
};

template <typename T>
__device__ MaxSum<T> empty_max_sum() {
  return {static_cast<T>(-INFINITY), T(0)};
}

// -inf elements add nothing; NaN elements make the sum NaN, as on the CPU.
template <typename T>
__device__ void fold(MaxSum<T>& s, T x) {
  if (x > s.max) {
    s.sum = s.sum * std::exp(s.max - x) + T(1);
    s.max = x;
  } else if (x != static_cast<T>(-INFINITY)) {
    s.sum += std::exp(x - s.max);
  }
}

// Symmetric bit for bit, so every lane of a shuffle butterfly ends with the same pair.
template <typename T>
__device__ MaxSum<T> combine(MaxSum<T> a, MaxSum<T> b) {
  const T max = a.max > b.max ? a.max : b.max;
  if (max == static_cast<T>(-INFINITY)) return {max, a.sum + b.sum};
  return {max, a.sum * std::exp(a.max - max) + b.sum * std::exp(b.max - max)};
}

template <typename T>
__device__ MaxSum<T> shuffle_xor(MaxSum<T> v, int lane_mask) {
  return {__shfl_xor_sync(kFullMask, v.max, lane_mask), __shfl_xor_sync(kFullMask, v.sum, lane_mask)};
}

// How many targets count, and the first flat position of an invalid one (`samples` if none).
struct TargetTally {
  long long counted;
  long long first_invalid;
};

__device__ TargetTally combine(TargetTally a, TargetTally b) {
  return {a.counted + b.counted, a.first_invalid < b.first_invalid ? a.first_invalid : b.first_invalid};
}

__device__ TargetTally shuffle_xor(TargetTally v, int lane_mask) {
  return {__shfl_xor_sync(kFullMask, v.counted, lane_mask), __shfl_xor_sync(kFullMask, v.first_invalid, lane_mask)};
}

template <typename V>
__device__ V warp_all_reduce(V v) {
  for (int lane_mask = kWarpSize / 2; lane_mask > 0; lane_mask /= 2) v = combine(v, shuffle_xor(v, lane_mask));
  return v;
}

// combine() over the values of all threads of the block, returned to every thread. blockDim.x
// is a multiple of kWarpSize; blocks of more than one warp have blockDim.y == 1.
template <typename V>
__device__ V block_all_reduce(V v, V identity) {
  __shared__ V warp_results[kWarpSize];
  v = warp_all_reduce(v);
  if (blockDim.x == kWarpSize) return v;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  return warp_all_reduce(lane < static_cast<int>(blockDim.x / kWarpSize) ? warp_results[lane] : identity);
}

// Maps an element of a reduced row to its softmax or log_softmax.
template <typename T>
struct Normalizer {
  T max, factor;
  bool log;

  __device__ Normalizer(MaxSum<T> s, bool log)
      : max(s.max), factor(log ? s.max + std::log(s.sum) : T(1) / s.sum), log(log) {}
  __device__ T operator()(T x) const { return log ? x - factor : std::exp(x - max) * factor; }
};

template <typename T>
__global__ void softmax_rows_kernel(T* out, const T* in, int64_t rows, int64_t length, bool log) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (row >= rows) return;  // whole warps of a multi-row block only
  const T* x = in + row * length;
  T* y = out + row * length;
  MaxSum<T> s = empty_max_sum<T>();
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) fold(s, x[i]);
  const Normalizer<T> normalize(block_all_reduce(s, empty_max_sum<T>()), log);
  for (int64_t i = threadIdx.x; i < length; i += blockDim.x) y[i] = normalize(x[i]);
}

template <typename T>
__global__ void softmax_columns_kernel(T* out, const T* in, int64_t outer, int64_t length, int64_t inner, bool log) {
  for (int64_t column = first_index(); column < outer * inner; column += grid_stride()) {
    const int64_t start = column / inner * length * inner + column % inner;
    const T* x = in + start;
    T* y = out + start;
    MaxSum<T> s = empty_max_sum<T>();
    for (int64_t l = 0; l < length; ++l) fold(s, x[l * inner]);
    const Normalizer<T> normalize(s, log);
    for (int64_t l = 0; l < length; ++l) y[l * inner] = normalize(x[l * inner]);
  }
}

template <typename I>
__global__ void nll_check_targets_kernel(const I* target, int64_t samples, int64_t classes, int64_t ignore_index,
                                         int64_t* status) {
  TargetTally tally{0, samples};
  for (int64_t i = threadIdx.x; i < samples; i += blockDim.x) {
    const int64_t t = target[i];
    if (t == ignore_index) continue;
    ++tally.counted;
    if ((t < 0 || t >= classes) && tally.first_invalid == samples) tally.first_invalid = i;
  }
  tally = block_all_reduce(tally, TargetTally{0, samples});
  if (threadIdx.x != 0) return;
  const bool valid = tally.first_invalid == samples;
  status[0] = tally.counted;
  status[1] = valid ? -1 : tally.first_invalid;
  status[2] = valid ? 0 : static_cast<int64_t>(target[tally.first_invalid]);
}

template <typename T, typename I>
__global__ void nll_forward_kernel(T* losses, const T* log_probs, const I* target, int64_t samples, int64_t classes,
                                   int64_t inner, int64_t ignore_index) {
  for (int64_t i = first_index(); i < samples; i += grid_stride()) {
    const int64_t t = target[i];
    losses[i] = t == ignore_index ? T(0) : -log_probs[(i / inner * classes + t) * inner + i % inner];
  }
}

template <typename T, typename I>
__global__ void nll_backward_kernel(T* grad_input, const T* grad_losses, bool single_grad, double scale,
                                    const I* target, int64_t samples, int64_t classes, int64_t inner,
                                    int64_t ignore_index) {
  for (int64_t i = first_index(); i < samples; i += grid_stride()) {
    const int64_t t = target[i];
    if (t == ignore_index) continue;
    grad_input[(i / inner * classes + t) * inner + i % inner] =
        static_cast<T>(-scale * grad_losses[single_grad ? 0 : i]);
  }
}

}  // namespace

cudaError_t launch_softmax(ElementType type, void* out, const void* in, int64_t outer, int64_t length, int64_t inner,
                           bool log, cudaStream_t stream) {
  if (outer * length * inner == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    T* y = static_cast<T*>(out);
    const T* x = static_cast<const T*>(in);
    if (inner > 1)
      return launch_kernel(softmax_columns_kernel<T>, dim3(grid_for(outer * inner, kThreads)), dim3(kThreads), 0,
                           stream, y, x, outer, length, inner, log);
    if (length <= kWarpRowLength) {
      const int64_t blocks = (outer + kRowsPerWarpBlock - 1) / kRowsPerWarpBlock;
      return launch_kernel(softmax_rows_kernel<T>, dim3(static_cast<unsigned>(blocks)),
                           dim3(kWarpSize, kRowsPerWarpBlock), 0, stream, y, x, outer, length, log);
    }
    return launch_kernel(softmax_rows_kernel<T>, dim3(static_cast<unsigned>(outer)), dim3(kThreads), 0, stream, y, x,
                         outer, length, log);
  });
}

cudaError_t launch_nll_check_targets(ElementType target_type, const void* target, int64_t samples, int64_t classes,
                                     int64_t ignore_index, int64_t* status, cudaStream_t stream) {
  return with_index_type(target_type, [&](auto tag) {
    using I = decltype(tag);
    return launch_kernel(nll_check_targets_kernel<I>, dim3(1), dim3(kThreads), 0, stream,
                         static_cast<const I*>(target), samples, classes, ignore_index, status);
  });
}

cudaError_t launch_nll_forward(ElementType type, ElementType target_type, void* losses, const void* log_probs,
                               const void* target, int64_t samples, int64_t classes, int64_t inner,
                               int64_t ignore_index, cudaStream_t stream) {
  if (samples == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return with_index_type(target_type, [&](auto index_tag) {
      using I = decltype(index_tag);
      return launch_kernel(nll_forward_kernel<T, I>, dim3(grid_for(samples, kThreads)), dim3(kThreads), 0, stream,
                           static_cast<T*>(losses), static_cast<const T*>(log_probs), static_cast<const I*>(target),
                           samples, classes, inner, ignore_index);
    });
  });
}

cudaError_t launch_nll_backward(ElementType type, ElementType target_type, void* grad_input, const void* grad_losses,
                                bool single_grad, double scale, const void* target, int64_t samples, int64_t classes,
                                int64_t inner, int64_t ignore_index, cudaStream_t stream) {
  if (samples == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return with_index_type(target_type, [&](auto index_tag) {
      using I = decltype(index_tag);
      return launch_kernel(nll_backward_kernel<T, I>, dim3(grid_for(samples, kThreads)), dim3(kThreads), 0, stream,
                           static_cast<T*>(grad_input), static_cast<const T*>(grad_losses), single_grad, scale,
                           static_cast<const I*>(target), samples, classes, inner, ignore_index);
    });
  });
}

}  // namespace fovea::kernels
