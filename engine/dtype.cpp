// Names and promotion rules of the element types.
#include "engine/dtype.h"

namespace fovea {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::u8: return "u8";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::f32: return "f32";
    case DType::f64: return "f64";
  }
  return "?";
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (is_floating(a) || is_floating(b)) {
    if (a == DType::f64 || b == DType::f64) return DType::f64;
    return DType::f32;
  }
  // Both integral: u8 < i32 < i64 (u8 with a signed type widens to the signed type).
  return dtype_size(a) >= dtype_size(b) && a != DType::u8 ? a : b;
}

}  // namespace fovea
