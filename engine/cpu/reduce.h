// CPU reduction kernels over the last dimension of a contiguous [rows, length] view.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

enum class ReduceOp { sum, max, min };

// out[r] = reduce(in[r, :]); in is contiguous, viewed as rows × length; out has rows elements.
void reduce_rows(ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& out);
// Like reduce_rows for max/min, also writing the position of the first extreme (i64).
void arg_reduce_rows(ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& values,
                     const Tensor& indices);
// Sum of squared deviations from the row mean, divided by (length - correction).
void var_rows(const Tensor& in, int64_t rows, int64_t length, int64_t correction, const Tensor& out);

}  // namespace fovea::cpu
