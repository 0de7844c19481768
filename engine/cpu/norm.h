// CPU batch normalisation kernels over x seen as [N, C, L] (L = product of the spatial
// dims). Channels run in parallel; sums accumulate in double in a fixed order.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

// Per-channel mean and biased variance of x (contiguous [N, C, L]) into mean and var [C].
void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& var);

// out = (x - mean[c])·invstd[c]·weight[c] + bias[c]; weight and bias may be undefined
// (1 and 0). All tensors contiguous and of x's dtype; x, out (and gradients below) are
// [N, C, L], the per-channel tensors [C].
void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& out);

// Gradients of batch_norm_apply. batch_stats: mean and invstd were computed from x itself,
// so grad_x includes their dependence on x. Any of grad_x, grad_weight, grad_bias may be
// undefined; the defined ones are overwritten.
void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, bool batch_stats, const Tensor& grad_x, const Tensor& grad_weight,
                         const Tensor& grad_bias);

}  // namespace fovea::cpu
