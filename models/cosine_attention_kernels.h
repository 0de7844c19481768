// Device implementations of cosine_attention (models/cosine_attention.h), one per backend with
// the same signature so that FOVEA_ON_DEVICE picks them. c and grad_pred are contiguous
// [N, C, P]; weight [C, C] and bias [C] (or undefined) contiguous; outputs are preallocated,
// contiguous, of the shapes of the matching inputs. With A_n = ReLU(ĉ_nᵀ ĉ_n) (ĉ: columns of c_n
// divided by max(‖·‖, eps)), Y_n = c_n·A_n and s_n = A_n·1:
//   forward   pred_n = W·Y_n + b·s_nᵀ
//   backward  grad_c, grad_weight = Σ_n grad_pred_n·Y_nᵀ, grad_bias = Σ_n grad_pred_n·s_n
#pragma once
#include "engine/tensor.h"
#include "fovea/build_config.h"

namespace fovea::cpu {
void cosine_attention_forward(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps,
                              const Tensor& pred);
void cosine_attention_backward(const Tensor& c, const Tensor& weight, const Tensor& bias, const Tensor& grad_pred,
                               double eps, const Tensor& grad_c, const Tensor& grad_weight, const Tensor& grad_bias);
}  // namespace fovea::cpu

#if FOVEA_HAS_CUDA
namespace fovea::cuda {
void cosine_attention_forward(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps,
                              const Tensor& pred);
void cosine_attention_backward(const Tensor& c, const Tensor& weight, const Tensor& bias, const Tensor& grad_pred,
                               double eps, const Tensor& grad_c, const Tensor& grad_weight, const Tensor& grad_bias);
}  // namespace fovea::cuda
#endif
