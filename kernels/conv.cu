// Convolution kernels for the vol2col + cuBLAS path of engine/cuda/conv.cpp; semantics match
// engine/cpu/conv.cpp. Every kernel is a grid-stride loop with one thread per element it
// writes: vol2col per column entry, col2vol per input element (gathering its column entries in
// a fixed (kd, kh, kw) order, so results are deterministic without atomics), the tile copies
// per matrix element and the bias add per output element.
#include "kernels/common.h"
#include "kernels/conv.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void vol2col_kernel(T* cols, const T* x, ConvShape g, int64_t n0, int64_t samples) {
  const int64_t plane = g.out[0] * g.out[1] * g.out[2], columns = samples * plane;
  const int64_t kernel_volume = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t total = g.in_channels * kernel_volume * columns;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t row = i / columns, column = i % columns;
    const int64_t kw = row % g.kernel[2], kh = row / g.kernel[2] % g.kernel[1];
    const int64_t kd = row / (g.kernel[2] * g.kernel[1]) % g.kernel[0], ci = row / kernel_volume;
    const int64_t s = column / plane, p = column % plane;
    const int64_t ow = p % g.out[2], oh = p / g.out[2] % g.out[1], od = p / (g.out[2] * g.out[1]);
    const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
    const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
    const int64_t iw = ow * g.stride[2] - g.padding[2] + kw * g.dilation[2];
    const bool inside = id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
    cols[i] = inside ? x[(((n0 + s) * g.in_channels + ci) * g.in[0] + id) * g.in[1] * g.in[2] + ih * g.in[2] + iw]
                     : T(0);
  }
}

// Output position along one dim that reads input position `in_pos` through kernel tap `k`, or
// -1 if none does.
__device__ inline int64_t source_position(int64_t in_pos, int64_t k, int64_t stride, int64_t padding,
                                          int64_t dilation, int64_t out) {
  const int64_t t = in_pos + padding - k * dilation;
  if (t < 0 || t % stride != 0 || t / stride >= out) return -1;
  return t / stride;
}

template <typename T>
__global__ void col2vol_kernel(T* grad_x, const T* cols, ConvShape g, int64_t n0, int64_t samples) {
  const int64_t plane = g.out[0] * g.out[1] * g.out[2], columns = samples * plane;
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t total = samples * g.in_channels * in_plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t iw = i % g.in[2], ih = i / g.in[2] % g.in[1], id = i / (g.in[2] * g.in[1]) % g.in[0];
    const int64_t ci = i / in_plane % g.in_channels, s = i / (in_plane * g.in_channels);
    T sum = T(0);
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t od = source_position(id, kd, g.stride[0], g.padding[0], g.dilation[0], g.out[0]);
      if (od < 0) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t oh = source_position(ih, kh, g.stride[1], g.padding[1], g.dilation[1], g.out[1]);
        if (oh < 0) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t ow = source_position(iw, kw, g.stride[2], g.padding[2], g.dilation[2], g.out[2]);
          if (ow < 0) continue;
          const int64_t row = ((ci * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw;
          sum += cols[row * columns + s * plane + (od * g.out[1] + oh) * g.out[2] + ow];
        }
      }
    }
    grad_x[n0 * g.in_channels * in_plane + i] = sum;
  }
}

template <typename T>
__global__ void gather_tile_kernel(T* matrix, const T* tensor, int64_t channels, int64_t plane, int64_t n0,
                                   int64_t samples) {
  const int64_t total = channels * samples * plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t p = i % plane, s = i / plane % samples, c = i / (plane * samples);
    matrix[i] = tensor[((n0 + s) * channels + c) * plane + p];
  }
}

template <typename T>
__global__ void scatter_tile_kernel(T* tensor, const T* matrix, int64_t channels, int64_t plane, int64_t n0,
                                    int64_t samples) {
  const int64_t total = samples * channels * plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t p = i % plane, c = i / plane % channels, s = i / (plane * channels);
    tensor[n0 * channels * plane + i] = matrix[(c * samples + s) * plane + p];
  }
}

template <typename T>
__global__ void add_bias_kernel(T* out, const T* bias, int64_t batch, int64_t channels, int64_t plane) {
  const int64_t total = batch * channels * plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) out[i] += bias[i / plane % channels];
}

template <typename Fn>
cudaError_t for_float(ElementType type, int64_t total, Fn&& fn) {
  if (total == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) { return fn(tag, dim3(grid_for(total, kThreads)), dim3(kThreads)); });
}

}  // namespace

cudaError_t launch_vol2col(ElementType type, void* cols, const void* x, const ConvShape& shape, int64_t n0,
                           int64_t samples, cudaStream_t stream) {
  const int64_t total = shape.in_channels * shape.kernel[0] * shape.kernel[1] * shape.kernel[2] * samples *
                        shape.out[0] * shape.out[1] * shape.out[2];
  return for_float(type, total, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(vol2col_kernel<T>, grid, block, 0, stream, static_cast<T*>(cols), static_cast<const T*>(x),
                         shape, n0, samples);
  });
}

cudaError_t launch_col2vol(ElementType type, void* grad_x, const void* cols, const ConvShape& shape, int64_t n0,
                           int64_t samples, cudaStream_t stream) {
  const int64_t total = samples * shape.in_channels * shape.in[0] * shape.in[1] * shape.in[2];
  return for_float(type, total, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(col2vol_kernel<T>, grid, block, 0, stream, static_cast<T*>(grad_x),
                         static_cast<const T*>(cols), shape, n0, samples);
  });
}

cudaError_t launch_conv_gather_tile(ElementType type, void* matrix, const void* tensor, int64_t channels,
                                    int64_t plane, int64_t n0, int64_t samples, cudaStream_t stream) {
  return for_float(type, channels * samples * plane, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(gather_tile_kernel<T>, grid, block, 0, stream, static_cast<T*>(matrix),
                         static_cast<const T*>(tensor), channels, plane, n0, samples);
  });
}

cudaError_t launch_conv_scatter_tile(ElementType type, void* tensor, const void* matrix, int64_t channels,
                                     int64_t plane, int64_t n0, int64_t samples, cudaStream_t stream) {
  return for_float(type, channels * samples * plane, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(scatter_tile_kernel<T>, grid, block, 0, stream, static_cast<T*>(tensor),
                         static_cast<const T*>(matrix), channels, plane, n0, samples);
  });
}

cudaError_t launch_conv_add_bias(ElementType type, void* out, const void* bias, int64_t batch, int64_t channels,
                                 int64_t plane, cudaStream_t stream) {
  return for_float(type, batch * channels * plane, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(add_bias_kernel<T>, grid, block, 0, stream, static_cast<T*>(out),
                         static_cast<const T*>(bias), batch, channels, plane);
  });
}

}  // namespace fovea::kernels
