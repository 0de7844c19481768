// Batch normalisation kernels: one channel per loop iteration, walking its N rows of L.
#include "engine/cpu/norm.h"

#include "engine/error.h"

namespace fovea::cpu {
namespace {

struct Layout {
  int64_t batch, channels, length;
};

Layout layout_of(const Tensor& x) { return {x.size(0), x.size(1), x.size(2)}; }

template <typename T>
void stats_typed(const T* x, Layout s, T* mean, T* var) {
  const double count = static_cast<double>(s.batch * s.length);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < s.channels; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const T* row = x + (n * s.channels + c) * s.length;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < s.length; ++i) sum += row[i];
    }
    const double m = sum / count;
    double squares = 0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const T* row = x + (n * s.channels + c) * s.length;
#pragma omp simd reduction(+ : squares)
      for (int64_t i = 0; i < s.length; ++i) squares += (row[i] - m) * (row[i] - m);
    }
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(squares / count);
  }
}

template <typename T>
void apply_typed(const T* x, Layout s, const T* mean, const T* invstd, const T* weight, const T* bias, T* out) {
  const int64_t rows = s.batch * s.channels;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % s.channels;
    const T scale = invstd[c] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
    const T* src = x + r * s.length;
    T* dst = out + r * s.length;
#pragma omp simd
    for (int64_t i = 0; i < s.length; ++i) dst[i] = src[i] * scale + shift;
  }
}

template <typename T>
void backward_typed(const T* grad_out, const T* x, Layout s, const T* mean, const T* invstd, const T* weight,
                    bool batch_stats, T* grad_x, T* grad_weight, T* grad_bias) {
  const double count = static_cast<double>(s.batch * s.length);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < s.channels; ++c) {
    const double m = mean[c], inv = invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const T* dy = grad_out + (n * s.channels + c) * s.length;
      const T* row = x + (n * s.channels + c) * s.length;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
      for (int64_t i = 0; i < s.length; ++i) {
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (row[i] - m) * inv;
      }
    }
    if (grad_weight) grad_weight[c] = static_cast<T>(sum_dy_xhat);
    if (grad_bias) grad_bias[c] = static_cast<T>(sum_dy);
    if (!grad_x) continue;
    const double scale = inv * (weight ? static_cast<double>(weight[c]) : 1.0);
    const double mean_dy = batch_stats ? sum_dy / count : 0.0;
    const double mean_dy_xhat = batch_stats ? sum_dy_xhat / count : 0.0;
    for (int64_t n = 0; n < s.batch; ++n) {
      const T* dy = grad_out + (n * s.channels + c) * s.length;
      const T* row = x + (n * s.channels + c) * s.length;
      T* dx = grad_x + (n * s.channels + c) * s.length;
#pragma omp simd
      for (int64_t i = 0; i < s.length; ++i)
        dx[i] = static_cast<T>(scale * (dy[i] - mean_dy - (row[i] - m) * inv * mean_dy_xhat));
    }
  }
}

template <typename T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& var) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    stats_typed<scalar_t>(x.data<scalar_t>(), layout_of(x), mean.data<scalar_t>(), var.data<scalar_t>());
  });
}

void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&] {
    apply_typed<scalar_t>(x.data<scalar_t>(), layout_of(x), mean.data<scalar_t>(), invstd.data<scalar_t>(),
                          data_or_null<scalar_t>(weight), data_or_null<scalar_t>(bias), out.data<scalar_t>());
  });
}

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, bool batch_stats, const Tensor& grad_x, const Tensor& grad_weight,
                         const Tensor& grad_bias) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "batch_norm backward", [&] {
    backward_typed<scalar_t>(grad_out.data<scalar_t>(), x.data<scalar_t>(), layout_of(x), mean.data<scalar_t>(),
                             invstd.data<scalar_t>(), data_or_null<scalar_t>(weight), batch_stats,
                             data_or_null<scalar_t>(grad_x), data_or_null<scalar_t>(grad_weight),
                             data_or_null<scalar_t>(grad_bias));
  });
}

}  // namespace fovea::cpu
