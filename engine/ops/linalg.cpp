// Front-ends of the matrix products: matmul (torch.matmul semantics), bmm and linear.
// Operands reach BLAS as strided views; only layouts BLAS cannot read are copied.
#include <algorithm>

#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

void check_operands(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  check_defined(a, op, a_name);
  check_defined(b, op, b_name);
  check_same_device(a, b, op);
  check_floating(a, op, a_name);
  check_floating(b, op, b_name);
  FOVEA_CHECK(a.dtype() == b.dtype(), op, "'", a_name, "' is ", dtype_name(a.dtype()), " but '", b_name, "' is ",
              dtype_name(b.dtype()), "; convert one with .to() so both have the same dtype");
}

// Leading (batch) dims of a [..., M, K] and b [..., K, N], broadcast together.
Shape broadcast_batch(const Tensor& a, const Tensor& b, const char* op) {
  const int64_t rank_a = a.dim() - 2, rank_b = b.dim() - 2;
  const int64_t rank = std::max(rank_a, rank_b);
  Shape batch(rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t da = i - (rank - rank_a) >= 0 ? a.shape()[i - (rank - rank_a)] : 1;
    const int64_t db = i - (rank - rank_b) >= 0 ? b.shape()[i - (rank - rank_b)] : 1;
    FOVEA_CHECK(da == db || da == 1 || db == 1, op, "batch dims of shapes ", shape_str(a.shape()), " and ",
                shape_str(b.shape()), " do not broadcast: sizes ", da, " and ", db,
                " (batch dims must be equal or 1)");
    batch[i] = da == 1 ? db : da;
  }
  return batch;
}

Shape with_matrix(Shape batch, int64_t rows, int64_t cols) {
  batch.push_back(rows);
  batch.push_back(cols);
  return batch;
}

// [..., R, C] seen as a matrix [(...·R), C]; a view when the layout allows it.
Tensor as_matrix(const Tensor& t) {
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < t.dim(); ++d) rows *= t.shape()[d];
  return t.reshape({rows, t.size(-1)});
}

Tensor blas_ready(const Tensor& t) { return FOVEA_ON_DEVICE(t.device(), blas_compatible, t) ? t : t.contiguous(); }

// a [..., M, K] · b [..., K, N] over broadcast batch dims, with its backward recorded.
Tensor batched_product(const Tensor& a, const Tensor& b, const Shape& batch, const char* op) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Tensor out = make_tensor(with_matrix(batch, m, n), a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), matmul, blas_ready(a.detach()).expand(with_matrix(batch, m, k)),
              blas_ready(b.detach()).expand(with_matrix(batch, k, n)), out);
  if (needs_grad({&a, &b}))
    record_op(op, {out}, {a, b},
              [sa = SavedTensor(a, op), sb = SavedTensor(b, op), grad_a = a.requires_grad(),
               grad_b = b.requires_grad()](const std::vector<Tensor>& g) {
                const Tensor x = sa.get(), y = sb.get();
                Tensor gx, gy;
                if (grad_a) gx = sum_to(matmul(g[0], y.transpose(-1, -2)), x.shape());
                if (grad_b) gy = sum_to(matmul(x.transpose(-1, -2), g[0]), y.shape());
                return std::vector<Tensor>{gx, gy};
              });
  return out;
}

// True when the batch dims and the row dim of `t` merge into one row dim of a row-major
// matrix, so [..., M, K] can be viewed as [(...·M), K] without a copy.
bool rows_merge_into_matrix(const Tensor& t) {
  if (t.stride(-1) != 1) return false;
  for (int64_t d = t.dim() - 3; d >= 0; --d)
    if (t.shape()[d] != 1 && t.strides()[d] != t.strides()[d + 1] * t.shape()[d + 1]) return false;
  return true;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("matmul");
  check_operands(a, b, "matmul", "a", "b");
  FOVEA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "both operands must be at least 1-D, got shapes ",
              shape_str(a.shape()), " and ", shape_str(b.shape()), "; use mul() for scalars");
  const int64_t inner_a = a.size(-1), inner_b = b.dim() == 1 ? b.size(0) : b.size(-2);
  FOVEA_CHECK(inner_a == inner_b, "matmul", "shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
              " cannot be multiplied: the last dim of a (", inner_a, ") must equal the ",
              b.dim() == 1 ? "length of b" : "second-to-last dim of b", " (", inner_b, ")");
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  if (a.dim() > 2 && b.dim() == 2 && rows_merge_into_matrix(a)) {
    Shape out_shape = a.shape();
    out_shape.back() = b.size(1);
    return matmul(as_matrix(a), b).reshape(out_shape);
  }
  return batched_product(a, b, broadcast_batch(a, b, "matmul"), "matmul");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  FOVEA_NVTX_RANGE("bmm");
  check_operands(a, b, "bmm", "a", "b");
  FOVEA_CHECK(a.dim() == 3 && b.dim() == 3, "bmm", "expected 3-D operands [B, M, K] and [B, K, N], got shapes ",
              shape_str(a.shape()), " and ", shape_str(b.shape()), "; use matmul() for other ranks");
  FOVEA_CHECK(a.size(0) == b.size(0), "bmm", "batch sizes differ: shapes ", shape_str(a.shape()), " and ",
              shape_str(b.shape()), " (bmm does not broadcast; use matmul() for that)");
  FOVEA_CHECK(a.size(2) == b.size(1), "bmm", "shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
              " cannot be multiplied: dim 2 of a (", a.size(2), ") must equal dim 1 of b (", b.size(1), ")");
  return batched_product(a, b, {a.size(0)}, "bmm");
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  FOVEA_NVTX_RANGE("linear");
  check_operands(x, weight, "linear", "x", "weight");
  FOVEA_CHECK(weight.dim() == 2, "linear", "weight must be 2-D [out_features, in_features], got shape ",
              shape_str(weight.shape()));
  FOVEA_CHECK(x.dim() >= 1, "linear", "input must be at least 1-D [..., in_features], got a 0-d tensor");
  FOVEA_CHECK(x.size(-1) == weight.size(1), "linear", "input of shape ", shape_str(x.shape()), " has ", x.size(-1),
              " features in its last dim but weight of shape ", shape_str(weight.shape()), " expects ",
              weight.size(1), " (weight is [out_features, in_features])");
  if (bias.defined()) {
    check_operands(weight, bias, "linear", "weight", "bias");
    FOVEA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear", "bias must have shape [",
                weight.size(0), "] to match weight of shape ", shape_str(weight.shape()), ", got ",
                shape_str(bias.shape()));
  }
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = matmul(x.dim() == 2 ? x : as_matrix(x), weight.t());
  if (bias.defined()) y = add(y, bias);
  return x.dim() == 2 ? y : y.reshape(out_shape);
}

}  // namespace fovea
