// Front-ends of cosine_attention (fused device kernels, models/cosine_attention_kernels.h) and of
// its unfused twin composed from engine ops.
#include "models/cosine_attention.h"

#include "engine/dispatch.h"
#include "engine/ops/common.h"
#include "models/cosine_attention_kernels.h"

namespace fovea {
namespace {

struct Geometry {
  int64_t samples, channels, positions;
};

Geometry check_arguments(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps, const char* op) {
  check_defined(c, op, "c");
  check_defined(weight, op, "g_weight");
  check_floating(c, op, "c");
  FOVEA_CHECK(c.dim() == 3 || c.dim() == 5, op, "c must be a feature map [N, C, T, H, W] or [N, C, P], got shape ",
              shape_str(c.shape()));
  check_same_device(c, weight, op);
  FOVEA_CHECK(weight.dtype() == c.dtype(), op, "g_weight is ", dtype_name(weight.dtype()), " but c is ",
              dtype_name(c.dtype()), "; convert one with .to() so both have the same dtype");
  const int64_t channels = c.size(1);
  FOVEA_CHECK(weight.dim() == 2 && weight.size(0) == channels && weight.size(1) == channels, op,
              "g_weight must be [C, C] = [", channels, ", ", channels, "] for c of shape ", shape_str(c.shape()),
              " (g = Linear(C, C) over the channels), got ", shape_str(weight.shape()));
  if (bias.defined()) {
    check_same_device(c, bias, op);
    FOVEA_CHECK(bias.dtype() == c.dtype(), op, "g_bias is ", dtype_name(bias.dtype()), " but c is ",
                dtype_name(c.dtype()), "; convert one with .to() so both have the same dtype");
    FOVEA_CHECK(bias.dim() == 1 && bias.size(0) == channels, op, "g_bias must be [C] = [", channels,
                "] for c of shape ", shape_str(c.shape()), ", got ", shape_str(bias.shape()));
  }
  FOVEA_CHECK(eps >= 0, op, "eps must be >= 0, got ", eps);
  return {c.size(0), channels, c.numel() == 0 ? 0 : c.numel() / (c.size(0) * channels)};
}

// A tensor the kernels overwrite entirely, or zeros when they do not run (an empty c).
Tensor output_tensor(const Shape& shape, const Tensor& like, bool kernels_run) {
  return kernels_run ? make_tensor(shape, like.dtype(), like.device()) : zeros(shape, like.dtype(), like.device());
}

}  // namespace

Tensor cosine_attention(const Tensor& c, const Tensor& g_weight, const Tensor& g_bias, double eps) {
  FOVEA_NVTX_RANGE("cosine_attention");
  const char* op = "cosine_attention";
  const Geometry g = check_arguments(c, g_weight, g_bias, eps, op);
  const Shape flat{g.samples, g.channels, g.positions};
  const bool has_bias = g_bias.defined();
  const Tensor x = c.detach().contiguous().reshape(flat);
  const Tensor weight = g_weight.detach().contiguous();
  const Tensor bias = has_bias ? g_bias.detach().contiguous() : Tensor();
  const bool run = c.numel() > 0;
  Tensor pred = output_tensor(c.shape(), c, run);
  if (run) FOVEA_ON_DEVICE(c.device(), cosine_attention_forward, x, weight, bias, eps, pred.view(flat));

  std::vector<Tensor> inputs{c, g_weight};
  if (has_bias) inputs.push_back(g_bias);
  if (needs_grad(inputs))
    record_op(op, {pred}, inputs,
              [sx = SavedTensor(x, op), sw = SavedTensor(weight, op), sb = has_bias ? SavedTensor(bias, op) : SavedTensor(),
               has_bias, eps, run, shape = c.shape(), flat](const std::vector<Tensor>& grads) {
                const Tensor x = sx.get(), w = sw.get(), b = has_bias ? sb.get() : Tensor();
                const Tensor grad_c = output_tensor(flat, x, run), grad_w = output_tensor(w.shape(), w, run);
                const Tensor grad_b = has_bias ? output_tensor(b.shape(), b, run) : Tensor();
                if (run)
                  FOVEA_ON_DEVICE(x.device(), cosine_attention_backward, x, w, b,
                                  grads[0].contiguous().reshape(flat), eps, grad_c, grad_w, grad_b);
                std::vector<Tensor> result{grad_c.view(shape), grad_w};
                if (has_bias) result.push_back(grad_b);
                return result;
              });
  return pred;
}

Tensor cosine_attention_unfused(const Tensor& c, const Tensor& g_weight, const Tensor& g_bias, double eps) {
  FOVEA_NVTX_RANGE("cosine_attention_unfused");
  const Geometry g = check_arguments(c, g_weight, g_bias, eps, "cosine_attention_unfused");
  const Tensor x = c.reshape({g.samples, g.channels, g.positions});
  const Tensor normalized = normalize(x, 1, eps);
  const Tensor attention = relu(bmm(normalized.transpose(1, 2), normalized));
  const Tensor transformed = linear(x.transpose(1, 2), g_weight, g_bias);
  return bmm(attention, transformed).transpose(1, 2).reshape(c.shape());
}

}  // namespace fovea
