// Benchmarks of the saccade predictor's cosine attention (models/cosine_attention.h), fused
// kernels against the unfused twin built from engine ops, at the paper's shape (N = 16 clips,
// C = 512 channels over 2×7×7 positions) on the CPU and, in CUDA builds, on the device (reduced
// to N = 2, C = 64, 2×4×4 positions under the emulator). cosine_attention is the forward,
// cosine_attention_train forward + backward for c, W and b. Every variant is validated against
// the unfused composition in f64 on the CPU. Declared bytes and flops are each algorithm's
// minimum (f32, e = 4 bytes, NCP = N·C·P, NPP = N·P², lower-order flop terms dropped).
#include <cmath>
#include <sstream>
#include <string>

#include "engine/ops.h"
#include "models/cosine_attention.h"
#include "profiling/bench.h"

namespace {

using fovea::Device;
using fovea::DType;
using fovea::Shape;
using fovea::Tensor;

constexpr double kElement = 4;
constexpr double kTolerance = 1e-4;  // f32 against f64, as tests/models/test_cosine_attention.cpp

struct Problem {
  int64_t samples, channels, frames, height, width;

  int64_t positions() const { return frames * height * width; }
  std::string name() const {
    std::ostringstream out;
    out << "N" << samples << "_C" << channels << "_P" << frames << "x" << height << "x" << width;
    return out.str();
  }
  double ncp() const { return static_cast<double>(samples) * channels * positions(); }
  double npp() const { return static_cast<double>(samples) * positions() * positions(); }
  double cc() const { return static_cast<double>(channels) * channels; }
};

// Traffic and work of one forward:
//   fused    read c, W, b; write pred                                   e·(2·NCP + C² + C)
//   unfused  normalize: read c, write ĉ              2·NCP
//            bmm ĉᵀĉ: read ĉ, write S                NCP + NPP
//            relu: read S, write A                   2·NPP
//            linear: read c, W, b, write g(c)        2·NCP + C² + C
//            bmm A·g(c): read A, g(c), write pred    NPP + 2·NCP        e·(7·NCP + 4·NPP + C² + C)
//   flops (both)  cosines 2·C·P² + attention-weighted sum 2·C·P² + g 2·C²·P per sample
double forward_bytes(const Problem& p, bool fused) {
  return fused ? kElement * (2 * p.ncp() + p.cc() + p.channels)
               : kElement * (7 * p.ncp() + 4 * p.npp() + p.cc() + p.channels);
}
double forward_flops(const Problem& p) { return 4 * p.ncp() * p.positions() + 2 * p.ncp() * p.channels; }

// Forward + backward (forward as above, plus):
//   fused    read c, grad_pred, W, b; write grad_c, grad_W, grad_b;
//            Y = c·A written and read once for grad_W                   e·(7·NCP + 3·C² + 3·C) in all
//   unfused  bmm A·g(c): read grad_pred, g(c), A; write dA, dg     3·NCP + 2·NPP
//            linear: read dg, c, W; write dc, dW, db              3·NCP + 2·C² + C
//            relu: read dA, A; write dS                           3·NPP
//            bmm ĉᵀĉ: read dS, ĉ; write dĉ                        NPP + 2·NCP
//            normalize: read dĉ, c, dc; write dc                  4·NCP  e·(19·NCP + 10·NPP + 3·C² + 2·C) in all
//   flops    fused backward recomputes the cosines: 12·C·P² + 4·C²·P per sample (dY, dW, 3 tile
//            products, 3 tile accumulations); unfused backward 8·C·P² + 4·C²·P
double train_bytes(const Problem& p, bool fused) {
  return fused ? kElement * (7 * p.ncp() + 3 * p.cc() + 3 * p.channels)
               : kElement * (19 * p.ncp() + 10 * p.npp() + 3 * p.cc() + 2 * p.channels);
}
double train_flops(const Problem& p, bool fused) {
  return forward_flops(p) + (fused ? 12 : 8) * p.ncp() * p.positions() + 4 * p.ncp() * p.channels;
}


struct Operands {
  Tensor c, weight, bias, upstream;
};

Operands make_operands(const Problem& p, Device device) {
  fovea::Generator gen(11);
  const double bound = 1.0 / std::sqrt(static_cast<double>(p.channels));
  const Shape shape{p.samples, p.channels, p.frames, p.height, p.width};
  Operands o{fovea::randn(shape, DType::f32, &gen),
             fovea::sub(fovea::mul(fovea::rand({p.channels, p.channels}, DType::f32, &gen), 2 * bound), bound),
             fovea::sub(fovea::mul(fovea::rand({p.channels}, DType::f32, &gen), 2 * bound), bound),
             fovea::rand(shape, DType::f32, &gen)};
  for (Tensor* t : {&o.c, &o.weight, &o.bias, &o.upstream}) *t = t->to(device);
  return o;
}

// The f64 reference on the CPU: pred and the gradients for `upstream`.
struct Reference {
  Tensor pred, grad_c, grad_weight, grad_bias;
};

Reference make_reference(const Operands& o) {
  const Tensor c = o.c.to(Device::cpu()).to(DType::f64).requires_grad_();
  const Tensor w = o.weight.to(Device::cpu()).to(DType::f64).requires_grad_();
  const Tensor b = o.bias.to(Device::cpu()).to(DType::f64).requires_grad_();
  const Tensor pred = fovea::cosine_attention_unfused(c, w, b);
  pred.backward(o.upstream.to(Device::cpu()).to(DType::f64));
  return {pred.detach(), c.grad(), w.grad(), b.grad()};
}

using Predictor = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, double);

using fovea::bench::synchronize;

void run_cases(fovea::bench::Runner& runner, const Problem& p, Device device, const std::string& device_name) {
  const auto operands = std::make_shared<Operands>(make_operands(p, device));
  const auto reference = std::make_shared<Reference>(make_reference(*operands));
  const std::pair<const char*, Predictor> predictors[] = {{"fused", fovea::cosine_attention},
                                                          {"unfused", fovea::cosine_attention_unfused}};
  if (runner.wants("cosine_attention", {"fused", "unfused"})) {
    fovea::bench::Case forward{.kernel = "cosine_attention", .shape = p.name(), .device = device_name};
    for (const auto& [name, predictor] : predictors) {
      const auto out = std::make_shared<Tensor>();
      const bool fused = std::string(name) == "fused";
      forward.variants.push_back({name, forward_bytes(p, fused), forward_flops(p),
                                  [=, predictor = predictor] {
                                    *out = predictor(operands->c, operands->weight, operands->bias, 1e-12);
                                    synchronize(device);
                                  },
                                  [=] { return fovea::bench::compare("pred", *out, reference->pred, kTolerance); }});
    }
    runner.run(std::move(forward));
  }
  if (runner.wants("cosine_attention_train", {"fused", "unfused"})) {
    fovea::bench::Case train{.kernel = "cosine_attention_train", .shape = p.name(), .device = device_name};
    for (const auto& [name, predictor] : predictors) {
      const auto grads = std::make_shared<Reference>();
      const bool fused = std::string(name) == "fused";
      train.variants.push_back(
          {name, train_bytes(p, fused), train_flops(p, fused),
           [=, predictor = predictor] {
             const Tensor c = operands->c.detach().requires_grad_();
             const Tensor w = operands->weight.detach().requires_grad_();
             const Tensor b = operands->bias.detach().requires_grad_();
             const Tensor pred = predictor(c, w, b, 1e-12);
             pred.backward(operands->upstream);
             synchronize(device);
             *grads = {pred.detach(), c.grad(), w.grad(), b.grad()};
           },
           [=] {
             for (const auto& [actual, expected, what] :
                  {std::tuple{grads->pred, reference->pred, "pred"}, {grads->grad_c, reference->grad_c, "grad_c"},
                   {grads->grad_weight, reference->grad_weight, "grad_weight"},
                   {grads->grad_bias, reference->grad_bias, "grad_bias"}})
               if (std::string mismatch = fovea::bench::compare(what, actual, expected, kTolerance); !mismatch.empty()) return mismatch;
             return std::string();
           }});
    }
    runner.run(std::move(train));
  }
}

}  // namespace

FOVEA_BENCH(cosine_attention) {
  if (!runner.wants("cosine_attention", {"fused", "unfused"}) &&
      !runner.wants("cosine_attention_train", {"fused", "unfused"}))
    return;
  for (const fovea::bench::Target& t : fovea::bench::targets())
    run_cases(runner, t.emulated() ? Problem{2, 64, 2, 4, 4} : Problem{16, 512, 2, 7, 7}, t.device, t.name);
}
