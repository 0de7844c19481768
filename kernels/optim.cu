// Fused multi-tensor optimiser updates: one kernel per optimiser (SGD, Adam/AdamW) that walks a
// list of up to kOptimMaxTensors parameters in chunks of kChunk elements. Block b takes chunks
// b, b + gridDim.x, ... of the list's concatenated chunk sequence (each tensor's last chunk
// may be short), so small and large tensors share one launch; every element's parameter,
// gradient and state are read once and written once. Arithmetic is in the element type with
// the hyperparameters rounded to it, in torch.optim's order of operations (the CPU loops of
// engine/optim.cpp are the reference).
#include <cmath>

#include "kernels/common.h"
#include "kernels/optim.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;

// The chunk sequence of a tensor list: tensor t owns chunks [chunk_start[t], chunk_start[t + 1]).
struct Chunks {
  int count = 0;
  int64_t numel[kOptimMaxTensors] = {};
  int64_t chunk_start[kOptimMaxTensors + 1] = {};

  Chunks() = default;
  Chunks(int n, const int64_t* sizes) : count(n) {
    for (int t = 0; t < n; ++t) {
      numel[t] = sizes[t];
      chunk_start[t + 1] = chunk_start[t] + (sizes[t] + kChunk - 1) / kChunk;
    }
  }
  int64_t total() const { return chunk_start[count]; }
};

// Calls fn(t, i) for every element i of every tensor t this block owns.
template <typename Fn>
__device__ void for_each_owned_element(const Chunks& c, Fn&& fn) {
  int t = 0;
  for (int64_t chunk = blockIdx.x; chunk < c.chunk_start[c.count]; chunk += gridDim.x) {
    while (c.chunk_start[t + 1] <= chunk) ++t;
    const int64_t begin = (chunk - c.chunk_start[t]) * kChunk;
    const int64_t end = begin + kChunk < c.numel[t] ? begin + kChunk : c.numel[t];
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) fn(t, i);
  }
}

template <typename T>
struct SgdArgs {
  Chunks chunks;
  T* param[kOptimMaxTensors];
  const T* grad[kOptimMaxTensors];
  T* buffer[kOptimMaxTensors];
  bool first_step[kOptimMaxTensors];
  T lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov;
};

// torch.optim.SGD: d = g + wd·p; buf = d (first step) or momentum·buf + (1 − dampening)·d;
// d = d + momentum·buf (nesterov) or buf; p = p − lr·d.
template <typename T>
__global__ void sgd_kernel(SgdArgs<T> a) {
  for_each_owned_element(a.chunks, [&](int t, int64_t i) {
    const T p = a.param[t][i];
    T d = a.grad[t][i];
    if (a.weight_decay != T(0)) d = d + a.weight_decay * p;
    if (a.momentum != T(0)) {
      const T buf = a.first_step[t] ? d : a.momentum * a.buffer[t][i] + a.one_minus_dampening * d;
      a.buffer[t][i] = buf;
      d = a.nesterov ? d + a.momentum * buf : buf;
    }
    a.param[t][i] = p - a.lr * d;
  });
}

template <typename T>
struct AdamArgs {
  Chunks chunks;
  T* param[kOptimMaxTensors];
  const T* grad[kOptimMaxTensors];
  T* exp_avg[kOptimMaxTensors];
  T* exp_avg_sq[kOptimMaxTensors];
  T* max_exp_avg_sq[kOptimMaxTensors];
  T step_size[kOptimMaxTensors];
  T bias_correction2_sqrt[kOptimMaxTensors];
  T weight_decay, decay_factor, one_minus_beta1, beta2, one_minus_beta2, eps;
  bool decoupled_weight_decay, amsgrad;
};

// torch.optim.Adam / AdamW (see engine/optim.h): lerp for the first moment with torch's
// two-sided formula, addcmul for the second, addcdiv for the step.
template <typename T>
__global__ void adam_kernel(AdamArgs<T> a) {
  for_each_owned_element(a.chunks, [&](int t, int64_t i) {
    T p = a.param[t][i];
    T g = a.grad[t][i];
    if (a.weight_decay != T(0)) {
      if (a.decoupled_weight_decay)
        p = p * a.decay_factor;
      else
        g = g + a.weight_decay * p;
    }
    const T w = a.one_minus_beta1;
    const T m_old = a.exp_avg[t][i];
    const T m = w < T(0.5) ? m_old + w * (g - m_old) : g - (g - m_old) * (T(1) - w);
    const T v = a.exp_avg_sq[t][i] * a.beta2 + a.one_minus_beta2 * g * g;
    a.exp_avg[t][i] = m;
    a.exp_avg_sq[t][i] = v;
    T second = v;
    if (a.amsgrad) {
      const T old_max = a.max_exp_avg_sq[t][i];
      second = old_max != old_max || old_max > v ? old_max : v;
      a.max_exp_avg_sq[t][i] = second;
    }
    const T denom = std::sqrt(second) / a.bias_correction2_sqrt[t] + a.eps;
    a.param[t][i] = p + -a.step_size[t] * m / denom;
  });
}

// Kernel arguments beyond 4 KiB need CUDA 12.1 and Volta or newer.
static_assert(sizeof(SgdArgs<double>) <= 4096 && sizeof(AdamArgs<double>) <= 4096,
              "kOptimMaxTensors is too large for 4 KiB of kernel arguments");

unsigned blocks_for(const Chunks& c, unsigned max_blocks) {
  return static_cast<unsigned>(c.total() < max_blocks ? c.total() : max_blocks);
}

}  // namespace

cudaError_t launch_sgd_update(const SgdLaunch& l, cudaStream_t stream) {
  if (l.count < 0 || l.count > kOptimMaxTensors || l.max_blocks == 0) return cudaErrorInvalidValue;
  return with_float_type(l.type, [&](auto tag) {
    using T = decltype(tag);
    SgdArgs<T> a{};
    a.chunks = Chunks(l.count, l.numel);
    if (a.chunks.total() == 0) return cudaSuccess;
    for (int t = 0; t < l.count; ++t) {
      a.param[t] = static_cast<T*>(l.param[t]);
      a.grad[t] = static_cast<const T*>(l.grad[t]);
      a.buffer[t] = static_cast<T*>(l.momentum_buffer[t]);
      a.first_step[t] = l.first_step[t];
    }
    a.lr = static_cast<T>(l.lr);
    a.momentum = static_cast<T>(l.momentum);
    a.one_minus_dampening = static_cast<T>(1.0 - l.dampening);
    a.weight_decay = static_cast<T>(l.weight_decay);
    a.nesterov = l.nesterov;
    return launch_kernel(sgd_kernel<T>, dim3(blocks_for(a.chunks, l.max_blocks)), dim3(kThreads), 0, stream, a);
  });
}

cudaError_t launch_adam_update(const AdamLaunch& l, cudaStream_t stream) {
  if (l.count < 0 || l.count > kOptimMaxTensors || l.max_blocks == 0) return cudaErrorInvalidValue;
  return with_float_type(l.type, [&](auto tag) {
    using T = decltype(tag);
    AdamArgs<T> a{};
    a.chunks = Chunks(l.count, l.numel);
    if (a.chunks.total() == 0) return cudaSuccess;
    for (int t = 0; t < l.count; ++t) {
      a.param[t] = static_cast<T*>(l.param[t]);
      a.grad[t] = static_cast<const T*>(l.grad[t]);
      a.exp_avg[t] = static_cast<T*>(l.exp_avg[t]);
      a.exp_avg_sq[t] = static_cast<T*>(l.exp_avg_sq[t]);
      a.max_exp_avg_sq[t] = static_cast<T*>(l.max_exp_avg_sq[t]);
      a.step_size[t] = static_cast<T>(l.step_size[t]);
      a.bias_correction2_sqrt[t] = static_cast<T>(l.bias_correction2_sqrt[t]);
    }
    a.weight_decay = static_cast<T>(l.weight_decay);
    a.decay_factor = static_cast<T>(1.0 - l.lr * l.weight_decay);
    a.one_minus_beta1 = static_cast<T>(1.0 - l.beta1);
    a.beta2 = static_cast<T>(l.beta2);
    a.one_minus_beta2 = static_cast<T>(1.0 - l.beta2);
    a.eps = static_cast<T>(l.eps);
    a.decoupled_weight_decay = l.decoupled_weight_decay;
    a.amsgrad = l.amsgrad;
    return launch_kernel(adam_kernel<T>, dim3(blocks_for(a.chunks, l.max_blocks)), dim3(kThreads), 0, stream, a);
  });
}

}  // namespace fovea::kernels
