// Launchers of the pooling kernels (kernels/pool.cu); semantics as in engine/cpu/pool.h. Inputs
// are contiguous [planes, in[0], in[1], in[2]], outputs [planes, out[0], out[1], out[2]].
// `windows` is device memory of (out[0] + out[1] + out[2]) windows of four int64 each (start,
// count, step, divisor): those of depth, then height, then width, in output order.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

struct PoolShape {
  int64_t planes;
  int64_t in[3], out[3];
};

cudaError_t launch_max_pool_forward(ElementType type, const void* x, PoolShape s, const int64_t* windows, void* out,
                                    int64_t* indices, cudaStream_t stream);
// grad_x = 0 plus grad_out scattered to the flat in-plane positions `indices` (i64).
cudaError_t launch_max_pool_backward(ElementType type, const void* grad_out, const int64_t* indices, int64_t planes,
                                     int64_t in_plane, int64_t out_plane, void* grad_x, cudaStream_t stream);
cudaError_t launch_avg_pool_forward(ElementType type, const void* x, PoolShape s, const int64_t* windows, void* out,
                                    cudaStream_t stream);
cudaError_t launch_avg_pool_backward(ElementType type, const void* grad_out, PoolShape s, const int64_t* windows,
                                     void* grad_x, cudaStream_t stream);

}  // namespace fovea::kernels
