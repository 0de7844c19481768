// Elementwise kernels: one grid-stride loop per family over a strided iteration space, the
// op chosen by a uniform runtime switch (one instantiation per element type keeps nvcc and
// emulator builds small). Semantics match engine/cpu/elementwise.cpp.
#include <cmath>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/elementwise.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ T apply_unary(UnaryKind op, T x) {
  if constexpr (std::is_floating_point_v<T>) {
    using F = T;
    switch (op) {
      case UnaryKind::exp: return std::exp(x);
      case UnaryKind::log: return std::log(x);
      case UnaryKind::sqrt: return std::sqrt(x);
      case UnaryKind::rsqrt: return F(1) / std::sqrt(x);
      case UnaryKind::sigmoid: return x >= 0 ? F(1) / (F(1) + std::exp(-x)) : std::exp(x) / (F(1) + std::exp(x));
      case UnaryKind::tanh: return std::tanh(x);
      default: break;
    }
  }
  if constexpr (std::is_unsigned_v<T>) {
    switch (op) {
      case UnaryKind::neg: return static_cast<T>(-x);
      case UnaryKind::sign: return static_cast<T>(x > T(0));
      default: return x;  // abs and relu are the identity; transcendental ops never see integers
    }
  } else {
    switch (op) {
      case UnaryKind::neg: return static_cast<T>(-x);
      case UnaryKind::abs: return static_cast<T>(x < 0 ? -x : x);
      case UnaryKind::relu: return x > 0 ? x : T(0);
      case UnaryKind::sign: return static_cast<T>((x > T(0)) - (x < T(0)));
      default: return x;  // transcendental ops reach integers only through a float conversion
    }
  }
}

template <typename T>
__global__ void unary_kernel(UnaryKind op, T* out, const T* in, StridedSpace<2> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[2];
    space.offsets(i, off);
    out[off[0]] = apply_unary(op, in[off[1]]);
  }
}

template <typename T>
__global__ void binary_kernel(BinaryKind op, T* out, const T* a, const T* b, T alpha, StridedSpace<3> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[3];
    space.offsets(i, off);
    const T x = a[off[1]], y = b[off[2]];
    T r;
    switch (op) {
      case BinaryKind::add: r = static_cast<T>(x + alpha * y); break;
      case BinaryKind::sub: r = static_cast<T>(x - alpha * y); break;
      case BinaryKind::mul: r = static_cast<T>(x * y); break;
      case BinaryKind::div: r = static_cast<T>(x / y); break;
      case BinaryKind::maximum: r = x != x || x > y ? x : y; break;
      default: r = x != x || x < y ? x : y; break;
    }
    out[off[0]] = r;
  }
}

template <typename T>
__global__ void compare_kernel(BinaryKind op, uint8_t* out, const T* a, const T* b, StridedSpace<3> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[3];
    space.offsets(i, off);
    const T x = a[off[1]], y = b[off[2]];
    bool r;
    switch (op) {
      case BinaryKind::eq: r = x == y; break;
      case BinaryKind::ne: r = x != y; break;
      case BinaryKind::lt: r = x < y; break;
      case BinaryKind::le: r = x <= y; break;
      case BinaryKind::gt: r = x > y; break;
      default: r = x >= y; break;
    }
    out[off[0]] = r ? 1 : 0;
  }
}

template <typename T>
__global__ void pow_kernel(T* out, const T* in, T exponent, StridedSpace<2> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[2];
    space.offsets(i, off);
    const T x = in[off[1]];
    out[off[0]] = exponent == T(2) ? x * x : static_cast<T>(std::pow(x, exponent));
  }
}

template <typename T>
__global__ void clamp_kernel(T* out, const T* in, double lo, double hi, StridedSpace<2> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[2];
    space.offsets(i, off);
    const T x = in[off[1]];
    const double v = static_cast<double>(x);
    out[off[0]] = v != v ? x : static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
  }
}

template <typename T>
__global__ void where_kernel(T* out, const uint8_t* cond, const T* a, const T* b, StridedSpace<4> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[4];
    space.offsets(i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

template <typename D, typename S>
__global__ void copy_kernel(D* out, const S* in, StridedSpace<2> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[2];
    space.offsets(i, off);
    out[off[0]] = static_cast<D>(in[off[1]]);
  }
}

template <typename T>
__global__ void fill_kernel(T* out, T value, StridedSpace<1> space) {
  for (int64_t i = first_index(); i < space.numel; i += grid_stride()) {
    int64_t off[1];
    space.offsets(i, off);
    out[off[0]] = value;
  }
}

template <int N>
dim3 grid_of(const StridedSpace<N>& space) {
  return dim3(grid_for(space.numel, kThreads));
}

}  // namespace

cudaError_t launch_unary(UnaryKind op, ElementType type, void* out, const void* in, const StridedSpace<2>& space,
                         cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(unary_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, op, static_cast<T*>(out),
                         static_cast<const T*>(in), space);
  });
}

cudaError_t launch_binary(BinaryKind op, ElementType type, void* out, const void* a, const void* b, double alpha,
                          const StridedSpace<3>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  const bool comparison = static_cast<int>(op) >= static_cast<int>(BinaryKind::eq);
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    if (comparison)
      return launch_kernel(compare_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, op,
                           static_cast<uint8_t*>(out), static_cast<const T*>(a), static_cast<const T*>(b), space);
    return launch_kernel(binary_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, op, static_cast<T*>(out),
                         static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T>(alpha), space);
  });
}

cudaError_t launch_pow_scalar(ElementType type, void* out, const void* in, double exponent,
                              const StridedSpace<2>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  if (type == ElementType::f32)
    return launch_kernel(pow_kernel<float>, grid_of(space), dim3(kThreads), 0, stream, static_cast<float*>(out),
                         static_cast<const float*>(in), static_cast<float>(exponent), space);
  if (type == ElementType::f64)
    return launch_kernel(pow_kernel<double>, grid_of(space), dim3(kThreads), 0, stream, static_cast<double*>(out),
                         static_cast<const double*>(in), exponent, space);
  return cudaErrorInvalidValue;
}

cudaError_t launch_clamp(ElementType type, void* out, const void* in, double lo, double hi,
                         const StridedSpace<2>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(clamp_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, static_cast<T*>(out),
                         static_cast<const T*>(in), lo, hi, space);
  });
}

cudaError_t launch_where(ElementType type, void* out, const uint8_t* cond, const void* a, const void* b,
                         const StridedSpace<4>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(where_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, static_cast<T*>(out), cond,
                         static_cast<const T*>(a), static_cast<const T*>(b), space);
  });
}

cudaError_t launch_copy(ElementType out_type, ElementType in_type, void* out, const void* in,
                        const StridedSpace<2>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(out_type, [&](auto out_tag) {
    using D = decltype(out_tag);
    return with_element_type(in_type, [&](auto in_tag) {
      using S = decltype(in_tag);
      return launch_kernel(copy_kernel<D, S>, grid_of(space), dim3(kThreads), 0, stream, static_cast<D*>(out),
                           static_cast<const S*>(in), space);
    });
  });
}

cudaError_t launch_fill(ElementType type, void* out, double value, const StridedSpace<1>& space, cudaStream_t stream) {
  if (space.numel == 0) return cudaSuccess;
  return with_element_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(fill_kernel<T>, grid_of(space), dim3(kThreads), 0, stream, static_cast<T*>(out),
                         static_cast<T>(value), space);
  });
}

}  // namespace fovea::kernels
