// CUDA convolution: vol2col (kernels/conv.cu) + cuBLAS through matmul, one strided-batched
// GEMM over the groups per tile. Tiles are whole samples, as many as keep the column matrix
// within kMaxColumnBytes (or tile_columns output positions), so the buffers stay bounded
// whatever the batch. A single-sample tile reads and writes the [C, P] block of its sample in
// place; a tile of several samples goes through a [C, samples·P] scratch matrix. grad_weight
// adds the tiles' products in tile order and col2vol gathers, so backward is deterministic.
#include <algorithm>

#include "engine/cuda/conv_shape.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/conv.h"

namespace fovea::cuda {
namespace {

constexpr int64_t kMaxColumnBytes = int64_t{64} << 20;


// The tiling of one call and its buffers, allocated on the device of `like`.
struct Tiling {
  int64_t groups, cout_g, rows, rows_g, plane, per_tile;
  Tensor cols, scratch;
  kernels::ConvShape shape;
  kernels::ElementType type;

  Tiling(const cpu::ConvGeometry& g, const Tensor& like, int64_t tile_columns)
      : groups(g.groups),
        cout_g(g.out_channels / g.groups),
        rows(g.in_channels * g.kernel_volume()),
        rows_g(rows / g.groups),
        plane(g.out_plane()),
        shape(conv_shape(g)),
        type(element_type(like.dtype())) {
    const int64_t limit = tile_columns > 0 ? tile_columns / plane
                                           : kMaxColumnBytes / std::max<int64_t>(1, rows * plane * dtype_size(like.dtype()));
    per_tile = std::clamp<int64_t>(limit, 1, g.batch);
    cols = make_tensor({rows * per_tile * plane}, like.dtype(), like.device());
    if (per_tile > 1) scratch = make_tensor({g.out_channels * per_tile * plane}, like.dtype(), like.device());
  }

  // [groups, rows_g, samples·P] view of the column buffer.
  Tensor columns(int64_t samples) const {
    return cols.narrow(0, 0, rows * samples * plane).view({groups, rows_g, samples * plane});
  }
  // [groups, cout_g, samples·P] tile matrix of the [N, Cout, P] tensor t.
  Tensor tile_matrix(const Tensor& t, int64_t n0, int64_t samples) const {
    if (samples == 1) return t.select(0, n0).view({groups, cout_g, plane});
    return scratch.narrow(0, 0, groups * cout_g * samples * plane).view({groups, cout_g, samples * plane});
  }
};

}  // namespace

kernels::ConvShape conv_shape(const cpu::ConvGeometry& g) {
  kernels::ConvShape s{g.in_channels, g.out_channels, {}, {}, {}, {}, {}, {}};
  for (int d = 0; d < 3; ++d) {
    s.in[d] = g.in[d];
    s.out[d] = g.out[d];
    s.kernel[d] = g.kernel[d];
    s.stride[d] = g.stride[d];
    s.padding[d] = g.padding[d];
    s.dilation[d] = g.dilation[d];
  }
  return s;
}

void conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const cpu::ConvGeometry& g,
                  const Tensor& out, int64_t tile_columns) {
  if (out.numel() == 0) return;
  const Tiling t(g, x, tile_columns);
  const Tensor w = weight.view({t.groups, t.cout_g, t.rows_g});
  const Tensor out3 = out.view({g.batch, g.out_channels, t.plane});
  for (int64_t n0 = 0; n0 < g.batch; n0 += t.per_tile) {
    const int64_t samples = std::min(t.per_tile, g.batch - n0);
    check_launch(kernels::launch_vol2col(t.type, t.cols.raw_data(), x.raw_data(), t.shape, n0, samples,
                                         current_stream()),
                 "conv_forward");
    const Tensor result = t.tile_matrix(out3, n0, samples);
    matmul(w, t.columns(samples), result);
    if (samples > 1)
      check_launch(kernels::launch_conv_scatter_tile(t.type, out.raw_data(), result.raw_data(), g.out_channels,
                                                     t.plane, n0, samples, current_stream()),
                   "conv_forward");
  }
  if (bias.defined())
    check_launch(kernels::launch_conv_add_bias(t.type, out.raw_data(), bias.raw_data(), g.batch, g.out_channels,
                                               t.plane, current_stream()),
                 "conv_forward");
}

void conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const cpu::ConvGeometry& g,
                   const Tensor& grad_x, const Tensor& grad_weight, int64_t tile_columns) {
  if (grad_weight.defined() && (g.batch == 0 || g.out_plane() == 0)) fill(grad_weight, 0.0);
  if (grad_out.numel() == 0) return;
  const Tiling t(g, x, tile_columns);
  const Tensor w = weight.view({t.groups, t.cout_g, t.rows_g});
  const Tensor go3 = grad_out.view({g.batch, g.out_channels, t.plane});
  const Tensor gw = grad_weight.defined() ? grad_weight.view({t.groups, t.cout_g, t.rows_g}) : Tensor();
  const Tensor partial = gw.defined() && t.per_tile < g.batch ? make_tensor(gw.shape(), gw.dtype(), gw.device())
                                                               : Tensor();
  for (int64_t n0 = 0; n0 < g.batch; n0 += t.per_tile) {
    const int64_t samples = std::min(t.per_tile, g.batch - n0);
    const Tensor go_tile = t.tile_matrix(go3, n0, samples);
    if (samples > 1)
      check_launch(kernels::launch_conv_gather_tile(t.type, go_tile.raw_data(), grad_out.raw_data(), g.out_channels,
                                                    t.plane, n0, samples, current_stream()),
                   "conv_backward");
    const Tensor cols = t.columns(samples);
    if (gw.defined()) {
      check_launch(kernels::launch_vol2col(t.type, cols.raw_data(), x.raw_data(), t.shape, n0, samples,
                                           current_stream()),
                   "conv_backward");
      if (n0 == 0) {
        matmul(go_tile, cols.transpose(1, 2), gw);
      } else {
        matmul(go_tile, cols.transpose(1, 2), partial);
        cuda::binary(cpu::BinaryOp::add, gw, partial, gw);
      }
    }
    if (grad_x.defined()) {
      matmul(w.transpose(1, 2), go_tile, cols);
      check_launch(kernels::launch_col2vol(t.type, grad_x.raw_data(), cols.raw_data(), t.shape, n0, samples,
                                           current_stream()),
                   "conv_backward");
    }
  }
}

}  // namespace fovea::cuda
