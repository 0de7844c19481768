// Front-ends of the elementwise ops: type promotion, broadcasting, dispatch to the CPU
// kernels and the backward formulas.
#include <cmath>
#include <limits>

#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

enum class Category { integral = 0, floating = 1 };
Category category(DType t) { return is_floating(t) ? Category::floating : Category::integral; }

Tensor wrap_scalar(double value, const Tensor& like, const char* op) {
  check_defined(like, op, "a");
  const bool integral_value = std::floor(value) == value && std::abs(value) < 9e15;
  const DType dtype = integral_value && !is_floating(like.dtype()) ? DType::i64
                      : is_floating(like.dtype())                  ? like.dtype()
                                                                   : DType::f32;
  Tensor t = scalar_tensor(value, dtype, like.device());
  t.impl()->wrapped_number = true;
  return t;
}

// result_type(a, b) after checking both are defined, for the front-end `op`.
DType promoted(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  return result_type(a, b);
}

Tensor binary_op(cpu::BinaryOp op, const char* name, const Tensor& a, const Tensor& b, DType compute,
                 DType out_dtype, double alpha = 1.0) {
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_device(a, b, name);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = make_tensor(shape, out_dtype, a.device());
  FOVEA_ON_DEVICE(out.device(), binary, op, a.to(compute), b.to(compute), out, alpha);
  return out;
}

Tensor unary_op(cpu::UnaryOp op, const char* name, const Tensor& a, bool needs_float) {
  check_defined(a, name, "a");
  Tensor in = a;
  if (needs_float && !is_floating(a.dtype())) in = a.to(DType::f32);
  Tensor out = make_tensor(in.shape(), in.dtype(), in.device());
  FOVEA_ON_DEVICE(out.device(), unary, op, in, out);
  return out;
}

Tensor compare(cpu::BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE(name);
  return binary_op(op, name, a, b, promoted(a, b, name), DType::u8);
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  // PyTorch's three tiers: dimensioned tensors, zero-dim tensors, wrapped C++ scalars. A
  // lower tier changes the result only when it belongs to a higher category (float > int).
  std::optional<DType> tiers[3];
  for (const Tensor* t : {&a, &b}) {
    const int tier = t->impl()->wrapped_number ? 2 : (t->dim() == 0 ? 1 : 0);
    tiers[tier] = tiers[tier] ? promote_types(*tiers[tier], t->dtype()) : t->dtype();
  }
  std::optional<DType> result;
  for (int tier = 0; tier < 3; ++tier) {
    if (!tiers[tier]) continue;
    DType candidate = *tiers[tier];
    if (tier == 2) candidate = is_floating(candidate) ? DType::f32 : DType::i64;
    if (!result || category(candidate) > category(*result)) result = candidate;
  }
  return *result;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    FOVEA_CHECK(da == db || da == 1 || db == 1, op, "shapes ", shape_str(a), " and ", shape_str(b),
                " do not broadcast: dimension ", i, " has sizes ", da, " and ", db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const int64_t lead = t.dim() - static_cast<int64_t>(shape.size());
  FOVEA_CHECK(lead >= 0, "sum_to", "cannot reduce shape ", shape_str(t.shape()), " to ", shape_str(shape));
  Shape dims;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && t.shape()[d] != 1)) dims.push_back(d);
  Tensor reduced = dims.empty() ? t : sum(t, dims, true);
  return reduced.reshape(shape);
}

Tensor add(const Tensor& a, const Tensor& b, double alpha) {
  FOVEA_NVTX_RANGE("add");
  const DType t = promoted(a, b, "add");
  Tensor out = binary_op(cpu::BinaryOp::add, "add", a, b, t, t, alpha);
  record_op("add", {out}, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], sa), sum_to(alpha == 1.0 ? g[0] : mul(g[0], alpha), sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, double alpha) {
  FOVEA_NVTX_RANGE("sub");
  const DType t = promoted(a, b, "sub");
  Tensor out = binary_op(cpu::BinaryOp::sub, "sub", a, b, t, t, alpha);
  record_op("sub", {out}, {a, b}, [sa = a.shape(), sb = b.shape(), alpha](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], sa), sum_to(mul(g[0], -alpha), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("mul");
  const DType t = promoted(a, b, "mul");
  Tensor out = binary_op(cpu::BinaryOp::mul, "mul", a, b, t, t);
  if (needs_grad({&a, &b})) {
    record_op("mul", {out}, {a, b}, [sa = SavedTensor(a, "mul"), sb = SavedTensor(b, "mul")](const std::vector<Tensor>& g) {
      const Tensor x = sa.get(), y = sb.get();
      return std::vector<Tensor>{sum_to(mul(g[0], y), x.shape()),
                                 sum_to(mul(g[0], x), y.shape())};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("div");
  DType t = promoted(a, b, "div");
  if (!is_floating(t)) t = DType::f32;
  Tensor out = binary_op(cpu::BinaryOp::div, "div", a, b, t, t);
  if (needs_grad({&a, &b})) {
    record_op("div", {out}, {a, b}, [sa = SavedTensor(a, "div"), sb = SavedTensor(b, "div")](const std::vector<Tensor>& g) {
      const Tensor x = sa.get(), y = sb.get();
      const Tensor gx = div(g[0], y);
      return std::vector<Tensor>{sum_to(gx, x.shape()), sum_to(neg(mul(gx, div(x, y))), y.shape())};
    });
  }
  return out;
}

Tensor add(const Tensor& a, double b) { return add(a, wrap_scalar(b, a, "add")); }
Tensor sub(const Tensor& a, double b) { return sub(a, wrap_scalar(b, a, "sub")); }
Tensor mul(const Tensor& a, double b) { return mul(a, wrap_scalar(b, a, "mul")); }
Tensor div(const Tensor& a, double b) { return div(a, wrap_scalar(b, a, "div")); }
Tensor rsub(const Tensor& a, double b) { return sub(wrap_scalar(b, a, "rsub"), a); }

Tensor neg(const Tensor& a) {
  FOVEA_NVTX_RANGE("neg");
  Tensor out = unary_op(cpu::UnaryOp::neg, "neg", a, false);
  record_op("neg", {out}, {a}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{neg(g[0])}; });
  return out;
}

Tensor pow(const Tensor& a, double exponent) {
  FOVEA_NVTX_RANGE("pow");
  check_defined(a, "pow", "a");
  Tensor in = is_floating(a.dtype()) ? a : a.to(DType::f32);
  Tensor out = make_tensor(in.shape(), in.dtype(), in.device());
  FOVEA_ON_DEVICE(out.device(), pow_scalar, in, exponent, out);
  if (needs_grad({&a})) {
    record_op("pow", {out}, {a}, [sa = SavedTensor(a, "pow"), exponent](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{mul(g[0], mul(pow(sa.get(), exponent - 1), exponent))};
    });
  }
  return out;
}

Tensor exp(const Tensor& a) {
  FOVEA_NVTX_RANGE("exp");
  Tensor out = unary_op(cpu::UnaryOp::exp, "exp", a, true);
  if (needs_grad({&a}))
    record_op("exp", {out}, {a}, [so = SavedTensor(out.detach(), "exp")](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{mul(g[0], so.get())};
    });
  return out;
}

Tensor log(const Tensor& a) {
  FOVEA_NVTX_RANGE("log");
  Tensor out = unary_op(cpu::UnaryOp::log, "log", a, true);
  if (needs_grad({&a}))
    record_op("log", {out}, {a}, [sa = SavedTensor(a, "log")](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{div(g[0], sa.get())};
    });
  return out;
}

Tensor sqrt(const Tensor& a) {
  FOVEA_NVTX_RANGE("sqrt");
  Tensor out = unary_op(cpu::UnaryOp::sqrt, "sqrt", a, true);
  if (needs_grad({&a}))
    record_op("sqrt", {out}, {a}, [so = SavedTensor(out.detach(), "sqrt")](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{div(g[0], mul(so.get(), 2.0))};
    });
  return out;
}

Tensor rsqrt(const Tensor& a) {
  FOVEA_NVTX_RANGE("rsqrt");
  Tensor out = unary_op(cpu::UnaryOp::rsqrt, "rsqrt", a, true);
  if (needs_grad({&a}))
    record_op("rsqrt", {out}, {a}, [so = SavedTensor(out.detach(), "rsqrt")](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{mul(g[0], mul(pow(y, 3.0), -0.5))};
    });
  return out;
}

Tensor abs(const Tensor& a) {
  FOVEA_NVTX_RANGE("abs");
  Tensor out = unary_op(cpu::UnaryOp::abs, "abs", a, false);
  if (needs_grad({&a}))
    record_op("abs", {out}, {a}, [sa = SavedTensor(a, "abs")](const std::vector<Tensor>& g) {
      const Tensor x = sa.get();
      Tensor sign = make_tensor(x.shape(), x.dtype(), x.device());
      FOVEA_ON_DEVICE(x.device(), unary, cpu::UnaryOp::sign, x, sign);
      return std::vector<Tensor>{mul(g[0], sign)};
    });
  return out;
}

Tensor relu(const Tensor& a) {
  FOVEA_NVTX_RANGE("relu");
  Tensor out = unary_op(cpu::UnaryOp::relu, "relu", a, false);
  if (needs_grad({&a}))
    record_op("relu", {out}, {a}, [so = SavedTensor(out.detach(), "relu")](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{where(gt(y, 0.0), g[0], zeros({}, g[0].dtype(), g[0].device()))};
    });
  return out;
}

Tensor sigmoid(const Tensor& a) {
  FOVEA_NVTX_RANGE("sigmoid");
  Tensor out = unary_op(cpu::UnaryOp::sigmoid, "sigmoid", a, true);
  if (needs_grad({&a}))
    record_op("sigmoid", {out}, {a}, [so = SavedTensor(out.detach(), "sigmoid")](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{mul(g[0], mul(y, rsub(y, 1.0)))};
    });
  return out;
}

Tensor tanh(const Tensor& a) {
  FOVEA_NVTX_RANGE("tanh");
  Tensor out = unary_op(cpu::UnaryOp::tanh, "tanh", a, true);
  if (needs_grad({&a}))
    record_op("tanh", {out}, {a}, [so = SavedTensor(out.detach(), "tanh")](const std::vector<Tensor>& g) {
      const Tensor y = so.get();
      return std::vector<Tensor>{mul(g[0], rsub(mul(y, y), 1.0))};
    });
  return out;
}

Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  FOVEA_NVTX_RANGE("clamp");
  check_defined(a, "clamp", "a");
  FOVEA_CHECK(min || max, "clamp", "at least one of min and max must be given");
  const double lo = min.value_or(-std::numeric_limits<double>::infinity());
  const double hi = max.value_or(std::numeric_limits<double>::infinity());
  FOVEA_CHECK(!(lo > hi), "clamp", "min ", lo, " is greater than max ", hi);
  Tensor out = make_tensor(a.shape(), a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), clamp, a, lo, hi, out);
  if (needs_grad({&a}))
    record_op("clamp", {out}, {a}, [sa = SavedTensor(a, "clamp"), lo, hi](const std::vector<Tensor>& g) {
      const Tensor x = sa.get();
      Tensor inside = mul(ge(x, scalar_tensor(lo, x.dtype(), x.device())), le(x, scalar_tensor(hi, x.dtype(), x.device())));
      return std::vector<Tensor>{where(inside, g[0], zeros({}, g[0].dtype(), g[0].device()))};
    });
  return out;
}

Tensor clamp_min(const Tensor& a, double min) { return clamp(a, min, std::nullopt); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("where");
  check_defined(condition, "where", "condition");
  check_defined(a, "where", "a");
  check_defined(b, "where", "b");
  FOVEA_CHECK(condition.dtype() == DType::u8, "where", "condition must be a u8 mask, got ",
              dtype_name(condition.dtype()));
  check_same_device(a, b, "where");
  check_same_device(condition, a, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  const DType t = result_type(a, b);
  Tensor out = make_tensor(shape, t, a.device());
  FOVEA_ON_DEVICE(out.device(), where, condition, a.to(t), b.to(t), out);
  if (needs_grad({&a, &b}))
    record_op("where", {out}, {a, b}, [c = condition, sa = a.shape(), sb = b.shape()](const std::vector<Tensor>& g) {
      const Tensor zero = zeros({}, g[0].dtype(), g[0].device());
      return std::vector<Tensor>{sum_to(where(c, g[0], zero), sa), sum_to(where(c, zero, g[0]), sb)};
    });
  return out;
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, double value) {
  FOVEA_NVTX_RANGE("masked_fill");
  check_defined(a, "masked_fill", "a");
  check_defined(mask, "masked_fill", "mask");
  FOVEA_CHECK(mask.dtype() == DType::u8, "masked_fill", "mask must be a u8 tensor, got ", dtype_name(mask.dtype()));
  FOVEA_CHECK(broadcast_shapes(a.shape(), mask.shape(), "masked_fill") == a.shape(), "masked_fill", "mask of shape ",
              shape_str(mask.shape()), " does not broadcast to the input shape ", shape_str(a.shape()));
  return where(mask, scalar_tensor(value, a.dtype(), a.device()), a);
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("maximum");
  const DType t = promoted(a, b, "maximum");
  Tensor out = binary_op(cpu::BinaryOp::maximum, "maximum", a, b, t, t);
  if (needs_grad({&a, &b}))
    record_op("maximum", {out}, {a, b}, [sa = SavedTensor(a, "maximum"), sb = SavedTensor(b, "maximum")](const std::vector<Tensor>& g) {
      const Tensor x = sa.get(), y = sb.get();
      const Tensor zero = zeros({}, g[0].dtype(), g[0].device());
      const Tensor a_wins = ge(x, y);
      return std::vector<Tensor>{sum_to(where(a_wins, g[0], zero), x.shape()),
                                 sum_to(where(a_wins, zero, g[0]), y.shape())};
    });
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(cpu::BinaryOp::ge, "ge", a, b); }
Tensor eq(const Tensor& a, double b) { return eq(a, wrap_scalar(b, a, "eq")); }
Tensor lt(const Tensor& a, double b) { return lt(a, wrap_scalar(b, a, "lt")); }
Tensor gt(const Tensor& a, double b) { return gt(a, wrap_scalar(b, a, "gt")); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) { return rsub(b, a); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace fovea
