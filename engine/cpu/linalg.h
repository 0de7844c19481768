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

// Row-major C = op(A)·op(B) + beta·C with one OpenBLAS call (which threads itself, or runs
// single-threaded inside an OpenMP region); the building block of the convolutions.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace fovea::cpu
