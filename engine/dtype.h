// Element types of tensors, their sizes and names, PyTorch's type promotion, and the
// FOVEA_DISPATCH macros that turn a runtime dtype into a compile-time C++ type.
#pragma once
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace fovea {

enum class DType : uint8_t { u8, i32, i64, f32, f64 };

constexpr int64_t dtype_size(DType t) {
  switch (t) {
    case DType::u8: return 1;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::f32: return 4;
    case DType::f64: return 8;
  }
  return 0;
}
constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
const char* dtype_name(DType t);

// PyTorch's promotion of two tensor operands of equal standing: integers widen, any float
// wins over integers, f64 wins over f32.
DType promote_types(DType a, DType b);

template <typename T> struct dtype_of;
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };

}  // namespace fovea

#define FOVEA_DTYPE_CASE(enum_value, cpp_type, ...) \
  case ::fovea::DType::enum_value: {                \
    using scalar_t = cpp_type;                      \
    __VA_ARGS__();                                  \
    break;                                          \
  }

// FOVEA_DISPATCH_ALL(dtype, "op", [&] { ... scalar_t ... });
#define FOVEA_DISPATCH_ALL(dtype, op, ...)                                  \
  switch (dtype) {                                                          \
    FOVEA_DTYPE_CASE(u8, uint8_t, __VA_ARGS__)                              \
    FOVEA_DTYPE_CASE(i32, int32_t, __VA_ARGS__)                             \
    FOVEA_DTYPE_CASE(i64, int64_t, __VA_ARGS__)                             \
    FOVEA_DTYPE_CASE(f32, float, __VA_ARGS__)                               \
    FOVEA_DTYPE_CASE(f64, double, __VA_ARGS__)                              \
    default: FOVEA_FAIL(op, "unsupported dtype ", ::fovea::dtype_name(dtype)); \
  }

#define FOVEA_DISPATCH_FLOAT(dtype, op, ...)                                              \
  switch (dtype) {                                                                        \
    FOVEA_DTYPE_CASE(f32, float, __VA_ARGS__)                                             \
    FOVEA_DTYPE_CASE(f64, double, __VA_ARGS__)                                            \
    default: FOVEA_FAIL(op, "expected a floating-point tensor (f32 or f64), got ",        \
                        ::fovea::dtype_name(dtype));                                      \
  }

#define FOVEA_DISPATCH_INDEX(dtype, op, ...)                                              \
  switch (dtype) {                                                                        \
    FOVEA_DTYPE_CASE(i32, int32_t, __VA_ARGS__)                                           \
    FOVEA_DTYPE_CASE(i64, int64_t, __VA_ARGS__)                                           \
    default: FOVEA_FAIL(op, "expected an index tensor (i64 or i32), got ",                \
                        ::fovea::dtype_name(dtype));                                      \
  }
