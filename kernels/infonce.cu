// Kernels of the memory-bank losses (losses/infonce.h, losses/nce.h, losses/memory_bank.h);
// semantics match losses/infonce_cpu.cpp. Bank rows are read where they lie, through the
// indices: no [batch, count, dim] copy is ever made.
//   gather_scan_kernel             grid-stride scan of the indices (y = 0) and of each feature
//                                  tensor (y = 1..3); a block reduces its first offending position
//                                  and one integer atomicMin per block keeps the smallest.
//   infonce_partial_kernel         grid (batch, splits): the positive and the bank candidates of a
//                                  query row are cut into splits of kCandidatesPerSplit. A warp scores
//                                  one candidate at a time (lanes stride dim, xor-shuffle butterfly),
//                                  folds the score into its running (max, sum of exp) and, when
//                                  gradients are wanted, the candidate row into its exp-weighted row
//                                  sum, rescaled when the max grows (online softmax). Warps merge in
//                                  warp order through shared memory into one partial per split.
//   infonce_combine_kernel         a block per row merges its splits in split order: the loss, the
//                                  positive's probability and the softmax expectation of the
//                                  candidate rows, which is all the backward needs.
//   infonce_backward_kernel        elementwise over [batch, dim]; reads no bank row.
//   gather_scores_kernel           a warp per (row, candidate) score.
//   gather_scores_backward_kernel  a block per row, a thread per feature element, candidates in
//                                  increasing order.
//   bank_momentum_update_kernel    a block per position; a position whose index appears again later
//                                  in the batch does nothing (the last occurrence wins, as
//                                  index_copy_ after index_select does on the CPU), so each row has
//                                  one writer. The repeat check reads the later indices (O(N)
//                                  per position, fine for a batch); the renormalisation is a
//                                  block reduction.
// The split count depends on the shape only, so every device sums in the same order; no float
// atomics anywhere.
#include <cmath>

#include "kernels/common.h"
#include "kernels/infonce.h"

namespace fovea::kernels {
namespace {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarps = 4;  // per block of infonce_partial_kernel
constexpr int64_t kCandidatesPerSplit = 64;
constexpr int kRowThreads = 128;
constexpr int kScoreWarps = 8;  // per block of gather_scores_kernel
constexpr double kNormEps = 1e-12;
constexpr int64_t kDefaultSharedBytes = 48 * 1024;

template <typename T, typename I>
struct Candidates {
  const T* positives;
  const T* bank;
  const I* indices;
  int64_t count, dim;

  __device__ const T* row(int64_t b, int64_t j) const {
    if (positives != nullptr) {
      if (j == 0) return positives + b * dim;
      --j;
    }
    return bank + static_cast<int64_t>(indices[b * count + j]) * dim;
  }
};

template <typename T, typename I>
Candidates<T, I> candidates_of(const BankGather& g) {
  return {static_cast<const T*>(g.positives), static_cast<const T*>(g.bank), static_cast<const I*>(g.indices),
          g.count, g.dim};
}

int64_t candidate_count(const BankGather& g) { return g.count + (g.positives != nullptr ? 1 : 0); }
int64_t split_count(const BankGather& g) { return (candidate_count(g) + kCandidatesPerSplit - 1) / kCandidatesPerSplit; }

// a·x summed over the lanes of a full warp; every lane returns the same value. `a` is a pointer
// or the dynamic shared memory accessor.
template <typename A, typename T>
__device__ T warp_dot(const A& a, const T* x, int64_t dim, int lane) {
  T sum = 0;
  for (int64_t d = lane; d < dim; d += kWarpSize) sum += a[d] * x[d];
  for (int mask = kWarpSize / 2; mask > 0; mask /= 2) sum += __shfl_xor_sync(kFullMask, sum, mask);
  return sum;
}

// exp(m - max), with an empty state (m = -inf) weighing nothing.
template <typename T>
__device__ T rescale(T m, T max) {
  return m == static_cast<T>(-INFINITY) ? T(0) : std::exp(m - max);
}

template <typename V, typename Op>
__device__ V block_reduce(V v, Op op, V* warp_results) {
  for (int mask = kWarpSize / 2; mask > 0; mask /= 2) v = op(v, __shfl_xor_sync(kFullMask, v, mask));
  const int warps = static_cast<int>(blockDim.x) / kWarpSize;
  if (warps == 1) return v;
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  V total = warp_results[0];
  for (int w = 1; w < warps; ++w) total = op(total, warp_results[w]);
  __syncthreads();
  return total;
}

template <typename T, typename I>
__global__ void gather_scan_kernel(const I* indices, int64_t count, int64_t bank_rows, FiniteScan features,
                                   long long* status) {
  __shared__ long long warp_results[kRowThreads / kWarpSize];
  const int which = static_cast<int>(blockIdx.y);
  long long first = kScanNotFound;
  if (which == 0) {
    for (int64_t i = first_index(); i < count && first == kScanNotFound; i += grid_stride())
      if (indices[i] < 0 || static_cast<int64_t>(indices[i]) >= bank_rows) first = i;
  } else {
    const T* x = static_cast<const T*>(features.data[which - 1]);
    const int64_t n = features.numel[which - 1];
    for (int64_t i = first_index(); i < n && first == kScanNotFound; i += grid_stride())
      if (!isfinite(x[i])) first = i;
  }
  first = block_reduce(first, [](long long a, long long b) { return a < b ? a : b; }, warp_results);
  if (threadIdx.x == 0 && first != kScanNotFound) atomicMin(status + which, first);
}

// Block (kWarpSize, kWarps); dynamic shared memory: the query row, then a row sum per warp.
// partial[(b·splits + s)·(dim + 2) + ...] = max, sum of exp(s_j - max), sum of exp(s_j - max)·x_j.
template <typename T, typename I>
__global__ void infonce_partial_kernel(Candidates<T, I> c, const T* queries, T inv_temperature, int64_t candidates,
                                       bool with_expectation, T* partial, T* positive_logits) {
  FOVEA_DYNAMIC_SHARED(T, shared);
  __shared__ T warp_max[kWarps], warp_sum[kWarps];
  const int64_t b = blockIdx.x, split = blockIdx.y, dim = c.dim;
  const int lane = threadIdx.x, warp = threadIdx.y, thread = warp * kWarpSize + lane;
  const int threads = kWarps * kWarpSize;
  for (int64_t d = thread; d < dim; d += threads) shared[d] = queries[b * dim + d];
  const int64_t sums = dim + warp * dim;
  if (with_expectation)
    for (int64_t d = lane; d < dim; d += kWarpSize) shared[sums + d] = T(0);
  __syncthreads();

  T max = static_cast<T>(-INFINITY), sum = 0;
  const int64_t begin = split * kCandidatesPerSplit;
  const int64_t end = begin + kCandidatesPerSplit < candidates ? begin + kCandidatesPerSplit : candidates;
  for (int64_t j = begin + warp; j < end; j += kWarps) {
    const T* x = c.row(b, j);
    const T s = warp_dot(shared, x, dim, lane) * inv_temperature;
    if (j == 0 && c.positives != nullptr && lane == 0) positive_logits[b] = s;
    T old_scale = 1, weight = 1;
    if (s > max) {
      old_scale = rescale(max, s);
      max = s;
    } else {
      weight = std::exp(s - max);
    }
    sum = sum * old_scale + weight;
    if (with_expectation)
      for (int64_t d = lane; d < dim; d += kWarpSize) shared[sums + d] = shared[sums + d] * old_scale + weight * x[d];
  }
  if (lane == 0) {
    warp_max[warp] = max;
    warp_sum[warp] = sum;
  }
  __syncthreads();

  T block_max = warp_max[0];
  for (int w = 1; w < kWarps; ++w) block_max = warp_max[w] > block_max ? warp_max[w] : block_max;
  T* out = partial + (b * gridDim.y + split) * (dim + 2);
  if (thread == 0) {
    T total = 0;
    for (int w = 0; w < kWarps; ++w) total += warp_sum[w] * rescale(warp_max[w], block_max);
    out[0] = block_max;
    out[1] = total;
  }
  if (with_expectation)
    for (int64_t d = thread; d < dim; d += threads) {
      T total = 0;
      for (int w = 0; w < kWarps; ++w) total += shared[dim + w * dim + d] * rescale(warp_max[w], block_max);
      out[2 + d] = total;
    }
}

template <typename T>
__global__ void infonce_combine_kernel(const T* partial, const T* positive_logits, int64_t splits, int64_t dim,
                                       bool with_expectation, T* losses, T* positive_probs, T* expectation) {
  const int64_t b = blockIdx.x, stride = dim + 2;
  const T* p = partial + b * splits * stride;
  T max = p[0];
  for (int64_t s = 1; s < splits; ++s) max = p[s * stride] > max ? p[s * stride] : max;
  T sum = 0;
  for (int64_t s = 0; s < splits; ++s) sum += p[s * stride + 1] * rescale(p[s * stride], max);
  const T log_sum = max + std::log(sum);
  if (threadIdx.x == 0) {
    losses[b] = log_sum - positive_logits[b];
    positive_probs[b] = std::exp(positive_logits[b] - log_sum);
  }
  if (!with_expectation) return;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    T total = 0;
    for (int64_t s = 0; s < splits; ++s) total += p[s * stride + 2 + d] * rescale(p[s * stride], max);
    expectation[b * dim + d] = total / sum;
  }
}

template <typename T>
__global__ void infonce_backward_kernel(T* grad_queries, T* grad_positives, const T* grad_losses, const T* queries,
                                        const T* positives, const T* positive_probs, const T* expectation,
                                        T inv_temperature, int64_t batch, int64_t dim) {
  for (int64_t i = first_index(); i < batch * dim; i += grid_stride()) {
    const int64_t b = i / dim;
    const T g = grad_losses[b] * inv_temperature;
    grad_queries[i] = g * (expectation[i] - positives[i]);
    grad_positives[i] = g * (positive_probs[b] - T(1)) * queries[i];
  }
}

// Block (kWarpSize, kScoreWarps); warps stride over the batch·count scores.
template <typename T, typename I>
__global__ void gather_scores_kernel(Candidates<T, I> c, const T* queries, int64_t batch, T* scores) {
  const int64_t total = batch * c.count, warps = static_cast<int64_t>(gridDim.x) * blockDim.y;
  for (int64_t w = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; w < total; w += warps) {
    const int64_t b = w / c.count;
    const T s = warp_dot(queries + b * c.dim, c.row(b, w % c.count), c.dim, threadIdx.x);
    if (threadIdx.x == 0) scores[w] = s;
  }
}

template <typename T, typename I>
__global__ void gather_scores_backward_kernel(Candidates<T, I> c, const T* grad_scores, T* grad_queries) {
  const int64_t b = blockIdx.x;
  for (int64_t d = threadIdx.x; d < c.dim; d += blockDim.x) {
    T total = 0;
    for (int64_t j = 0; j < c.count; ++j) total += grad_scores[b * c.count + j] * c.row(b, j)[d];
    grad_queries[b * c.dim + d] = total;
  }
}

template <typename T, typename I>
__global__ void bank_momentum_update_kernel(T* bank, int64_t dim, const I* indices, int64_t count, const T* values,
                                            T momentum, bool renormalize) {
  __shared__ T warp_results[kRowThreads / kWarpSize];
  for (int64_t n = blockIdx.x; n < count; n += gridDim.x) {
    bool repeated = false;
    for (int64_t k = n + 1 + threadIdx.x; k < count && !repeated; k += blockDim.x) repeated = indices[k] == indices[n];
    if (__syncthreads_or(repeated)) continue;
    T* row = bank + static_cast<int64_t>(indices[n]) * dim;
    const T* v = values + n * dim;
    T squares = 0;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
      const T updated = momentum * row[d] + (T(1) - momentum) * v[d];
      row[d] = updated;
      squares += updated * updated;
    }
    if (!renormalize) continue;
    const T norm = std::sqrt(block_reduce(squares, [](T a, T b) { return a + b; }, warp_results));
    const T scale = T(1) / (norm > static_cast<T>(kNormEps) ? norm : static_cast<T>(kNormEps));
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) row[d] *= scale;
  }
}

template <typename Fn>
cudaError_t with_types(ElementType type, ElementType index_type, Fn&& fn) {
  return with_float_type(type, [&](auto tag) {
    return with_index_type(index_type, [&](auto index_tag) { return fn(tag, index_tag); });
  });
}

}  // namespace

cudaError_t launch_gather_scan(ElementType index_type, const void* indices, int64_t count, int64_t bank_rows,
                               ElementType type, const FiniteScan& features, long long* status, cudaStream_t stream) {
  if (const cudaError_t e = cudaMemsetAsync(status, 0x7f, 4 * sizeof(long long), stream); e != cudaSuccess) return e;
  int64_t largest = count;
  for (int k = 0; k < features.count; ++k) largest = features.numel[k] > largest ? features.numel[k] : largest;
  if (largest == 0) return cudaSuccess;
  return with_types(type, index_type, [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    return launch_kernel(gather_scan_kernel<T, I>, dim3(grid_for(largest, kRowThreads, 1024), 1 + features.count),
                         dim3(kRowThreads), 0, stream, static_cast<const I*>(indices), count, bank_rows, features,
                         status);
  });
}

int64_t infonce_workspace_elements(const BankGather& g) {
  return g.batch * split_count(g) * (g.dim + 2) + g.batch;
}

int64_t infonce_max_dim(ElementType type) {
  const int64_t element_bytes = type == ElementType::f64 ? 8 : 4;
  return kDefaultSharedBytes / ((1 + kWarps) * element_bytes);
}

cudaError_t launch_infonce_forward(const BankGather& g, double temperature, void* losses, void* positive_probs,
                                   void* expectation, void* workspace, cudaStream_t stream) {
  if (g.batch == 0) return cudaSuccess;
  const int64_t splits = split_count(g);
  return with_types(g.type, g.index_type, [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    T* partial = static_cast<T*>(workspace);
    T* positive_logits = partial + g.batch * splits * (g.dim + 2);
    const bool with_expectation = expectation != nullptr;
    const std::size_t shared_bytes = static_cast<std::size_t>((1 + kWarps) * g.dim) * sizeof(T);
    const cudaError_t e =
        launch_kernel(infonce_partial_kernel<T, I>, dim3(static_cast<unsigned>(g.batch), static_cast<unsigned>(splits)),
                      dim3(kWarpSize, kWarps), shared_bytes, stream, candidates_of<T, I>(g),
                      static_cast<const T*>(g.queries), static_cast<T>(1.0 / temperature), candidate_count(g),
                      with_expectation, partial, positive_logits);
    if (e != cudaSuccess) return e;
    return launch_kernel(infonce_combine_kernel<T>, dim3(static_cast<unsigned>(g.batch)), dim3(kRowThreads), 0, stream,
                         static_cast<const T*>(partial), static_cast<const T*>(positive_logits), splits, g.dim,
                         with_expectation, static_cast<T*>(losses), static_cast<T*>(positive_probs),
                         static_cast<T*>(expectation));
  });
}

cudaError_t launch_infonce_backward(ElementType type, void* grad_queries, void* grad_positives, const void* grad_losses,
                                    const void* queries, const void* positives, const void* positive_probs,
                                    const void* expectation, int64_t batch, int64_t dim, double temperature,
                                    cudaStream_t stream) {
  if (batch * dim == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(infonce_backward_kernel<T>, dim3(grid_for(batch * dim, kRowThreads)), dim3(kRowThreads), 0,
                         stream, static_cast<T*>(grad_queries), static_cast<T*>(grad_positives),
                         static_cast<const T*>(grad_losses), static_cast<const T*>(queries),
                         static_cast<const T*>(positives), static_cast<const T*>(positive_probs),
                         static_cast<const T*>(expectation), static_cast<T>(1.0 / temperature), batch, dim);
  });
}

cudaError_t launch_gather_scores(const BankGather& g, void* scores, cudaStream_t stream) {
  if (g.batch * g.count == 0) return cudaSuccess;
  return with_types(g.type, g.index_type, [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    return launch_kernel(gather_scores_kernel<T, I>, dim3(grid_for(g.batch * g.count, kScoreWarps)),
                         dim3(kWarpSize, kScoreWarps), 0, stream, candidates_of<T, I>(g),
                         static_cast<const T*>(g.queries), g.batch, static_cast<T*>(scores));
  });
}

cudaError_t launch_gather_scores_backward(const BankGather& g, const void* grad_scores, void* grad_queries,
                                          cudaStream_t stream) {
  if (g.batch * g.dim == 0) return cudaSuccess;
  return with_types(g.type, g.index_type, [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    return launch_kernel(gather_scores_backward_kernel<T, I>, dim3(static_cast<unsigned>(g.batch)), dim3(kRowThreads),
                         0, stream, candidates_of<T, I>(g), static_cast<const T*>(grad_scores),
                         static_cast<T*>(grad_queries));
  });
}

cudaError_t launch_bank_momentum_update(ElementType type, ElementType index_type, void* bank, int64_t dim,
                                        const void* indices, int64_t count, const void* values, double momentum,
                                        bool renormalize, cudaStream_t stream) {
  if (count == 0 || dim == 0) return cudaSuccess;
  return with_types(type, index_type, [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    return launch_kernel(bank_momentum_update_kernel<T, I>, dim3(grid_for(count, 1, 4096)), dim3(kRowThreads), 0,
                         stream, static_cast<T*>(bank), dim, static_cast<const I*>(indices), count,
                         static_cast<const T*>(values), static_cast<T>(momentum), renormalize);
  });
}

}  // namespace fovea::kernels
