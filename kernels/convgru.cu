// Fused gate kernels of the ConvGRU cell (kernels/convgru.h): one grid-stride thread per
// (sample, hidden channel, position) element of the state; each reads its z or r
// pre-activation from the concatenated gate tensor [N, 2·hid, P] at n·2·hid·P + (0 or hid·P) +
// (c·P + p), so the z/r convolution's output is consumed in place without a split copy.
// Every output element has one owner thread: deterministic, no atomics, no shared memory.
#include <cmath>

#include "kernels/common.h"
#include "kernels/convgru.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

template <typename T>
__device__ T sigmoid_of(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

// Offset of the z pre-activation of state element i (the r one is hidden·positions further).
__device__ inline int64_t z_offset(int64_t i, int64_t plane) { return (i / plane) * 2 * plane + i % plane; }

template <typename T>
__global__ void convgru_gates_forward_kernel(T* rh, const T* gates, const T* h, int64_t numel, int64_t plane) {
  for (int64_t i = first_index(); i < numel; i += grid_stride()) {
    const T r = sigmoid_of(gates[z_offset(i, plane) + plane]);
    rh[i] = r * h[i];
  }
}

template <typename T>
__global__ void convgru_gates_backward_kernel(T* grad_gates, T* grad_h, const T* gates, const T* h, const T* grad_rh,
                                              int64_t numel, int64_t plane) {
  for (int64_t i = first_index(); i < numel; i += grid_stride()) {
    const int64_t zi = z_offset(i, plane);
    const T r = sigmoid_of(gates[zi + plane]);
    const T g = grad_rh[i];
    grad_gates[zi] = T(0);
    grad_gates[zi + plane] = g * h[i] * r * (T(1) - r);
    grad_h[i] = g * r;
  }
}

template <typename T>
__global__ void convgru_mix_forward_kernel(T* out, const T* gates, const T* o, const T* h, int64_t numel,
                                           int64_t plane) {
  for (int64_t i = first_index(); i < numel; i += grid_stride()) {
    const T z = sigmoid_of(gates[z_offset(i, plane)]);
    out[i] = h[i] * (T(1) - z) + std::tanh(o[i]) * z;
  }
}

template <typename T>
__global__ void convgru_mix_backward_kernel(T* grad_gates, T* grad_o, T* grad_h, const T* gates, const T* o,
                                            const T* h, const T* grad_out, int64_t numel, int64_t plane) {
  for (int64_t i = first_index(); i < numel; i += grid_stride()) {
    const int64_t zi = z_offset(i, plane);
    const T z = sigmoid_of(gates[zi]);
    const T t = std::tanh(o[i]);
    const T g = grad_out[i];
    grad_gates[zi] = g * (t - h[i]) * z * (T(1) - z);
    grad_gates[zi + plane] = T(0);
    grad_o[i] = g * z * (T(1) - t * t);
    grad_h[i] = g * (T(1) - z);
  }
}

}  // namespace

cudaError_t launch_convgru_gates_forward(ElementType type, void* rh, const void* gates, const void* h,
                                         int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream) {
  const int64_t numel = samples * hidden * positions;
  if (numel == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(convgru_gates_forward_kernel<T>, dim3(grid_for(numel, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<T*>(rh), static_cast<const T*>(gates), static_cast<const T*>(h), numel,
                         hidden * positions);
  });
}

cudaError_t launch_convgru_gates_backward(ElementType type, void* grad_gates, void* grad_h, const void* gates,
                                          const void* h, const void* grad_rh, int64_t samples, int64_t hidden,
                                          int64_t positions, cudaStream_t stream) {
  const int64_t numel = samples * hidden * positions;
  if (numel == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(convgru_gates_backward_kernel<T>, dim3(grid_for(numel, kThreads)), dim3(kThreads), 0,
                         stream, static_cast<T*>(grad_gates), static_cast<T*>(grad_h), static_cast<const T*>(gates),
                         static_cast<const T*>(h), static_cast<const T*>(grad_rh), numel, hidden * positions);
  });
}

cudaError_t launch_convgru_mix_forward(ElementType type, void* out, const void* gates, const void* o, const void* h,
                                       int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream) {
  const int64_t numel = samples * hidden * positions;
  if (numel == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(convgru_mix_forward_kernel<T>, dim3(grid_for(numel, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<T*>(out), static_cast<const T*>(gates), static_cast<const T*>(o),
                         static_cast<const T*>(h), numel, hidden * positions);
  });
}

cudaError_t launch_convgru_mix_backward(ElementType type, void* grad_gates, void* grad_o, void* grad_h,
                                        const void* gates, const void* o, const void* h, const void* grad_out,
                                        int64_t samples, int64_t hidden, int64_t positions, cudaStream_t stream) {
  const int64_t numel = samples * hidden * positions;
  if (numel == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(convgru_mix_backward_kernel<T>, dim3(grid_for(numel, kThreads)), dim3(kThreads), 0, stream,
                         static_cast<T*>(grad_gates), static_cast<T*>(grad_o), static_cast<T*>(grad_h),
                         static_cast<const T*>(gates), static_cast<const T*>(o), static_cast<const T*>(h),
                         static_cast<const T*>(grad_out), numel, hidden * positions);
  });
}

}  // namespace fovea::kernels
