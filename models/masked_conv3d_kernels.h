// Device implementations of masked_conv3d (models/masked_conv3d.h), one per backend with the
// same signature so that FOVEA_ON_DEVICE picks them. The front-end computes a MaskedConvPlan on
// the host: the active output positions (those whose receptive field touches their sample's
// mask) as global indices n·P + p into the [N, P] output positions (P = oT·oH·oW), and the
// kernels run vol2col + GEMM over those columns only, in tiles of `tile_columns` columns.
// x, grad_out, out, grad_x contiguous; masks [P_masks, H, W] of x's dtype and mask_index [N]
// i64, both on x's device; weight [Cout, C, kT, kH, kW]; outputs preallocated and overwritten.
#pragma once
#include "engine/cpu/conv.h"
#include "engine/tensor.h"
#include "fovea/build_config.h"

namespace fovea {

struct MaskedConvPlan {
  cpu::ConvGeometry geometry;
  Tensor columns;             // i64 [A] active global output positions, ascending, on x's device
  int64_t active = 0;         // A
  int64_t tile_columns = 0;   // columns per tile (> 0)
};

}  // namespace fovea

namespace fovea::cpu {
// out = conv3d(x ⊙ mask) + bias (bias undefined = none); inactive positions get the bias alone.
void masked_conv3d_forward(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                           const Tensor& bias, const MaskedConvPlan& plan, const Tensor& out);
// grad_x (zero outside the mask) and grad_weight, each undefined when not wanted.
void masked_conv3d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                            const Tensor& weight, const MaskedConvPlan& plan, const Tensor& grad_x,
                            const Tensor& grad_weight);
}  // namespace fovea::cpu

#if FOVEA_HAS_CUDA
namespace fovea::cuda {
void masked_conv3d_forward(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                           const Tensor& bias, const MaskedConvPlan& plan, const Tensor& out);
void masked_conv3d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                            const Tensor& weight, const MaskedConvPlan& plan, const Tensor& grad_x,
                            const Tensor& grad_weight);
}  // namespace fovea::cuda
#endif
