// Launchers of the convolution kernels (kernels/conv.cu). A tile is the whole samples
// [n0, n0 + samples) of the batch; its column matrix is row-major [Cin·kD·kH·kW, samples·P]
// (P = output positions per sample, rows ordered (ci, kd, kh, kw)), and a tile matrix of an
// [N, C, P] tensor is row-major [C, samples·P]. f32 or f64.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// Sizes of one convolution, spatial arrays ordered depth, height, width.
struct ConvShape {
  int64_t in_channels, out_channels;
  int64_t in[3], out[3], kernel[3], stride[3], padding[3], dilation[3];
};

// cols[(ci, kd, kh, kw), s·P + p] = x[n0 + s, ci, od·sd - pd + kd·dd, ...] (0 in the padding).
cudaError_t launch_vol2col(ElementType type, void* cols, const void* x, const ConvShape& shape, int64_t n0,
                           int64_t samples, cudaStream_t stream);

// The adjoint of vol2col, written to (not added into) grad_x[n0 .. n0 + samples): a thread per
// input element sums the column entries copied from it in a fixed order.
cudaError_t launch_col2vol(ElementType type, void* grad_x, const void* cols, const ConvShape& shape, int64_t n0,
                           int64_t samples, cudaStream_t stream);

// matrix[c, s·P + p] = tensor[n0 + s, c, p] (gather) and back (scatter).
cudaError_t launch_conv_gather_tile(ElementType type, void* matrix, const void* tensor, int64_t channels,
                                    int64_t plane, int64_t n0, int64_t samples, cudaStream_t stream);
cudaError_t launch_conv_scatter_tile(ElementType type, void* tensor, const void* matrix, int64_t channels,
                                     int64_t plane, int64_t n0, int64_t samples, cudaStream_t stream);

// out[n, c, p] += bias[c] for out of shape [batch, channels, plane].
cudaError_t launch_conv_add_bias(ElementType type, void* out, const void* bias, int64_t batch, int64_t channels,
                                 int64_t plane, cudaStream_t stream);

}  // namespace fovea::kernels
