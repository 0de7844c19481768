// PLACEHOLDER until the CUDA index kernels land: every function fails loudly.
#include "engine/cuda/ops.h"

namespace fovea::cuda {

void check_index_range(const Tensor& index, int64_t limit, const char* op, const std::string& what_is_indexed) {
  FOVEA_FAIL("check_index_range", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void cat(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out) {
  FOVEA_FAIL("cat", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void index_select(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  FOVEA_FAIL("index_select", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FOVEA_FAIL("index_add", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void gather(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  FOVEA_FAIL("gather", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FOVEA_FAIL("scatter_add", "not implemented on CUDA yet; run this op on the CPU (--device cpu)");
}

}  // namespace fovea::cuda
