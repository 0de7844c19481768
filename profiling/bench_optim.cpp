// Benchmarks of the fused optimiser steps (engine/optim.cpp's CPU loops, kernels/optim.cu on
// CUDA devices) against the same updates composed from engine ops, one op per term as the
// optimisers did before they were fused. Kernels `sgd` (momentum 0.9, weight decay 1e-4) and
// `adamw` (torch's defaults, weight decay 0.05), one step over the 60 parameter tensors of
// r3d_18's backbone (33,166,272 f32 parameters) on the CPU and, in CUDA builds, on the device
// ("cuda"; under the emulator, "cuda-emu", at 1/16 of the channels: 131,772 parameters).
// Before timing, each variant takes two steps from the initial parameters and is compared
// with two steps of the CPU optimiser in f64.
// Declared bytes are the analytical minimum memory traffic of one steady-state step (N
// parameters, s = 4 bytes per f32 element); the formulas stand next to the variants.
//   fovea bench --filter 'sgd|adamw'
#include <cmath>
#include <memory>
#include <sstream>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "profiling/bench.h"


namespace {

using fovea::Device;
using fovea::DType;
using fovea::Tensor;

constexpr double kElement = 4;       // f32
constexpr double kTolerance = 1e-5;  // f32 against f64, abs + rel, after two steps
const fovea::SgdOptions kSgd{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4};
const fovea::AdamOptions kAdamW{.lr = 1e-3, .weight_decay = 0.05};

// The parameter shapes of torchvision's r3d_18 without its classifier, `base` stem channels
// (64 in the real network): a stem conv + BN, four stages of two BasicBlocks (conv + BN twice,
// stages 2-4 with a 1x1x1 downsample conv + BN in their first block).
std::vector<fovea::Shape> r3d_18_shapes(int64_t base) {
  std::vector<fovea::Shape> shapes{{base, 3, 3, 7, 7}, {base}, {base}};
  const auto conv_bn = [&](int64_t out, int64_t in, int64_t k) {
    shapes.push_back({out, in, k, k, k});
    shapes.push_back({out});
    shapes.push_back({out});
  };
  int64_t in = base;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = base << stage;
    conv_bn(planes, in, 3);
    conv_bn(planes, planes, 3);
    if (stage > 0) conv_bn(planes, in, 1);
    conv_bn(planes, planes, 3);
    conv_bn(planes, planes, 3);
    in = planes;
  }
  return shapes;
}

using fovea::bench::synchronize;
using fovea::bench::Target;

// Stem channels: the real network's 64, or 4 (1/16 of every layer's channels) under the emulator.
int64_t base_channels(const Target& t) { return t.emulated() ? 4 : 64; }

// Parameters with fixed gradients, their initial values and the f64 CPU reference after two
// steps.
struct Problem {
  std::vector<Tensor> params, initial, expected;
  int64_t numel = 0;

  void reset() {
    fovea::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].detach().copy_(initial[i]);
  }
};

template <typename Reference>
std::shared_ptr<Problem> make_problem(const Target& t, Reference&& reference) {
  fovea::Generator gen(21);
  auto p = std::make_shared<Problem>();
  for (const fovea::Shape& shape : r3d_18_shapes(base_channels(t))) {
    const Tensor initial = fovea::mul(fovea::randn(shape, DType::f32, &gen), 0.05);
    const Tensor grad = fovea::mul(fovea::randn(shape, DType::f32, &gen), 1e-3);
    const Tensor p64 = initial.to(DType::f64).requires_grad_();
    p64.set_grad(grad.to(DType::f64));
    reference(p64);
    p->expected.push_back(p64.detach());
    p->initial.push_back(initial.to(t.device));
    p->params.push_back(initial.to(t.device).clone().requires_grad_());
    p->params.back().set_grad(grad.to(t.device));
    p->numel += initial.numel();
  }
  return p;
}

// The worst element over all parameters beyond tolerance, or "" when all are within.
std::string compare(const Problem& p) {
  for (size_t i = 0; i < p.params.size(); ++i)
    if (std::string e = fovea::bench::compare("parameter " + std::to_string(i), p.params[i], p.expected[i], kTolerance);
        !e.empty())
      return e;
  return "";
}

// A variant that restarts from the initial parameters with fresh state (start), then steps.
fovea::bench::Variant variant(const char* name, double bytes, double flops, std::shared_ptr<Problem> p, Device device,
                              std::function<void()> start, std::function<void()> step) {
  return {name, bytes, flops,
          [step, device] {
            step();
            synchronize(device);
          },
          [p, start, step, device] {
            p->reset();
            start();
            step();
            step();
            synchronize(device);
            return compare(*p);
          }};
}

// The unfused SGD: torch's formulas with one engine op per term.
struct UnfusedSgd {
  std::vector<Tensor> params, buffers;

  void step() {
    fovea::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor p = params[i].detach();
      const Tensor d = fovea::add(params[i].grad(), p, kSgd.weight_decay);
      if (!buffers[i].defined())
        buffers[i] = d.clone();
      else
        buffers[i].mul_(kSgd.momentum).add_(d, 1.0 - kSgd.dampening);
      p.add_(buffers[i], -kSgd.lr);
    }
  }
};

// The unfused AdamW: decay, lerp as add of a difference, the second moment, then the step.
struct UnfusedAdamW {
  std::vector<Tensor> params, exp_avg, exp_avg_sq;
  int64_t t = 0;

  explicit UnfusedAdamW(std::vector<Tensor> ps) : params(std::move(ps)) { restart(); }

  void restart() {
    t = 0;
    exp_avg.clear();
    exp_avg_sq.clear();
    for (const Tensor& p : params) {
      exp_avg.push_back(fovea::zeros(p.shape(), p.dtype(), p.device()));
      exp_avg_sq.push_back(fovea::zeros(p.shape(), p.dtype(), p.device()));
    }
  }

  void step() {
    fovea::NoGradGuard no_grad;
    ++t;
    const double step_size = kAdamW.lr / (1.0 - std::pow(kAdamW.beta1, static_cast<double>(t)));
    const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(kAdamW.beta2, static_cast<double>(t)));
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor p = params[i].detach();
      const Tensor g = params[i].grad();
      p.mul_(1.0 - kAdamW.lr * kAdamW.weight_decay);
      exp_avg[i].add_(fovea::sub(g, exp_avg[i]), 1.0 - kAdamW.beta1);
      exp_avg_sq[i].mul_(kAdamW.beta2).add_(fovea::mul(g, g), 1.0 - kAdamW.beta2);
      const Tensor denom = fovea::add(fovea::div(fovea::sqrt(exp_avg_sq[i]), bias_correction2_sqrt), kAdamW.eps);
      p.add_(fovea::div(exp_avg[i], denom), -step_size);
    }
  }
};

void bench_sgd(fovea::bench::Runner& runner, const Target& t) {
  if (!runner.wants("sgd", {"fused", "unfused"})) return;
  const auto p = make_problem(t, [](const Tensor& p64) {
    fovea::SGD reference({p64}, kSgd);
    reference.step();
    reference.step();
  });
  auto fused = std::make_shared<std::unique_ptr<fovea::SGD>>(std::make_unique<fovea::SGD>(p->params, kSgd));
  auto unfused = std::make_shared<UnfusedSgd>(UnfusedSgd{p->params, std::vector<Tensor>(p->params.size())});
  const double N = static_cast<double>(p->numel), s = kElement;
  fovea::bench::Case c{.kernel = "sgd", .shape = "r3d_18_" + std::to_string(p->numel), .device = t.name};
  // fused: p, g and the momentum buffer read once, p and the buffer written once: 5·N·s.
  // Flops: d = g + wd·p (2), buf = m·buf + (1 − dampening)·d (3), p −= lr·buf (2): 7·N.
  c.variants.push_back(variant(
      "fused", 5 * N * s, 7 * N, p, t.device, [p, fused] { *fused = std::make_unique<fovea::SGD>(p->params, kSgd); },
      [fused] { (*fused)->step(); }));
  // unfused: add(g, p, wd) reads 2 writes 1; buf.mul_ 2; buf.add_(d) 3; p.add_(buf) 3: 11·N·s.
  c.variants.push_back(variant(
      "unfused", 11 * N * s, 7 * N, p, t.device,
      [unfused] { unfused->buffers.assign(unfused->params.size(), Tensor()); }, [unfused] { unfused->step(); }));
  runner.run(std::move(c));
}

void bench_adamw(fovea::bench::Runner& runner, const Target& t) {
  if (!runner.wants("adamw", {"fused", "unfused"})) return;
  const auto p = make_problem(t, [](const Tensor& p64) {
    fovea::AdamW reference({p64}, kAdamW);
    reference.step();
    reference.step();
  });
  auto fused = std::make_shared<std::unique_ptr<fovea::AdamW>>(std::make_unique<fovea::AdamW>(p->params, kAdamW));
  auto unfused = std::make_shared<UnfusedAdamW>(p->params);
  const double N = static_cast<double>(p->numel), s = kElement;
  fovea::bench::Case c{.kernel = "adamw", .shape = "r3d_18_" + std::to_string(p->numel), .device = t.name};
  // fused: p, g, exp_avg and exp_avg_sq read once, p and both moments written once: 7·N·s.
  // Flops: decay 1, lerp 3, second moment 4, sqrt, bias correction and eps 3, step 3: 14·N.
  c.variants.push_back(variant(
      "fused", 7 * N * s, 14 * N, p, t.device,
      [p, fused] { *fused = std::make_unique<fovea::AdamW>(p->params, kAdamW); }, [fused] { (*fused)->step(); }));
  // unfused: p.mul_ 2; sub(g, m) 3; m.add_ 3; v.mul_ 2; mul(g, g) 3; v.add_ 3; sqrt 2; div by
  // the bias correction 2; add eps 2; div(m, denom) 3; p.add_ 3: 28·N·s.
  c.variants.push_back(variant(
      "unfused", 28 * N * s, 14 * N, p, t.device, [unfused] { unfused->restart(); }, [unfused] { unfused->step(); }));
  runner.run(std::move(c));
}

}  // namespace

FOVEA_BENCH(optim) {
  for (const Target& t : fovea::bench::targets()) {
    bench_sgd(runner, t);
    bench_adamw(runner, t);
  }
}
