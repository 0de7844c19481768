// CPU matrix products through OpenBLAS (cblas_sgemm / cblas_dgemm), reading strided
// operands in place whenever BLAS can describe their layout.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

// True when the last two dims of `t` can be handed to BLAS without a copy: one of their
// strides is 1 and the other is a valid leading dimension.
bool blas_compatible(const Tensor& t);

// out[i] = a[i] · b[i] for every index i of the leading (batch) dims, with a [..., M, K],
// b [..., K, N] f32/f64 views of equal leading dims (broadcast dims may have stride 0) and
// out a contiguous [..., M, N] of the same dtype. a and b must be blas_compatible.
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace fovea::cpu
