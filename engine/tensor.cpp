// Tensor metadata, views (with their backward), conversions, in-place updates, printing.
#include "engine/tensor.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>
#include <ostream>
#include <sstream>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "profiling/nvtx.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace fovea {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t running = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = running;
    running *= std::max<int64_t>(shape[d], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  const int64_t lo = rank == 0 ? -1 : -rank, hi = rank == 0 ? 0 : rank - 1;
  FOVEA_CHECK(dim >= lo && dim <= hi, op, "dimension ", dim, " is out of range for a tensor of rank ",
              rank, " (expected a value in [", lo, ", ", hi, "])");
  return dim < 0 ? dim + std::max<int64_t>(rank, 1) : dim;
}

Tensor make_tensor(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape)
    FOVEA_CHECK(s >= 0, "empty", "negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape_numel(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

namespace {

Tensor alias(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape shape = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      FOVEA_CHECK(infer_at < 0, op, "only one dimension can be -1, got ", shape_str(requested));
      infer_at = static_cast<int64_t>(d);
    } else {
      FOVEA_CHECK(shape[d] >= 0, op, "invalid size in shape ", shape_str(requested));
      known *= shape[d];
    }
  }
  if (infer_at >= 0) {
    FOVEA_CHECK(known != 0 && numel % known == 0, op, "shape ", shape_str(requested),
                " is invalid for a tensor of ", numel, " elements");
    shape[infer_at] = numel / known;
  }
  FOVEA_CHECK(shape_numel(shape) == numel, op, "shape ", shape_str(requested),
              " is invalid for a tensor of ", numel, " elements");
  return shape;
}

// Strides that let `new_shape` view memory laid out as (old_shape, old_strides), or nothing
// when the layout cannot be expressed without a copy. Dimensions are consumed in chunks
// that are contiguous in memory; each chunk must map onto whole dimensions of new_shape.
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape) {
  if (old_shape.empty()) return Shape(new_shape.size(), 1);
  if (shape_numel(old_shape) == 0) return contiguous_strides(new_shape);
  Shape new_strides(new_shape.size());
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(old_shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    const bool chunk_ends = tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                                              old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      new_strides[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (tensor_d > 0) {
      chunk_base_stride = old_strides[tensor_d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

void check_writable(const Tensor& t, const char* op) {
  FOVEA_CHECK(t.defined(), op, "the tensor is undefined");
  FOVEA_CHECK(!t.is_expanded(), op, "cannot write into an expanded view (shape ", shape_str(t.shape()),
              ", strides ", shape_str(t.strides()), "); call contiguous() or clone() first");
  FOVEA_CHECK(!(grad_mode_enabled() && t.requires_grad()), op,
              "in-place update of a tensor that requires grad; wrap it in NoGradGuard "
              "(optimiser updates) or use the out-of-place op");
}

}  // namespace

const Shape& Tensor::shape() const {
  FOVEA_CHECK(defined(), "tensor", "the tensor is undefined");
  return impl_->shape;
}
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return shape_numel(shape()); }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (impl_->shape[d] == 0) return true;
    if (impl_->shape[d] != 1 && impl_->strides[d] != expected) return false;
    expected *= impl_->shape[d];
  }
  return true;
}

bool Tensor::is_expanded() const {
  for (int64_t d = 0; d < dim(); ++d)
    if (impl_->shape[d] > 1 && impl_->strides[d] == 0) return true;
  return false;
}

void* Tensor::raw_data() const {
  FOVEA_CHECK(defined(), "data", "the tensor is undefined");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(impl_->dtype);
}

void Tensor::check_dtype(DType expected, const char* what) const {
  FOVEA_CHECK(defined(), what, "the tensor is undefined");
  FOVEA_CHECK(dtype() == expected, what, "tensor has dtype ", dtype_name(dtype()), ", expected ",
              dtype_name(expected));
}

double Tensor::item() const {
  FOVEA_CHECK(numel() == 1, "item", "expected a tensor with one element, got shape ", shape_str(shape()));
  if (device().is_cuda()) return to(Device::cpu()).item();
  double value = 0;
  FOVEA_DISPATCH_ALL(dtype(), "item", [&] { value = static_cast<double>(*static_cast<scalar_t*>(raw_data())); });
  return value;
}

Tensor Tensor::view(const Shape& requested) const {
  FOVEA_NVTX_RANGE("view");
  const Shape shape = infer_shape(requested, numel(), "view");
  auto strides = view_strides(impl_->shape, impl_->strides, shape);
  FOVEA_CHECK(strides.has_value(), "view", "cannot view a tensor of shape ", shape_str(impl_->shape),
              " and strides ", shape_str(impl_->strides), " as ", shape_str(shape),
              "; use reshape() (which copies when needed)");
  Tensor out = alias(*this, shape, *strides, impl_->offset);
  record_op("view", {out}, {*this}, [in_shape = impl_->shape](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].reshape(in_shape)};
  });
  return out;
}

Tensor Tensor::reshape(const Shape& requested) const {
  const Shape shape = infer_shape(requested, numel(), "reshape");
  if (view_strides(impl_->shape, impl_->strides, shape)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::permute(const Shape& dims) const {
  FOVEA_NVTX_RANGE("permute");
  FOVEA_CHECK(static_cast<int64_t>(dims.size()) == dim(), "permute", "got ", dims.size(),
              " dims ", shape_str(dims), " for a tensor of rank ", dim());
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    FOVEA_CHECK(!seen[d], "permute", "dimension ", d, " repeats in ", shape_str(dims));
    seen[d] = true;
    shape[i] = impl_->shape[d];
    strides[i] = impl_->strides[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = alias(*this, shape, strides, impl_->offset);
  record_op("permute", {out}, {*this}, [inverse](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].permute(inverse)};
  });
  return out;
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  Shape dims(dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(dim0, dim(), "transpose")], dims[wrap_dim(dim1, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::t() const {
  FOVEA_CHECK(dim() == 2, "t", "expected a 2-D tensor, got shape ", shape_str(shape()));
  return transpose(0, 1);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  FOVEA_NVTX_RANGE("narrow");
  d = wrap_dim(d, dim(), "narrow");
  const int64_t size = impl_->shape[d];
  if (start < 0) start += size;
  FOVEA_CHECK(start >= 0 && length >= 0 && start + length <= size, "narrow", "range [", start, ", ",
              start + length, ") is outside dimension ", d, " of size ", size);
  Shape shape = impl_->shape;
  shape[d] = length;
  Tensor out = alias(*this, shape, impl_->strides, impl_->offset + start * impl_->strides[d]);
  record_op("narrow", {out}, {*this}, [in_shape = impl_->shape, d, start, length](const std::vector<Tensor>& g) {
    Tensor grad = zeros(in_shape, g[0].dtype(), g[0].device());
    grad.narrow(d, start, length).copy_(g[0]);
    return std::vector<Tensor>{grad};
  });
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  const int64_t size = impl_->shape[d];
  FOVEA_CHECK(index >= -size && index < size, "select", "index ", index, " is out of range for dimension ",
              d, " of size ", size);
  if (index < 0) index += size;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& requested) const {
  FOVEA_NVTX_RANGE("expand");
  FOVEA_CHECK(static_cast<int64_t>(requested.size()) >= dim(), "expand", "cannot expand shape ",
              shape_str(shape()), " to fewer dimensions ", shape_str(requested));
  const int64_t shift = static_cast<int64_t>(requested.size()) - dim();
  Shape shape(requested.size()), strides(requested.size());
  for (int64_t i = 0; i < static_cast<int64_t>(requested.size()); ++i) {
    const int64_t src = i - shift;
    if (src < 0) {
      FOVEA_CHECK(requested[i] >= 0, "expand", "-1 is not allowed for new leading dimensions in ",
                  shape_str(requested));
      shape[i] = requested[i];
      strides[i] = 0;
      continue;
    }
    const int64_t have = impl_->shape[src];
    const int64_t want = requested[i] == -1 ? have : requested[i];
    FOVEA_CHECK(have == want || have == 1, "expand", "cannot expand shape ", shape_str(impl_->shape),
                " to ", shape_str(requested), ": dimension ", src, " has size ", have,
                " (only size-1 dimensions expand)");
    shape[i] = want;
    strides[i] = have == want ? impl_->strides[src] : 0;
  }
  Tensor out = alias(*this, shape, strides, impl_->offset);
  record_op("expand", {out}, {*this}, [in_shape = impl_->shape](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{sum_to(g[0], in_shape)};
  });
  return out;
}

Tensor Tensor::squeeze() const {
  Shape shape;
  for (int64_t s : this->shape())
    if (s != 1) shape.push_back(s);
  return view(shape);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (impl_->shape[d] != 1) return *this;
  Shape shape = impl_->shape;
  shape.erase(shape.begin() + d);
  return view(shape);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape shape = this->shape();
  shape.insert(shape.begin() + d, 1);
  return view(shape);
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  start_dim = wrap_dim(start_dim, dim(), "flatten");
  end_dim = wrap_dim(end_dim, dim(), "flatten");
  FOVEA_CHECK(start_dim <= end_dim, "flatten", "start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape shape(impl_->shape.begin(), impl_->shape.begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= impl_->shape[d];
  shape.push_back(merged);
  shape.insert(shape.end(), impl_->shape.begin() + end_dim + 1, impl_->shape.end());
  return reshape(shape);
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  FOVEA_NVTX_RANGE("clone");
  Tensor out = make_tensor(shape(), dtype(), device());
  FOVEA_ON_DEVICE(out.device(), copy, *this, out);
  record_op("clone", {out}, {*this}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  FOVEA_NVTX_RANGE("to");
  Tensor out = make_tensor(shape(), target, device());
  FOVEA_ON_DEVICE(out.device(), copy, *this, out);
  if (is_floating(target) && is_floating(dtype())) {
    record_op("to", {out}, {*this}, [source = dtype()](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].to(source)};
    });
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  FOVEA_CHECK(defined(), "to", "the tensor is undefined");
  if (device() == target) return *this;
  FOVEA_NVTX_RANGE("to_device");
#if FOVEA_HAS_CUDA
  if (target.is_cuda()) cuda::require_device(target.index, "to");
  const Tensor src = contiguous();
  Tensor out = make_tensor(shape(), dtype(), target);
  const cudaMemcpyKind kind = device().is_cpu()  ? cudaMemcpyHostToDevice
                              : target.is_cpu() ? cudaMemcpyDeviceToHost
                                                : cudaMemcpyDeviceToDevice;
  cuda::copy_bytes(out.raw_data(), src.raw_data(), numel() * dtype_size(dtype()), kind);
  record_op("to_device", {out}, {*this}, [source = device()](const std::vector<Tensor>& g) {
    return std::vector<Tensor>{g[0].to(source)};
  });
  return out;
#else
  FOVEA_FAIL("to", "cannot move a tensor to ", target.str(),
             ": this build has no CUDA backend (configure with FOVEA_CUDA=on or emu)");
#endif
}

Tensor Tensor::detach() const { return alias(*this, shape(), strides(), offset()); }

Tensor& Tensor::fill_(double value) {
  check_writable(*this, "fill_");
  FOVEA_ON_DEVICE(device(), fill, *this, value);
  impl_->storage->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_writable(*this, "copy_");
  FOVEA_CHECK(src.defined(), "copy_", "the source tensor is undefined");
  broadcast_shapes(src.shape(), shape(), "copy_");
  FOVEA_ON_DEVICE(device(), copy, src.device() == device() ? src : src.to(device()), *this);
  impl_->storage->bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_writable(*this, "add_");
  FOVEA_CHECK(other.defined(), "add_", "the other tensor is undefined");
  FOVEA_CHECK(broadcast_shapes(shape(), other.shape(), "add_") == shape(), "add_", "cannot add shape ",
              shape_str(other.shape()), " into shape ", shape_str(shape()), " in place");
  FOVEA_CHECK(other.device() == device(), "add_", "tensors are on different devices: ", device().str(), " and ",
              other.device().str(), "; move them with .to(device) first");
  FOVEA_ON_DEVICE(device(), binary, cpu::BinaryOp::add, *this, other.to(dtype()), *this, alpha);
  impl_->storage->bump_version();
  return *this;
}

Tensor& Tensor::mul_(double value) {
  check_writable(*this, "mul_");
  FOVEA_ON_DEVICE(device(), binary, cpu::BinaryOp::mul, *this, scalar_tensor(value, dtype(), device()), *this);
  impl_->storage->bump_version();
  return *this;
}

Tensor& Tensor::requires_grad_(bool on) {
  FOVEA_CHECK(defined(), "requires_grad_", "the tensor is undefined");
  FOVEA_CHECK(is_leaf(), "requires_grad_", "only leaf tensors can change requires_grad; use detach() first");
  FOVEA_CHECK(!on || is_floating(dtype()), "requires_grad_", "only floating-point tensors can require grad, got ",
              dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return impl_->grad ? Tensor(impl_->grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined())
    FOVEA_CHECK(grad.shape() == shape(), "set_grad", "gradient shape ", shape_str(grad.shape()),
                " does not match tensor shape ", shape_str(shape()));
  impl_->grad = grad.impl_ptr();
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  FOVEA_NVTX_RANGE("backward");
  FOVEA_CHECK(requires_grad(), "backward", "the tensor does not require grad and has no grad_fn; "
              "did you detach it or compute it under NoGradGuard?");
  Tensor grad = grad_output;
  if (!grad.defined()) {
    FOVEA_CHECK(numel() == 1, "backward", "an implicit gradient needs a one-element output, got shape ",
                shape_str(shape()), "; pass grad_output");
    grad = ones(shape(), dtype(), device());
  }
  FOVEA_CHECK(grad.shape() == shape(), "backward", "grad_output has shape ", shape_str(grad.shape()),
              ", expected ", shape_str(shape()));
  run_backward({*this}, {grad}, retain_graph);
}

namespace {

void format_value(std::ostream& out, const Tensor& flat, int64_t i, bool floating) {
  char buffer[32];
  double v = 0;
  FOVEA_DISPATCH_ALL(flat.dtype(), "print", [&] { v = static_cast<double>(flat.data<scalar_t>()[i]); });
  if (floating)
    std::snprintf(buffer, sizeof buffer, "%.4f", v);
  else
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(v));
  out << buffer;
}

void format_block(std::ostream& out, const Tensor& flat, const Shape& shape, int64_t d, int64_t base,
                  bool elide, bool floating) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) {
    format_value(out, flat, 0, floating);
    return;
  }
  int64_t inner = 1;
  for (int64_t k = d + 1; k < rank; ++k) inner *= shape[k];
  out << "[";
  for (int64_t i = 0; i < shape[d]; ++i) {
    if (elide && shape[d] > 6 && i == 3) {
      out << "...";
      i = shape[d] - 4;
      out << (d + 1 == rank ? ", " : ",\n" + std::string(d + 1, ' '));
      continue;
    }
    if (d + 1 == rank)
      format_value(out, flat, base + i, floating);
    else
      format_block(out, flat, shape, d + 1, base + i * inner, elide, floating);
    if (i + 1 < shape[d]) out << (d + 1 == rank ? ", " : ",\n" + std::string(d + 1, ' '));
  }
  out << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream out;
  out << "tensor(";
  Tensor flat = detach().to(Device::cpu()).contiguous();
  format_block(out, flat, shape(), 0, 0, numel() > 1000, is_floating(dtype()));
  out << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (!device().is_cpu()) out << ", device=" << device().str();
  if (requires_grad()) out << ", requires_grad";
  out << ")";
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.str(); }

}  // namespace fovea
