// Conversions from engine tensors to the plain-data kernel arguments of kernels/kernel_args.h,
// and the check that turns a launch status into a fovea::Error.
#pragma once
#include <array>

#include "engine/cuda/runtime.h"
#include "engine/tensor.h"
#include "kernels/kernel_args.h"

namespace fovea::cuda {

inline kernels::ElementType element_type(DType t) { return static_cast<kernels::ElementType>(static_cast<int>(t)); }

// The iteration space `shape` with each operand's strides broadcast to it (operand 0 first).
template <int N>
kernels::StridedSpace<N> strided_space(const Shape& shape, const std::array<const Tensor*, N>& operands,
                                       const char* op) {
  kernels::StridedSpace<N> space;
  FOVEA_CHECK(static_cast<int>(shape.size()) <= kernels::kMaxDims, op, "CUDA kernels take at most ",
              kernels::kMaxDims, " dimensions, got shape ", shape_str(shape));
  space.rank = static_cast<int>(shape.size());
  space.numel = shape_numel(shape);
  for (int d = 0; d < space.rank; ++d) space.sizes[d] = shape[d];
  for (int k = 0; k < N; ++k) {
    const Tensor& t = *operands[k];
    const int shift = space.rank - static_cast<int>(t.dim());
    for (int d = 0; d < t.dim(); ++d) space.strides[k][d + shift] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  }
  return space;
}

// Throws fovea::Error naming the op when a launch (or the kernel, under the emulator) failed.
inline void check_launch(cudaError_t status, const char* op) {
  if (status != cudaSuccess) throw_error(status, op, __FILE__, __LINE__);
}

}  // namespace fovea::cuda
