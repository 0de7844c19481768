// Front-ends of the max, average and adaptive pools, 2-D and 3-D: argument checks, output
// sizes (PyTorch's formulas, ceil_mode included) and the per-dim windows that the kernels
// of engine/cpu/pool.h (or their CUDA twins) read. 2-D pools run as 3-D ones of depth 1.
#include <array>

#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {
namespace {

using Dims = std::array<int64_t, 3>;

struct PoolInput {
  Tensor planes;  // x as a contiguous [N·C, D, H, W]
  Shape batch;    // [N, C]
  Dims in{};
};

PoolInput pool_input(const Tensor& x, int64_t spatial, const char* op) {
  check_defined(x, op, "x");
  check_floating(x, op, "x");
  FOVEA_CHECK(x.dim() == spatial + 2, op, "expected a ", spatial + 2, "-D input ",
              spatial == 3 ? "[N, C, D, H, W]" : "[N, C, H, W]", ", got shape ", shape_str(x.shape()),
              x.dim() == spatial + 1 ? "; add a batch dim with unsqueeze(0)" : "");
  PoolInput p;
  p.batch = {x.size(0), x.size(1)};
  p.in = {1, 1, 1};
  for (int64_t d = 0; d < spatial; ++d) {
    p.in[3 - spatial + d] = x.size(2 + d);
    FOVEA_CHECK(x.size(2 + d) > 0, op, "input of shape ", shape_str(x.shape()), " has an empty spatial dim");
  }
  p.planes = x.detach().contiguous().reshape({x.size(0) * x.size(1), p.in[0], p.in[1], p.in[2]});
  return p;
}

Dims per_dim(const Shape& values, int64_t spatial, int64_t depth_value, const char* op, const char* name) {
  FOVEA_CHECK(values.size() == 1 || static_cast<int64_t>(values.size()) == spatial, op, "'", name,
              "' must hold 1 or ", spatial, " values, got ", values.size(), " (", shape_str(values), ")");
  Dims out{depth_value, depth_value, depth_value};
  for (int64_t d = 0; d < spatial; ++d) out[3 - spatial + d] = values.size() == 1 ? values[0] : values[d];
  return out;
}

struct PoolParams {
  Dims kernel{}, stride{}, padding{}, dilation{};
};

PoolParams pool_params(const Shape& kernel, const Shape& stride, const Shape& padding, const Shape& dilation,
                       int64_t spatial, const char* op) {
  PoolParams p;
  p.kernel = per_dim(kernel, spatial, 1, op, "kernel_size");
  p.stride = stride.empty() ? p.kernel : per_dim(stride, spatial, 1, op, "stride");
  p.padding = per_dim(padding, spatial, 0, op, "padding");
  p.dilation = per_dim(dilation, spatial, 1, op, "dilation");
  for (int d = 3 - static_cast<int>(spatial); d < 3; ++d) {
    FOVEA_CHECK(p.kernel[d] > 0, op, "kernel_size must be positive, got ", shape_str(kernel));
    FOVEA_CHECK(p.stride[d] > 0, op, "stride must be positive, got ", shape_str(stride));
    FOVEA_CHECK(p.dilation[d] > 0, op, "dilation must be positive, got ", shape_str(dilation));
    FOVEA_CHECK(p.padding[d] >= 0 && p.padding[d] <= p.kernel[d] / 2, op,
                "padding must be between 0 and half the kernel size, got padding ", shape_str(padding),
                " for kernel_size ", shape_str(kernel));
  }
  return p;
}

// PyTorch's pooling_output_shape: with ceil_mode a last window may start past the input
// but not in the right padding.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
                         bool ceil_mode) {
  const int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (span + (ceil_mode ? stride - 1 : 0)) / stride + 1;
  if (ceil_mode && (out - 1) * stride >= in + padding) --out;
  return out;
}

Dims output_sizes(const PoolInput& in, const PoolParams& p, bool ceil_mode, const char* op) {
  Dims out{};
  for (int d = 0; d < 3; ++d) {
    out[d] = pool_output_size(in.in[d], p.kernel[d], p.stride[d], p.padding[d], p.dilation[d], ceil_mode);
    FOVEA_CHECK(out[d] >= 1, op, "input of spatial size ", in.in[d], " padded by ", p.padding[d],
                " is smaller than the kernel extent ", p.dilation[d] * (p.kernel[d] - 1) + 1,
                "; use a smaller kernel, more padding or a larger input");
  }
  return out;
}

Tensor as_output(const Tensor& planes, const Shape& batch, const Dims& out, int64_t spatial) {
  Shape shape = batch;
  for (int64_t d = 3 - spatial; d < 3; ++d) shape.push_back(out[d]);
  return planes.view(shape);
}

cpu::PoolWindows max_windows(const Dims& in, const Dims& out, const PoolParams& p) {
  cpu::PoolWindows w;
  w.in = in;
  for (int d = 0; d < 3; ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      const int64_t s = o * p.stride[d] - p.padding[d], dil = p.dilation[d];
      const int64_t first = s < 0 ? (-s + dil - 1) / dil : 0;
      const int64_t end = std::min(p.kernel[d], (in[d] - s + dil - 1) / dil);
      w.dims[d].push_back({s + first * dil, std::max<int64_t>(0, end - first), dil, 1});
    }
  return w;
}

cpu::PoolWindows avg_windows(const Dims& in, const Dims& out, const PoolParams& p, bool count_include_pad) {
  cpu::PoolWindows w;
  w.in = in;
  for (int d = 0; d < 3; ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      const int64_t s = o * p.stride[d] - p.padding[d];
      const int64_t e = std::min(s + p.kernel[d], in[d] + p.padding[d]);
      const int64_t lo = std::max<int64_t>(s, 0), hi = std::min(e, in[d]);
      w.dims[d].push_back({lo, hi - lo, 1, count_include_pad ? e - s : hi - lo});
    }
  return w;
}

cpu::PoolWindows adaptive_windows(const Dims& in, const Dims& out) {
  cpu::PoolWindows w;
  w.in = in;
  for (int d = 0; d < 3; ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      const int64_t lo = o * in[d] / out[d], hi = ((o + 1) * in[d] + out[d] - 1) / out[d];
      w.dims[d].push_back({lo, hi - lo, 1, hi - lo});
    }
  return w;
}

Dims window_counts(const cpu::PoolWindows& w) {
  return {static_cast<int64_t>(w.dims[0].size()), static_cast<int64_t>(w.dims[1].size()),
          static_cast<int64_t>(w.dims[2].size())};
}

std::tuple<Tensor, Tensor> max_pool(const Tensor& x, const PoolInput& in, const cpu::PoolWindows& windows,
                                    int64_t spatial, const char* op) {
  const Dims out = window_counts(windows);
  Tensor values = make_tensor({in.planes.size(0), out[0], out[1], out[2]}, x.dtype(), x.device());
  Tensor indices = make_tensor(values.shape(), DType::i64, x.device());
  FOVEA_ON_DEVICE(x.device(), max_pool_forward, in.planes, windows, values, indices);
  values = as_output(values, in.batch, out, spatial);
  indices = as_output(indices, in.batch, out, spatial);
  if (needs_grad({&x}))
    record_op(op, {values}, {x}, [indices, in_shape = x.shape(), planes_shape = in.planes.shape()](
                                     const std::vector<Tensor>& grads) {
      if (!grads[0].defined()) return std::vector<Tensor>(1);
      Tensor grad_x = make_tensor(planes_shape, grads[0].dtype(), grads[0].device());
      FOVEA_ON_DEVICE(grads[0].device(), max_pool_backward, grads[0].contiguous(), indices, grad_x);
      return std::vector<Tensor>{grad_x.view(in_shape)};
    });
  return {values, indices};
}

Tensor avg_pool(const Tensor& x, const PoolInput& in, const cpu::PoolWindows& windows, int64_t spatial,
                const char* op) {
  const Dims out = window_counts(windows);
  Tensor values = make_tensor({in.planes.size(0), out[0], out[1], out[2]}, x.dtype(), x.device());
  FOVEA_ON_DEVICE(x.device(), avg_pool_forward, in.planes, windows, values);
  values = as_output(values, in.batch, out, spatial);
  if (needs_grad({&x}))
    record_op(op, {values}, {x}, [windows, in_shape = x.shape(), planes_shape = in.planes.shape()](
                                     const std::vector<Tensor>& grads) {
      if (!grads[0].defined()) return std::vector<Tensor>(1);
      Tensor grad_x = make_tensor(planes_shape, grads[0].dtype(), grads[0].device());
      FOVEA_ON_DEVICE(grads[0].device(), avg_pool_backward, grads[0].contiguous(), windows, grad_x);
      return std::vector<Tensor>{grad_x.view(in_shape)};
    });
  return values;
}

std::tuple<Tensor, Tensor> max_pool_nd(const Tensor& x, const Shape& kernel, const Shape& stride,
                                       const Shape& padding, const Shape& dilation, bool ceil_mode, int64_t spatial,
                                       const char* op) {
  FOVEA_NVTX_RANGE(op);
  const PoolInput in = pool_input(x, spatial, op);
  const PoolParams p = pool_params(kernel, stride, padding, dilation, spatial, op);
  return max_pool(x, in, max_windows(in.in, output_sizes(in, p, ceil_mode, op), p), spatial, op);
}

Tensor avg_pool_nd(const Tensor& x, const Shape& kernel, const Shape& stride, const Shape& padding, bool ceil_mode,
                   bool count_include_pad, int64_t spatial, const char* op) {
  FOVEA_NVTX_RANGE(op);
  const PoolInput in = pool_input(x, spatial, op);
  const PoolParams p = pool_params(kernel, stride, padding, {1}, spatial, op);
  return avg_pool(x, in, avg_windows(in.in, output_sizes(in, p, ceil_mode, op), p, count_include_pad), spatial, op);
}

cpu::PoolWindows adaptive_nd(const PoolInput& in, const Shape& output_size, int64_t spatial, const char* op) {
  const Dims out = per_dim(output_size, spatial, 1, op, "output_size");
  for (int d = 0; d < 3; ++d)
    FOVEA_CHECK(out[d] > 0, op, "output_size must be positive, got ", shape_str(output_size));
  return adaptive_windows(in.in, out);
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const Shape& kernel_size, const Shape& stride,
                                                   const Shape& padding, const Shape& dilation, bool ceil_mode) {
  return max_pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, 2, "max_pool2d");
}

std::tuple<Tensor, Tensor> max_pool3d_with_indices(const Tensor& x, const Shape& kernel_size, const Shape& stride,
                                                   const Shape& padding, const Shape& dilation, bool ceil_mode) {
  return max_pool_nd(x, kernel_size, stride, padding, dilation, ceil_mode, 3, "max_pool3d");
}

Tensor max_pool2d(const Tensor& x, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  const Shape& dilation, bool ceil_mode) {
  return std::get<0>(max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor max_pool3d(const Tensor& x, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  const Shape& dilation, bool ceil_mode) {
  return std::get<0>(max_pool3d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode));
}

Tensor avg_pool2d(const Tensor& x, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  bool ceil_mode, bool count_include_pad) {
  return avg_pool_nd(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 2, "avg_pool2d");
}

Tensor avg_pool3d(const Tensor& x, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  bool ceil_mode, bool count_include_pad) {
  return avg_pool_nd(x, kernel_size, stride, padding, ceil_mode, count_include_pad, 3, "avg_pool3d");
}

Tensor adaptive_avg_pool2d(const Tensor& x, const Shape& output_size) {
  FOVEA_NVTX_RANGE("adaptive_avg_pool2d");
  const PoolInput in = pool_input(x, 2, "adaptive_avg_pool2d");
  return avg_pool(x, in, adaptive_nd(in, output_size, 2, "adaptive_avg_pool2d"), 2, "adaptive_avg_pool2d");
}

Tensor adaptive_avg_pool3d(const Tensor& x, const Shape& output_size) {
  FOVEA_NVTX_RANGE("adaptive_avg_pool3d");
  const PoolInput in = pool_input(x, 3, "adaptive_avg_pool3d");
  return avg_pool(x, in, adaptive_nd(in, output_size, 3, "adaptive_avg_pool3d"), 3, "adaptive_avg_pool3d");
}

std::tuple<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, const Shape& output_size) {
  FOVEA_NVTX_RANGE("adaptive_max_pool2d");
  const PoolInput in = pool_input(x, 2, "adaptive_max_pool2d");
  return max_pool(x, in, adaptive_nd(in, output_size, 2, "adaptive_max_pool2d"), 2, "adaptive_max_pool2d");
}

std::tuple<Tensor, Tensor> adaptive_max_pool3d_with_indices(const Tensor& x, const Shape& output_size) {
  FOVEA_NVTX_RANGE("adaptive_max_pool3d");
  const PoolInput in = pool_input(x, 3, "adaptive_max_pool3d");
  return max_pool(x, in, adaptive_nd(in, output_size, 3, "adaptive_max_pool3d"), 3, "adaptive_max_pool3d");
}

Tensor adaptive_max_pool2d(const Tensor& x, const Shape& output_size) {
  return std::get<0>(adaptive_max_pool2d_with_indices(x, output_size));
}

Tensor adaptive_max_pool3d(const Tensor& x, const Shape& output_size) {
  return std::get<0>(adaptive_max_pool3d_with_indices(x, output_size));
}

}  // namespace fovea
