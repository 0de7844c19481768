// CPU pooling kernels (2-D pools arrive as 3-D ones with a depth of 1). Max, average and
// adaptive pools differ only in their windows, which the front-end describes per dim: the
// kernels loop over the product of the depth, height and width windows of each output.
#pragma once
#include <array>
#include <vector>

#include "engine/tensor.h"

namespace fovea::cpu {

// The input positions start, start + step, ... (count of them, all inside the input) that
// one output index reads along one dim, and that dim's factor of the average's divisor.
struct PoolWindow {
  int64_t start = 0, count = 0, step = 1, divisor = 1;
};

// Windows of every output index along depth, height and width (the output sizes are the
// lengths of the three lists), for inputs of spatial size `in`.
struct PoolWindows {
  std::array<int64_t, 3> in{};
  std::array<std::vector<PoolWindow>, 3> dims;
};

// x contiguous [planes, D, H, W]; out contiguous [planes, oD, oH, oW] of x's dtype; indices
// i64 of out's shape: flat positions d·H·W + h·W + w within the plane. Ties keep the first
// maximum; NaN wins.
void max_pool_forward(const Tensor& x, const PoolWindows& w, const Tensor& out, const Tensor& indices);
// grad_x [planes, D, H, W] = 0 plus grad_out scattered to indices (contiguous tensors).
void max_pool_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x);
// out = the window sum divided by the product of the three windows' divisors.
void avg_pool_forward(const Tensor& x, const PoolWindows& w, const Tensor& out);
void avg_pool_backward(const Tensor& grad_out, const PoolWindows& w, const Tensor& grad_x);

}  // namespace fovea::cpu
