// Front-ends of softmax, log_softmax and the losses: nll_loss (class-index targets with
// ignore_index), cross_entropy, l1, mse, and L2 normalisation.
#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

// `shape` seen as [outer, length, inner] around `dim`, the layout of the CPU kernels.
struct AroundDim {
  int64_t outer = 1, length = 1, inner = 1;
};

AroundDim around_dim(const Shape& shape, int64_t dim) {
  AroundDim s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.outer *= shape[d];
    else if (d == dim) s.length = shape[d];
    else s.inner *= shape[d];
  }
  return s;
}

Tensor softmax_forward(const Tensor& a, int64_t dim, bool log, const char* op) {
  check_floating(a, op, "a");
  const AroundDim s = around_dim(a.shape(), dim);
  Tensor out = make_tensor(a.shape(), a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), softmax, a.detach().contiguous(), s.outer, s.length, s.inner, log, out);
  return out;
}

void check_not_empty_mean(const Tensor& t, Reduction reduction, const char* op) {
  FOVEA_CHECK(t.numel() > 0 || reduction != Reduction::mean, op, "the mean of a loss over an empty input of shape ",
              shape_str(t.shape()), " is undefined; pass Reduction::sum or Reduction::none, or skip the empty batch");
}

// Elementwise losses: same shapes (no broadcasting, which silently hides shape bugs here).
void check_pointwise_loss(const Tensor& input, const Tensor& target, Reduction reduction, const char* op) {
  check_defined(input, op, "input");
  check_defined(target, op, "target");
  check_same_device(input, target, op);
  check_floating(input, op, "input");
  check_floating(target, op, "target");
  FOVEA_CHECK(input.shape() == target.shape(), op, "input of shape ", shape_str(input.shape()),
              " and target of shape ", shape_str(target.shape()), " must have the same shape (", op,
              " does not broadcast); reshape or expand the target first");
  check_not_empty_mean(input, reduction, op);
}

Tensor reduce_loss(const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::none: return losses;
    case Reduction::sum: return sum(losses);
    case Reduction::mean: return mean(losses);
  }
  FOVEA_FAIL("loss", "unknown reduction ", static_cast<int>(reduction));
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t dim) {
  FOVEA_NVTX_RANGE("softmax");
  check_defined(a, "softmax", "a");
  dim = wrap_dim(dim, a.dim(), "softmax");
  Tensor out = softmax_forward(a, dim, false, "softmax");
  if (needs_grad({&a}))
    record_op("softmax", {out}, {a}, [so = SavedTensor(out.detach(), "softmax"), dim](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{mul(y, sub(g[0], sum(mul(g[0], y), {dim}, true)))};
    });
  return out;
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  FOVEA_NVTX_RANGE("log_softmax");
  check_defined(a, "log_softmax", "a");
  dim = wrap_dim(dim, a.dim(), "log_softmax");
  Tensor out = softmax_forward(a, dim, true, "log_softmax");
  if (needs_grad({&a}))
    record_op("log_softmax", {out}, {a}, [so = SavedTensor(out.detach(), "log_softmax"), dim](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{sub(g[0], mul(exp(y), sum(g[0], {dim}, true)))};
    });
  return out;
}

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, int64_t ignore_index, Reduction reduction) {
  FOVEA_NVTX_RANGE("nll_loss");
  const char* op = "nll_loss";
  check_defined(log_probs, op, "log_probs");
  check_defined(target, op, "target");
  check_same_device(log_probs, target, op);
  check_floating(log_probs, op, "log_probs");
  FOVEA_CHECK(target.dtype() == DType::i64 || target.dtype() == DType::i32, op,
              "target must hold class indices as i64 (or i32), got ", dtype_name(target.dtype()));
  FOVEA_CHECK(log_probs.dim() >= 2, op, "input must be [N, C] or [N, C, d1, ...] with the classes in dim 1, got shape ",
              shape_str(log_probs.shape()));
  Shape expected_target = log_probs.shape();
  expected_target.erase(expected_target.begin() + 1);
  FOVEA_CHECK(target.shape() == expected_target, op, "target of shape ", shape_str(target.shape()),
              " does not match input of shape ", shape_str(log_probs.shape()), ": expected target shape ",
              shape_str(expected_target), " (the input shape without the class dim 1)");
  const int64_t classes = log_probs.size(1);
  FOVEA_CHECK(classes > 0, op, "input of shape ", shape_str(log_probs.shape()), " has no classes (dim 1 is 0)");
  check_not_empty_mean(target, reduction, op);

  const AroundDim s = around_dim(log_probs.shape(), 1);
  const Tensor saved_target = target.contiguous();
  Tensor losses = make_tensor(target.shape(), log_probs.dtype(), log_probs.device());
  const int64_t counted =
      FOVEA_ON_DEVICE(losses.device(), nll_forward, log_probs.detach().contiguous(), saved_target, classes, s.inner, ignore_index, losses);
  Tensor out;
  double grad_scale = 1.0;
  switch (reduction) {
    case Reduction::none: out = losses; break;
    case Reduction::sum: out = sum(losses); break;
    case Reduction::mean:
      out = div(sum(losses), static_cast<double>(counted));  // all targets ignored: 0/0 = nan, as PyTorch
      grad_scale = counted > 0 ? 1.0 / static_cast<double>(counted) : 0.0;
      break;
    default: FOVEA_FAIL(op, "unknown reduction ", static_cast<int>(reduction), " (expected none, mean or sum)");
  }
  if (needs_grad({&log_probs}))
    record_op(op, {out}, {log_probs},
              [st = SavedTensor(saved_target, op), shape = log_probs.shape(), classes, inner = s.inner, ignore_index,
               grad_scale](const std::vector<Tensor>& g) {
                Tensor grad = zeros(shape, g[0].dtype(), g[0].device());
                FOVEA_ON_DEVICE(grad.device(), nll_backward, st.get(), g[0].contiguous(), grad_scale, classes, inner, ignore_index, grad);
                return std::vector<Tensor>{grad};
              });
  return out;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, int64_t ignore_index, Reduction reduction) {
  FOVEA_NVTX_RANGE("cross_entropy");
  check_defined(input, "cross_entropy", "input");
  FOVEA_CHECK(input.dim() >= 2, "cross_entropy",
              "input must be logits [N, C] or [N, C, d1, ...] with the classes in dim 1, got shape ",
              shape_str(input.shape()));
  return nll_loss(log_softmax(input, 1), target, ignore_index, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  FOVEA_NVTX_RANGE("l1_loss");
  check_pointwise_loss(input, target, reduction, "l1_loss");
  return reduce_loss(abs(sub(input, target)), reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  FOVEA_NVTX_RANGE("mse_loss");
  check_pointwise_loss(input, target, reduction, "mse_loss");
  const Tensor diff = sub(input, target);
  return reduce_loss(mul(diff, diff), reduction);
}

Tensor normalize(const Tensor& x, int64_t dim, double eps) {
  FOVEA_NVTX_RANGE("normalize");
  check_defined(x, "normalize", "x");
  check_floating(x, "normalize", "x");
  dim = wrap_dim(dim, x.dim(), "normalize");
  FOVEA_CHECK(eps >= 0, "normalize", "eps must be >= 0, got ", eps);
  return div(x, clamp_min(norm(x, 2.0, {dim}, true), eps));
}

}  // namespace fovea
