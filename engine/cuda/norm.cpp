// CUDA backend of batch normalisation: the launchers of kernels/norm.cu on the current stream.
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/norm.h"

namespace fovea::cuda {
namespace {

kernels::NormLayout layout_of(const Tensor& x) { return {x.size(0), x.size(1), x.size(2)}; }

void* data_or_null(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

}  // namespace

void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& var) {
  check_launch(kernels::launch_batch_norm_stats(element_type(x.dtype()), x.raw_data(), layout_of(x), mean.raw_data(),
                                                var.raw_data(), current_stream()),
               "batch_norm");
}

void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& out) {
  check_launch(kernels::launch_batch_norm_apply(element_type(x.dtype()), x.raw_data(), layout_of(x), mean.raw_data(),
                                                invstd.raw_data(), data_or_null(weight), data_or_null(bias),
                                                out.raw_data(), current_stream()),
               "batch_norm");
}

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, bool batch_stats, const Tensor& grad_x, const Tensor& grad_weight,
                         const Tensor& grad_bias) {
  check_launch(kernels::launch_batch_norm_backward(element_type(x.dtype()), grad_out.raw_data(), x.raw_data(),
                                                   layout_of(x), mean.raw_data(), invstd.raw_data(),
                                                   data_or_null(weight), batch_stats, data_or_null(grad_x),
                                                   data_or_null(grad_weight), data_or_null(grad_bias),
                                                   current_stream()),
               "batch_norm backward");
}

}  // namespace fovea::cuda
