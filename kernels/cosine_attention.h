// Launchers of the fused cosine-attention kernels (kernels/cosine_attention.cu). c, grad tensors
// and outputs are contiguous [N, C, P] (P positions per sample), norms and s are [N, P],
// weight [C, C], bias [C] or null. A_n = ReLU(ĉ_nᵀ ĉ_n) with ĉ = c / max(norm, eps) per
// position; it is only ever held one tile at a time.
#pragma once
#include <cstddef>

#include "kernels/kernel_args.h"

namespace fovea::kernels {

// norms[n, u] = ‖c[n, :, u]‖₂.
cudaError_t launch_cosine_attention_norms(ElementType type, void* norms, const void* c, int64_t samples,
                                          int64_t channels, int64_t positions, cudaStream_t stream);

// pred_n = W·(c_n·A_n) + b·(A_n·1)ᵀ, W's product fused into the attention kernel's epilogue.
cudaError_t launch_cosine_attention_forward(ElementType type, void* pred, const void* c, const void* norms,
                                            const void* weight, const void* bias, int64_t samples, int64_t channels,
                                            int64_t positions, double eps, cudaStream_t stream);

// y_n = c_n·A_n and s_n = A_n·1: the attention kernel with the plain epilogue (the backward's
// recomputation, which the parameter gradients need).
cudaError_t launch_cosine_attention_attend(ElementType type, void* y, void* s, const void* c, const void* norms,
                                           int64_t samples, int64_t channels, int64_t positions, double eps,
                                           cudaStream_t stream);

// grad_c from grad_y = Wᵀ·grad_pred ([N, C, P]) and grad_s = grad_predᵀ·b ([N, P]; zeros
// without a bias): the gradient through c·A directly and through A, the ReLU and the
// normalisation. Recomputes the similarity tiles.
cudaError_t launch_cosine_attention_backward(ElementType type, void* grad_c, const void* c, const void* norms,
                                             const void* grad_y, const void* grad_s, int64_t samples,
                                             int64_t channels, int64_t positions, double eps, cudaStream_t stream);

// Shared memory one block of the forward (or backward) kernel needs for `channels` channels,
// to be compared with the device's opt-in limit per block before launching.
std::size_t cosine_attention_shared_bytes(ElementType type, int64_t channels, bool backward);

}  // namespace fovea::kernels
