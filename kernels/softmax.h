// Launchers of the softmax and negative log-likelihood kernels (kernels/softmax.cu). Tensors are
// contiguous and seen as [outer, length, inner] with the reduced (class) dim in the middle, as in
// engine/cpu/softmax.h; `samples` counts the targets of an [N, S] target tensor.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// out = softmax (or log_softmax) of `in` along the middle dim; f32 or f64.
cudaError_t launch_softmax(ElementType type, void* out, const void* in, int64_t outer, int64_t length, int64_t inner,
                           bool log, cudaStream_t stream);

// Writes status[0] = the number of targets that are not ignore_index, status[1] = the flat
// position of the first target outside [0, classes) that is not ignore_index (-1 if none) and
// status[2] = its value. `status` is device memory of three int64.
cudaError_t launch_nll_check_targets(ElementType target_type, const void* target, int64_t samples, int64_t classes,
                                     int64_t ignore_index, int64_t* status, cudaStream_t stream);

// losses[i] = -log_probs[n, target[i], s] (i = n·inner + s), 0 where target is ignore_index.
// The targets must have passed launch_nll_check_targets.
cudaError_t launch_nll_forward(ElementType type, ElementType target_type, void* losses, const void* log_probs,
                               const void* target, int64_t samples, int64_t classes, int64_t inner,
                               int64_t ignore_index, cudaStream_t stream);

// grad_input[n, target[i], s] = -scale · grad_losses[single_grad ? 0 : i] for non-ignored
// targets; grad_input is zeroed beforehand. Each sample writes its own element.
cudaError_t launch_nll_backward(ElementType type, ElementType target_type, void* grad_input, const void* grad_losses,
                                bool single_grad, double scale, const void* target, int64_t samples, int64_t classes,
                                int64_t inner, int64_t ignore_index, cudaStream_t stream);

}  // namespace fovea::kernels
