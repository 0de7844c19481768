// Front-end of batch_norm: training (batch statistics, optional in-place running-statistics
// update as PyTorch does it), evaluation (running statistics) and the always-batch-statistics
// mode (training without running tensors). x is seen as [N, C, L] by the kernels.
#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

void check_channel_vector(const Tensor& t, const Tensor& x, const char* name) {
  if (!t.defined()) return;
  check_same_device(x, t, "batch_norm");
  FOVEA_CHECK(t.dtype() == x.dtype(), "batch_norm", "'", name, "' is ", dtype_name(t.dtype()), " but x is ",
              dtype_name(x.dtype()), "; convert one with .to() so both have the same dtype");
  FOVEA_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "batch_norm", "'", name, "' must have shape [", x.size(1),
              "] (one value per channel of x of shape ", shape_str(x.shape()), "), got ", shape_str(t.shape()));
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  FOVEA_NVTX_RANGE("batch_norm");
  check_defined(x, "batch_norm", "x");
  check_floating(x, "batch_norm", "x");
  FOVEA_CHECK(x.dim() >= 2 && x.dim() <= 5, "batch_norm",
              "expected x of shape [N, C], [N, C, L], [N, C, H, W] or [N, C, T, H, W], got ", shape_str(x.shape()));
  FOVEA_CHECK(running_mean.defined() == running_var.defined(), "batch_norm",
              "running_mean and running_var must both be given or both be undefined; got only ",
              running_mean.defined() ? "running_mean" : "running_var");
  FOVEA_CHECK(training || running_mean.defined(), "batch_norm",
              "evaluation mode (training = false) normalises with running statistics, but none were given; pass "
              "running_mean and running_var, or use training = true for batch statistics");
  FOVEA_CHECK(eps >= 0, "batch_norm", "eps must be non-negative, got ", eps);
  check_channel_vector(running_mean, x, "running_mean");
  check_channel_vector(running_var, x, "running_var");
  check_channel_vector(weight, x, "weight");
  check_channel_vector(bias, x, "bias");
  const int64_t batch = x.size(0), channels = x.size(1);
  const int64_t length = channels == 0 || batch == 0 ? 0 : x.numel() / (batch * channels);
  const int64_t per_channel = batch * length;
  FOVEA_CHECK(!training || per_channel > 1, "batch_norm", "training needs more than 1 value per channel, got x of shape ",
              shape_str(x.shape()), " (", per_channel, " per channel); use a larger batch or evaluation mode");

  const Tensor x3 = x.detach().contiguous().reshape({batch, channels, length});
  Tensor mean, invstd;
  {
    NoGradGuard no_grad;
    if (training) {
      mean = make_tensor({channels}, x.dtype(), x.device());
      Tensor var = make_tensor({channels}, x.dtype(), x.device());
      FOVEA_ON_DEVICE(x.device(), batch_norm_stats, x3, mean, var);
      invstd = rsqrt(add(var, eps));
      if (running_mean.defined()) {
        const double unbias = static_cast<double>(per_channel) / static_cast<double>(per_channel - 1);
        Tensor running_mean_handle = running_mean, running_var_handle = running_var;
        running_mean_handle.mul_(1.0 - momentum).add_(mean, momentum);
        running_var_handle.mul_(1.0 - momentum).add_(var, momentum * unbias);
      }
    } else {
      mean = running_mean.detach().contiguous().clone();
      invstd = rsqrt(add(running_var.detach(), eps)).contiguous();
    }
  }
  const Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  FOVEA_ON_DEVICE(x.device(), batch_norm_apply, x3, mean, invstd, w, b, out.view({batch, channels, length}));
  if (needs_grad({&x, &weight, &bias})) {
    record_op("batch_norm", {out}, {x, weight, bias},
              [sx = SavedTensor(x, "batch_norm"), sw = weight.defined() ? SavedTensor(weight, "batch_norm") : SavedTensor(),
               has_weight = weight.defined(), mean, invstd, training, batch, channels, length,
               grad_x = x.requires_grad(), grad_w = weight.defined() && weight.requires_grad(),
               grad_b = bias.defined() && bias.requires_grad()](const std::vector<Tensor>& grads) {
                if (!grads[0].defined()) return std::vector<Tensor>(3);
                const Shape shape3{batch, channels, length};
                const Tensor go = grads[0].contiguous().reshape(shape3);
                const Tensor xs = sx.get().detach().contiguous().reshape(shape3);
                const Tensor ws = has_weight ? sw.get().detach().contiguous() : Tensor();
                const Device device = xs.device();
                Tensor gx = grad_x ? make_tensor(shape3, xs.dtype(), device) : Tensor();
                Tensor gw = grad_w ? make_tensor({channels}, xs.dtype(), device) : Tensor();
                Tensor gb = grad_b ? make_tensor({channels}, xs.dtype(), device) : Tensor();
                FOVEA_ON_DEVICE(device, batch_norm_backward, go, xs, mean, invstd, ws, training, gx, gw, gb);
                return std::vector<Tensor>{grad_x ? gx.reshape(grads[0].shape()) : gx, gw, gb};
              });
  }
  return out;
}

}  // namespace fovea
