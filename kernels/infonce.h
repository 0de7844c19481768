// Launchers of the memory-bank kernels (kernels/infonce.cu): the input scan run before any of
// them, the fused InfoNCE loss and its backward, the gathered scores of CMC's NCE and their
// backward, and the momentum update of bank rows. Every tensor is contiguous and row-major: queries
// and positives [batch, dim], bank [bank_rows, dim], indices [batch, count] (i32 or i64).
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// Up to three feature tensors whose elements must be finite.
struct FiniteScan {
  const void* data[3] = {};
  int64_t numel[3] = {};
  int count = 0;
};

// The value scan_status[k] keeps when nothing was found.
constexpr long long kScanNotFound = 0x7f7f7f7f7f7f7f7fLL;

// status[0] = the first flat position of `indices` holding a value outside [0, bank_rows);
// status[1 + k] = the first position of a non-finite element of features.data[k]; kScanNotFound
// where there is none. `status` is device memory of 4 int64.
cudaError_t launch_gather_scan(ElementType index_type, const void* indices, int64_t count, int64_t bank_rows,
                               ElementType type, const FiniteScan& features, long long* status, cudaStream_t stream);

// Operands of a gather from the bank: candidate j of query row b is positives[b] when j == 0 and
// positives is set (InfoNCE), else bank row indices[b, j - (positives ? 1 : 0)].
struct BankGather {
  ElementType type = ElementType::f32;
  ElementType index_type = ElementType::i64;
  const void* queries = nullptr;
  const void* positives = nullptr;
  const void* bank = nullptr;
  const void* indices = nullptr;
  int64_t batch = 0, dim = 0, count = 0;
};

// Elements of the workspace launch_infonce_forward needs for `g`.
int64_t infonce_workspace_elements(const BankGather& g);
// The largest feature size launch_infonce_forward takes (its blocks hold 5 rows in 48 KiB of
// shared memory).
int64_t infonce_max_dim(ElementType type);

// losses[b] = logsumexp_j(s_bj) - s_b0 with s_bj = queries[b]·candidate_j / temperature over the
// positive and the `count` bank rows; positive_probs[b] = exp(s_b0 - logsumexp); and, when
// `expectation` is set, expectation[b] = sum_j softmax_j · candidate_j ([batch, dim]).
// `workspace` holds infonce_workspace_elements(g) elements of the feature type.
cudaError_t launch_infonce_forward(const BankGather& g, double temperature, void* losses, void* positive_probs,
                                   void* expectation, void* workspace, cudaStream_t stream);

// grad_queries = grad_losses[b] (expectation - positives) / temperature,
// grad_positives = grad_losses[b] (positive_probs[b] - 1) queries / temperature.
cudaError_t launch_infonce_backward(ElementType type, void* grad_queries, void* grad_positives, const void* grad_losses,
                                    const void* queries, const void* positives, const void* positive_probs,
                                    const void* expectation, int64_t batch, int64_t dim, double temperature,
                                    cudaStream_t stream);

// scores[b, j] = queries[b]·bank[indices[b, j]] (g.positives unset).
cudaError_t launch_gather_scores(const BankGather& g, void* scores, cudaStream_t stream);

// grad_queries[b] = sum_j grad_scores[b, j] · bank[indices[b, j]], summed in increasing j.
cudaError_t launch_gather_scores_backward(const BankGather& g, const void* grad_scores, void* grad_queries,
                                          cudaStream_t stream);

// For each position n whose index is not repeated later in `indices` [count]:
// bank[i] = momentum·bank[i] + (1 - momentum)·values[n] with i = indices[n], then divided by
// max(its L2 norm, 1e-12) when renormalize.
cudaError_t launch_bank_momentum_update(ElementType type, ElementType index_type, void* bank, int64_t dim,
                                        const void* indices, int64_t count, const void* values, double momentum,
                                        bool renormalize, cudaStream_t stream);

}  // namespace fovea::kernels
