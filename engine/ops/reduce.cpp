// Front-ends of the reductions: sum, mean, var, norm, max/min (with indices), argmax.
// Every reduction moves the reduced dims last, so the kernels see contiguous rows.
#include <cmath>

#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

struct Rows {
  Tensor data;      // contiguous, kept dims first then reduced dims
  int64_t rows = 1, length = 1;
  Shape out_shape;  // shape of the result
  Shape keep_shape; // result shape with reduced dims kept as 1 (for broadcasting back)
};

Rows to_rows(const Tensor& a, const Shape& dims, bool keepdim, const char* op) {
  check_defined(a, op, "a");
  const Shape reduced = reduction_dims(dims, a.dim(), op);
  std::vector<bool> is_reduced(a.dim(), false);
  for (int64_t d : reduced) is_reduced[d] = true;
  Rows r;
  Shape order;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (is_reduced[d]) {
      r.keep_shape.push_back(1);
      if (keepdim) r.out_shape.push_back(1);
      continue;
    }
    order.push_back(d);
    r.rows *= a.shape()[d];
    r.keep_shape.push_back(a.shape()[d]);
    r.out_shape.push_back(a.shape()[d]);
  }
  for (int64_t d : reduced) {
    order.push_back(d);
    r.length *= a.shape()[d];
  }
  const Tensor detached = a.detach();
  r.data = (a.dim() == 0 ? detached : detached.permute(order)).contiguous();
  return r;
}

// `shape` with the reduced dims kept as size 1.
Shape kept_shape(const Shape& shape, const Shape& dims, const char* op) {
  Shape keep = shape;
  for (int64_t d : reduction_dims(dims, static_cast<int64_t>(shape.size()), op)) keep[d] = 1;
  return keep;
}

Tensor reduce_sum(const Tensor& a, const Shape& dims, bool keepdim, const char* op) {
  Rows r = to_rows(a, dims, keepdim, op);
  Tensor out = make_tensor(r.out_shape, a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), reduce_rows, cpu::ReduceOp::sum, r.data, r.rows, r.length, out);
  return out;
}

std::tuple<Tensor, Tensor> extreme(const Tensor& a, int64_t dim, bool keepdim, cpu::ReduceOp kind, const char* op) {
  FOVEA_NVTX_RANGE(op);
  check_defined(a, op, "a");
  dim = wrap_dim(dim, a.dim(), op);
  FOVEA_CHECK(a.dim() == 0 || a.shape()[dim] > 0, op, "cannot reduce an empty dimension ", dim, " of shape ",
              shape_str(a.shape()));
  Rows r = to_rows(a, {dim}, keepdim, op);
  Tensor values = make_tensor(r.out_shape, a.dtype(), a.device());
  Tensor indices = make_tensor(r.out_shape, DType::i64, a.device());
  FOVEA_ON_DEVICE(values.device(), arg_reduce_rows, kind, r.data, r.rows, r.length, values, indices);
  if (needs_grad({&a}))
    record_op(op, {values}, {a}, [in_shape = a.shape(), keep = r.keep_shape, idx = indices, dim](const std::vector<Tensor>& g) {
      Tensor grad = zeros(in_shape, g[0].dtype(), g[0].device());
      if (in_shape.empty()) return std::vector<Tensor>{g[0].reshape({})};
      return std::vector<Tensor>{scatter_add(grad, dim, idx.reshape(keep), g[0].reshape(keep))};
    });
  return {values, indices};
}

Tensor extreme_all(const Tensor& a, cpu::ReduceOp kind, const char* op) {
  check_defined(a, op, "a");
  FOVEA_CHECK(a.numel() > 0, op, "cannot reduce an empty tensor of shape ", shape_str(a.shape()));
  return std::get<0>(extreme(a.reshape({-1}), 0, false, kind, op));
}

}  // namespace

Tensor sum(const Tensor& a, const Shape& dims, bool keepdim) {
  FOVEA_NVTX_RANGE("sum");
  Tensor out = reduce_sum(a, dims, keepdim, "sum");
  if (needs_grad({&a})) {
    const Shape keep = kept_shape(a.shape(), dims, "sum");
    record_op("sum", {out}, {a}, [in_shape = a.shape(), keep](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].reshape(keep).expand(in_shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& a, const Shape& dims, bool keepdim) {
  FOVEA_NVTX_RANGE("mean");
  check_defined(a, "mean", "a");
  check_floating(a, "mean", "a");
  const Shape reduced = reduction_dims(dims, a.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : reduced) count *= a.shape()[d];
  return div(sum(a, dims, keepdim), static_cast<double>(count));
}

Tensor var(const Tensor& a, const Shape& dims, int64_t correction, bool keepdim) {
  FOVEA_NVTX_RANGE("var");
  check_defined(a, "var", "a");
  check_floating(a, "var", "a");
  FOVEA_CHECK(correction >= 0, "var", "correction must be >= 0, got ", correction);
  Rows r = to_rows(a, dims, keepdim, "var");
  Tensor out = make_tensor(r.out_shape, a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), var_rows, r.data, r.rows, r.length, correction, out);
  if (needs_grad({&a}))
    record_op("var", {out}, {a}, [sa = SavedTensor(a, "var"), dims, keep = r.keep_shape, n = r.length, correction](const std::vector<Tensor>& g) {
      const Tensor x = sa.get();
      const Tensor centered = sub(x, mean(x, dims, true));
      const double scale = 2.0 / static_cast<double>(n - correction);
      return std::vector<Tensor>{mul(mul(centered, g[0].reshape(keep)), scale)};
    });
  return out;
}

Tensor norm(const Tensor& a, double p, const Shape& dims, bool keepdim) {
  FOVEA_NVTX_RANGE("norm");
  check_defined(a, "norm", "a");
  check_floating(a, "norm", "a");
  FOVEA_CHECK(p > 0 && std::isfinite(p), "norm", "p must be a positive finite number, got ", p);
  if (p == 2.0) {
    // d||x||/dx = x/||x||, taken as 0 where the norm is 0 (PyTorch's subgradient).
    Tensor out = sqrt(sum(mul(a.detach(), a.detach()), dims, keepdim));
    if (needs_grad({&a})) {
      const Shape keep = kept_shape(a.shape(), dims, "norm");
      record_op("norm", {out}, {a}, [sa = SavedTensor(a, "norm"), so = SavedTensor(out, "norm"), keep](const std::vector<Tensor>& g) {
        const Tensor x = sa.get(), n = so.get().reshape(keep);
        const Tensor safe = where(eq(n, 0.0), ones({}, n.dtype(), n.device()), n);
        return std::vector<Tensor>{mul(div(x, safe), g[0].reshape(keep))};
      });
    }
    return out;
  }
  if (p == 1.0) return sum(abs(a), dims, keepdim);
  return pow(sum(pow(abs(a), p), dims, keepdim), 1.0 / p);
}

std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme(a, dim, keepdim, cpu::ReduceOp::max, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim) {
  return extreme(a, dim, keepdim, cpu::ReduceOp::min, "min");
}
Tensor max(const Tensor& a) { return extreme_all(a, cpu::ReduceOp::max, "max"); }
Tensor min(const Tensor& a) { return extreme_all(a, cpu::ReduceOp::min, "min"); }

Tensor argmax(const Tensor& a, int64_t dim, bool keepdim) {
  NoGradGuard no_grad;
  return std::get<1>(extreme(a, dim, keepdim, cpu::ReduceOp::max, "argmax"));
}

}  // namespace fovea
