// Device kernels of the memory-bank losses, declared once per backend with the same names and
// signatures so that FOVEA_ON_DEVICE picks fovea::cpu (losses/infonce_cpu.cpp) or fovea::cuda
// (losses/infonce_cuda.cpp, kernels/infonce.cu). Every tensor argument is contiguous; queries and
// positives [B, D], bank [M, D], indices [B, K] (i32 or i64), one floating dtype throughout.
// Indices must have passed scan_gather_inputs.
#pragma once
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "fovea/build_config.h"

namespace fovea {

// What scan_gather_inputs found: -1 where nothing is wrong.
struct GatherScan {
  int64_t bad_index_position = -1;  // first flat position of an index outside [0, M)
  int64_t bad_index_value = 0;
  int64_t non_finite_position[3] = {-1, -1, -1};  // per feature tensor, first non-finite element
};

// Checks a bank gather before any kernel runs: throws fovea::Error naming `op` when an index lies
// outside the bank or a feature tensor holds a non-finite value. Costs one read of the indices and
// of the features (not of the bank) and, on CUDA, one 32-byte device-to-host read that waits for
// the stream.
void check_gather_inputs(const char* op, const Tensor& indices, const Tensor& bank,
                         const std::vector<std::pair<const char*, Tensor>>& features);

}  // namespace fovea

// The kernels, declared below for each backend:
//   scan_gather_inputs       what check_gather_inputs reports; at most three features.
//   infonce_forward          losses[b] = logsumexp_j(s_bj) - s_b0 with s_b0 = q_b·p_b/τ and
//                            s_bk = q_b·bank[idx_bk]/τ; positive_probs[b] = exp(s_b0 - logsumexp);
//                            when `expectation` is defined, expectation[b] = Σ_j softmax_j · x_j
//                            over the candidate rows x_j (the positive, then the bank rows).
//   infonce_backward         grad_queries = g_b (expectation - positives)/τ,
//                            grad_positives = g_b (positive_probs_b - 1) queries/τ.
//   gather_scores            scores[b, j] = queries[b]·bank[indices[b, j]].
//   gather_scores_backward   grad_queries[b] = Σ_j grad_scores[b, j] · bank[indices[b, j]], in increasing j.
//   bank_momentum_update     bank[i] = m·bank[i] + (1 - m)·values[n] for the last position n of
//                            indices [N] holding i (values [N, D]), then divided by
//                            max(‖bank[i]‖₂, 1e-12) when renormalize.
#define FOVEA_INFONCE_KERNELS                                                                                  \
  GatherScan scan_gather_inputs(const Tensor& indices, int64_t bank_rows, const std::vector<Tensor>& features); \
  void infonce_forward(const Tensor& queries, const Tensor& positives, const Tensor& bank, const Tensor& indices, \
                       double temperature, const Tensor& losses, const Tensor& positive_probs,                  \
                       const Tensor& expectation);                                                              \
  void infonce_backward(const Tensor& grad_losses, const Tensor& queries, const Tensor& positives,              \
                        const Tensor& positive_probs, const Tensor& expectation, double temperature,             \
                        const Tensor& grad_queries, const Tensor& grad_positives);                              \
  void gather_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices, const Tensor& scores);    \
  void gather_scores_backward(const Tensor& grad_scores, const Tensor& bank, const Tensor& indices,             \
                              const Tensor& grad_queries);                                                      \
  void bank_momentum_update(const Tensor& bank, const Tensor& indices, const Tensor& values, double momentum,    \
                            bool renormalize);

namespace fovea::cpu {
FOVEA_INFONCE_KERNELS
}  // namespace fovea::cpu

#if FOVEA_HAS_CUDA
namespace fovea::cuda {
FOVEA_INFONCE_KERNELS
}  // namespace fovea::cuda
#endif

#undef FOVEA_INFONCE_KERNELS
