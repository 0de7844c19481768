// The saccade model's prediction-error loss L_pred (docs MODELS.md, "Saccade model"): the
// feature map of one clip, passed through the cosine-attention predictor, predicts the feature
// map of another clip of the same fixation, under an L1 loss with the target detached.
#pragma once
#include "engine/tensor.h"

namespace fovea {

// mean |target − pred| over all elements; no gradient flows into target. pred and target have
// the same shape. One direction only: averaging both directions is the caller's (or
// fixation_prediction_error's) job.
Tensor prediction_error_loss(const Tensor& pred, const Tensor& target);

// L_pred of the level-5 feature maps c_first and c_second ([N, C, T, H, W] or [N, C, P], same
// shape) of two clips of one fixation: the average of
// prediction_error_loss(cosine_attention(c_first, g), c_second) and the same with the clips
// swapped.
Tensor fixation_prediction_error(const Tensor& c_first, const Tensor& c_second, const Tensor& g_weight,
                                 const Tensor& g_bias = Tensor());

}  // namespace fovea
