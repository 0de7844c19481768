// Launchers of the masked 3-D convolution kernels (kernels/masked_conv3d.cu) behind
// models/masked_conv3d_cuda.cpp. A tile is the active output positions columns[j0, j0 + count)
// (global indices n·P + p, P = output positions per sample); its column matrix is row-major
// [C·kT·kH·kW, count], rows ordered (ci, kd, kh, kw). masks [P_masks, H, W] of the element type,
// mask_index [N] i64. f32 or f64.
#pragma once
#include "kernels/conv.h"
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// cols[row, j] = (x ⊙ masks[mask_index[n_j]])[n_j, ci, ...] at the tap of `row` (0 outside).
cudaError_t launch_masked_vol2col(ElementType type, void* cols, const void* x, const void* masks,
                                  const int64_t* mask_index, const int64_t* columns, const ConvShape& shape,
                                  int64_t j0, int64_t count, cudaStream_t stream);

// grad_x[i] += Σ over the tile's column entries copied from input element i (a thread per input
// element, fixed tap order; 0 added where the mask is 0). column_of[n·P + p] is the position's
// index in `columns` or -1; only indices in [j0, j0 + count) are read.
cudaError_t launch_masked_col2vol(ElementType type, void* grad_x, const void* cols, const void* masks,
                                  const int64_t* mask_index, const int64_t* column_of, const ConvShape& shape,
                                  int64_t batch, int64_t j0, int64_t count, cudaStream_t stream);

// out[n, c, p] = bias[c] (0 when bias is null) for out [batch, channels, plane].
cudaError_t launch_masked_conv3d_fill_bias(ElementType type, void* out, const void* bias, int64_t batch,
                                           int64_t channels, int64_t plane, cudaStream_t stream);

// out[n_j, c, p_j] += result[c, j] for the tile's columns.
cudaError_t launch_masked_conv3d_scatter(ElementType type, void* out, const void* result, const int64_t* columns,
                                         int64_t channels, int64_t plane, int64_t j0, int64_t count,
                                         cudaStream_t stream);

// matrix[c, j] = grad_out[n_j, c, p_j] for the tile's columns.
cudaError_t launch_masked_conv3d_gather(ElementType type, void* matrix, const void* grad_out, const int64_t* columns,
                                        int64_t channels, int64_t plane, int64_t j0, int64_t count,
                                        cudaStream_t stream);

}  // namespace fovea::kernels
