// Front-ends of the joining, splitting and indexing ops: cat, stack, split, chunk,
// index_select, gather, scatter_add and embedding. split and chunk return narrow() views;
// the others validate shapes and index ranges before the CPU kernels (engine/cpu/index.h)
// write anything.
#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

// PyTorch still lets 1-D tensors of shape [0] into cat next to tensors of any shape.
bool is_skipped_by_cat(const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; }

void check_indexed_pair(const Tensor& a, const Tensor& index, const char* op) {
  check_defined(a, op, "a");
  check_defined(index, op, "index");
  check_same_device(a, index, op);
  check_index_dtype(index, op, "index");
  FOVEA_CHECK(a.dim() > 0, op, "expects an input with at least one dimension, got a 0-d tensor; reshape it to [1] first");
}

std::string describe_dim(const Tensor& a, int64_t dim) {
  return detail::concat("dimension ", dim, " (size ", a.shape()[dim], ") of the input of shape ", shape_str(a.shape()));
}

// The slice of `t` covering [0, shape[d]) in every dimension d.
Tensor leading_block(const Tensor& t, const Shape& shape) {
  Tensor block = t;
  for (int64_t d = 0; d < t.dim(); ++d) block = block.narrow(d, 0, shape[d]);
  return block;
}

// index.size(d) <= limit.size(d) for every d (other than `except_dim` when it is >= 0).
void check_index_fits(const Tensor& index, const Tensor& limit, int64_t except_dim, const char* op, const char* name) {
  for (int64_t d = 0; d < index.dim(); ++d) {
    if (d == except_dim) continue;
    FOVEA_CHECK(index.shape()[d] <= limit.shape()[d], op, "index of shape ", shape_str(index.shape()),
                " is larger than ", name, " of shape ", shape_str(limit.shape()), " in dimension ", d, " (",
                index.shape()[d], " > ", limit.shape()[d], "); ",
                except_dim >= 0 ? detail::concat("the index may be larger only along dim ", except_dim)
                                : std::string("the index may not be larger in any dimension"));
  }
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  FOVEA_NVTX_RANGE("cat");
  FOVEA_CHECK(!tensors.empty(), "cat", "expected a non-empty list of tensors");
  const Tensor* reference = nullptr;
  DType dtype = tensors[0].defined() ? tensors[0].dtype() : DType::f32;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    FOVEA_CHECK(t.defined(), "cat", "tensor ", i, " is undefined");
    check_same_device(tensors[0], t, "cat");
    FOVEA_CHECK(t.dim() > 0, "cat", "tensor ", i, " is 0-d and cannot be concatenated; unsqueeze it to shape [1] first");
    dtype = promote_types(dtype, t.dtype());
    if (!reference && !is_skipped_by_cat(t)) reference = &t;
  }
  if (!reference) return empty({0}, dtype, tensors[0].device());

  dim = wrap_dim(dim, reference->dim(), "cat");
  Shape out_shape = reference->shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (is_skipped_by_cat(t)) continue;
    bool matches = t.dim() == reference->dim();
    for (int64_t d = 0; matches && d < t.dim(); ++d) matches = d == dim || t.shape()[d] == reference->shape()[d];
    FOVEA_CHECK(matches, "cat", "tensor ", i, " has shape ", shape_str(t.shape()), " but tensor ",
                reference - tensors.data(), " has shape ", shape_str(reference->shape()),
                "; all shapes must match except in the concatenated dimension ", dim);
    out_shape[dim] += t.shape()[dim];
  }

  Tensor out = make_tensor(out_shape, dtype, reference->device());
  FOVEA_ON_DEVICE(out.device(), cat, tensors, dim, out);
  if (needs_grad(tensors)) {
    std::vector<std::pair<int64_t, int64_t>> slices;  // (start, length) along dim; length -1: skipped
    int64_t start = 0;
    for (const Tensor& t : tensors) {
      const int64_t length = is_skipped_by_cat(t) ? -1 : t.shape()[dim];
      slices.emplace_back(start, length);
      start += std::max<int64_t>(length, 0);
    }
    record_op("cat", {out}, tensors, [slices, dim](const std::vector<Tensor>& g) {
      std::vector<Tensor> grads;
      for (const auto& [slice_start, length] : slices)
        grads.push_back(length < 0 ? empty({0}, g[0].dtype(), g[0].device()) : g[0].narrow(dim, slice_start, length));
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  FOVEA_NVTX_RANGE("stack");
  FOVEA_CHECK(!tensors.empty(), "stack", "expected a non-empty list of tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    FOVEA_CHECK(tensors[i].defined(), "stack", "tensor ", i, " is undefined");
    FOVEA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack", "all tensors must have the same shape: tensor 0 has ",
                shape_str(tensors[0].shape()), ", tensor ", i, " has ", shape_str(tensors[i].shape()));
  }
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> unsqueezed;
  unsqueezed.reserve(tensors.size());
  for (const Tensor& t : tensors) unsqueezed.push_back(t.unsqueeze(dim));
  return cat(unsqueezed, dim);
}

std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim) {
  FOVEA_NVTX_RANGE("split");
  check_defined(a, "split", "a");
  FOVEA_CHECK(a.dim() > 0, "split", "expects a tensor with at least one dimension, got a 0-d tensor");
  dim = wrap_dim(dim, a.dim(), "split");
  const int64_t size = a.shape()[dim];
  FOVEA_CHECK(split_size > 0 || (split_size == 0 && size == 0), "split", "split_size must be positive, got ",
              split_size, " for dimension ", dim, " of size ", size, " (0 is allowed only for an empty dimension)");
  const int64_t count = split_size == 0 ? 1 : std::max<int64_t>(1, (size + split_size - 1) / split_size);
  std::vector<Tensor> parts;
  parts.reserve(count);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t start = i * split_size;
    parts.push_back(a.narrow(dim, start, std::min(split_size, size - start)));
  }
  return parts;
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  FOVEA_NVTX_RANGE("chunk");
  check_defined(a, "chunk", "a");
  FOVEA_CHECK(a.dim() > 0, "chunk", "expects a tensor with at least one dimension, got a 0-d tensor");
  FOVEA_CHECK(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  dim = wrap_dim(dim, a.dim(), "chunk");
  const int64_t size = a.shape()[dim];
  if (size == 0) {
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < chunks; ++i) parts.push_back(a.narrow(dim, 0, 0));
    return parts;
  }
  return split(a, (size + chunks - 1) / chunks, dim);
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  FOVEA_NVTX_RANGE("index_select");
  check_indexed_pair(a, index, "index_select");
  FOVEA_CHECK(index.dim() <= 1, "index_select", "index must be 1-D, got shape ", shape_str(index.shape()));
  dim = wrap_dim(dim, a.dim(), "index_select");
  const Tensor idx = index.reshape({-1}).contiguous();
  FOVEA_ON_DEVICE(idx.device(), check_index_range, idx, a.shape()[dim], "index_select", describe_dim(a, dim));
  Shape out_shape = a.shape();
  out_shape[dim] = idx.numel();
  Tensor out = make_tensor(out_shape, a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), index_select, a.detach().contiguous(), dim, idx, out);
  if (needs_grad({&a}))
    record_op("index_select", {out}, {a}, [in_shape = a.shape(), dim, saved = SavedTensor(idx, "index_select")](const std::vector<Tensor>& g) {
      Tensor grad = zeros(in_shape, g[0].dtype(), g[0].device());
      FOVEA_ON_DEVICE(grad.device(), index_add, grad, dim, saved.get(), g[0].contiguous());
      return std::vector<Tensor>{grad};
    });
  return out;
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  FOVEA_NVTX_RANGE("gather");
  check_indexed_pair(a, index, "gather");
  FOVEA_CHECK(index.dim() == a.dim(), "gather", "index must have the same rank as the input: got index of shape ",
              shape_str(index.shape()), " for input of shape ", shape_str(a.shape()));
  dim = wrap_dim(dim, a.dim(), "gather");
  check_index_fits(index, a, dim, "gather", "the input");
  const Tensor idx = index.contiguous();
  FOVEA_ON_DEVICE(idx.device(), check_index_range, idx, a.shape()[dim], "gather", describe_dim(a, dim));
  Tensor out = make_tensor(idx.shape(), a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), gather, a.detach(), dim, idx, out);
  if (needs_grad({&a}))
    record_op("gather", {out}, {a}, [in_shape = a.shape(), dim, saved = SavedTensor(idx, "gather")](const std::vector<Tensor>& g) {
      Tensor grad = zeros(in_shape, g[0].dtype(), g[0].device());
      FOVEA_ON_DEVICE(grad.device(), scatter_add, grad, dim, saved.get(), g[0]);
      return std::vector<Tensor>{grad};
    });
  return out;
}

Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src) {
  FOVEA_NVTX_RANGE("scatter_add");
  check_indexed_pair(a, index, "scatter_add");
  check_defined(src, "scatter_add", "src");
  check_same_device(a, src, "scatter_add");
  FOVEA_CHECK(src.dtype() == a.dtype(), "scatter_add", "src has dtype ", dtype_name(src.dtype()), " but the input has ",
              dtype_name(a.dtype()), "; convert src with .to(", dtype_name(a.dtype()), ")");
  FOVEA_CHECK(index.dim() == a.dim() && src.dim() == a.dim(), "scatter_add",
              "input, index and src must have the same rank: got shapes ", shape_str(a.shape()), ", ",
              shape_str(index.shape()), " and ", shape_str(src.shape()));
  dim = wrap_dim(dim, a.dim(), "scatter_add");
  check_index_fits(index, a, dim, "scatter_add", "the input");
  check_index_fits(index, src, -1, "scatter_add", "src");
  const Tensor idx = index.contiguous();
  FOVEA_ON_DEVICE(idx.device(), check_index_range, idx, a.shape()[dim], "scatter_add", describe_dim(a, dim));
  Tensor out = make_tensor(a.shape(), a.dtype(), a.device());
  FOVEA_ON_DEVICE(out.device(), copy, a, out);
  FOVEA_ON_DEVICE(out.device(), scatter_add, out, dim, idx, src.detach());
  if (needs_grad({&a, &src}))
    record_op("scatter_add", {out}, {a, src},
              [src_shape = src.shape(), dim, saved = SavedTensor(idx, "scatter_add")](const std::vector<Tensor>& g) {
                const Tensor index_used = saved.get();
                Tensor grad_src = gather(g[0], dim, index_used);
                if (src_shape != index_used.shape()) {
                  Tensor padded = zeros(src_shape, g[0].dtype(), g[0].device());
                  leading_block(padded, index_used.shape()).copy_(grad_src);
                  grad_src = padded;
                }
                return std::vector<Tensor>{g[0], grad_src};
              });
  return out;
}

Tensor embedding(const Tensor& table, const Tensor& indices) {
  FOVEA_NVTX_RANGE("embedding");
  check_defined(table, "embedding", "table");
  check_defined(indices, "embedding", "indices");
  check_same_device(table, indices, "embedding");
  check_index_dtype(indices, "embedding", "indices");
  FOVEA_CHECK(table.dim() == 2, "embedding", "table must be 2-D [num_embeddings, embedding_dim], got shape ",
              shape_str(table.shape()));
  const int64_t rows = table.shape()[0], width = table.shape()[1];
  const Tensor idx = indices.reshape({-1}).contiguous();
  FOVEA_ON_DEVICE(idx.device(), check_index_range, idx, rows, "embedding",
                         detail::concat("a table of ", rows, " rows (shape ", shape_str(table.shape()), ")"));
  Shape out_shape = indices.shape();
  out_shape.push_back(width);
  Tensor out = make_tensor(out_shape, table.dtype(), table.device());
  FOVEA_ON_DEVICE(out.device(), index_select, table.detach().contiguous(), 0, idx, out);
  if (needs_grad({&table}))
    record_op("embedding", {out}, {table}, [table_shape = table.shape(), saved = SavedTensor(idx, "embedding")](const std::vector<Tensor>& g) {
      Tensor grad = zeros(table_shape, g[0].dtype(), g[0].device());
      FOVEA_ON_DEVICE(grad.device(), index_add, grad, 0, saved.get(), g[0].contiguous());
      return std::vector<Tensor>{grad};
    });
  return out;
}

}  // namespace fovea
