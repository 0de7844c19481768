// CUDA backend of the ConvGRU cell's fused gate math: thin glue to kernels/convgru.cu.
#include <cuda_runtime_api.h>

#include "engine/cuda/kernel_args.h"
#include "engine/cuda/runtime.h"
#include "kernels/convgru.h"
#include "models/convgru_kernels.h"

namespace fovea::cuda {

void convgru_gates_forward(const Tensor& gates, const Tensor& h, const Tensor& rh) {
  if (h.numel() == 0) return;
  check_launch(kernels::launch_convgru_gates_forward(element_type(h.dtype()), rh.raw_data(), gates.raw_data(),
                                                     h.raw_data(), h.size(0), h.size(1), h.size(2), current_stream()),
               "convgru");
}

void convgru_gates_backward(const Tensor& gates, const Tensor& h, const Tensor& grad_rh, const Tensor& grad_gates,
                            const Tensor& grad_h) {
  if (h.numel() == 0) return;
  check_launch(kernels::launch_convgru_gates_backward(element_type(h.dtype()), grad_gates.raw_data(),
                                                      grad_h.raw_data(), gates.raw_data(), h.raw_data(),
                                                      grad_rh.raw_data(), h.size(0), h.size(1), h.size(2),
                                                      current_stream()),
               "convgru");
}

void convgru_mix_forward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& out) {
  if (h.numel() == 0) return;
  check_launch(kernels::launch_convgru_mix_forward(element_type(h.dtype()), out.raw_data(), gates.raw_data(),
                                                   o.raw_data(), h.raw_data(), h.size(0), h.size(1), h.size(2),
                                                   current_stream()),
               "convgru");
}

void convgru_mix_backward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& grad_out,
                          const Tensor& grad_gates, const Tensor& grad_o, const Tensor& grad_h) {
  if (h.numel() == 0) return;
  check_launch(kernels::launch_convgru_mix_backward(element_type(h.dtype()), grad_gates.raw_data(),
                                                    grad_o.raw_data(), grad_h.raw_data(), gates.raw_data(),
                                                    o.raw_data(), h.raw_data(), grad_out.raw_data(), h.size(0),
                                                    h.size(1), h.size(2), current_stream()),
               "convgru");
}

}  // namespace fovea::cuda
