// The saccade model's cosine-similarity attention predictor (docs MODELS.md, "Saccade model"):
// for each sample, pred_u = Σ_v ReLU(cos(c_u, c_v)) · g(c_v) over the P positions of the
// feature map c, g = Linear(C, C). Fused (cosine_attention) and composed from engine ops
// (cosine_attention_unfused, its twin in tests and benchmarks).
#pragma once
#include "engine/tensor.h"

namespace fovea {

// c: [N, C, P] or [N, C, T, H, W] (P = T·H·W positions); g_weight [C, C] in PyTorch's
// [out, in] layout; g_bias [C] or undefined. Returns pred with the shape of c.
// cos(c_u, c_v) = ĉ_u · ĉ_v with ĉ = c / max(‖c‖₂, eps) as F.normalize; the gradient flows
// through ‖c‖ only where ‖c‖ ≥ eps (as clamp_min), and ReLU passes it only where cos > 0.
// Differentiable in c, g_weight and g_bias (first order). The P×P similarity matrix is never
// materialised beyond one tile, and g(c) never at all: the kernels compute
// pred = W·(c·A) + b·(Σ_v A_uv) with A = ReLU(cos), which is the same sum regrouped.
Tensor cosine_attention(const Tensor& c, const Tensor& g_weight, const Tensor& g_bias = Tensor(), double eps = 1e-12);

// The same function as normalize → bmm → relu → linear → bmm → transpose, every intermediate
// ([N, C, P] normalised c, the [N, P, P] similarity before and after ReLU, g(c)) materialised.
Tensor cosine_attention_unfused(const Tensor& c, const Tensor& g_weight, const Tensor& g_bias = Tensor(),
                                double eps = 1e-12);

}  // namespace fovea
