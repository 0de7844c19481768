// Helpers shared by the op front-ends: argument checks with uniform messages.
#pragma once
#include "engine/autograd.h"
#include "engine/ops.h"
#include "profiling/nvtx.h"

namespace fovea {

inline void check_defined(const Tensor& t, const char* op, const char* name) {
  FOVEA_CHECK(t.defined(), op, "argument '", name, "' is an undefined tensor");
}

// The CPU is the only backend of this build's op implementations; CUDA tensors cannot be
// created without a CUDA backend, so this names the device mismatch when they meet.
inline void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  FOVEA_CHECK(a.device() == b.device(), op, "tensors are on different devices: ", a.device().str(), " and ",
              b.device().str(), "; move them with .to(device) first");
}

inline void check_floating(const Tensor& t, const char* op, const char* name) {
  FOVEA_CHECK(is_floating(t.dtype()), op, "argument '", name, "' must be f32 or f64, got ",
              dtype_name(t.dtype()));
}

inline void check_index_dtype(const Tensor& t, const char* op, const char* name) {
  FOVEA_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::i32, op, "argument '", name,
              "' must be an i64 or i32 index tensor, got ", dtype_name(t.dtype()));
}

// Normalises a list of dims (empty = all) to sorted unique non-negative dims.
Shape reduction_dims(const Shape& dims, int64_t rank, const char* op);

}  // namespace fovea
