// Pooling kernels: planes (N·C) run in parallel and every thread writes only its own
// planes, so backward scatters need no atomics and sum in a fixed order.
#include "engine/cpu/pool.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "engine/error.h"

namespace fovea::cpu {
namespace {

struct PlaneSizes {
  int64_t planes, in_plane, out_plane;
};

PlaneSizes sizes_of(const Tensor& x, const PoolWindows& w) {
  return {x.size(0), w.in[0] * w.in[1] * w.in[2],
          static_cast<int64_t>(w.dims[0].size() * w.dims[1].size() * w.dims[2].size())};
}

// Calls fn(output index, flat input position) for every tap of every output of one plane.
template <typename Fn>
void for_each_window(const PoolWindows& w, Fn&& fn) {
  const int64_t in_h = w.in[1], in_w = w.in[2];
  int64_t o = 0;
  for (const PoolWindow& wd : w.dims[0])
    for (const PoolWindow& wh : w.dims[1])
      for (const PoolWindow& ww : w.dims[2]) {
        fn.begin(o, wd.divisor * wh.divisor * ww.divisor, (wd.start * in_h + wh.start) * in_w + ww.start);
        for (int64_t a = 0; a < wd.count; ++a)
          for (int64_t b = 0; b < wh.count; ++b) {
            const int64_t row = ((wd.start + a * wd.step) * in_h + wh.start + b * wh.step) * in_w + ww.start;
            for (int64_t c = 0; c < ww.count; ++c) fn.tap(row + c * ww.step);
          }
        fn.end();
        ++o;
      }
}

template <typename T>
struct MaxTaps {
  const T* in;
  T* out;
  int64_t* indices;
  int64_t o = 0, best_index = 0;
  T best = T(0);
  void begin(int64_t output, int64_t, int64_t first) {
    o = output;
    best = -std::numeric_limits<T>::infinity();
    best_index = first;
  }
  void tap(int64_t i) {
    const T v = in[i];
    if (v > best || std::isnan(v)) {
      best = v;
      best_index = i;
    }
  }
  void end() {
    out[o] = best;
    indices[o] = best_index;
  }
};

template <typename T>
struct AvgTaps {
  const T* in;
  T* out;
  int64_t o = 0, divisor = 1;
  double sum = 0;
  void begin(int64_t output, int64_t div, int64_t) {
    o = output;
    divisor = div;
    sum = 0;
  }
  void tap(int64_t i) { sum += in[i]; }
  void end() { out[o] = static_cast<T>(sum / static_cast<double>(divisor)); }
};

template <typename T>
struct AvgGradTaps {
  const T* grad_out;
  T* grad_in;
  T share = T(0);
  void begin(int64_t output, int64_t div, int64_t) { share = grad_out[output] / static_cast<T>(div); }
  void tap(int64_t i) { grad_in[i] += share; }
  void end() {}
};

template <typename T>
void max_forward_typed(const T* x, const PoolWindows& w, PlaneSizes s, T* out, int64_t* indices) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.planes; ++p)
    for_each_window(w, MaxTaps<T>{x + p * s.in_plane, out + p * s.out_plane, indices + p * s.out_plane});
}

template <typename T>
void max_backward_typed(const T* grad_out, const int64_t* indices, PlaneSizes s, T* grad_x) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* plane = grad_x + p * s.in_plane;
    std::memset(plane, 0, static_cast<size_t>(s.in_plane) * sizeof(T));
    for (int64_t o = 0; o < s.out_plane; ++o) plane[indices[p * s.out_plane + o]] += grad_out[p * s.out_plane + o];
  }
}

template <typename T>
void avg_forward_typed(const T* x, const PoolWindows& w, PlaneSizes s, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.planes; ++p) for_each_window(w, AvgTaps<T>{x + p * s.in_plane, out + p * s.out_plane});
}

template <typename T>
void avg_backward_typed(const T* grad_out, const PoolWindows& w, PlaneSizes s, T* grad_x) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* plane = grad_x + p * s.in_plane;
    std::memset(plane, 0, static_cast<size_t>(s.in_plane) * sizeof(T));
    for_each_window(w, AvgGradTaps<T>{grad_out + p * s.out_plane, plane});
  }
}

}  // namespace

void max_pool_forward(const Tensor& x, const PoolWindows& w, const Tensor& out, const Tensor& indices) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "max_pool", [&] {
    max_forward_typed<scalar_t>(x.data<scalar_t>(), w, sizes_of(x, w), out.data<scalar_t>(), indices.data<int64_t>());
  });
}

void max_pool_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x) {
  const PlaneSizes s{grad_x.size(0), grad_x.numel() / std::max<int64_t>(1, grad_x.size(0)),
                     grad_out.numel() / std::max<int64_t>(1, grad_x.size(0))};
  FOVEA_DISPATCH_FLOAT(grad_out.dtype(), "max_pool backward", [&] {
    max_backward_typed<scalar_t>(grad_out.data<scalar_t>(), indices.data<int64_t>(), s, grad_x.data<scalar_t>());
  });
}

void avg_pool_forward(const Tensor& x, const PoolWindows& w, const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "avg_pool", [&] {
    avg_forward_typed<scalar_t>(x.data<scalar_t>(), w, sizes_of(x, w), out.data<scalar_t>());
  });
}

void avg_pool_backward(const Tensor& grad_out, const PoolWindows& w, const Tensor& grad_x) {
  FOVEA_DISPATCH_FLOAT(grad_out.dtype(), "avg_pool backward", [&] {
    avg_backward_typed<scalar_t>(grad_out.data<scalar_t>(), w, sizes_of(grad_x, w), grad_x.data<scalar_t>());
  });
}

}  // namespace fovea::cpu
