// Device implementations of the ConvGRU cell's fused gate math (models/convgru.h), one per
// backend with the same signature so that FOVEA_ON_DEVICE picks them. gates is the contiguous
// [N, 2·hid, P] pre-activation of the concatenated z/r convolution (z channels first); h, o (the
// output convolution's pre-activation) and every other tensor are contiguous [N, hid, P];
// outputs are preallocated and entirely overwritten. z = σ(gates_z), r = σ(gates_r):
//   gates stage  rh = r⊙h
//                backward: grad_gates_r = g⊙h⊙r(1−r), grad_gates_z = 0, grad_h = g⊙r
//   mix stage    out = h⊙(1−z) + tanh(o)⊙z
//                backward: grad_gates_z = g⊙(tanh(o)−h)⊙z(1−z), grad_gates_r = 0,
//                          grad_o = g⊙z⊙(1−tanh²(o)), grad_h = g⊙(1−z)
#pragma once
#include "engine/tensor.h"
#include "fovea/build_config.h"

namespace fovea::cpu {
void convgru_gates_forward(const Tensor& gates, const Tensor& h, const Tensor& rh);
void convgru_gates_backward(const Tensor& gates, const Tensor& h, const Tensor& grad_rh, const Tensor& grad_gates,
                            const Tensor& grad_h);
void convgru_mix_forward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& out);
void convgru_mix_backward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& grad_out,
                          const Tensor& grad_gates, const Tensor& grad_o, const Tensor& grad_h);
}  // namespace fovea::cpu

#if FOVEA_HAS_CUDA
namespace fovea::cuda {
void convgru_gates_forward(const Tensor& gates, const Tensor& h, const Tensor& rh);
void convgru_gates_backward(const Tensor& gates, const Tensor& h, const Tensor& grad_rh, const Tensor& grad_gates,
                            const Tensor& grad_h);
void convgru_mix_forward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& out);
void convgru_mix_backward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& grad_out,
                          const Tensor& grad_gates, const Tensor& grad_o, const Tensor& grad_h);
}  // namespace fovea::cuda
#endif
