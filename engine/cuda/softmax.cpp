// PLACEHOLDER until the CUDA softmax kernels land: every function fails loudly.
#include "engine/cuda/ops.h"

namespace fovea::cuda {

void softmax(const Tensor& in, int64_t outer, int64_t length, int64_t inner, bool log, const Tensor& out) {
  FOVEA_FAIL("softmax", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

int64_t nll_forward(const Tensor& log_probs, const Tensor& target, int64_t classes, int64_t inner, int64_t ignore_index, const Tensor& losses) {
  FOVEA_FAIL("nll_forward", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void nll_backward(const Tensor& target, const Tensor& grad_losses, double scale, int64_t classes, int64_t inner, int64_t ignore_index, const Tensor& grad_input) {
  FOVEA_FAIL("nll_backward", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

}  // namespace fovea::cuda
