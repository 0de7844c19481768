// Benchmarks of the memory-bank losses, fused against their unfused twins composed from engine
// ops: infonce forward + backward, infonce_forward (no grad mode) and memory_bank_update, at the
// saccade paper's sizes (B = 16, D = 128, K = 1024 negatives, a bank of 9537 videos × 5 fixations)
// on the CPU and, in CUDA builds, on the device ("cuda"; under the emulator, "cuda-emu", at
// B = 5, D = 37, K = 50, M = 200). Every variant is first checked against an f64 CPU reference.
// Declared bytes and flops are the analytical minimum of each algorithm, s = 4 bytes per f32
// element, 8 per i64 index; the formulas stand next to the variants.
//   fovea bench --filter 'infonce|memory_bank'
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "losses/infonce.h"
#include "losses/memory_bank.h"
#include "profiling/bench.h"


namespace {

using fovea::Device;
using fovea::DType;
using fovea::Tensor;

constexpr double kElement = 4;  // f32
constexpr double kIndex = 8;    // i64
constexpr double kTemperature = 0.07;
constexpr double kMomentum = 0.5;

struct Sizes {
  int64_t batch, dim, count, rows;

  std::string str() const {
    std::ostringstream out;
    out << "B" << batch << "xD" << dim << "xK" << count << "xM" << rows;
    return out.str();
  }
};

constexpr Sizes kPaper{16, 128, 1024, 9537 * 5};
constexpr Sizes kEmulated{5, 37, 50, 200};

using fovea::bench::synchronize;
using fovea::bench::Target;

const Sizes& sizes_for(const Target& t) { return t.emulated() ? kEmulated : kPaper; }

Tensor unit_rows(const fovea::Shape& shape, fovea::Generator& gen) {
  return fovea::normalize(fovea::randn(shape, DType::f32, &gen));
}


// f32 logits reach 1/τ ≈ 14 summed over K + 1 candidates: a few ulps of that per term.
constexpr double kTolerance = 1e-4;

struct InfonceProblem {
  Tensor queries, positives, bank, indices;
  Tensor loss, grad_queries, grad_positives;  // f64 CPU reference
};

InfonceProblem make_infonce_problem(const Target& t) {
  const Sizes& s = sizes_for(t);
  fovea::Generator gen(11);
  InfonceProblem p;
  p.queries = unit_rows({s.batch, s.dim}, gen);
  p.positives = unit_rows({s.batch, s.dim}, gen);
  p.bank = unit_rows({s.rows, s.dim}, gen);
  p.indices = fovea::randint(0, s.rows, {s.batch, s.count}, &gen);
  Tensor q = p.queries.to(DType::f64).requires_grad_(), pos = p.positives.to(DType::f64).requires_grad_();
  p.loss = fovea::infonce_unfused(q, pos, p.bank.to(DType::f64), p.indices, kTemperature);
  p.loss.backward();
  p.grad_queries = q.grad();
  p.grad_positives = pos.grad();
  p.queries = p.queries.to(t.device).requires_grad_();
  p.positives = p.positives.to(t.device).requires_grad_();
  p.bank = p.bank.to(t.device);
  p.indices = p.indices.to(t.device);
  return p;
}

void bench_infonce(fovea::bench::Runner& runner, const Target& t) {
  const bool training = runner.wants("infonce", {"fused", "unfused"});
  const bool forward_only = runner.wants("infonce_forward", {"fused", "unfused"});
  if (!training && !forward_only) return;
  auto p = std::make_shared<InfonceProblem>(make_infonce_problem(t));
  auto loss = std::make_shared<Tensor>();
  const auto step = [p, loss, device = t.device](bool fused, bool backward) {
    p->queries.zero_grad();
    p->positives.zero_grad();
    const auto fn = fused ? fovea::infonce : fovea::infonce_unfused;
    if (backward) {
      *loss = fn(p->queries, p->positives, p->bank, p->indices, kTemperature, fovea::Reduction::mean);
      loss->backward();
    } else {
      fovea::NoGradGuard no_grad;
      *loss = fn(p->queries, p->positives, p->bank, p->indices, kTemperature, fovea::Reduction::mean);
    }
    synchronize(device);
  };
  const auto check = [p, loss](bool backward) {
    std::string e = fovea::bench::compare("loss", loss->to(Device::cpu()), p->loss, kTolerance);
    if (e.empty() && backward) e = fovea::bench::compare("grad queries", p->queries.grad().to(Device::cpu()), p->grad_queries, kTolerance);
    if (e.empty() && backward)
      e = fovea::bench::compare("grad positives", p->positives.grad().to(Device::cpu()), p->grad_positives, kTolerance);
    return e;
  };

  const double B = sizes_for(t).batch, D = sizes_for(t).dim, K = sizes_for(t).count, s = kElement;
  const double candidates = B * (K + 1);
  const double index_scan = B * K * kIndex + 2 * B * D * s;  // the fused op's input scan: indices, q, pos
  const auto variant = [&](const char* name, bool fused, bool backward, double bytes, double flops) {
    return fovea::bench::Variant{name, bytes, flops, [step, fused, backward] { step(fused, backward); },
                                 [step, check, fused, backward] {
                                   step(fused, backward);
                                   return check(backward);
                                 }};
  };
  if (training) {
    fovea::bench::Case c{.kernel = "infonce", .shape = sizes_for(t).str(), .device = t.name};
    // fused: scan + forward reads q, pos, the indices and each gathered row once (B·K·D), writes
    // the losses, p₀ and the expectation [B, D]; backward reads g, p₀, q, pos and the expectation,
    // writes both gradients. Flops: a dot and an expectation update per candidate, 4·B·(K+1)·D.
    c.variants.push_back(variant("fused", true, true,
                                 index_scan + B * K * kIndex + s * (B * K * D + 2 * B * D + 2 * B + B * D) +
                                     s * (2 * B + 3 * B * D + 2 * B * D),
                                 4 * candidates * D));
    // unfused: the gather reads the indices twice (range check, copy) and the rows once and writes
    // [B, K, D]; bmm reads it again, and its backward a third time; the [B, K+1] logits pass through
    // bmm/cat/div/log_softmax forward and nll/log_softmax/div/cat/bmm backward, 14 passes in all;
    // about 8 passes over [B, D] for the positive logits and the gradients. Flops: bmm forward and
    // backward plus the positive dots, 4·B·(K+1)·D.
    c.variants.push_back(variant("unfused", false, true,
                                 2 * B * K * kIndex + s * (4 * B * K * D + 14 * candidates + 8 * B * D),
                                 4 * candidates * D));
    runner.run(std::move(c));
  }
  if (forward_only) {
    fovea::bench::Case c{.kernel = "infonce_forward", .shape = sizes_for(t).str(), .device = t.name};
    // fused: scan, then q, pos, the indices and each gathered row once; writes losses and p₀.
    c.variants.push_back(variant("fused", true, false,
                                 index_scan + B * K * kIndex + s * (B * K * D + 2 * B * D + 2 * B),
                                 2 * candidates * D));
    // unfused: gather (indices twice, rows, [B, K, D] written), bmm reads [B, K, D], 7 passes over
    // the logits (bmm out, cat in/out, div in/out, log_softmax in/out), 4 over [B, D].
    c.variants.push_back(variant("unfused", false, false,
                                 2 * B * K * kIndex + s * (3 * B * K * D + 7 * candidates + 4 * B * D),
                                 2 * candidates * D));
    runner.run(std::move(c));
  }
}

struct BankProblem {
  Tensor bank0, bank, indices, values, expected;
  std::vector<int64_t> host_indices;
};

void bench_memory_bank_update(fovea::bench::Runner& runner, const Target& t) {
  if (!runner.wants("memory_bank_update", {"fused", "unfused"})) return;
  const Sizes& s = sizes_for(t);
  fovea::Generator gen(12);
  auto p = std::make_shared<BankProblem>();
  p->bank0 = unit_rows({s.rows, s.dim}, gen);
  p->values = unit_rows({s.batch, s.dim}, gen);
  p->indices = fovea::randint(0, s.rows, {s.batch}, &gen);
  for (double v : fovea::to_vector(p->indices)) p->host_indices.push_back(static_cast<int64_t>(v));
  p->expected = p->bank0.to(DType::f64);
  fovea::memory_bank_update(p->expected, p->indices, p->values.to(DType::f64), kMomentum, true);
  p->bank0 = p->bank0.to(t.device);
  p->bank = p->bank0.clone();
  p->values = p->values.to(t.device);
  p->indices = p->indices.to(t.device);

  const auto fused = [p, device = t.device] {
    fovea::memory_bank_update(p->bank, p->indices, p->values, kMomentum, true);
    synchronize(device);
  };
  const auto unfused = [p, device = t.device] {
    fovea::NoGradGuard no_grad;
    const Tensor rows = fovea::index_select(p->bank, 0, p->indices);
    const Tensor updated = fovea::normalize(fovea::add(fovea::mul(rows, kMomentum), fovea::mul(p->values, 1 - kMomentum)));
    for (size_t n = 0; n < p->host_indices.size(); ++n)
      p->bank.select(0, p->host_indices[n]).copy_(updated.select(0, static_cast<int64_t>(n)));
    synchronize(device);
  };
  const auto checked = [p](std::function<void()> run) {
    return [p, run] {
      p->bank.copy_(p->bank0);
      run();
      return fovea::bench::compare("bank", p->bank.to(Device::cpu()), p->expected, 1e-5);
    };
  };
  const double N = s.batch, D = s.dim, e = kElement;
  std::ostringstream shape;
  shape << "N" << s.batch << "xD" << s.dim << "xM" << s.rows;
  fovea::bench::Case c{.kernel = "memory_bank_update", .shape = shape.str(), .device = t.name};
  // fused: scan (indices, values), then indices, values and the old rows read once, new rows
  // written once. Flops: 3 per element for the update, 3 for the norm and the scaling.
  c.variants.push_back({"fused", 2 * N * kIndex + e * 4 * N * D, 6 * N * D, fused, checked(fused)});
  // unfused: index_select (indices twice, rows in, copy out), two scalings and an add (7 passes),
  // normalize (norm in, divide in/out: 3 passes), the row copies back (2 passes): 14 passes over [N, D].
  c.variants.push_back({"unfused", 2 * N * kIndex + e * 14 * N * D, 6 * N * D, unfused, checked(unfused)});
  runner.run(std::move(c));
}

}  // namespace

FOVEA_BENCH(infonce) {
  for (const Target& t : fovea::bench::targets()) {
    bench_infonce(runner, t);
    bench_memory_bank_update(runner, t);
  }
}
