// PLACEHOLDER until the CUDA reduce kernels land: every function fails loudly.
#include "engine/cuda/ops.h"

namespace fovea::cuda {

void reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& out) {
  FOVEA_FAIL("reduce_rows", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void arg_reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& values, const Tensor& indices) {
  FOVEA_FAIL("arg_reduce_rows", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void var_rows(const Tensor& in, int64_t rows, int64_t length, int64_t correction, const Tensor& out) {
  FOVEA_FAIL("var_rows", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

}  // namespace fovea::cuda
