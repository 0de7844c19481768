// CPU kernels of the ConvGRU cell's fused gate math (models/convgru_kernels.h): one parallel
// loop per stage over the (sample, hidden channel, position) elements of the state, reading the
// z or r pre-activation straight out of the concatenated [N, 2·hid, P] gate tensor. The
// sigmoid is the engine's numerically stable form, so results match the unfused twin's ops.
#include <cmath>

#include "engine/dtype.h"
#include "engine/error.h"
#include "models/convgru_kernels.h"

namespace fovea::cpu {
namespace {

template <typename T>
T sigmoid_of(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

// State elements and the plane hid·P that separates a sample's z and r pre-activations.
struct Layout {
  int64_t numel, plane;
  int64_t z(int64_t i) const { return (i / plane) * 2 * plane + i % plane; }
};

Layout layout_of(const Tensor& h) { return {h.numel(), h.numel() == 0 ? 1 : h.size(1) * h.size(2)}; }

template <typename T>
void gates_forward(const Tensor& gates, const Tensor& h, const Tensor& rh) {
  const Layout l = layout_of(h);
  const T* a = gates.data<T>();
  const T* hv = h.data<T>();
  T* out = rh.data<T>();
#pragma omp parallel for schedule(static) if (l.numel > 32768)
  for (int64_t i = 0; i < l.numel; ++i) out[i] = sigmoid_of(a[l.z(i) + l.plane]) * hv[i];
}

template <typename T>
void gates_backward(const Tensor& gates, const Tensor& h, const Tensor& grad_rh, const Tensor& grad_gates,
                    const Tensor& grad_h) {
  const Layout l = layout_of(h);
  const T* a = gates.data<T>();
  const T* hv = h.data<T>();
  const T* g = grad_rh.data<T>();
  T* ga = grad_gates.data<T>();
  T* gh = grad_h.data<T>();
#pragma omp parallel for schedule(static) if (l.numel > 32768)
  for (int64_t i = 0; i < l.numel; ++i) {
    const int64_t zi = l.z(i);
    const T r = sigmoid_of(a[zi + l.plane]);
    ga[zi] = T(0);
    ga[zi + l.plane] = g[i] * hv[i] * r * (T(1) - r);
    gh[i] = g[i] * r;
  }
}

template <typename T>
void mix_forward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& out) {
  const Layout l = layout_of(h);
  const T* a = gates.data<T>();
  const T* ov = o.data<T>();
  const T* hv = h.data<T>();
  T* y = out.data<T>();
#pragma omp parallel for schedule(static) if (l.numel > 32768)
  for (int64_t i = 0; i < l.numel; ++i) {
    const T z = sigmoid_of(a[l.z(i)]);
    y[i] = hv[i] * (T(1) - z) + std::tanh(ov[i]) * z;
  }
}

template <typename T>
void mix_backward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& grad_out,
                  const Tensor& grad_gates, const Tensor& grad_o, const Tensor& grad_h) {
  const Layout l = layout_of(h);
  const T* a = gates.data<T>();
  const T* ov = o.data<T>();
  const T* hv = h.data<T>();
  const T* g = grad_out.data<T>();
  T* ga = grad_gates.data<T>();
  T* go = grad_o.data<T>();
  T* gh = grad_h.data<T>();
#pragma omp parallel for schedule(static) if (l.numel > 32768)
  for (int64_t i = 0; i < l.numel; ++i) {
    const int64_t zi = l.z(i);
    const T z = sigmoid_of(a[zi]);
    const T t = std::tanh(ov[i]);
    ga[zi] = g[i] * (t - hv[i]) * z * (T(1) - z);
    ga[zi + l.plane] = T(0);
    go[i] = g[i] * z * (T(1) - t * t);
    gh[i] = g[i] * (T(1) - z);
  }
}

}  // namespace

void convgru_gates_forward(const Tensor& gates, const Tensor& h, const Tensor& rh) {
  FOVEA_DISPATCH_FLOAT(h.dtype(), "convgru", [&] { gates_forward<scalar_t>(gates, h, rh); });
}

void convgru_gates_backward(const Tensor& gates, const Tensor& h, const Tensor& grad_rh, const Tensor& grad_gates,
                            const Tensor& grad_h) {
  FOVEA_DISPATCH_FLOAT(h.dtype(), "convgru", [&] { gates_backward<scalar_t>(gates, h, grad_rh, grad_gates, grad_h); });
}

void convgru_mix_forward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(h.dtype(), "convgru", [&] { mix_forward<scalar_t>(gates, o, h, out); });
}

void convgru_mix_backward(const Tensor& gates, const Tensor& o, const Tensor& h, const Tensor& grad_out,
                          const Tensor& grad_gates, const Tensor& grad_o, const Tensor& grad_h) {
  FOVEA_DISPATCH_FLOAT(h.dtype(), "convgru",
                       [&] { mix_backward<scalar_t>(gates, o, h, grad_out, grad_gates, grad_o, grad_h); });
}

}  // namespace fovea::cpu
