// fovea::Tensor: a shared handle to shape, strides, offset and dtype over a Storage, plus
// the autograd state of the tensor. Views share storage; ops live in engine/ops.h.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/storage.h"

namespace fovea {

using Shape = std::vector<int64_t>;
class Node;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool wrapped_number = false;  // made from a C++ scalar: lowest standing in type promotion

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  uint32_t output_nr = 0;
  std::weak_ptr<Node> grad_accumulator;  // leaves only
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t dim) const;    // negative dims count from the end
  int64_t stride(int64_t dim) const;
  int64_t numel() const;
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  bool is_contiguous() const;
  // True when some dimension of size > 1 has stride 0 (an expanded view): not writable.
  bool is_expanded() const;
  Storage& storage() const { return *impl_->storage; }
  uint64_t version() const { return impl_->storage->version(); }

  void* raw_data() const;  // address of element 0 (storage + offset)
  template <typename T>
  T* data() const {
    check_dtype(dtype_of<T>::value, "data");
    return static_cast<T*>(raw_data());
  }
  // The value of a one-element tensor, converted to double.
  double item() const;

  // Views (share storage; autograd-aware).
  Tensor view(const Shape& shape) const;  // -1 infers one dimension; needs compatible strides
  Tensor reshape(const Shape& shape) const;  // view when possible, else a copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // 2-D transpose
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a dimension
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor contiguous() const;  // itself when already contiguous

  Tensor to(DType dtype) const;  // itself when already of that dtype
  Tensor to(Device device) const;  // itself when already there; differentiable
  Tensor clone() const;
  Tensor detach() const;  // shares storage, no autograd history

  // In-place updates (bump the version counter; refused on expanded views and, while grad
  // mode is on, on tensors that require grad).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // src broadcast to this shape, converted to this dtype
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& mul_(double value);

  // Autograd.
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  Tensor& requires_grad_(bool on = true);  // leaves only
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const { impl_->grad.reset(); }
  // Backpropagates from this tensor: a scalar, or any tensor with an explicit gradient of
  // the same shape. The graph is freed unless retain_graph is set.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  std::string str() const;  // readable printout, elided when large

 private:
  void check_dtype(DType expected, const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);
std::string shape_str(const Shape& shape);

// Makes a tensor over fresh storage; strides contiguous.
Tensor make_tensor(const Shape& shape, DType dtype, Device device = Device::cpu());
int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
// Normalises a possibly negative dim against a rank; throws naming op when out of range.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);

}  // namespace fovea
