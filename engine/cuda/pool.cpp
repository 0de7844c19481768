// CUDA backend of the pools: the launchers of kernels/pool.cu on the current stream. The
// windows (std::vectors in cpu::PoolWindows) travel to the device as one i64 tensor of
// (start, count, step, divisor) rows, depth windows first, then height, then width.
#include <algorithm>

#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/pool.h"

namespace fovea::cuda {
namespace {

kernels::PoolShape pool_shape(int64_t planes, const cpu::PoolWindows& w) {
  kernels::PoolShape s{planes, {w.in[0], w.in[1], w.in[2]}, {}};
  for (int d = 0; d < 3; ++d) s.out[d] = static_cast<int64_t>(w.dims[d].size());
  return s;
}

Tensor device_windows(const cpu::PoolWindows& w, Device device) {
  const int64_t rows = static_cast<int64_t>(w.dims[0].size() + w.dims[1].size() + w.dims[2].size());
  Tensor host = make_tensor({rows, 4}, DType::i64);
  int64_t* row = host.data<int64_t>();
  for (const auto& dim : w.dims)
    for (const cpu::PoolWindow& window : dim) {
      row[0] = window.start;
      row[1] = window.count;
      row[2] = window.step;
      row[3] = window.divisor;
      row += 4;
    }
  return host.to(device);
}

}  // namespace

void max_pool_forward(const Tensor& x, const cpu::PoolWindows& w, const Tensor& out, const Tensor& indices) {
  const Tensor windows = device_windows(w, x.device());
  check_launch(kernels::launch_max_pool_forward(element_type(x.dtype()), x.raw_data(), pool_shape(x.size(0), w),
                                                windows.data<int64_t>(), out.raw_data(), indices.data<int64_t>(),
                                                current_stream()),
               "max_pool");
}

void max_pool_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x) {
  const int64_t planes = grad_x.size(0), divisor = std::max<int64_t>(1, planes);
  check_launch(kernels::launch_max_pool_backward(element_type(grad_out.dtype()), grad_out.raw_data(),
                                                 indices.data<int64_t>(), planes, grad_x.numel() / divisor,
                                                 grad_out.numel() / divisor, grad_x.raw_data(), current_stream()),
               "max_pool backward");
}

void avg_pool_forward(const Tensor& x, const cpu::PoolWindows& w, const Tensor& out) {
  const Tensor windows = device_windows(w, x.device());
  check_launch(kernels::launch_avg_pool_forward(element_type(x.dtype()), x.raw_data(), pool_shape(x.size(0), w),
                                                windows.data<int64_t>(), out.raw_data(), current_stream()),
               "avg_pool");
}

void avg_pool_backward(const Tensor& grad_out, const cpu::PoolWindows& w, const Tensor& grad_x) {
  const Tensor windows = device_windows(w, grad_x.device());
  check_launch(kernels::launch_avg_pool_backward(element_type(grad_out.dtype()), grad_out.raw_data(),
                                                 pool_shape(grad_x.size(0), w), windows.data<int64_t>(),
                                                 grad_x.raw_data(), current_stream()),
               "avg_pool backward");
}

}  // namespace fovea::cuda
