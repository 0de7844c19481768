// CPU convolution (2-D convolutions arrive as 3-D ones with a depth of 1): vol2col +
// OpenBLAS GEMM. The column matrix is built for a tile of whole output rows at a time, so
// its buffer stays bounded (and cache-sized where the GEMM allows) whatever the batch; a
// tile may span several samples, which keeps the GEMMs of small late layers large.
#pragma once
#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace fovea::cpu {

// Sizes of one convolution; spatial arrays are ordered depth, height, width.
struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
  std::array<int64_t, 3> in{}, out{}, kernel{}, stride{}, padding{}, dilation{};

  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// Output length along one dim (PyTorch's formula); may be < 1 for invalid sizes.
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation);

// All tensors contiguous and of one floating dtype: x [N, Cin, D, H, W], weight
// [Cout, Cin/groups, kD, kH, kW], bias [Cout] or undefined, out [N, Cout, oD, oH, oW].
// tile_columns: output positions per column tile (0 = chosen from the shape and cache
// size); tests set it to exercise every tiling.
void conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g,
                  const Tensor& out, int64_t tile_columns = 0);
// Gradients of conv_forward for grad_out [N, Cout, oD, oH, oW]; each of grad_x and
// grad_weight may be undefined when not wanted, and is overwritten otherwise.
void conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                   const Tensor& grad_x, const Tensor& grad_weight, int64_t tile_columns = 0);

}  // namespace fovea::cpu
