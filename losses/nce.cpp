// CMC's NCE on top of the fused bank gather (losses/infonce.h): the exp(s/T)/Z scores with their
// normaliser, and the NCE loss composed from engine ops on the [B, K + 1] scores.
#include "losses/nce.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops/common.h"
#include "losses/infonce.h"

namespace fovea {

Tensor nce_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices, double temperature,
                  int64_t n_data, NceNormalizer& normalizer) {
  FOVEA_NVTX_RANGE("nce_scores");
  const char* op = "nce_scores";
  FOVEA_CHECK(std::isfinite(temperature) && temperature > 0, op, "temperature must be finite and > 0, got ",
              temperature, " (CMC uses 0.07)");
  FOVEA_CHECK(n_data > 0, op, "n_data (the number of training instances, the bank's rows) must be > 0, got ", n_data);
  FOVEA_CHECK(normalizer.momentum >= 0 && normalizer.momentum <= 1, op,
              "normalizer.momentum must lie in [0, 1] (it weights the old Z), got ", normalizer.momentum);
  const Tensor exp_scores = exp(mul(gather_scores(queries, bank, indices), 1.0 / temperature));
  FOVEA_CHECK(exp_scores.numel() > 0, op, "no scores to set Z from: indices of shape ", shape_str(indices.shape()),
              " must be [B, K + 1] with B > 0");
  if (normalizer.z < 0 || normalizer.mode == NceNormalizer::Mode::moving_average) {
    const double batch_z = mean(exp_scores.detach()).item() * static_cast<double>(n_data);
    normalizer.z = normalizer.z < 0 ? batch_z : normalizer.momentum * normalizer.z + (1 - normalizer.momentum) * batch_z;
  }
  return mul(exp_scores, 1.0 / normalizer.z);
}

Tensor nce_loss(const Tensor& probs, int64_t n_data, double eps) {
  FOVEA_NVTX_RANGE("nce_loss");
  const char* op = "nce_loss";
  check_defined(probs, op, "probs");
  check_floating(probs, op, "probs");
  FOVEA_CHECK(probs.dim() == 2 && probs.size(0) > 0 && probs.size(1) > 0, op,
              "probs must be [B, K + 1] with B > 0 and the positive in column 0, got shape ", shape_str(probs.shape()));
  FOVEA_CHECK(n_data > 0, op, "n_data must be > 0, got ", n_data);
  FOVEA_CHECK(eps >= 0, op, "eps must be >= 0, got ", eps);
  const int64_t noise_samples = probs.size(1) - 1;
  const double noise = static_cast<double>(noise_samples) / static_cast<double>(n_data);  // K·Pn
  const Tensor positive = probs.narrow(1, 0, 1);
  const Tensor positive_term = log(div(positive, add(positive, noise + eps)));
  const Tensor negative_term = rsub(log(add(probs.narrow(1, 1, noise_samples), noise + eps)), std::log(noise));
  return div(neg(add(sum(positive_term), sum(negative_term))), static_cast<double>(probs.size(0)));
}

}  // namespace fovea
