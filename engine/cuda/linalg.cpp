// PLACEHOLDER until the CUDA linalg kernels land: every function fails loudly.
#include "engine/cuda/ops.h"

namespace fovea::cuda {

bool blas_compatible(const Tensor& t) {
  FOVEA_FAIL("blas_compatible", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  FOVEA_FAIL("matmul", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

}  // namespace fovea::cuda
