// Row reductions over a contiguous [rows, length] input (semantics of engine/cpu/reduce.cpp).
// Each row is cut into `splits` pieces and a group of threads reduces a piece to a State, the
// partial result of a reducer:
//   reduce_rows_kernel<32, R>   a warp per piece, 8 per block: rows of up to kWarpRowLength.
//   reduce_rows_kernel<256, R>  a block per piece: longer rows. When there are too few rows to
//                               give about kTargetBlocks blocks work, rows are split into pieces
//                               of at least kMinPieceLength elements whose States go to the
//                               workspace, and
//   combine_partials_kernel<R>  merges them, a warp per row.
// Groups combine through shuffles in a fixed tree and, across the warps of a block, in warp
// order: results do not depend on scheduling, and there are no atomics. Reducers:
//   SumRows      State = the sum, in i64 for integers and in double for floats.
//   ExtremeRows  State = (value, index) of the first NaN, else of the first max/min.
//   VarRows      State = (count, mean, M2) of a piece by two passes over it, merged by Chan's
//                formula; M2 / (length - correction) at the end.
#include <cmath>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/reduce.h"

namespace fovea::kernels {
namespace {

constexpr int kBlockThreads = 256;
constexpr int kWarpThreads = 32;
constexpr int kWarpsPerBlock = kBlockThreads / kWarpThreads;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kWarpRowLength = 1024;
constexpr int64_t kMinPieceLength = 4096;
constexpr int64_t kTargetBlocks = 512;
constexpr std::size_t kMaxStateBytes = 24;

template <typename T>
struct Extreme {
  T value;
  int64_t index;  // -1: no element yet
};

struct Moments {
  double count, mean, m2;
};

// Shuffles of one value (integers narrower than 32 bits travel as int) and of each State.
template <typename V>
__device__ V shuffle_xor(V v, int lane_mask) {
  if constexpr (sizeof(V) < sizeof(int))
    return static_cast<V>(__shfl_xor_sync(kFullMask, static_cast<int>(v), lane_mask));
  else if constexpr (std::is_same_v<V, int64_t>)
    return static_cast<V>(__shfl_xor_sync(kFullMask, static_cast<long long>(v), lane_mask));
  else
    return __shfl_xor_sync(kFullMask, v, lane_mask);
}
template <typename T>
__device__ Extreme<T> shuffle_xor(Extreme<T> s, int lane_mask) {
  return {shuffle_xor(s.value, lane_mask), shuffle_xor(s.index, lane_mask)};
}
__device__ inline Moments shuffle_xor(Moments s, int lane_mask) {
  return {shuffle_xor(s.count, lane_mask), shuffle_xor(s.mean, lane_mask), shuffle_xor(s.m2, lane_mask)};
}

// Every lane gets the combination of the warp's States (identical on all lanes when
// `combine` is commutative bit for bit; otherwise use lane 0's).
template <typename S, typename Combine>
__device__ S warp_all_reduce(S s, Combine combine) {
  for (int lane_mask = kWarpThreads / 2; lane_mask > 0; lane_mask /= 2) s = combine(s, shuffle_xor(s, lane_mask));
  return s;
}

// Every thread of the block gets the combination of the block's States.
template <typename S, typename Combine>
__device__ S block_all_reduce(S s, Combine combine) {
  __shared__ S per_warp[kWarpsPerBlock];
  s = warp_all_reduce(s, combine);
  if (threadIdx.x % kWarpThreads == 0) per_warp[threadIdx.x / kWarpThreads] = s;
  __syncthreads();
  S total = per_warp[0];
  for (int w = 1; w < kWarpsPerBlock; ++w) total = combine(total, per_warp[w]);
  __syncthreads();
  return total;
}

template <int GroupThreads, typename S, typename Combine>
__device__ S group_all_reduce(S s, Combine combine) {
  if constexpr (GroupThreads == kWarpThreads)
    return warp_all_reduce(s, combine);
  else
    return block_all_reduce(s, combine);
}

struct Add {
  template <typename S>
  __device__ S operator()(S a, S b) const {
    return a + b;
  }
};

// Commutative: a NaN wins over a number, and among NaNs or equal values the smaller index.
struct FirstExtreme {
  bool max;
  template <typename T>
  __device__ Extreme<T> operator()(Extreme<T> a, Extreme<T> b) const {
    if (a.index < 0) return b;
    if (b.index < 0) return a;
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return (max ? a.value > b.value : a.value < b.value) ? a : b;
    return a.index < b.index ? a : b;
  }
};

// Chan et al.'s merge of two pieces' counts, means and sums of squared deviations.
struct MergeMoments {
  __device__ Moments operator()(Moments a, Moments b) const {
    if (a.count == 0) return b;
    if (b.count == 0) return a;
    const double count = a.count + b.count, delta = b.mean - a.mean;
    return {count, a.mean + delta * (b.count / count), a.m2 + b.m2 + delta * delta * (a.count * b.count / count)};
  }
};

template <typename T>
struct SumRows {
  using Input = T;
  using State = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  T* out;
  Add combine;

  __device__ State identity() const { return 0; }
  template <int GroupThreads>
  __device__ State reduce_piece(const T* row, int64_t begin, int64_t end) const {
    State s = 0;
    for (int64_t i = begin + threadIdx.x % GroupThreads; i < end; i += GroupThreads) s += row[i];
    return group_all_reduce<GroupThreads>(s, combine);
  }
  __device__ void finish(int64_t row, State s) const { out[row] = static_cast<T>(s); }
};

template <typename T>
struct ExtremeRows {
  using Input = T;
  using State = Extreme<T>;
  T* out;
  int64_t* indices;  // null when only values are wanted
  FirstExtreme combine;

  __device__ State identity() const { return {T{}, -1}; }
  template <int GroupThreads>
  __device__ State reduce_piece(const T* row, int64_t begin, int64_t end) const {
    State s = identity();
    for (int64_t i = begin + threadIdx.x % GroupThreads; i < end; i += GroupThreads) s = combine(s, State{row[i], i});
    return group_all_reduce<GroupThreads>(s, combine);
  }
  __device__ void finish(int64_t row, State s) const {
    out[row] = s.value;
    if (indices) indices[row] = s.index;
  }
};

template <typename T>
struct VarRows {
  using Input = T;
  using State = Moments;
  T* out;
  int64_t length, correction;
  MergeMoments combine;

  __device__ State identity() const { return {0, 0, 0}; }
  template <int GroupThreads>
  __device__ State reduce_piece(const T* row, int64_t begin, int64_t end) const {
    const int64_t first = begin + threadIdx.x % GroupThreads;
    double sum = 0;
    for (int64_t i = first; i < end; i += GroupThreads) sum += row[i];
    const double count = static_cast<double>(end - begin);
    const double mean = group_all_reduce<GroupThreads>(sum, Add{}) / count;
    double squares = 0;
    for (int64_t i = first; i < end; i += GroupThreads) {
      const double deviation = static_cast<double>(row[i]) - mean;
      squares += deviation * deviation;
    }
    return {count, mean, group_all_reduce<GroupThreads>(squares, Add{})};
  }
  __device__ void finish(int64_t row, State s) const {
    const int64_t denominator = length - correction;
    out[row] = static_cast<T>(denominator > 0 ? s.m2 / static_cast<double>(denominator) : nan(""));
  }
};

template <int GroupThreads, typename Reducer>
__global__ void reduce_rows_kernel(Reducer reducer, const typename Reducer::Input* in, int64_t rows, int64_t length,
                                   int64_t splits, typename Reducer::State* partials) {
  constexpr int kGroupsPerBlock = kBlockThreads / GroupThreads;
  const int64_t pieces = rows * splits, piece_length = (length + splits - 1) / splits;
  for (int64_t piece = static_cast<int64_t>(blockIdx.x) * kGroupsPerBlock + threadIdx.x / GroupThreads;
       piece < pieces; piece += static_cast<int64_t>(gridDim.x) * kGroupsPerBlock) {
    const int64_t row = piece / splits, offset = piece % splits * piece_length;
    const int64_t begin = offset < length ? offset : length;
    const int64_t end = length - begin < piece_length ? length : begin + piece_length;
    const auto state = reducer.template reduce_piece<GroupThreads>(in + row * length, begin, end);
    if (threadIdx.x % GroupThreads != 0) continue;
    if (splits == 1)
      reducer.finish(row, state);
    else
      partials[piece] = state;
  }
}

template <typename Reducer>
__global__ void combine_partials_kernel(Reducer reducer, const typename Reducer::State* partials, int64_t rows,
                                        int64_t splits) {
  const int lane = threadIdx.x % kWarpThreads;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarpThreads; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
    auto state = reducer.identity();
    for (int64_t k = lane; k < splits; k += kWarpThreads) state = reducer.combine(state, partials[row * splits + k]);
    state = warp_all_reduce(state, reducer.combine);
    if (lane == 0) reducer.finish(row, state);
  }
}

template <typename Reducer>
cudaError_t launch_reducer(const Reducer& reducer, const typename Reducer::Input* in, int64_t rows, int64_t length,
                           const ReducePlan& plan, void* workspace, cudaStream_t stream) {
  using State = typename Reducer::State;
  static_assert(sizeof(State) <= kMaxStateBytes, "plan_reduce_rows sizes the workspace for kMaxStateBytes");
  if (rows == 0) return cudaSuccess;
  auto* partials = static_cast<State*>(workspace);
  const int64_t pieces = rows * plan.splits;
  const cudaError_t status =
      plan.group_threads == kWarpThreads
          ? launch_kernel(reduce_rows_kernel<kWarpThreads, Reducer>, dim3(grid_for(pieces, kWarpsPerBlock)),
                          dim3(kBlockThreads), 0, stream, reducer, in, rows, length, plan.splits, partials)
          : launch_kernel(reduce_rows_kernel<kBlockThreads, Reducer>, dim3(grid_for(pieces, 1)), dim3(kBlockThreads),
                          0, stream, reducer, in, rows, length, plan.splits, partials);
  if (status != cudaSuccess || plan.splits == 1) return status;
  return launch_kernel(combine_partials_kernel<Reducer>, dim3(grid_for(rows, kWarpsPerBlock)), dim3(kBlockThreads), 0,
                       stream, reducer, static_cast<const State*>(partials), rows, plan.splits);
}

}  // namespace

ReducePlan plan_reduce_rows(int64_t rows, int64_t length) {
  ReducePlan plan;
  if (length <= kWarpRowLength) return plan;
  plan.group_threads = kBlockThreads;
  const int64_t by_length = (length + kMinPieceLength - 1) / kMinPieceLength;
  const int64_t by_occupancy = rows > 0 ? (kTargetBlocks + rows - 1) / rows : 1;
  plan.splits = by_length < by_occupancy ? by_length : by_occupancy;
  if (plan.splits > 1) plan.workspace_bytes = static_cast<std::size_t>(rows * plan.splits) * kMaxStateBytes;
  return plan;
}

cudaError_t launch_reduce_rows(ReduceKind op, ElementType type, const void* in, int64_t rows, int64_t length,
                               void* out, int64_t* indices, const ReducePlan& plan, void* workspace,
                               cudaStream_t stream) {
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    const T* data = static_cast<const T*>(in);
    if (op == ReduceKind::sum)
      return launch_reducer(SumRows<T>{static_cast<T*>(out), Add{}}, data, rows, length, plan, workspace, stream);
    return launch_reducer(ExtremeRows<T>{static_cast<T*>(out), indices, FirstExtreme{op == ReduceKind::max}}, data,
                          rows, length, plan, workspace, stream);
  });
}

cudaError_t launch_var_rows(ElementType type, const void* in, int64_t rows, int64_t length, int64_t correction,
                            void* out, const ReducePlan& plan, void* workspace, cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_reducer(VarRows<T>{static_cast<T*>(out), length, correction, MergeMoments{}},
                          static_cast<const T*>(in), rows, length, plan, workspace, stream);
  });
}

}  // namespace fovea::kernels
