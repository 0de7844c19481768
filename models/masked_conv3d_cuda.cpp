// CUDA backend of masked_conv3d: the masked vol2col / col2vol and tile copies of
// kernels/masked_conv3d.cu + cuBLAS through the engine's cuda matmul on views of the column
// buffer, as engine/cuda/conv.cpp. Tiles are ranges of the plan's active columns; grad_weight
// adds the tiles' products in tile order and col2vol gathers, so backward is deterministic.
#include <algorithm>
#include <vector>

#include "engine/cuda/conv_shape.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/masked_conv3d.h"
#include "models/masked_conv3d_kernels.h"

namespace fovea::cuda {
namespace {

// column_of[n·P + p]: the position's index among the active columns, or -1.
Tensor column_map(const MaskedConvPlan& plan, Device device) {
  const int64_t positions = plan.geometry.batch * plan.geometry.out_plane();
  Tensor map = make_tensor({positions}, DType::i64);
  int64_t* m = map.data<int64_t>();
  std::fill(m, m + positions, int64_t{-1});
  const Tensor columns = plan.columns.to(Device::cpu()).contiguous();
  const int64_t* c = columns.data<int64_t>();
  for (int64_t j = 0; j < plan.active; ++j) m[c[j]] = j;
  return map.to(device);
}

}  // namespace

void masked_conv3d_forward(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                           const Tensor& bias, const MaskedConvPlan& plan, const Tensor& out) {
  if (out.numel() == 0) return;
  const cpu::ConvGeometry& g = plan.geometry;
  const kernels::ElementType type = element_type(x.dtype());
  const kernels::ConvShape shape = conv_shape(g);
  const int64_t plane = g.out_plane(), rows = g.in_channels * g.kernel_volume();
  check_launch(kernels::launch_masked_conv3d_fill_bias(type, out.raw_data(), bias.defined() ? bias.raw_data() : nullptr,
                                                       g.batch, g.out_channels, plane, current_stream()),
               "masked_conv3d");
  if (plan.active == 0) return;
  const int64_t tile = std::min(plan.tile_columns, plan.active);
  const Tensor cols = make_tensor({rows * tile}, x.dtype(), x.device());
  const Tensor result = make_tensor({g.out_channels * tile}, x.dtype(), x.device());
  const Tensor w = weight.view({g.out_channels, rows});
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    check_launch(kernels::launch_masked_vol2col(type, cols.raw_data(), x.raw_data(), masks.raw_data(),
                                                mask_index.data<int64_t>(), plan.columns.data<int64_t>(), shape, j0,
                                                count, current_stream()),
                 "masked_conv3d");
    const Tensor res = result.narrow(0, 0, g.out_channels * count).view({g.out_channels, count});
    matmul(w, cols.narrow(0, 0, rows * count).view({rows, count}), res);
    check_launch(kernels::launch_masked_conv3d_scatter(type, out.raw_data(), res.raw_data(),
                                                       plan.columns.data<int64_t>(), g.out_channels, plane, j0, count,
                                                       current_stream()),
                 "masked_conv3d");
  }
}

void masked_conv3d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                            const Tensor& weight, const MaskedConvPlan& plan, const Tensor& grad_x,
                            const Tensor& grad_weight) {
  const cpu::ConvGeometry& g = plan.geometry;
  if (grad_x.defined()) fill(grad_x, 0.0);
  if (grad_weight.defined()) fill(grad_weight, 0.0);
  if (plan.active == 0) return;
  const kernels::ElementType type = element_type(x.dtype());
  const kernels::ConvShape shape = conv_shape(g);
  const int64_t plane = g.out_plane(), rows = g.in_channels * g.kernel_volume();
  const int64_t tile = std::min(plan.tile_columns, plan.active);
  const Tensor cols = make_tensor({rows * tile}, x.dtype(), x.device());
  const Tensor go = make_tensor({g.out_channels * tile}, x.dtype(), x.device());
  const Tensor w = weight.view({g.out_channels, rows});
  const Tensor gw = grad_weight.defined() ? grad_weight.view({g.out_channels, rows}) : Tensor();
  const Tensor partial = gw.defined() ? make_tensor(gw.shape(), gw.dtype(), gw.device()) : Tensor();
  const Tensor column_of = grad_x.defined() ? column_map(plan, x.device()) : Tensor();
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    const Tensor go_tile = go.narrow(0, 0, g.out_channels * count).view({g.out_channels, count});
    const Tensor cols_tile = cols.narrow(0, 0, rows * count).view({rows, count});
    check_launch(kernels::launch_masked_conv3d_gather(type, go_tile.raw_data(), grad_out.raw_data(),
                                                      plan.columns.data<int64_t>(), g.out_channels, plane, j0, count,
                                                      current_stream()),
                 "masked_conv3d backward");
    if (gw.defined()) {
      check_launch(kernels::launch_masked_vol2col(type, cols_tile.raw_data(), x.raw_data(), masks.raw_data(),
                                                  mask_index.data<int64_t>(), plan.columns.data<int64_t>(), shape,
                                                  j0, count, current_stream()),
                   "masked_conv3d backward");
      matmul(go_tile, cols_tile.t(), partial);
      cuda::binary(cpu::BinaryOp::add, gw, partial, gw);
    }
    if (grad_x.defined()) {
      matmul(w.t(), go_tile, cols_tile);
      check_launch(kernels::launch_masked_col2vol(type, grad_x.raw_data(), cols_tile.raw_data(), masks.raw_data(),
                                                  mask_index.data<int64_t>(), column_of.data<int64_t>(), shape,
                                                  g.batch, j0, count, current_stream()),
                   "masked_conv3d backward");
    }
  }
}

}  // namespace fovea::cuda
