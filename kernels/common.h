// Helpers shared by kernel sources: the bounds of a grid-stride loop, and the launchers'
// dispatch from a runtime ElementType to a C++ type (each with_*_type calls fn(T{}) for the
// type named and returns cudaErrorInvalidValue for a type outside its family).
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

__device__ inline int64_t first_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <typename Fn>
cudaError_t with_float_type(ElementType type, Fn&& fn) {
  switch (type) {
    case ElementType::f32: return fn(float{});
    case ElementType::f64: return fn(double{});
    default: return cudaErrorInvalidValue;
  }
}

template <typename Fn>
cudaError_t with_index_type(ElementType type, Fn&& fn) {
  switch (type) {
    case ElementType::i32: return fn(int32_t{});
    case ElementType::i64: return fn(int64_t{});
    default: return cudaErrorInvalidValue;
  }
}

template <typename Fn>
cudaError_t with_element_type(ElementType type, Fn&& fn) {
  switch (type) {
    case ElementType::u8: return fn(uint8_t{});
    case ElementType::i32:
    case ElementType::i64: return with_index_type(type, fn);
    default: return with_float_type(type, fn);
  }
}

}  // namespace fovea::kernels
