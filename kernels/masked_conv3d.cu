// Masked convolution kernels for models/masked_conv3d_cuda.cpp; semantics match
// models/masked_conv3d_cpu.cpp. Grid-stride loops with one thread per element written:
// vol2col per column entry of the tile, col2vol per input element (gathering its entries in a
// fixed (kd, kh, kw) order: deterministic without atomics), the bias fill per output element,
// the scatter and gather per tile-matrix element.
#include "kernels/common.h"
#include "kernels/masked_conv3d.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void masked_vol2col_kernel(T* cols, const T* x, const T* masks, const int64_t* mask_index,
                                      const int64_t* columns, ConvShape g, int64_t j0, int64_t count) {
  const int64_t plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t kernel_volume = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t total = g.in_channels * kernel_volume * count;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t row = i / count, j = i % count;
    const int64_t kw = row % g.kernel[2], kh = row / g.kernel[2] % g.kernel[1];
    const int64_t kd = row / (g.kernel[2] * g.kernel[1]) % g.kernel[0], ci = row / kernel_volume;
    const int64_t pos = columns[j0 + j], n = pos / plane, p = pos % plane;
    const int64_t ow = p % g.out[2], oh = p / g.out[2] % g.out[1], od = p / (g.out[2] * g.out[1]);
    const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
    const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
    const int64_t iw = ow * g.stride[2] - g.padding[2] + kw * g.dilation[2];
    T v = T(0);
    if (id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2] &&
        masks[(mask_index[n] * g.in[1] + ih) * g.in[2] + iw] != T(0))
      v = x[(((n * g.in_channels + ci) * g.in[0] + id) * g.in[1] + ih) * g.in[2] + iw];
    cols[i] = v;
  }
}

__device__ inline int64_t masked_source_position(int64_t in_pos, int64_t k, int64_t stride, int64_t padding,
                                                 int64_t dilation, int64_t out) {
  const int64_t t = in_pos + padding - k * dilation;
  if (t < 0 || t % stride != 0 || t / stride >= out) return -1;
  return t / stride;
}

template <typename T>
__global__ void masked_col2vol_kernel(T* grad_x, const T* cols, const T* masks, const int64_t* mask_index,
                                      const int64_t* column_of, ConvShape g, int64_t batch, int64_t j0,
                                      int64_t count) {
  const int64_t plane = g.out[0] * g.out[1] * g.out[2];
  const int64_t in_plane = g.in[0] * g.in[1] * g.in[2];
  const int64_t total = batch * g.in_channels * in_plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t iw = i % g.in[2], ih = i / g.in[2] % g.in[1], id = i / (g.in[2] * g.in[1]) % g.in[0];
    const int64_t ci = i / in_plane % g.in_channels, n = i / (in_plane * g.in_channels);
    if (masks[(mask_index[n] * g.in[1] + ih) * g.in[2] + iw] == T(0)) continue;
    T sum = T(0);
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t od = masked_source_position(id, kd, g.stride[0], g.padding[0], g.dilation[0], g.out[0]);
      if (od < 0) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t oh = masked_source_position(ih, kh, g.stride[1], g.padding[1], g.dilation[1], g.out[1]);
        if (oh < 0) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t ow = masked_source_position(iw, kw, g.stride[2], g.padding[2], g.dilation[2], g.out[2]);
          if (ow < 0) continue;
          const int64_t j = column_of[n * plane + (od * g.out[1] + oh) * g.out[2] + ow];
          if (j < j0 || j >= j0 + count) continue;
          const int64_t row = ((ci * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] + kw;
          sum += cols[row * count + (j - j0)];
        }
      }
    }
    grad_x[i] += sum;
  }
}

template <typename T>
__global__ void masked_fill_bias_kernel(T* out, const T* bias, int64_t batch, int64_t channels, int64_t plane) {
  const int64_t total = batch * channels * plane;
  for (int64_t i = first_index(); i < total; i += grid_stride()) out[i] = bias ? bias[i / plane % channels] : T(0);
}

template <typename T>
__global__ void masked_scatter_kernel(T* out, const T* result, const int64_t* columns, int64_t channels,
                                      int64_t plane, int64_t j0, int64_t count) {
  const int64_t total = channels * count;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t c = i / count, j = i % count, pos = columns[j0 + j];
    out[(pos / plane * channels + c) * plane + pos % plane] += result[i];
  }
}

template <typename T>
__global__ void masked_gather_kernel(T* matrix, const T* grad_out, const int64_t* columns, int64_t channels,
                                     int64_t plane, int64_t j0, int64_t count) {
  const int64_t total = channels * count;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t c = i / count, j = i % count, pos = columns[j0 + j];
    matrix[i] = grad_out[(pos / plane * channels + c) * plane + pos % plane];
  }
}

template <typename Fn>
cudaError_t for_float(ElementType type, int64_t total, Fn&& fn) {
  if (total == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) { return fn(tag, dim3(grid_for(total, kThreads)), dim3(kThreads)); });
}

}  // namespace

cudaError_t launch_masked_vol2col(ElementType type, void* cols, const void* x, const void* masks,
                                  const int64_t* mask_index, const int64_t* columns, const ConvShape& shape,
                                  int64_t j0, int64_t count, cudaStream_t stream) {
  const int64_t total = shape.in_channels * shape.kernel[0] * shape.kernel[1] * shape.kernel[2] * count;
  return for_float(type, total, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(masked_vol2col_kernel<T>, grid, block, 0, stream, static_cast<T*>(cols),
                         static_cast<const T*>(x), static_cast<const T*>(masks), mask_index, columns, shape, j0, count);
  });
}

cudaError_t launch_masked_col2vol(ElementType type, void* grad_x, const void* cols, const void* masks,
                                  const int64_t* mask_index, const int64_t* column_of, const ConvShape& shape,
                                  int64_t batch, int64_t j0, int64_t count, cudaStream_t stream) {
  const int64_t total = batch * shape.in_channels * shape.in[0] * shape.in[1] * shape.in[2];
  return for_float(type, total, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(masked_col2vol_kernel<T>, grid, block, 0, stream, static_cast<T*>(grad_x),
                         static_cast<const T*>(cols), static_cast<const T*>(masks), mask_index, column_of, shape,
                         batch, j0, count);
  });
}

cudaError_t launch_masked_conv3d_fill_bias(ElementType type, void* out, const void* bias, int64_t batch,
                                           int64_t channels, int64_t plane, cudaStream_t stream) {
  return for_float(type, batch * channels * plane, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(masked_fill_bias_kernel<T>, grid, block, 0, stream, static_cast<T*>(out),
                         static_cast<const T*>(bias), batch, channels, plane);
  });
}

cudaError_t launch_masked_conv3d_scatter(ElementType type, void* out, const void* result, const int64_t* columns,
                                         int64_t channels, int64_t plane, int64_t j0, int64_t count,
                                         cudaStream_t stream) {
  return for_float(type, channels * count, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(masked_scatter_kernel<T>, grid, block, 0, stream, static_cast<T*>(out),
                         static_cast<const T*>(result), columns, channels, plane, j0, count);
  });
}

cudaError_t launch_masked_conv3d_gather(ElementType type, void* matrix, const void* grad_out, const int64_t* columns,
                                        int64_t channels, int64_t plane, int64_t j0, int64_t count,
                                        cudaStream_t stream) {
  return for_float(type, channels * count, [&](auto tag, dim3 grid, dim3 block) {
    using T = decltype(tag);
    return launch_kernel(masked_gather_kernel<T>, grid, block, 0, stream, static_cast<T*>(matrix),
                         static_cast<const T*>(grad_out), columns, channels, plane, j0, count);
  });
}

}  // namespace fovea::kernels
