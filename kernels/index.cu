// Gather and scatter-add kernels; index_select and index_add reach them through an index
// broadcast over the dims around the indexed one. Semantics match engine/cpu/index.cpp.
//   gather_kernel       a thread per index position.
//   scatter_add_kernel  deterministic without atomics, by ownership: a thread walks one line of
//                       the index along the scattered dim in increasing position and adds only the
//                       terms whose target t has t % buckets == its bucket, so every output
//                       element has exactly one writer, which adds in the CPU's order (results
//                       match the CPU bit for bit). Buckets (up to kMaxBuckets) multiply the
//                       threads when there are few lines, e.g. embedding backward, where the
//                       lines are the columns of the table; each thread still reads its line's
//                       whole index, so they are capped.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/index.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBuckets = 32;
// Enough threads to fill a GPU several times over; more buckets only re-read the index.
constexpr int64_t kScatterThreads = int64_t{1} << 16;

template <typename T, typename I>
__global__ void gather_kernel(T* out, const I* index, const T* a, int64_t a_dim_stride, StridedSpace<3> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[3];
    space.offsets(i, off);
    out[off[0]] = a[off[2] + static_cast<int64_t>(index[off[1]]) * a_dim_stride];
  }
}

template <typename T, typename I>
__global__ void scatter_add_kernel(T* out, const I* index, const T* src, StridedSpace<3> lines, ScatterAxis axis,
                                   int64_t buckets) {
  for (int64_t w = first_index(); w < lines.numel * buckets; w += grid_stride()) {
    const int64_t bucket = w / lines.numel;
    int64_t off[3];
    lines.offsets(w % lines.numel, off);
    for (int64_t j = 0; j < axis.length; ++j) {
      const int64_t target = index[off[1] + j * axis.index_stride];
      if (target % buckets == bucket) out[off[0] + target * axis.out_stride] += src[off[2] + j * axis.src_stride];
    }
  }
}

}  // namespace

cudaError_t launch_gather(ElementType type, ElementType index_type, void* out, const void* index, const void* a,
                          int64_t a_dim_stride, const StridedSpace<3>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return with_index_type(index_type, [&](auto index_tag) {
      using I = decltype(index_tag);
      return launch_kernel(gather_kernel<T, I>, dim3(grid_for(space.numel, kThreads)), dim3(kThreads), 0, stream,
                           static_cast<T*>(out), static_cast<const I*>(index), static_cast<const T*>(a),
                           a_dim_stride, space);
    });
  });
}

cudaError_t launch_scatter_add(ElementType type, ElementType index_type, void* out, const void* index,
                               const void* src, const StridedSpace<3>& lines, const ScatterAxis& axis,
                               cudaStream_t stream) {
  if (lines.numel == 0 || axis.length == 0) return cudaSuccess;
  const int64_t wanted = (kScatterThreads + lines.numel - 1) / lines.numel;
  const int64_t buckets = std::max<int64_t>(1, std::min({wanted, kMaxBuckets, axis.out_size}));
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return with_index_type(index_type, [&](auto index_tag) {
      using I = decltype(index_tag);
      return launch_kernel(scatter_add_kernel<T, I>, dim3(grid_for(lines.numel * buckets, kThreads)),
                           dim3(kThreads), 0, stream, static_cast<T*>(out), static_cast<const I*>(index),
                           static_cast<const T*>(src), lines, axis, buckets);
    });
  });
}

}  // namespace fovea::kernels
