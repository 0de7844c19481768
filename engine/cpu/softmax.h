// CPU kernels of softmax, log_softmax and the negative log-likelihood loss. Each works on a
// contiguous tensor viewed as [outer, length, inner] with the reduced (class) dim in the middle,
// so no transpose is needed to reach it.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

// out = softmax (or log_softmax) of `in` along the middle dim; in and out contiguous, same
// shape and floating dtype.
void softmax(const Tensor& in, int64_t outer, int64_t length, int64_t inner, bool log, const Tensor& out);

// losses[n, s] = -log_probs[n, target[n, s], s] for log_probs [N, C, S] and target [N, S]
// (contiguous), 0 where target is ignore_index. Throws on a target outside [0, C) that is not
// ignore_index. Returns how many targets were not ignored.
int64_t nll_forward(const Tensor& log_probs, const Tensor& target, int64_t classes, int64_t inner,
                    int64_t ignore_index, const Tensor& losses);

// Throws the error nll_forward reports for a target outside [0, classes) at flat `position`.
[[noreturn]] void raise_nll_target_error(int64_t value, int64_t position, int64_t classes, int64_t ignore_index);

// grad_input[n, target[n, s], s] = -scale · grad_losses[n, s] (or the single element of a
// one-element grad_losses) for non-ignored targets; grad_input is a zeroed contiguous [N, C, S].
void nll_backward(const Tensor& target, const Tensor& grad_losses, double scale, int64_t classes, int64_t inner,
                  int64_t ignore_index, const Tensor& grad_input);

}  // namespace fovea::cpu
