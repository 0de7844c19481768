// Launchers of the batch normalisation kernels (kernels/norm.cu). Tensors are contiguous, of
// one float type, and seen as [batch, channels, length] as in engine/cpu/norm.h; per-channel
// arrays hold `channels` values. Null weight / bias mean 1 / 0; null gradients are skipped.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

struct NormLayout {
  int64_t batch, channels, length;
};

// mean[c] and biased var[c] of x's channel c.
cudaError_t launch_batch_norm_stats(ElementType type, const void* x, NormLayout s, void* mean, void* var,
                                    cudaStream_t stream);

// out = (x - mean[c])·invstd[c]·weight[c] + bias[c].
cudaError_t launch_batch_norm_apply(ElementType type, const void* x, NormLayout s, const void* mean,
                                    const void* invstd, const void* weight, const void* bias, void* out,
                                    cudaStream_t stream);

// Gradients of launch_batch_norm_apply; batch_stats adds the dependence of mean and invstd on x.
cudaError_t launch_batch_norm_backward(ElementType type, const void* grad_out, const void* x, NormLayout s,
                                       const void* mean, const void* invstd, const void* weight, bool batch_stats,
                                       void* grad_x, void* grad_weight, void* grad_bias, cudaStream_t stream);

}  // namespace fovea::kernels
