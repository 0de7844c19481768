// Pooling kernels; semantics and summation orders match engine/cpu/pool.cpp, so results equal
// the CPU's.
//   max_pool_forward_kernel, avg_pool_forward_kernel: a thread per output element, reading
//     its depth, height and width windows in the CPU's order.
//   max_pool_backward_kernel: a thread per plane zeroes its plane and adds grad_out at the
//     recorded indices in output order; only the plane's thread writes it, so overlapping
//     windows cannot race and sums are deterministic.
//   avg_pool_backward_kernel: a thread per input element gathers the shares of the outputs
//     whose windows contain it, in output order (the CPU's accumulation order).
#include <cmath>

#include "kernels/common.h"
#include "kernels/pool.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

struct Window {
  int64_t start, count, step, divisor;
};

__device__ inline Window window_at(const int64_t* windows, PoolShape s, int dim, int64_t o) {
  int64_t first = 0;
  for (int d = 0; d < dim; ++d) first += s.out[d];
  const int64_t* w = windows + (first + o) * 4;
  return {w[0], w[1], w[2], w[3]};
}

__device__ inline bool contains(Window w, int64_t position) {
  const int64_t offset = position - w.start;
  return offset >= 0 && offset % w.step == 0 && offset / w.step < w.count;
}

// An output element's plane and its three windows.
struct OutputWindows {
  int64_t plane;
  Window d, h, w;
};

__device__ inline OutputWindows output_windows(const int64_t* windows, PoolShape s, int64_t o) {
  const int64_t ow = o % s.out[2], oh = o / s.out[2] % s.out[1], od = o / (s.out[2] * s.out[1]) % s.out[0];
  return {o / (s.out[0] * s.out[1] * s.out[2]), window_at(windows, s, 0, od), window_at(windows, s, 1, oh),
          window_at(windows, s, 2, ow)};
}

template <typename T>
__global__ void max_pool_forward_kernel(const T* x, PoolShape s, const int64_t* windows, T* out, int64_t* indices) {
  const int64_t n = s.planes * s.out[0] * s.out[1] * s.out[2], in_h = s.in[1], in_w = s.in[2];
  for (int64_t o = first_index(); o < n; o += grid_stride()) {
    const OutputWindows ow = output_windows(windows, s, o);
    const T* plane = x + ow.plane * s.in[0] * in_h * in_w;
    T best = static_cast<T>(-INFINITY);
    int64_t best_index = (ow.d.start * in_h + ow.h.start) * in_w + ow.w.start;
    for (int64_t a = 0; a < ow.d.count; ++a)
      for (int64_t b = 0; b < ow.h.count; ++b) {
        const int64_t row = ((ow.d.start + a * ow.d.step) * in_h + ow.h.start + b * ow.h.step) * in_w + ow.w.start;
        for (int64_t c = 0; c < ow.w.count; ++c) {
          const int64_t i = row + c * ow.w.step;
          const T v = plane[i];
          if (v > best || isnan(v)) {
            best = v;
            best_index = i;
          }
        }
      }
    out[o] = best;
    indices[o] = best_index;
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(const T* grad_out, const int64_t* indices, int64_t planes, int64_t in_plane,
                                         int64_t out_plane, T* grad_x) {
  for (int64_t p = first_index(); p < planes; p += grid_stride()) {
    T* plane = grad_x + p * in_plane;
    for (int64_t i = 0; i < in_plane; ++i) plane[i] = T(0);
    for (int64_t o = p * out_plane; o < (p + 1) * out_plane; ++o) plane[indices[o]] += grad_out[o];
  }
}

template <typename T>
__global__ void avg_pool_forward_kernel(const T* x, PoolShape s, const int64_t* windows, T* out) {
  const int64_t n = s.planes * s.out[0] * s.out[1] * s.out[2], in_h = s.in[1], in_w = s.in[2];
  for (int64_t o = first_index(); o < n; o += grid_stride()) {
    const OutputWindows ow = output_windows(windows, s, o);
    const T* plane = x + ow.plane * s.in[0] * in_h * in_w;
    double sum = 0;
    for (int64_t a = 0; a < ow.d.count; ++a)
      for (int64_t b = 0; b < ow.h.count; ++b) {
        const int64_t row = ((ow.d.start + a * ow.d.step) * in_h + ow.h.start + b * ow.h.step) * in_w + ow.w.start;
        for (int64_t c = 0; c < ow.w.count; ++c) sum += plane[row + c * ow.w.step];
      }
    out[o] = static_cast<T>(sum / static_cast<double>(ow.d.divisor * ow.h.divisor * ow.w.divisor));
  }
}

// The first and one-past-last outputs along `dim` whose windows contain `position`; strided
// windows may leave outputs between them that do not.
struct OutputRange {
  int64_t begin, end;
};

__device__ inline OutputRange outputs_containing(const int64_t* windows, PoolShape s, int dim, int64_t position) {
  OutputRange r{0, 0};
  bool found = false;
  for (int64_t o = 0; o < s.out[dim]; ++o) {
    if (!contains(window_at(windows, s, dim, o), position)) continue;
    if (!found) r.begin = o;
    found = true;
    r.end = o + 1;
  }
  return r;
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* grad_out, PoolShape s, const int64_t* windows, T* grad_x) {
  const int64_t n = s.planes * s.in[0] * s.in[1] * s.in[2];
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const int64_t x_w = i % s.in[2], x_h = i / s.in[2] % s.in[1], x_d = i / (s.in[2] * s.in[1]) % s.in[0];
    const int64_t plane = i / (s.in[0] * s.in[1] * s.in[2]);
    const T* g = grad_out + plane * s.out[0] * s.out[1] * s.out[2];
    const OutputRange rd = outputs_containing(windows, s, 0, x_d), rh = outputs_containing(windows, s, 1, x_h),
                      rw = outputs_containing(windows, s, 2, x_w);
    T sum = T(0);
    for (int64_t od = rd.begin; od < rd.end; ++od) {
      const Window wd = window_at(windows, s, 0, od);
      if (!contains(wd, x_d)) continue;
      for (int64_t oh = rh.begin; oh < rh.end; ++oh) {
        const Window wh = window_at(windows, s, 1, oh);
        if (!contains(wh, x_h)) continue;
        for (int64_t ow = rw.begin; ow < rw.end; ++ow) {
          const Window ww = window_at(windows, s, 2, ow);
          if (!contains(ww, x_w)) continue;
          sum += g[(od * s.out[1] + oh) * s.out[2] + ow] / static_cast<T>(wd.divisor * wh.divisor * ww.divisor);
        }
      }
    }
    grad_x[i] = sum;
  }
}

}  // namespace

cudaError_t launch_max_pool_forward(ElementType type, const void* x, PoolShape s, const int64_t* windows, void* out,
                                    int64_t* indices, cudaStream_t stream) {
  const int64_t n = s.planes * s.out[0] * s.out[1] * s.out[2];
  if (n == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(max_pool_forward_kernel<T>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<const T*>(x), s, windows, static_cast<T*>(out), indices);
  });
}

cudaError_t launch_max_pool_backward(ElementType type, const void* grad_out, const int64_t* indices, int64_t planes,
                                     int64_t in_plane, int64_t out_plane, void* grad_x, cudaStream_t stream) {
  if (planes * in_plane == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(max_pool_backward_kernel<T>, dim3(grid_for(planes, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<const T*>(grad_out), indices, planes, in_plane, out_plane,
                         static_cast<T*>(grad_x));
  });
}

cudaError_t launch_avg_pool_forward(ElementType type, const void* x, PoolShape s, const int64_t* windows, void* out,
                                    cudaStream_t stream) {
  const int64_t n = s.planes * s.out[0] * s.out[1] * s.out[2];
  if (n == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(avg_pool_forward_kernel<T>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<const T*>(x), s, windows, static_cast<T*>(out));
  });
}

cudaError_t launch_avg_pool_backward(ElementType type, const void* grad_out, PoolShape s, const int64_t* windows,
                                     void* grad_x, cudaStream_t stream) {
  const int64_t n = s.planes * s.in[0] * s.in[1] * s.in[2];
  if (n == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(avg_pool_backward_kernel<T>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<const T*>(grad_out), s, windows, static_cast<T*>(grad_x));
  });
}

}  // namespace fovea::kernels
