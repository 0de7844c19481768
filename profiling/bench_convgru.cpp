// Benchmarks of the DPC ConvGRU (models/convgru.h): the sequence forward (eval mode, so the
// dropout is the identity) over T steps from a zero state, fused cell (one 2·hid-channel gate
// GEMM, fused gate kernels, k = 1 GEMM fast path without im2col) against the unfused twin
// (engine conv2d ×3 + sigmoid/tanh/mul/rsub/add). DPC's sizes on the CPU: N = 16, in = hid =
// D = 256 at 4×4, k = 1, 5 steps; under the emulator N = 2, in = hid = 16, 3 steps. Validated
// against the unfused composition in f64 on the CPU before timing.
// Declared bytes per step (f32, e = 4; X = N·in·P input, S = N·hid·P state elements,
// C = in + hid, weights Wt = 3·hid·C + 3·hid), plus 2·S per step for stacking the states:
//   fused    cat[x,h] 2X+2S; gate GEMM X+S read, 2S write; gates kernel 3S; cat[x,rh] 2X+2S;
//            out GEMM X+S read, S write; mix kernel 4S           e·(6X + 16S + Wt + 2S)
//   unfused  cat 2X+2S; conv2d (k = 1 still copies through vol2col: 2(X+S) + GEMM X+S read,
//            S write) three times 3·(3X+4S); sigmoid ×2, tanh ×1: 3·2S; r⊙h 3S; cat 2X+2S;
//            1−z 2S; h⊙(1−z) 3S; o⊙z 3S; add 3S                  e·(13X + 36S + Wt + 2S)
//   flops (both)  the three convolutions 2·N·P·C·hid each: T·6·N·P·C·hid (elementwise dropped)
#include <cmath>
#include <sstream>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/convgru.h"
#include "profiling/bench.h"

namespace {

using fovea::Device;
using fovea::DType;
using fovea::Tensor;

constexpr double kElement = 4;
constexpr double kTolerance = 1e-4;  // f32 against f64

struct Problem {
  int64_t samples, in_channels, hidden, height, width, steps;

  std::string name() const {
    std::ostringstream out;
    out << "N" << samples << "_T" << steps << "_C" << in_channels << "_D" << hidden << "_" << height << "x" << width
        << "_k1";
    return out.str();
  }
  double x() const { return static_cast<double>(samples) * in_channels * height * width; }
  double s() const { return static_cast<double>(samples) * hidden * height * width; }
  double weights() const { return 3.0 * hidden * (in_channels + hidden) + 3.0 * hidden; }
};

double bytes(const Problem& p, bool fused) {
  const double per_step = fused ? 6 * p.x() + 16 * p.s() : 13 * p.x() + 36 * p.s();
  return kElement * p.steps * (per_step + p.weights() + 2 * p.s());
}
double flops(const Problem& p) {
  return p.steps * 6.0 * p.samples * p.height * p.width * (p.in_channels + p.hidden) * p.hidden;
}


using fovea::bench::synchronize;

fovea::ConvGRUWeights on(const fovea::ConvGRUWeights& w, Device device, DType dtype) {
  auto move = [&](const Tensor& t) { return t.detach().to(dtype).to(device); };
  return {move(w.gate_weight), move(w.gate_bias), move(w.out_weight), move(w.out_bias)};
}

void run_case(fovea::bench::Runner& runner, const Problem& p, Device device, const std::string& device_name) {
  fovea::Generator gen(21);
  const fovea::ConvGRUWeights master = fovea::convgru_weights(p.in_channels, p.hidden, 1, gen);
  const Tensor x_master = fovea::randn({p.samples, p.steps, p.in_channels, p.height, p.width}, DType::f32, &gen);
  const auto weights = std::make_shared<fovea::ConvGRUWeights>(on(master, device, DType::f32));
  const auto x = std::make_shared<Tensor>(x_master.to(device));
  const auto reference = std::make_shared<Tensor>();
  {
    fovea::NoGradGuard no_grad;
    *reference = fovea::convgru(x_master.to(DType::f64), on(master, Device::cpu(), DType::f64), 0.1, false, nullptr,
                                false)
                     .states;
  }
  fovea::bench::Case c{.kernel = "convgru", .shape = p.name(), .device = device_name};
  for (const bool fused : {true, false}) {
    const auto out = std::make_shared<Tensor>();
    c.variants.push_back({fused ? "fused" : "unfused", bytes(p, fused), flops(p),
                          [=] {
                            fovea::NoGradGuard no_grad;
                            *out = fovea::convgru(*x, *weights, 0.1, false, nullptr, fused).states;
                            synchronize(device);
                          },
                          [=] { return fovea::bench::compare("states", *out, *reference, kTolerance); }});
  }
  runner.run(std::move(c));
}

}  // namespace

FOVEA_BENCH(convgru) {
  if (!runner.wants("convgru", {"fused", "unfused"})) return;
  for (const fovea::bench::Target& t : fovea::bench::targets())
    run_case(runner, t.emulated() ? Problem{2, 16, 16, 4, 4, 3} : Problem{16, 256, 256, 4, 4, 5}, t.device, t.name);
}
