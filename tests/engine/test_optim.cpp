// Optimisers, clipping and LR schedules against hand-computed values and PyTorch goldens
// (tests/golden/optim_*.txt from tools/make_optim_goldens.py): SGD variants, Adam, AdamW,
// parameter groups, clip_grad_norm, every schedule and warm-up chained with others, and
// save/load of optimiser and schedule state.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/schedule.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::GoldenFile;

namespace {

// Trajectories are compared in f64; torch evaluates the same formulas in the same order up
// to fused kernels (lerp, addcdiv), so agreement is to a few ulps.
constexpr double kStepTol = 1e-13;

// One step on loss = sum(g0 * p) so that p.grad == g0 exactly.
void step_with_grad(Optimizer& opt, const Tensor& p, const std::vector<double>& g) {
  opt.zero_grad();
  sum(mul(p, from_vector(g, p.shape(), DType::f64))).backward();
  opt.step();
}

std::unique_ptr<Optimizer> make_golden_optimizer(int64_t kind, const std::vector<double>& o, const Tensor& p) {
  if (kind == 0)
    return std::make_unique<SGD>(std::vector<Tensor>{p}, SgdOptions{.lr = o[0], .momentum = o[1], .dampening = o[2],
                                                                    .weight_decay = o[3], .nesterov = o[4] != 0});
  const AdamOptions adam{.lr = o[0], .beta1 = o[5], .beta2 = o[6], .eps = o[7], .weight_decay = o[3],
                         .amsgrad = o[8] != 0};
  if (kind == 1) return std::make_unique<Adam>(std::vector<Tensor>{p}, adam);
  return std::make_unique<AdamW>(std::vector<Tensor>{p}, adam);
}

Tensor param(const std::vector<double>& values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}, DType::f64).requires_grad_();
}

// The rates of every group, one row per epoch, as the golden files store them.
void check_lrs(const std::vector<std::vector<double>>& got, const Tensor& expected) {
  REQUIRE(static_cast<int64_t>(got.size()) == expected.size(0));
  std::vector<double> flat;
  for (const auto& row : got) flat.insert(flat.end(), row.begin(), row.end());
  FOVEA_CHECK_CLOSE(from_vector(flat, expected.shape(), DType::f64), expected, 0, 1e-15);
}

// SGD over two single-parameter groups with the golden files' base rates 0.1 and 0.02.
struct TwoGroups {
  Tensor a = param({0}), b = param({0});
  SGD sgd{{{{a}, {.lr = 0.1}}, {{b}, {.lr = 0.02}}}};
  std::vector<double> lrs() const { return {sgd.lr(0), sgd.lr(1)}; }
};

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("sgd plain step") {
    Tensor p = from_vector({1, 2}, {2}, DType::f64).requires_grad_();
    SGD sgd({p}, {.lr = 0.5});
    step_with_grad(sgd, p, {1, -2});
    CHECK(to_vector(p) == std::vector<double>{0.5, 3});
  }
  TEST_CASE("sgd momentum and weight decay follow pytorch") {
    Tensor p = from_vector({1}, {1}, DType::f64).requires_grad_();
    SGD sgd({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
    step_with_grad(sgd, p, {1});  // d = 1 + 0.5 = 1.5; buf = 1.5; p = 1 - 0.15 = 0.85
    CHECK(to_vector(p)[0] == doctest::Approx(0.85));
    step_with_grad(sgd, p, {1});  // d = 1.425; buf = 0.9*1.5 + 1.425 = 2.775; p = 0.85 - 0.2775
    CHECK(to_vector(p)[0] == doctest::Approx(0.5725));
  }
  TEST_CASE("sgd nesterov") {
    Tensor p = from_vector({0}, {1}, DType::f64).requires_grad_();
    SGD sgd({p}, {.lr = 1.0, .momentum = 0.5, .nesterov = true});
    step_with_grad(sgd, p, {2});  // buf = 2; d = 2 + 0.5*2 = 3
    CHECK(to_vector(p)[0] == doctest::Approx(-3));
    step_with_grad(sgd, p, {2});  // buf = 1 + 2 = 3; d = 2 + 1.5 = 3.5
    CHECK(to_vector(p)[0] == doctest::Approx(-6.5));
  }
  TEST_CASE("sgd dampening applies from the second step") {
    Tensor p = param({0});
    SGD sgd({p}, {.lr = 1.0, .momentum = 0.5, .dampening = 0.5});
    step_with_grad(sgd, p, {2});  // buf = 2 (undamped on the first step)
    CHECK(to_vector(p)[0] == -2);
    step_with_grad(sgd, p, {2});  // buf = 0.5*2 + 0.5*2 = 2
    CHECK(to_vector(p)[0] == -4);
  }

  TEST_CASE("adam first step moves each weight by lr") {
    // m̂ = g and v̂ = g² after one step, so the update is lr·g/(|g| + eps).
    Tensor p = param({1, -1, 3});
    Adam adam({p}, {.lr = 0.1, .eps = 0});
    step_with_grad(adam, p, {0.5, -4, 1e-3});
    FOVEA_CHECK_CLOSE(p.detach(), from_vector({0.9, -0.9, 2.9}, {3}, DType::f64), 1e-15, 1e-15);
  }

  TEST_CASE("adamw decays decoupled from the gradient") {
    // With zero gradients AdamW only shrinks p by (1 − lr·wd) per step, while Adam feeds
    // wd·p into its moments and moves p by about lr per step.
    Tensor pw = param({2}), pa = param({2});
    AdamW adamw({pw}, {.lr = 0.1, .weight_decay = 0.5});
    Adam adam({pa}, {.lr = 0.1, .weight_decay = 0.5});
    for (int i = 0; i < 3; ++i) {
      step_with_grad(adamw, pw, {0});
      step_with_grad(adam, pa, {0});
    }
    CHECK(to_vector(pw)[0] == doctest::Approx(2 * 0.95 * 0.95 * 0.95).epsilon(1e-15));
    CHECK(std::abs(to_vector(pa)[0] - 1.7) < 1e-2);  // exact values: the golden test
  }

  TEST_CASE("optimizer steps match pytorch goldens for sgd adam adamw") {
    const GoldenFile golden = GoldenFile::load("optim_steps");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() == 7);
    for (const std::string& c : cases) {
      CAPTURE(c);
      const Tensor p = golden.get(c + "/p0").clone().requires_grad_();
      auto opt = make_golden_optimizer(golden.get_int(c + "/kind"), to_vector(golden.get(c + "/options")), p);
      const Tensor grads = golden.get(c + "/grads"), trajectory = golden.get(c + "/trajectory");
      for (int64_t t = 0; t < grads.size(0); ++t) {
        CAPTURE(t);
        p.set_grad(grads.select(0, t).clone());
        opt->step();
        FOVEA_CHECK_CLOSE(p.detach(), trajectory.select(0, t), kStepTol, kStepTol);
      }
    }
  }

  TEST_CASE("optimizer f32 parameters track the f64 goldens") {
    const GoldenFile golden = GoldenFile::load("optim_steps");
    for (const std::string c : {"sgd_nesterov", "adam_wd_amsgrad", "adamw"}) {
      CAPTURE(c);
      const Tensor p = golden.get(c + "/p0").to(DType::f32).requires_grad_();
      auto opt = make_golden_optimizer(golden.get_int(c + "/kind"), to_vector(golden.get(c + "/options")), p);
      const Tensor grads = golden.get(c + "/grads");
      for (int64_t t = 0; t < grads.size(0); ++t) {
        p.set_grad(grads.select(0, t).to(DType::f32));
        opt->step();
      }
      FOVEA_CHECK_CLOSE(p.detach(), golden.get(c + "/trajectory").select(0, grads.size(0) - 1).to(DType::f32), 1e-5,
                        1e-5);
    }
  }

  TEST_CASE("optimizer parameter groups keep their own hyperparameters") {
    // A "BatchNorm" group without weight decay beside a weight group with it.
    Tensor w = param({1}), bn = param({1});
    SGD sgd({{{w}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5}}, {{bn}, {.lr = 0.2, .momentum = 0.9}}});
    CHECK(sgd.num_groups() == 2);
    step_with_grad(sgd, w, {1});
    CHECK(to_vector(w)[0] == doctest::Approx(1 - 0.1 * 1.5));
    CHECK(to_vector(bn)[0] == 1);  // no gradient: skipped
    bn.set_grad(ones({1}, DType::f64));
    sgd.step();
    CHECK(to_vector(bn)[0] == doctest::Approx(1 - 0.2));
    sgd.set_lr(1, 0.05);
    CHECK(sgd.options(1).lr == 0.05);
    CHECK(sgd.options(0).weight_decay == 0.5);
    CHECK(sgd.options(1).weight_decay == 0);
  }

  TEST_CASE("optimizer skips parameters without gradients and zero_grad clears them") {
    Tensor a = param({1}), b = param({1});
    Adam adam({a, b}, {});
    a.set_grad(ones({1}, DType::f64));
    adam.step();
    CHECK(to_vector(b)[0] == 1);
    const OptimizerState state = adam.state_dict();
    CHECK(state.scalars.at("0.0.step") == 1);
    CHECK_FALSE(state.scalars.count("0.1.step"));
    CHECK(state.tensors.count("0.0.exp_avg"));
    CHECK_FALSE(state.tensors.count("0.1.exp_avg"));
    CHECK_FALSE(state.tensors.count("0.0.max_exp_avg_sq"));
    adam.zero_grad();
    CHECK_FALSE(a.grad().defined());
  }

  TEST_CASE("optimizer state_dict round trip continues bit-identically") {
    for (int kind = 0; kind < 3; ++kind) {
      CAPTURE(kind);
      const std::vector<double> options{0.05, 0.9, 0.1, 0.01, 0, 0.9, 0.99, 1e-8, 1};
      const Tensor p1 = param({1, 2, 3}), p2 = param({1, 2, 3});
      auto first = make_golden_optimizer(kind, options, p1);
      for (int s = 0; s < 3; ++s) step_with_grad(*first, p1, {0.3 * s, -1, 2});
      const OptimizerState state = first->state_dict();
      {
        NoGradGuard no_grad;
        p2.detach().copy_(p1.detach());
      }
      auto second = make_golden_optimizer(kind, {9, 0.5, 0, 0, 0, 0.5, 0.5, 1, 0}, p2);
      second->load_state_dict(state);
      CHECK(second->lr(0) == 0.05);
      for (int s = 0; s < 3; ++s) {
        step_with_grad(*first, p1, {1, s * 0.7, -0.2});
        step_with_grad(*second, p2, {1, s * 0.7, -0.2});
      }
      CHECK(to_vector(p1) == to_vector(p2));
    }
  }

  TEST_CASE("clip_grad_norm matches pytorch for norms 2 1 inf") {
    const GoldenFile golden = GoldenFile::load("optim_clip");
    REQUIRE(golden.cases().size() == 4);
    for (const std::string& c : golden.cases()) {
      CAPTURE(c);
      const Tensor a = zeros({3, 4}, DType::f64).requires_grad_(), b = zeros({5}, DType::f64).requires_grad_();
      const Tensor unused = zeros({2}, DType::f64).requires_grad_();
      a.set_grad(golden.get(c + "/grad_a").clone());
      b.set_grad(golden.get(c + "/grad_b").clone());
      const double code = golden.get(c + "/norm_type").item();
      const double norm_type = code < 0 ? std::numeric_limits<double>::infinity() : code;
      const double total = clip_grad_norm({a, unused, b}, golden.get(c + "/max_norm").item(), norm_type);
      CHECK(total == doctest::Approx(golden.get(c + "/total").item()).epsilon(1e-14));
      FOVEA_CHECK_CLOSE(a.grad(), golden.get(c + "/clipped_a"), 1e-15, 1e-14);
      FOVEA_CHECK_CLOSE(b.grad(), golden.get(c + "/clipped_b"), 1e-15, 1e-14);
    }
  }

  TEST_CASE("clip_grad_norm hand values and no-op cases") {
    const Tensor p = zeros({2}, DType::f64).requires_grad_();
    p.set_grad(from_vector({3, 4}, {2}, DType::f64));
    CHECK(clip_grad_norm({p}, 10.0) == 5.0);
    CHECK(to_vector(p.grad()) == std::vector<double>{3, 4});
    CHECK(clip_grad_norm({p}, 1.0) == 5.0);
    FOVEA_CHECK_CLOSE(p.grad(), from_vector({0.6, 0.8}, {2}, DType::f64), 1e-6, 0);
    CHECK(clip_grad_norm({zeros({1}, DType::f64).requires_grad_()}, 1.0) == 0.0);
  }

  TEST_CASE("schedule multistep cosine linear match pytorch") {
    const GoldenFile golden = GoldenFile::load("optim_schedules");
    auto run = [](auto make, int epochs) {
      TwoGroups g;
      auto schedule = make(g.sgd);
      std::vector<std::vector<double>> lrs{g.lrs()};
      CHECK(schedule.last_lr() == g.lrs());
      for (int e = 0; e < epochs; ++e) {
        schedule.step();
        lrs.push_back(g.lrs());
      }
      CHECK(schedule.last_epoch() == epochs);
      return lrs;
    };
    check_lrs(run([](SGD& o) { return MultiStepLR(o, {3, 6, 6, 9}, 0.2); }, 12), golden.get("multistep/lr"));
    check_lrs(run([](SGD& o) { return CosineAnnealingLR(o, 5, 0.001); }, 16), golden.get("cosine/lr"));
    check_lrs(run([](SGD& o) { return LinearLR(o, 0.25, 1.0, 4); }, 8), golden.get("linear/lr"));
  }

  TEST_CASE("schedule linear warm-up chains with cosine and multistep as in pytorch") {
    const GoldenFile golden = GoldenFile::load("optim_schedules");
    {
      TwoGroups g;
      LinearLR warmup(g.sgd, 0.1, 1.0, 3);
      CosineAnnealingLR cosine(g.sgd, 10);
      std::vector<std::vector<double>> lrs{g.lrs()};
      for (int e = 0; e < 12; ++e) {
        warmup.step();
        cosine.step();
        lrs.push_back(g.lrs());
      }
      check_lrs(lrs, golden.get("warmup_cosine/lr"));
    }
    {
      TwoGroups g;
      LinearLR warmup(g.sgd, 0.5, 1.0, 2);
      MultiStepLR steps(g.sgd, {1, 4}, 0.5);
      std::vector<std::vector<double>> lrs{g.lrs()};
      for (int e = 0; e < 7; ++e) {
        warmup.step();
        steps.step();
        lrs.push_back(g.lrs());
      }
      check_lrs(lrs, golden.get("warmup_multistep/lr"));
    }
  }

  TEST_CASE("schedule reduce on plateau matches pytorch in min rel and max abs modes") {
    const GoldenFile golden = GoldenFile::load("optim_schedules");
    auto run = [&](const std::string& name, PlateauOptions options) {
      TwoGroups g;
      ReduceLROnPlateau plateau(g.sgd, options);
      std::vector<std::vector<double>> lrs{g.lrs()};
      for (double metric : to_vector(golden.get(name + "/metrics"))) {
        plateau.step(metric);
        lrs.push_back(g.lrs());
      }
      CAPTURE(name);
      check_lrs(lrs, golden.get(name + "/lr"));
    };
    run("plateau_min", {.factor = 0.5, .patience = 2, .threshold = 0.01, .cooldown = 1, .min_lr = 0.004});
    run("plateau_max_abs", {.mode = PlateauOptions::Mode::max, .factor = 0.1, .patience = 1, .threshold = 0.02,
                            .threshold_mode = PlateauOptions::Threshold::abs, .min_lrs = {1e-4, 1e-3}});
  }

  TEST_CASE("schedule state round trip continues identically") {
    TwoGroups a;
    LinearLR warm_a(a.sgd, 0.1, 1.0, 4);
    CosineAnnealingLR cos_a(a.sgd, 7, 0.01);
    ReduceLROnPlateau plateau_a(a.sgd, {.patience = 1});
    for (int e = 0; e < 3; ++e) {
      warm_a.step();
      cos_a.step();
      plateau_a.step(1.0);
    }
    CHECK(plateau_a.best() == 1.0);
    TwoGroups b;
    LinearLR warm_b(b.sgd, 0.1, 1.0, 4);
    CosineAnnealingLR cos_b(b.sgd, 7, 0.01);
    ReduceLROnPlateau plateau_b(b.sgd, {.patience = 1});
    b.sgd.load_state_dict(a.sgd.state_dict());
    warm_b.load_state_dict(warm_a.state_dict());
    cos_b.load_state_dict(cos_a.state_dict());
    plateau_b.load_state_dict(plateau_a.state_dict());
    CHECK(cos_b.last_epoch() == 3);
    CHECK(plateau_b.num_bad_epochs() == plateau_a.num_bad_epochs());
    for (int e = 0; e < 8; ++e) {
      warm_a.step();
      warm_b.step();
      cos_a.step();
      cos_b.step();
      plateau_a.step(2.0 - e * 0.1);
      plateau_b.step(2.0 - e * 0.1);
      CHECK(a.lrs() == b.lrs());
    }
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("sgd rejects bad options and non-leaf parameters") {
    Tensor p = ones({1}, DType::f64).requires_grad_();
    CHECK_THROWS_WITH_AS(SGD({p}, {.lr = -1}), doctest::Contains("learning rate"), Error);
    CHECK_THROWS_WITH_AS(SGD({p}, {.lr = 0.1, .nesterov = true}), doctest::Contains("nesterov"), Error);
    CHECK_THROWS_WITH_AS(SGD({mul(p, 2.0)}, {}), doctest::Contains("leaf tensor"), Error);
    CHECK_THROWS_WITH_AS(SGD({ones({1})}, {}), doctest::Contains("leaf tensor"), Error);
  }

  TEST_CASE("optimizer rejects duplicates, empty lists and bad adam options") {
    Tensor p = ones({1}, DType::f64).requires_grad_();
    CHECK_THROWS_WITH_AS(SGD({{{p}, {}}, {{p}, {}}}), doctest::Contains("appears twice"), Error);
    CHECK_THROWS_WITH_AS(SGD(std::vector<Tensor>{}, {}), doctest::Contains("no parameters"), Error);
    CHECK_THROWS_WITH_AS(Adam({p}, {.beta1 = 1.0}), doctest::Contains("beta1"), Error);
    CHECK_THROWS_WITH_AS(AdamW({p}, {.eps = -1}), doctest::Contains("AdamW"), Error);
    CHECK_THROWS_WITH_AS(Adam({p}, {.weight_decay = -1}), doctest::Contains("weight_decay"), Error);
    CHECK_THROWS_WITH_AS(clip_grad_norm({p}, 1.0, 0.0), doctest::Contains("norm_type"), Error);
    p.set_grad(full({1}, std::nan(""), DType::f64));
    CHECK_THROWS_WITH_AS(clip_grad_norm({p}, 1.0, 2.0, true), doctest::Contains("error_if_nonfinite"), Error);
  }

  TEST_CASE("optimizer load_state_dict names every problem") {
    Tensor a = param({1, 2}), b = param({3});
    Adam adam({{{a}, {}}, {{b}, {.amsgrad = true}}});
    a.set_grad(ones({2}, DType::f64));
    b.set_grad(ones({1}, DType::f64));
    adam.step();
    OptimizerState state = adam.state_dict();
    state.scalars.erase("1.lr");
    state.scalars["2.lr"] = 0.1;
    state.scalars["0.momentum"] = 0.9;
    state.scalars["0.0.step"] = -1;
    state.tensors["0.0.exp_avg"] = zeros({3}, DType::f64);
    state.tensors["1.0.exp_avg_sq"] = zeros({1}, DType::f32);
    state.tensors["0.1.exp_avg"] = zeros({1}, DType::f64);
    state.tensors["0.0.momentum_buffer"] = zeros({2}, DType::f64);
    const std::vector<double> before = to_vector(a);
    try {
      adam.load_state_dict(state);
      FAIL("a broken optimiser state was accepted");
    } catch (const Error& e) {
      const std::string message = e.what();
      INFO(message);
      for (const char* expected : {"8 problems", "missing key '1.lr'", "unexpected key '2.lr'",
                                   "unexpected key '0.momentum'", "'0.0.step': a step count",
                                   "'0.0.exp_avg': given [3] f64, parameter has [2] f64",
                                   "'1.0.exp_avg_sq': given [1] f32, parameter has [1] f64",
                                   "unexpected key '0.1.exp_avg'", "unexpected key '0.0.momentum_buffer'"})
        CHECK(message.find(expected) != std::string::npos);
    }
    CHECK(adam.lr(1) == 1e-3);
    CHECK(to_vector(a) == before);
  }

  TEST_CASE("schedule rejects bad options and foreign state") {
    Tensor p = param({1});
    SGD sgd({p}, {});
    CHECK_THROWS_WITH_AS(CosineAnnealingLR(sgd, 0), doctest::Contains("T_max"), Error);
    CHECK_THROWS_WITH_AS(LinearLR(sgd, 0.0), doctest::Contains("start_factor"), Error);
    CHECK_THROWS_WITH_AS(LinearLR(sgd, 0.5, 1.5), doctest::Contains("end_factor"), Error);
    CHECK_THROWS_WITH_AS(MultiStepLR(sgd, {1}, 0.0), doctest::Contains("gamma"), Error);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(sgd, {.factor = 1.0}), doctest::Contains("factor"), Error);
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(sgd, {.min_lrs = {0, 0}}), doctest::Contains("one per group"), Error);
    ReduceLROnPlateau plateau(sgd, {});
    MultiStepLR steps(sgd, {2});
    CHECK_THROWS_WITH_AS(steps.load_state_dict(plateau.state_dict()),
                         doctest::Contains("unexpected key 'best'"), Error);
    ScheduleState broken = steps.state_dict();
    broken.erase("base_lr.0");
    broken["last_epoch"] = 1.5;
    try {
      steps.load_state_dict(broken);
      FAIL("a broken schedule state was accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("missing key 'base_lr.0'") != std::string::npos);
      CHECK(std::string(e.what()).find("last_epoch must be an integer") != std::string::npos);
    }
  }
}
