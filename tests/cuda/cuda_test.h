// Helpers of the CUDA backend tests: the doctest suite (label) of this build, the GPU guard,
// and running one op on the CPU and on the CUDA device to compare forward and backward.
#pragma once
#include <doctest/doctest.h>

#include <functional>

#include "engine/cuda/runtime.h"
#include "engine/ops.h"
#include "fovea/build_config.h"
#include "tests/gradcheck.h"

// Emulated builds label these tests emu; real CUDA builds label them gpu.
#if defined(FOVEA_HAS_EMU)
#define FOVEA_CUDA_SUITE "emu"
#else
#define FOVEA_CUDA_SUITE "gpu"
#endif

// Returns from the test, saying why, when no CUDA device can run it.
#define FOVEA_REQUIRE_CUDA_DEVICE()                                                 \
  do {                                                                              \
    if (!::fovea::cuda::available()) {                                              \
      MESSAGE("skipped: no GPU: " << ::fovea::cuda::unavailable_reason());          \
      return;                                                                       \
    }                                                                               \
  } while (0)

namespace fovea::testing {

inline Device cuda_device() { return Device::cuda(0); }

// Tolerances that allow a few roundings per accumulation (f32) or near-exactness (f64).
inline double atol_for(DType t) { return t == DType::f64 ? 1e-12 : 1e-5; }
inline double rtol_for(DType t) { return t == DType::f64 ? 1e-10 : 1e-5; }

// Runs fn on CPU copies and on CUDA copies of `inputs` (those requiring grad keep it),
// compares the outputs, then backpropagates the same upstream gradient through both and
// compares every input gradient.
inline void check_cuda_matches_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                   const std::vector<Tensor>& inputs, double atol, double rtol) {
  std::vector<Tensor> cpu_in, cuda_in;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone(), g = t.detach().to(cuda_device());
    if (t.requires_grad()) {
      c.requires_grad_();
      g.requires_grad_();
    }
    cpu_in.push_back(c);
    cuda_in.push_back(g);
  }
  const Tensor cpu_out = fn(cpu_in), cuda_out = fn(cuda_in);
  REQUIRE(cuda_out.device() == cuda_device());
  FOVEA_CHECK_CLOSE(cuda_out.to(Device::cpu()), cpu_out, atol, rtol);
  if (!cpu_out.requires_grad()) return;
  Generator gen(99);
  const Tensor upstream = rand(cpu_out.shape(), cpu_out.dtype(), &gen);
  cpu_out.backward(upstream);
  cuda_out.backward(upstream.to(cuda_device()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    INFO("gradient of input " << i);
    REQUIRE(cuda_in[i].grad().defined() == cpu_in[i].grad().defined());
    if (!cpu_in[i].grad().defined()) continue;  // the input only selects (a mask): no gradient
    FOVEA_CHECK_CLOSE(cuda_in[i].grad().to(Device::cpu()), cpu_in[i].grad(), atol, rtol);
  }
}

}  // namespace fovea::testing
