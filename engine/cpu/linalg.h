// CPU matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm), reading strided
// operands in place whenever BLAS can describe their layout.
#pragma once
#include <optional>

#include "engine/tensor.h"

namespace fovea::cpu {

// How a row-major BLAS call (or, transposed, a column-major one) reads the last two dims of a
// tensor in place: plain or transposed, with this leading dimension. Shared by the CPU and the
// cuBLAS backends.
struct MatrixLayout {
  bool transposed;
  int64_t leading_dim;
};
std::optional<MatrixLayout> matrix_layout(const Tensor& t);

// True when the last two dims of `t` can be handed to BLAS without a copy: one of their
// strides is 1 and the other is a valid leading dimension.
bool blas_compatible(const Tensor& t);

// out[i] = a[i] · b[i] for every index i of the leading (batch) dims, with a [..., M, K],
// b [..., K, N] f32/f64 views of equal leading dims (broadcast dims may have stride 0) and
// out a contiguous [..., M, N] of the same dtype. a and b must be blas_compatible.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace fovea::cpu
