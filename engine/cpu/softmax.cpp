// CPU softmax / log_softmax (max-subtracted, sums accumulated in double) and the gather and
// scatter kernels of the negative log-likelihood loss.
#include "engine/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace fovea::cpu {

void raise_nll_target_error(int64_t value, int64_t position, int64_t classes, int64_t ignore_index) {
  FOVEA_FAIL("nll_loss", "target value ", value, " at flat position ", position, " is out of range for ", classes,
             " classes (expected a value in [0, ", classes - 1, "] or ignore_index ", ignore_index, ")");
}
namespace {

constexpr int64_t kParallelElements = 32768;
// Columns of the inner dim handled together when the softmax dim is not the last one.
constexpr int64_t kColumnBlock = 256;

template <typename T>
void softmax_row(const T* in, T* out, int64_t length, bool log) {
  T max_value = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < length; ++i) max_value = std::max(max_value, in[i]);
  double total = 0;
  for (int64_t i = 0; i < length; ++i) {
    const T e = std::exp(in[i] - max_value);
    total += e;
    if (!log) out[i] = e;
  }
  if (log) {
    const T shift = max_value + static_cast<T>(std::log(total));
    for (int64_t i = 0; i < length; ++i) out[i] = in[i] - shift;
  } else {
    const T inverse = static_cast<T>(1.0 / total);
    for (int64_t i = 0; i < length; ++i) out[i] *= inverse;
  }
}

// Softmax down `width` columns of a [length, inner] slab (element (l, c) at l·inner + c).
template <typename T>
void softmax_columns(const T* in, T* out, int64_t length, int64_t inner, int64_t width, bool log) {
  T max_value[kColumnBlock];
  double total[kColumnBlock];
  std::fill_n(max_value, width, -std::numeric_limits<T>::infinity());
  std::fill_n(total, width, 0.0);
  for (int64_t l = 0; l < length; ++l)
    for (int64_t c = 0; c < width; ++c) max_value[c] = std::max(max_value[c], in[l * inner + c]);
  for (int64_t l = 0; l < length; ++l)
    for (int64_t c = 0; c < width; ++c) {
      const T e = std::exp(in[l * inner + c] - max_value[c]);
      total[c] += e;
      if (!log) out[l * inner + c] = e;
    }
  for (int64_t c = 0; c < width; ++c)
    total[c] = log ? max_value[c] + std::log(total[c]) : 1.0 / total[c];
  for (int64_t l = 0; l < length; ++l)
    for (int64_t c = 0; c < width; ++c) {
      const T factor = static_cast<T>(total[c]);
      out[l * inner + c] = log ? in[l * inner + c] - factor : out[l * inner + c] * factor;
    }
}

template <typename T>
void softmax_typed(const T* src, T* dst, int64_t outer, int64_t length, int64_t inner, bool log) {
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t tasks = outer * blocks;
  const bool parallel = tasks > 1 && outer * length * inner > kParallelElements;
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t o = task / blocks, first_column = (task % blocks) * kColumnBlock;
    const T* in = src + o * length * inner + first_column;
    T* out = dst + o * length * inner + first_column;
    if (inner == 1)
      softmax_row(in, out, length, log);
    else
      softmax_columns(in, out, length, inner, std::min(kColumnBlock, inner - first_column), log);
  }
}

template <typename T, typename Index>
int64_t nll_forward_typed(const T* log_probs, const Index* target, int64_t samples, int64_t classes, int64_t inner,
                          int64_t ignore_index, T* losses) {
  int64_t counted = 0;
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t t = target[i];
    if (t == ignore_index) {
      losses[i] = 0;
      continue;
    }
    if (t < 0 || t >= classes) raise_nll_target_error(t, i, classes, ignore_index);
    const int64_t n = i / inner, s = i % inner;
    losses[i] = -log_probs[(n * classes + t) * inner + s];
    ++counted;
  }
  return counted;
}

template <typename T, typename Index>
void nll_backward_typed(const Index* target, const T* grad_losses, bool single_grad, double scale, int64_t samples,
                        int64_t classes, int64_t inner, int64_t ignore_index, T* grad_input) {
#pragma omp parallel for if (samples > kParallelElements) schedule(static)
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t t = target[i];
    if (t == ignore_index) continue;
    const int64_t n = i / inner, s = i % inner;
    grad_input[(n * classes + t) * inner + s] = static_cast<T>(-scale * grad_losses[single_grad ? 0 : i]);
  }
}

}  // namespace

void softmax(const Tensor& in, int64_t outer, int64_t length, int64_t inner, bool log, const Tensor& out) {
  if (in.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(in.dtype(), log ? "log_softmax" : "softmax", [&] {
    softmax_typed<scalar_t>(in.data<scalar_t>(), out.data<scalar_t>(), outer, length, inner, log);
  });
}

int64_t nll_forward(const Tensor& log_probs, const Tensor& target, int64_t classes, int64_t inner,
                    int64_t ignore_index, const Tensor& losses) {
  int64_t counted = 0;
  FOVEA_DISPATCH_INDEX(target.dtype(), "nll_loss", [&] {
    using index_t = scalar_t;
    FOVEA_DISPATCH_FLOAT(log_probs.dtype(), "nll_loss", [&] {
      counted = nll_forward_typed<scalar_t, index_t>(log_probs.data<scalar_t>(), target.data<index_t>(),
                                                     target.numel(), classes, inner, ignore_index,
                                                     losses.data<scalar_t>());
    });
  });
  return counted;
}

void nll_backward(const Tensor& target, const Tensor& grad_losses, double scale, int64_t classes, int64_t inner,
                  int64_t ignore_index, const Tensor& grad_input) {
  FOVEA_DISPATCH_INDEX(target.dtype(), "nll_loss", [&] {
    using index_t = scalar_t;
    FOVEA_DISPATCH_FLOAT(grad_input.dtype(), "nll_loss", [&] {
      nll_backward_typed<scalar_t, index_t>(target.data<index_t>(), grad_losses.data<scalar_t>(),
                                            grad_losses.numel() == 1, scale, target.numel(), classes, inner,
                                            ignore_index, grad_input.data<scalar_t>());
    });
  });
}

}  // namespace fovea::cpu
