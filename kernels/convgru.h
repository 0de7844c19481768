// Launchers of the ConvGRU cell's fused gate kernels (kernels/convgru.cu; models/convgru.h).
// gates is the contiguous [N, 2·hid, P] output of the concatenated z/r convolution (z rows
// first, pre-activation); h, rh, o (the pre-activation of the output convolution), out and the
// gradients of those are contiguous [N, hid, P]. With z = σ(gates_z), r = σ(gates_r):
//   gates stage  rh = r⊙h
//   mix stage    out = h⊙(1−z) + tanh(o)⊙z
// The backward launchers write every element of their outputs (grad_gates' half that the stage
// does not touch is written as zeros).
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

cudaError_t launch_convgru_gates_forward(ElementType type, void* rh, const void* gates, const void* h,
                                         int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream);

// grad_gates_r = grad_rh⊙h⊙r(1−r), grad_gates_z = 0, grad_h = grad_rh⊙r.
cudaError_t launch_convgru_gates_backward(ElementType type, void* grad_gates, void* grad_h, const void* gates,
                                          const void* h, const void* grad_rh, int64_t samples, int64_t hidden,
                                          int64_t positions, cudaStream_t stream);

cudaError_t launch_convgru_mix_forward(ElementType type, void* out, const void* gates, const void* o, const void* h,
                                       int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream);

// grad_gates_z = g⊙(tanh(o)−h)⊙z(1−z), grad_gates_r = 0, grad_o = g⊙z⊙(1−tanh²(o)),
// grad_h = g⊙(1−z), g = grad_out.
cudaError_t launch_convgru_mix_backward(ElementType type, void* grad_gates, void* grad_o, void* grad_h,
                                        const void* gates, const void* o, const void* h, const void* grad_out,
                                        int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream);

}  // namespace fovea::kernels
