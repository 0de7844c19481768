// CUDA backend of the fused optimiser updates: checks every operand, then launches
// kernels/optim.cu on the current stream, one launch per element type and per
// kernels::kOptimMaxTensors parameters.
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/optim.h"

namespace fovea::cuda {
namespace {

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return shape_str(t.shape()) + " " + dtype_name(t.dtype()) + " on " + t.device().str() +
         (t.is_contiguous() ? "" : " (not contiguous)");
}

// Throws unless `t` is a contiguous CUDA tensor of the parameter's shape and dtype.
void check_operand(const char* op, size_t index, const char* what, const Tensor& t, const Tensor& param) {
  const bool ok = t.defined() && t.device().is_cuda() && t.is_contiguous() && t.shape() == param.shape() &&
                  t.dtype() == param.dtype() && is_floating(param.dtype());
  FOVEA_CHECK(ok, op, what, " of parameter ", index, " is ", describe(t), ", parameter ", index, " is ",
              describe(param), "; the fused CUDA update needs contiguous CUDA tensors of the parameter's shape and "
              "dtype (f32 or f64)");
}

// Fills the launch `base` with up to kOptimMaxTensors operands of one element type at a time
// (fill(launch, slot, operands)) and launches each full or last batch.
template <typename Launch, typename Operands, typename Fill, typename LaunchFn>
void launch_in_batches(const std::vector<Operands>& all, Launch base, Fill fill, LaunchFn launcher, const char* op) {
  for (DType dtype : {DType::f32, DType::f64}) {
    Launch launch = base;
    launch.type = element_type(dtype);
    for (const Operands& x : all) {
      if (x.param.dtype() != dtype) continue;
      fill(launch, launch.count++, x);
      if (launch.count == kernels::kOptimMaxTensors) {
        check_launch(launcher(launch, current_stream()), op);
        launch.count = 0;
      }
    }
    if (launch.count > 0) check_launch(launcher(launch, current_stream()), op);
  }
}

}  // namespace

void sgd_update(const std::vector<SgdTensors>& tensors, const SgdOptions& options) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SgdTensors& x = tensors[i];
    check_operand("sgd_update", i, "param", x.param, x.param);
    check_operand("sgd_update", i, "grad", x.grad, x.param);
    if (options.momentum != 0) check_operand("sgd_update", i, "momentum_buffer", x.momentum_buffer, x.param);
  }
  kernels::SgdLaunch base;
  base.lr = options.lr;
  base.momentum = options.momentum;
  base.dampening = options.dampening;
  base.weight_decay = options.weight_decay;
  base.nesterov = options.nesterov;
  const bool momentum = options.momentum != 0;
  launch_in_batches(
      tensors, base,
      [momentum](kernels::SgdLaunch& l, int slot, const SgdTensors& x) {
        l.param[slot] = x.param.raw_data();
        l.grad[slot] = x.grad.raw_data();
        l.momentum_buffer[slot] = momentum ? x.momentum_buffer.raw_data() : nullptr;
        l.numel[slot] = x.param.numel();
        l.first_step[slot] = x.first_step;
      },
      kernels::launch_sgd_update, "sgd_update");
}

void adam_update(const std::vector<AdamTensors>& tensors, const AdamOptions& options, bool decoupled_weight_decay) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const AdamTensors& x = tensors[i];
    check_operand("adam_update", i, "param", x.param, x.param);
    check_operand("adam_update", i, "grad", x.grad, x.param);
    check_operand("adam_update", i, "exp_avg", x.exp_avg, x.param);
    check_operand("adam_update", i, "exp_avg_sq", x.exp_avg_sq, x.param);
    if (options.amsgrad) check_operand("adam_update", i, "max_exp_avg_sq", x.max_exp_avg_sq, x.param);
  }
  kernels::AdamLaunch base;
  base.lr = options.lr;
  base.beta1 = options.beta1;
  base.beta2 = options.beta2;
  base.eps = options.eps;
  base.weight_decay = options.weight_decay;
  base.decoupled_weight_decay = decoupled_weight_decay;
  base.amsgrad = options.amsgrad;
  const bool amsgrad = options.amsgrad;
  launch_in_batches(
      tensors, base,
      [amsgrad](kernels::AdamLaunch& l, int slot, const AdamTensors& x) {
        l.param[slot] = x.param.raw_data();
        l.grad[slot] = x.grad.raw_data();
        l.exp_avg[slot] = x.exp_avg.raw_data();
        l.exp_avg_sq[slot] = x.exp_avg_sq.raw_data();
        l.max_exp_avg_sq[slot] = amsgrad ? x.max_exp_avg_sq.raw_data() : nullptr;
        l.numel[slot] = x.param.numel();
        l.step_size[slot] = x.step_size;
        l.bias_correction2_sqrt[slot] = x.bias_correction2_sqrt;
      },
      kernels::launch_adam_update, "adam_update");
}

}  // namespace fovea::cuda
