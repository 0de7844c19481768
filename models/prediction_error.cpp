// L1 prediction-error loss of the saccade model and its two-clip convenience.
#include "models/prediction_error.h"

#include "engine/ops/common.h"
#include "models/cosine_attention.h"

namespace fovea {

Tensor prediction_error_loss(const Tensor& pred, const Tensor& target) {
  FOVEA_NVTX_RANGE("prediction_error_loss");
  const char* op = "prediction_error_loss";
  check_defined(pred, op, "pred");
  check_defined(target, op, "target");
  FOVEA_CHECK(pred.shape() == target.shape(), op, "pred of shape ", shape_str(pred.shape()),
              " and target of shape ", shape_str(target.shape()),
              " must have the same shape (the target is the other clip's feature map)");
  FOVEA_CHECK(pred.numel() > 0, op, "the mean over an empty feature map of shape ", shape_str(pred.shape()),
              " is undefined; skip empty batches");
  return l1_loss(pred, target.detach());
}

Tensor fixation_prediction_error(const Tensor& c_first, const Tensor& c_second, const Tensor& g_weight,
                                 const Tensor& g_bias) {
  FOVEA_NVTX_RANGE("fixation_prediction_error");
  check_defined(c_first, "fixation_prediction_error", "c_first");
  check_defined(c_second, "fixation_prediction_error", "c_second");
  FOVEA_CHECK(c_first.shape() == c_second.shape(), "fixation_prediction_error", "the two clips' feature maps have shapes ",
              shape_str(c_first.shape()), " and ", shape_str(c_second.shape()),
              "; both clips of a fixation must come from the same encoder at the same clip size");
  const Tensor forward = prediction_error_loss(cosine_attention(c_first, g_weight, g_bias), c_second);
  const Tensor backward = prediction_error_loss(cosine_attention(c_second, g_weight, g_bias), c_first);
  return mul(add(forward, backward), 0.5);
}

}  // namespace fovea
