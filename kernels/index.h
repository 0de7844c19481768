// Launchers of the gather and scatter-add kernels (kernels/index.cu), which also serve
// index_select and index_add through an index broadcast over the other dims. Index elements are
// i32 or i64 and already checked to lie in range.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// out[p] = a[p with coordinate `dim` replaced by index[p]] for every position p of `space` (the
// index's shape; operands out, index, a, with a's stride along dim zeroed and given as
// a_dim_stride).
cudaError_t launch_gather(ElementType type, ElementType index_type, void* out, const void* index, const void* a,
                          int64_t a_dim_stride, const StridedSpace<3>& space, cudaStream_t stream);

// How scatter_add walks each line of the index along the scattered dim: its length, the strides
// of out, index and src along it, and out's size along it.
struct ScatterAxis {
  int64_t length = 0;
  int64_t out_stride = 0, index_stride = 0, src_stride = 0;
  int64_t out_size = 0;
};

// out[p with coordinate dim replaced by index[p]] += src[p]. `lines` is the index's shape with
// size 1 along the scattered dim (operands out, index, src). Each output element receives its
// terms in increasing position along the dim, from one thread: no atomics, deterministic.
cudaError_t launch_scatter_add(ElementType type, ElementType index_type, void* out, const void* index,
                               const void* src, const StridedSpace<3>& lines, const ScatterAxis& axis,
                               cudaStream_t stream);

}  // namespace fovea::kernels
