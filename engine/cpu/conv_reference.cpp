// The direct convolution loops behind engine/cpu/conv_reference.h.
#include "engine/cpu/conv_reference.h"

namespace fovea::cpu {
namespace {

// Input coordinate read by output o at kernel tap k along dim d, or -1 in the padding.
int64_t input_at(const ConvGeometry& g, int d, int64_t o, int64_t k) {
  const int64_t i = o * g.stride[d] - g.padding[d] + k * g.dilation[d];
  return i >= 0 && i < g.in[d] ? i : -1;
}

// Output coordinate that reads input i at tap k along dim d, or -1 when none does.
int64_t output_at(const ConvGeometry& g, int d, int64_t i, int64_t k) {
  const int64_t t = i + g.padding[d] - k * g.dilation[d];
  if (t < 0 || t % g.stride[d] != 0 || t / g.stride[d] >= g.out[d]) return -1;
  return t / g.stride[d];
}

int64_t input_index(const ConvGeometry& g, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * g.in_channels + c) * g.in[0] + d) * g.in[1] + h) * g.in[2] + w;
}

int64_t output_index(const ConvGeometry& g, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * g.out_channels + c) * g.out[0] + d) * g.out[1] + h) * g.out[2] + w;
}

int64_t weight_index(const ConvGeometry& g, int64_t co, int64_t c, int64_t kd, int64_t kh, int64_t kw) {
  return (((co * (g.in_channels / g.groups) + c) * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw;
}

template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
double output_typed(const T* x, const T* w, const T* bias, const ConvGeometry& g, int64_t n,
                    int64_t co, int64_t od, int64_t oh, int64_t ow) {
  const int64_t cin_g = g.in_channels / g.groups, grp = co / (g.out_channels / g.groups);
  double acc = bias ? static_cast<double>(bias[co]) : 0.0;
  for (int64_t c = 0; c < cin_g; ++c)
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t id = input_at(g, 0, od, kd), ih = input_at(g, 1, oh, kh), iw = input_at(g, 2, ow, kw);
          if (id < 0 || ih < 0 || iw < 0) continue;
          const int64_t ci = grp * cin_g + c;
          acc += static_cast<double>(x[input_index(g, n, ci, id, ih, iw)]) *
                 static_cast<double>(w[weight_index(g, co, c, kd, kh, kw)]);
        }
  return acc;
}

template <typename T>
double grad_input_typed(const T* go, const T* w, const ConvGeometry& g, int64_t n, int64_t ci, int64_t id,
                        int64_t ih, int64_t iw) {
  const int64_t cin_g = g.in_channels / g.groups, cout_g = g.out_channels / g.groups, grp = ci / cin_g;
  double acc = 0;
  for (int64_t co = grp * cout_g; co < (grp + 1) * cout_g; ++co)
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t od = output_at(g, 0, id, kd), oh = output_at(g, 1, ih, kh), ow = output_at(g, 2, iw, kw);
          if (od < 0 || oh < 0 || ow < 0) continue;
          acc += static_cast<double>(go[output_index(g, n, co, od, oh, ow)]) *
                 static_cast<double>(w[weight_index(g, co, ci - grp * cin_g, kd, kh, kw)]);
        }
  return acc;
}

template <typename T>
double grad_weight_typed(const T* go, const T* x, const ConvGeometry& g, int64_t co, int64_t c, int64_t kd,
                         int64_t kh, int64_t kw) {
  const int64_t cin_g = g.in_channels / g.groups, ci = co / (g.out_channels / g.groups) * cin_g + c;
  double acc = 0;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          const int64_t id = input_at(g, 0, od, kd), ih = input_at(g, 1, oh, kh), iw = input_at(g, 2, ow, kw);
          if (id < 0 || ih < 0 || iw < 0) continue;
          acc += static_cast<double>(go[output_index(g, n, co, od, oh, ow)]) *
                 static_cast<double>(x[input_index(g, n, ci, id, ih, iw)]);
        }
  return acc;
}

// Calls fn(index, coordinates...) for every element of a [A, B, C, D, E] box, in parallel.
template <typename Fn>
void for_each_5d(const std::array<int64_t, 5>& sizes, Fn&& fn) {
  int64_t total = 1;
  for (int64_t s : sizes) total *= s;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) {
    int64_t rest = i;
    std::array<int64_t, 5> c{};
    for (int d = 4; d >= 0; --d) {
      c[d] = rest % sizes[d];
      rest /= sizes[d];
    }
    fn(i, c);
  }
}

template <typename T>
void forward_reference_typed(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                             const Tensor& out) {
  T* o = out.data<T>();
  const T *px = x.data<T>(), *pw = w.data<T>(), *pb = data_or_null<T>(bias);
  for_each_5d({g.batch, g.out_channels, g.out[0], g.out[1], g.out[2]}, [&](int64_t i, const std::array<int64_t, 5>& c) {
    o[i] = static_cast<T>(output_typed<T>(px, pw, pb, g, c[0], c[1], c[2], c[3], c[4]));
  });
}

template <typename T>
void backward_reference_typed(const Tensor& grad_out, const Tensor& x, const Tensor& w, const ConvGeometry& g,
                              const Tensor& grad_x, const Tensor& grad_w) {
  const T *go = grad_out.data<T>(), *px = x.data<T>(), *pw = w.data<T>();
  if (grad_x.defined()) {
    T* gx = grad_x.data<T>();
    for_each_5d({g.batch, g.in_channels, g.in[0], g.in[1], g.in[2]}, [&](int64_t i, const std::array<int64_t, 5>& c) {
      gx[i] = static_cast<T>(grad_input_typed<T>(go, pw, g, c[0], c[1], c[2], c[3], c[4]));
    });
  }
  if (grad_w.defined()) {
    T* gw = grad_w.data<T>();
    for_each_5d({g.out_channels, g.in_channels / g.groups, g.kernel[0], g.kernel[1], g.kernel[2]},
                [&](int64_t i, const std::array<int64_t, 5>& c) {
                  gw[i] = static_cast<T>(grad_weight_typed<T>(go, px, g, c[0], c[1], c[2], c[3], c[4]));
                });
  }
}

}  // namespace

double conv_output_at(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g, int64_t n,
                      int64_t co, int64_t od, int64_t oh, int64_t ow) {
  double result = 0;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv_reference", [&] {
    result = output_typed<scalar_t>(x.data<scalar_t>(), weight.data<scalar_t>(), data_or_null<scalar_t>(bias), g, n,
                                    co, od, oh, ow);
  });
  return result;
}

double conv_grad_input_at(const Tensor& grad_out, const Tensor& weight, const ConvGeometry& g, int64_t n,
                          int64_t ci, int64_t id, int64_t ih, int64_t iw) {
  double result = 0;
  FOVEA_DISPATCH_FLOAT(grad_out.dtype(), "conv_reference", [&] {
    result = grad_input_typed<scalar_t>(grad_out.data<scalar_t>(), weight.data<scalar_t>(), g, n, ci, id, ih, iw);
  });
  return result;
}

double conv_grad_weight_at(const Tensor& grad_out, const Tensor& x, const ConvGeometry& g, int64_t co, int64_t c,
                           int64_t kd, int64_t kh, int64_t kw) {
  double result = 0;
  FOVEA_DISPATCH_FLOAT(grad_out.dtype(), "conv_reference", [&] {
    result = grad_weight_typed<scalar_t>(grad_out.data<scalar_t>(), x.data<scalar_t>(), g, co, c, kd, kh, kw);
  });
  return result;
}

void conv_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g,
                            const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv_reference",
                       [&] { forward_reference_typed<scalar_t>(x, weight, bias, g, out); });
}

void conv_backward_reference(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                             const Tensor& grad_x, const Tensor& grad_weight) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv_reference",
                       [&] { backward_reference_typed<scalar_t>(grad_out, x, weight, g, grad_x, grad_weight); });
}

}  // namespace fovea::cpu
