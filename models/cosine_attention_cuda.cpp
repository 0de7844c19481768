// CUDA backend of cosine_attention: kernels/cosine_attention.cu for the attention (forward fully
// fused with W's product; backward tiled), cuBLAS through engine ops for the backward's
// products with W and the parameter gradients.
#include <cuda_runtime_api.h>

#include "engine/cuda/kernel_args.h"
#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "kernels/cosine_attention.h"
#include "models/cosine_attention_kernels.h"

namespace fovea::cuda {
namespace {

struct Geometry {
  int64_t samples, channels, positions;
};

// The fused kernels keep C × 16 (forward) or 2 × C × 16 (backward) accumulators per block in
// shared memory; refuses, naming the fallback, when the device cannot hold them.
Geometry check_fits(const Tensor& c, bool backward) {
  const Geometry g{c.size(0), c.size(1), c.size(2)};
  FOVEA_CHECK(g.samples <= 65535, "cosine_attention", "the CUDA kernels take at most 65535 samples per call, got ",
              g.samples, "; split the batch");
  int limit = 0;
  FOVEA_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, c.device().index));
  const std::size_t needed = kernels::cosine_attention_shared_bytes(element_type(c.dtype()), g.channels, backward);
  FOVEA_CHECK(needed <= static_cast<std::size_t>(limit), "cosine_attention", "the fused CUDA ",
              backward ? "backward" : "forward", " kernel needs ", needed, " bytes of shared memory per block for ",
              g.channels, " channels of ", dtype_name(c.dtype()), " but ", c.device().str(), " allows ", limit,
              "; use cosine_attention_unfused for this many channels");
  return g;
}

Tensor column_norms(const Tensor& c, const Geometry& g) {
  Tensor norms = make_tensor({g.samples, g.positions}, c.dtype(), c.device());
  check_launch(kernels::launch_cosine_attention_norms(element_type(c.dtype()), norms.raw_data(), c.raw_data(),
                                                      g.samples, g.channels, g.positions, current_stream()),
               "cosine_attention");
  return norms;
}

}  // namespace

void cosine_attention_forward(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps,
                              const Tensor& pred) {
  const Geometry g = check_fits(c, false);
  const Tensor norms = column_norms(c, g);
  check_launch(kernels::launch_cosine_attention_forward(element_type(c.dtype()), pred.raw_data(), c.raw_data(),
                                                        norms.raw_data(), weight.raw_data(),
                                                        bias.defined() ? bias.raw_data() : nullptr, g.samples,
                                                        g.channels, g.positions, eps, current_stream()),
               "cosine_attention");
}

void cosine_attention_backward(const Tensor& c, const Tensor& weight, const Tensor& bias, const Tensor& grad_pred,
                               double eps, const Tensor& grad_c, const Tensor& grad_weight, const Tensor& grad_bias) {
  const Geometry g = check_fits(c, true);
  const kernels::ElementType type = element_type(c.dtype());
  const Tensor norms = column_norms(c, g);
  const Tensor grad_y = matmul(weight.t(), grad_pred).contiguous();
  const Tensor grad_s = bias.defined() ? matmul(bias.unsqueeze(0), grad_pred).contiguous()
                                       : zeros({g.samples, 1, g.positions}, c.dtype(), c.device());
  const Tensor y = make_tensor(c.shape(), c.dtype(), c.device());
  const Tensor s = make_tensor({g.samples, g.positions}, c.dtype(), c.device());
  check_launch(kernels::launch_cosine_attention_attend(type, y.raw_data(), s.raw_data(), c.raw_data(),
                                                       norms.raw_data(), g.samples, g.channels, g.positions, eps,
                                                       current_stream()),
               "cosine_attention");
  check_launch(kernels::launch_cosine_attention_backward(type, grad_c.raw_data(), c.raw_data(), norms.raw_data(),
                                                         grad_y.raw_data(), grad_s.raw_data(), g.samples, g.channels,
                                                         g.positions, eps, current_stream()),
               "cosine_attention");
  // grad_weight = Σ_n grad_pred_n·Y_nᵀ as one product over the N·P positions.
  const Shape by_channel{g.channels, g.samples * g.positions};
  Tensor(grad_weight).copy_(matmul(grad_pred.permute({1, 0, 2}).reshape(by_channel),
                           y.permute({1, 0, 2}).reshape(by_channel).t()));
  if (grad_bias.defined()) Tensor(grad_bias).copy_(sum(mul(grad_pred, s.unsqueeze(1)), {0, 2}));
}

}  // namespace fovea::cuda
