// PLACEHOLDER until the CUDA random kernels land: every function fails loudly.
#include "engine/cuda/ops.h"

namespace fovea::cuda {

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t first) {
  FOVEA_FAIL("fill_uniform", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t first) {
  FOVEA_FAIL("fill_normal", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void fill_randint(const Tensor& t, int64_t low, int64_t high, uint64_t seed, uint64_t first) {
  FOVEA_FAIL("fill_randint", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void dropout(const Tensor& in, double p, double scale, uint64_t seed, uint64_t first, const Tensor& out, const Tensor& keep) {
  FOVEA_FAIL("dropout", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

}  // namespace fovea::cuda
