// CMC's NCE objective: scores of features against memory-bank rows turned into unnormalised
// probabilities exp(s/T)/Z, and the NCE loss that tells the positive from K uniform noise samples.
#pragma once
#include "engine/tensor.h"

namespace fovea {

// The normalising constant Z of nce_scores. The reference sets Z once, on the first batch, to
// mean(exp(s/T))·n_data and freezes it; moving_average instead refreshes it every batch with
// Z ← momentum·Z + (1 − momentum)·mean(exp(s/T))·n_data (momentum weights the old value).
// To checkpoint it, save `z` (one scalar, e.g. a one-element f64 tensor) and restore it before
// the next call; z < 0 means not set yet.
struct NceNormalizer {
  enum class Mode { frozen, moving_average };
  Mode mode = Mode::frozen;
  double momentum = 0.5;
  double z = -1;
};

// P[b, j] = exp(s_bj / T) / Z with s = gather_scores(queries, bank, indices), indices [B, K + 1]
// holding the positive's bank row in column 0 and K noise rows after it (the CMC layout; the
// scores are cross-view: features of one view against the memory of the other). Sets or updates
// normalizer.z as described above, reading the scores back to the host for it; Z carries no
// gradient. Gradients reach queries only.
Tensor nce_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices, double temperature,
                  int64_t n_data, NceNormalizer& normalizer);

// −[Σ_b log(P_b0 / (P_b0 + K·Pn + ε)) + Σ_b Σ_{k≥1} log(K·Pn / (P_bk + K·Pn + ε))] / B for P
// [B, K + 1] (the positive in column 0), noise prior Pn = 1/n_data, K = P.size(1) − 1.
Tensor nce_loss(const Tensor& probs, int64_t n_data, double eps = 1e-7);

}  // namespace fovea
