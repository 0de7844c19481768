// CUDA backend of softmax / log_softmax and the negative log-likelihood loss: the launchers of
// kernels/softmax.cu on the current stream. nll_forward validates the targets on the device and
// reads the result back before any loss is written.
#include <algorithm>

#include "engine/cpu/softmax.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/softmax.h"

namespace fovea::cuda {

void softmax(const Tensor& in, int64_t outer, int64_t length, int64_t inner, bool log, const Tensor& out) {
  check_launch(kernels::launch_softmax(element_type(in.dtype()), out.raw_data(), in.raw_data(), outer, length, inner,
                                       log, current_stream()),
               log ? "log_softmax" : "softmax");
}

int64_t nll_forward(const Tensor& log_probs, const Tensor& target, int64_t classes, int64_t inner,
                    int64_t ignore_index, const Tensor& losses) {
  const int64_t samples = target.numel();
  if (samples == 0) return 0;
  const Tensor status = make_tensor({3}, DType::i64, target.device());
  check_launch(kernels::launch_nll_check_targets(element_type(target.dtype()), target.raw_data(), samples, classes,
                                                 ignore_index, status.data<int64_t>(), current_stream()),
               "nll_loss");
  const Tensor host_status = status.to(Device::cpu());
  const int64_t* result = host_status.data<int64_t>();  // counted, first invalid position, its value
  if (result[1] >= 0) cpu::raise_nll_target_error(result[2], result[1], classes, ignore_index);
  check_launch(kernels::launch_nll_forward(element_type(log_probs.dtype()), element_type(target.dtype()),
                                           losses.raw_data(), log_probs.raw_data(), target.raw_data(), samples,
                                           classes, inner, ignore_index, current_stream()),
               "nll_loss");
  return result[0];
}

void nll_backward(const Tensor& target, const Tensor& grad_losses, double scale, int64_t classes, int64_t inner,
                  int64_t ignore_index, const Tensor& grad_input) {
  check_launch(kernels::launch_nll_backward(element_type(grad_input.dtype()), element_type(target.dtype()),
                                            grad_input.raw_data(), grad_losses.raw_data(), grad_losses.numel() == 1,
                                            scale, target.raw_data(), target.numel(), classes, inner, ignore_index,
                                            current_stream()),
               "nll_loss");
}

}  // namespace fovea::cuda
