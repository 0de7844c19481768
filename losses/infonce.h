// InfoNCE against negatives gathered from a memory bank (the saccade model's L_cl, NPID's
// instance discrimination): the fused loss, its unfused twin composed from engine ops, and the
// fused gather of bank scores that CMC's NCE (losses/nce.h) builds on.
#pragma once
#include "engine/ops.h"

namespace fovea {

// loss_b = -log softmax_0(s_b) with s_b0 = queries[b]·positives[b]/τ and
// s_bk = queries[b]·bank[negative_indices[b, k]]/τ for k < K: queries and positives [B, D], bank
// [M, D], negative_indices [B, K] (i64 or i32), one floating dtype. Returns the mean over B
// (or [B] losses, or their sum). Gradients reach queries and positives; the bank is a constant.
// Fused: the [B, K, D] gather and the [B, K + 1] logits are never materialised; the forward also
// keeps the softmax expectation of the candidate rows ([B, D]) so that the backward reads no bank
// row. Indices outside [0, M) and non-finite queries or positives are rejected before any kernel
// runs (the bank itself is not scanned: it is only written by memory_bank_update, which checks
// its values). Dot products accumulate in the element type, each in a fixed order: results depend
// neither on the thread count nor, on CUDA, on the GPU model.
Tensor infonce(const Tensor& queries, const Tensor& positives, const Tensor& bank, const Tensor& negative_indices,
               double temperature, Reduction reduction = Reduction::mean);

// The same loss composed from engine ops: embedding (the [B, K, D] gather) → bmm → cat with
// the positive logits → cross_entropy with label 0. For tests and benchmarks of the fused op.
Tensor infonce_unfused(const Tensor& queries, const Tensor& positives, const Tensor& bank,
                       const Tensor& negative_indices, double temperature, Reduction reduction = Reduction::mean);

// scores[b, j] = queries[b]·bank[indices[b, j]] for queries [B, D], bank [M, D] and indices
// [B, J]: the fused gather-dot, checked like infonce. Gradients reach queries only.
Tensor gather_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices);

}  // namespace fovea
