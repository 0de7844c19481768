// CPU elementwise kernels over strided, broadcast operands (see strided.h).
#include "engine/cpu/elementwise.h"

#include <cmath>

#include "engine/cpu/strided.h"

namespace fovea::cpu {
namespace {

template <typename T, typename Fn>
void map1(const Tensor& in, const Tensor& out, Fn fn) {
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  for_each_run<2>(out.shape(), {out.strides(), broadcast_strides(in, out.shape())}, [&](const StridedRun<2>& r) {
    T* o = dst + r.offset[0];
    const T* a = src + r.offset[1];
    if (r.stride[0] == 1 && r.stride[1] == 1) {
      for (int64_t i = 0; i < r.length; ++i) o[i] = fn(a[i]);
    } else {
      for (int64_t i = 0; i < r.length; ++i) o[i * r.stride[0]] = fn(a[i * r.stride[1]]);
    }
  });
}

template <typename T, typename R, typename Fn>
void map2(const Tensor& a, const Tensor& b, const Tensor& out, Fn fn) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  const Shape& shape = out.shape();
  for_each_run<3>(shape, {out.strides(), broadcast_strides(a, shape), broadcast_strides(b, shape)},
                  [&](const StridedRun<3>& r) {
                    R* o = po + r.offset[0];
                    const T* x = pa + r.offset[1];
                    const T* y = pb + r.offset[2];
                    if (r.stride[0] == 1 && r.stride[1] == 1 && r.stride[2] == 1) {
                      for (int64_t i = 0; i < r.length; ++i) o[i] = fn(x[i], y[i]);
                    } else if (r.stride[0] == 1 && r.stride[1] == 1 && r.stride[2] == 0) {
                      const T yv = *y;
                      for (int64_t i = 0; i < r.length; ++i) o[i] = fn(x[i], yv);
                    } else {
                      for (int64_t i = 0; i < r.length; ++i)
                        o[i * r.stride[0]] = fn(x[i * r.stride[1]], y[i * r.stride[2]]);
                    }
                  });
}

template <typename T>
T sigmoid_of(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

}  // namespace

void unary(UnaryOp op, const Tensor& in, const Tensor& out) {
  FOVEA_DISPATCH_ALL(in.dtype(), "unary", [&] {
    using T = scalar_t;
    switch (op) {
      case UnaryOp::neg: map1<T>(in, out, [](T x) { return static_cast<T>(-x); }); break;
      case UnaryOp::abs: map1<T>(in, out, [](T x) { return static_cast<T>(x < 0 ? -x : x); }); break;
      case UnaryOp::relu: map1<T>(in, out, [](T x) { return x > 0 ? x : T(0); }); break;
      case UnaryOp::sign: map1<T>(in, out, [](T x) { return static_cast<T>((x > 0) - (x < 0)); }); break;
      case UnaryOp::exp: map1<T>(in, out, [](T x) { return static_cast<T>(std::exp(x)); }); break;
      case UnaryOp::log: map1<T>(in, out, [](T x) { return static_cast<T>(std::log(x)); }); break;
      case UnaryOp::sqrt: map1<T>(in, out, [](T x) { return static_cast<T>(std::sqrt(x)); }); break;
      case UnaryOp::rsqrt: map1<T>(in, out, [](T x) { return static_cast<T>(1 / std::sqrt(x)); }); break;
      case UnaryOp::sigmoid: map1<T>(in, out, [](T x) { return sigmoid_of(x); }); break;
      case UnaryOp::tanh: map1<T>(in, out, [](T x) { return static_cast<T>(std::tanh(x)); }); break;
    }
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha) {
  FOVEA_DISPATCH_ALL(a.dtype(), "binary", [&] {
    using T = scalar_t;
    const T scale = static_cast<T>(alpha);
    switch (op) {
      case BinaryOp::add:
        if (alpha == 1.0)
          map2<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x + y); });
        else
          map2<T, T>(a, b, out, [scale](T x, T y) { return static_cast<T>(x + scale * y); });
        break;
      case BinaryOp::sub: map2<T, T>(a, b, out, [scale](T x, T y) { return static_cast<T>(x - scale * y); }); break;
      case BinaryOp::mul: map2<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x * y); }); break;
      case BinaryOp::div: map2<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(x / y); }); break;
      case BinaryOp::maximum: map2<T, T>(a, b, out, [](T x, T y) { return x != x || x > y ? x : y; }); break;
      case BinaryOp::minimum: map2<T, T>(a, b, out, [](T x, T y) { return x != x || x < y ? x : y; }); break;
      case BinaryOp::eq: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x == y); }); break;
      case BinaryOp::ne: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x != y); }); break;
      case BinaryOp::lt: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x < y); }); break;
      case BinaryOp::le: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x <= y); }); break;
      case BinaryOp::gt: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x > y); }); break;
      case BinaryOp::ge: map2<T, uint8_t>(a, b, out, [](T x, T y) { return uint8_t(x >= y); }); break;
    }
  });
}

void pow_scalar(const Tensor& in, double exponent, const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(in.dtype(), "pow", [&] {
    using T = scalar_t;
    const T e = static_cast<T>(exponent);
    if (exponent == 2.0)
      map1<T>(in, out, [](T x) { return x * x; });
    else
      map1<T>(in, out, [e](T x) { return static_cast<T>(std::pow(x, e)); });
  });
}

void clamp(const Tensor& in, double lo, double hi, const Tensor& out) {
  FOVEA_DISPATCH_ALL(in.dtype(), "clamp", [&] {
    using T = scalar_t;
    map1<T>(in, out, [lo, hi](T x) {
      const double v = static_cast<double>(x);
      return v != v ? x : static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
    });
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape& shape = out.shape();
  const uint8_t* pc = cond.data<uint8_t>();
  FOVEA_DISPATCH_ALL(out.dtype(), "where", [&] {
    using T = scalar_t;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    for_each_run<4>(shape,
                    {out.strides(), broadcast_strides(cond, shape), broadcast_strides(a, shape),
                     broadcast_strides(b, shape)},
                    [&](const StridedRun<4>& r) {
                      for (int64_t i = 0; i < r.length; ++i)
                        po[r.offset[0] + i * r.stride[0]] = pc[r.offset[1] + i * r.stride[1]]
                                                                ? pa[r.offset[2] + i * r.stride[2]]
                                                                : pb[r.offset[3] + i * r.stride[3]];
                    });
  });
}

void copy(const Tensor& src, const Tensor& dst) {
  FOVEA_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using D = scalar_t;
    D* pd = dst.data<D>();
    FOVEA_DISPATCH_ALL(src.dtype(), "copy", [&] {
      using S = scalar_t;
      const S* ps = src.data<S>();
      for_each_run<2>(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())},
                      [&](const StridedRun<2>& r) {
                        D* o = pd + r.offset[0];
                        const S* a = ps + r.offset[1];
                        if (r.stride[0] == 1 && r.stride[1] == 1) {
                          for (int64_t i = 0; i < r.length; ++i) o[i] = static_cast<D>(a[i]);
                        } else {
                          for (int64_t i = 0; i < r.length; ++i) o[i * r.stride[0]] = static_cast<D>(a[i * r.stride[1]]);
                        }
                      });
    });
  });
}

void fill(const Tensor& dst, double value) {
  FOVEA_DISPATCH_ALL(dst.dtype(), "fill", [&] {
    using T = scalar_t;
    T* pd = dst.data<T>();
    const T v = static_cast<T>(value);
    for_each_run<1>(dst.shape(), {dst.strides()}, [&](const StridedRun<1>& r) {
      for (int64_t i = 0; i < r.length; ++i) pd[r.offset[0] + i * r.stride[0]] = v;
    });
  });
}

}  // namespace fovea::cpu
