// The DPC ConvGRU (models/convgru.h) on the CPU: gradcheck in double of the fused cell for x, h
// and every weight and bias at small odd sizes for k = 1 (the GEMM fast path) and k = 3 (conv2d);
// the fused cell and sequence against the unfused twin in forward and backward through time,
// without dropout and with dropout 0.1 from the same generator state; both against PyTorch goldens
// of DPC's ConvGRU (tools/make_goldens.py) over one and two layers; DPC's orthogonal per-gate init;
// bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "models/convgru.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::GoldenFile;
using testing::gradcheck;
using testing::random_input;

namespace {

// Leaves in double (or dtype) with requires_grad, biases non-zero so their gradients matter.
ConvGRUWeights make_weights(int64_t in, int64_t hid, int64_t k, uint64_t seed, DType dtype = DType::f64) {
  const double bound = 1.0 / std::sqrt(static_cast<double>((in + hid) * k * k));
  ConvGRUWeights w;
  w.gate_weight = random_input({2 * hid, in + hid, k, k}, seed, -bound, bound, false).to(dtype).requires_grad_();
  w.gate_bias = random_input({2 * hid}, seed + 1, -0.5, 0.5, false).to(dtype).requires_grad_();
  w.out_weight = random_input({hid, in + hid, k, k}, seed + 2, -bound, bound, false).to(dtype).requires_grad_();
  w.out_bias = random_input({hid}, seed + 3, -0.5, 0.5, false).to(dtype).requires_grad_();
  return w;
}

ConvGRUWeights leaves_of(const ConvGRUWeights& w) {
  auto copy = [](const Tensor& t) { return t.defined() ? t.detach().clone().requires_grad_() : Tensor(); };
  return {copy(w.gate_weight), copy(w.gate_bias), copy(w.out_weight), copy(w.out_bias)};
}

struct SequenceResult {
  Tensor states, last, grad_x, grad_h0, grad_gate_weight, grad_gate_bias, grad_out_weight, grad_out_bias;
};

// Runs the sequence on fresh leaves and backpropagates fixed upstream gradients into both
// outputs (states and last).
SequenceResult run_sequence(bool fused, const Tensor& x, const Tensor& h0, const ConvGRUWeights& w, double p,
                            uint64_t dropout_seed) {
  const Tensor xl = x.detach().clone().requires_grad_(), hl = h0.detach().clone().requires_grad_();
  const ConvGRUWeights wl = leaves_of(w);
  Generator gen(dropout_seed);
  const ConvGRUOutput out = convgru(xl, wl, p, true, &gen, fused, hl);
  Generator up(5);
  const Tensor loss = add(sum(mul(out.states, rand(out.states.shape(), out.states.dtype(), &up))),
                          sum(mul(out.last, rand(out.last.shape(), out.last.dtype(), &up))));
  loss.backward();
  return {out.states.detach(), out.last.detach(), xl.grad(), hl.grad(), wl.gate_weight.grad(),
          wl.gate_bias.grad(), wl.out_weight.grad(), wl.out_bias.grad()};
}

void check_sequences_agree(int64_t k, double p, DType dtype, double tol) {
  const int64_t n = 2, steps = 3, in = 3, hid = 4, height = 3, width = 5;
  const ConvGRUWeights w = make_weights(in, hid, k, 100 + k, dtype);
  const Tensor x = random_input({n, steps, in, height, width}, 41, -1, 1, false).to(dtype);
  const Tensor h0 = random_input({n, hid, height, width}, 42, -1, 1, false).to(dtype);
  const SequenceResult f = run_sequence(true, x, h0, w, p, 9), u = run_sequence(false, x, h0, w, p, 9);
  REQUIRE(f.states.shape() == Shape{n, steps, hid, height, width});
  REQUIRE(f.last.shape() == Shape{n, hid, height, width});
  FOVEA_CHECK_CLOSE(f.states, u.states, tol, tol);
  FOVEA_CHECK_CLOSE(f.last, u.last, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_x, u.grad_x, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_h0, u.grad_h0, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_gate_weight, u.grad_gate_weight, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_gate_bias, u.grad_gate_bias, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_out_weight, u.grad_out_weight, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_out_bias, u.grad_out_bias, tol, tol);
}

// Runs the golden case `name` (layers stacked as DPC's ConvGRU: the states of one layer are the
// next layer's input) on fresh leaves in dtype, backpropagates sum(states·grad_states) +
// sum(last·grad_last) and compares the outputs and every gradient with PyTorch's.
void check_golden_case(const GoldenFile& golden, const std::string& name, DType dtype, bool fused, double tol) {
  const auto field = [&](const std::string& f) { return name + "/" + f; };
  const int64_t layers = golden.get_int(field("layers"));
  const double p = golden.get(field("dropout_p")).item();
  const Tensor x = golden.get_leaf(field("x"), dtype);
  std::vector<ConvGRUWeights> weights;
  std::vector<Tensor> h0s, lasts;
  Tensor input = x;
  for (int64_t l = 0; l < layers; ++l) {
    const std::string suffix = "_l" + std::to_string(l);
    const auto leaf = [&](const std::string& f) {
      return golden.has(field(f + suffix)) ? golden.get_leaf(field(f + suffix), dtype) : Tensor();
    };
    weights.push_back({leaf("gate_weight"), leaf("gate_bias"), leaf("out_weight"), leaf("out_bias")});
    h0s.push_back(leaf("h0"));
    const ConvGRUOutput out = convgru(input, weights.back(), p, false, nullptr, fused, h0s.back());
    input = out.states;
    lasts.push_back(out.last);
  }
  const Tensor last = stack(lasts, 1);
  FOVEA_CHECK_CLOSE(input, golden.get(field("states")).to(dtype), tol, tol);
  FOVEA_CHECK_CLOSE(last, golden.get(field("last")).to(dtype), tol, tol);
  add(sum(mul(input, golden.get(field("grad_states")).to(dtype))),
      sum(mul(last, golden.get(field("grad_last")).to(dtype))))
      .backward();
  FOVEA_CHECK_CLOSE(x.grad(), golden.get(field("grad_x")).to(dtype), tol, tol);
  for (int64_t l = 0; l < layers; ++l) {
    CAPTURE(l);
    const std::string suffix = "_l" + std::to_string(l);
    const auto check_grad = [&](const Tensor& leaf, const std::string& f) {
      REQUIRE(leaf.defined() == golden.has(field("grad_" + f + suffix)));
      if (leaf.defined()) FOVEA_CHECK_CLOSE(leaf.grad(), golden.get(field("grad_" + f + suffix)).to(dtype), tol, tol);
    };
    check_grad(weights[l].gate_weight, "gate_weight");
    check_grad(weights[l].gate_bias, "gate_bias");
    check_grad(weights[l].out_weight, "out_weight");
    check_grad(weights[l].out_bias, "out_bias");
    check_grad(h0s[l], "h0");
  }
}

// max |W·Wᵀ − gain²·I| over the rows of a [rows, ...] weight flattened to [rows, cols].
double orthogonality_error(const Tensor& weight, double gain) {
  const int64_t rows = weight.size(0);
  const Tensor flat = weight.detach().to(DType::f64).reshape({rows, weight.numel() / rows});
  std::vector<double> identity(rows * rows, 0.0);
  for (int64_t i = 0; i < rows; ++i) identity[i * rows + i] = gain * gain;
  return max(abs(sub(matmul(flat, flat.t()), from_vector(identity, {rows, rows}, DType::f64)))).item();
}

}  // namespace

TEST_SUITE("gradcheck") {
  TEST_CASE("convgru fused cell gradcheck in double for x h weights and biases at k 1 and k 3") {
    for (int64_t k : {1, 3}) {
      CAPTURE(k);
      const int64_t in = 3, hid = 5;
      const ConvGRUWeights w = make_weights(in, hid, k, 10 * k);
      const Tensor x = random_input({2, in, 3, 5}, 7, -1, 1);
      const Tensor h = random_input({2, hid, 3, 5}, 8, -1, 1);
      const auto cell = [](const std::vector<Tensor>& a) {
        return convgru_cell(a[0], a[1], ConvGRUWeights{a[2], a[3], a[4], a[5]});
      };
      FOVEA_CHECK_GRADCHECK(gradcheck(cell, {x, h, w.gate_weight, w.gate_bias, w.out_weight, w.out_bias}));
    }
  }

  TEST_CASE("convgru fused sequence gradcheck in double through time at k 3") {
    const ConvGRUWeights w = make_weights(2, 3, 3, 77);
    const Tensor x = random_input({1, 3, 2, 3, 3}, 17, -1, 1);
    const auto seq = [](const std::vector<Tensor>& a) {
      return convgru(a[0], ConvGRUWeights{a[1], a[2], a[3], a[4]}, 0.0, true).states;
    };
    FOVEA_CHECK_GRADCHECK(gradcheck(seq, {x, w.gate_weight, w.gate_bias, w.out_weight, w.out_bias}));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("convgru fused matches unfused over 3 steps without dropout") {
    for (int64_t k : {1, 3}) {
      CAPTURE(k);
      check_sequences_agree(k, 0.0, DType::f64, 1e-12);
      check_sequences_agree(k, 0.0, DType::f32, 2e-5);
    }
  }

  TEST_CASE("convgru fused matches unfused over 3 steps with dropout 0.1 and the same generator") {
    for (int64_t k : {1, 3}) {
      CAPTURE(k);
      check_sequences_agree(k, 0.1, DType::f64, 1e-12);
      check_sequences_agree(k, 0.1, DType::f32, 2e-5);
    }
  }

  TEST_CASE("convgru dropout zeroes carried state and is the identity when not training") {
    const ConvGRUWeights w = make_weights(3, 8, 1, 3);
    const Tensor x = random_input({2, 4, 3, 4, 4}, 4, -1, 1, false);
    Generator gen(1);
    const ConvGRUOutput dropped = convgru(x, w, 0.5, true, &gen);
    CHECK(sum(eq(dropped.states, 0.0).to(DType::f64)).item() > 0);
    FOVEA_CHECK_CLOSE(dropped.last, dropped.states.select(1, 3), 0.0, 0.0);
    const ConvGRUOutput eval = convgru(x, w, 0.5, false, &gen), plain = convgru(x, w, 0.0, true);
    FOVEA_CHECK_CLOSE(eval.states, plain.states, 0.0, 0.0);
  }

  TEST_CASE("convgru with zero initial state matches the cell written out by hand at k 1") {
    const int64_t in = 2, hid = 3;
    const ConvGRUWeights w = make_weights(in, hid, 1, 12);
    const Tensor x = random_input({1, 1, in, 2, 2}, 13, -1, 1, false);
    const Tensor h = convgru(x, w, 0.0, true).last;
    const Tensor xt = x.select(1, 0).reshape({in, 4});
    const Tensor wz = w.gate_weight.detach().narrow(0, 0, hid).narrow(1, 0, in).reshape({hid, in});
    const Tensor wo = w.out_weight.detach().narrow(1, 0, in).reshape({hid, in});
    const Tensor z = sigmoid(add(matmul(wz, xt), w.gate_bias.detach().narrow(0, 0, hid).reshape({hid, 1})));
    const Tensor o = tanh(add(matmul(wo, xt), w.out_bias.detach().reshape({hid, 1})));
    FOVEA_CHECK_CLOSE(h.reshape({hid, 4}), mul(o, z), 1e-14, 1e-12);
  }

  TEST_CASE("convgru golden fused and unfused match pytorch in f64 and f32") {
    // Cases: k 1 with h0; k 3 from a zero state over 4 steps; two stacked layers at k 3; k 5
    // larger than the 2×3 image without biases. DPC's dropout 0.1 in evaluation mode (identity).
    const GoldenFile golden = GoldenFile::load("convgru");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 4);
    for (const std::string& name : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        for (bool fused : {true, false}) {
          CAPTURE(name);
          CAPTURE(dtype_name(dtype));
          CAPTURE(fused);
          check_golden_case(golden, name, dtype, fused, dtype == DType::f64 ? 1e-11 : 1e-4);
        }
      }
    }
  }

  TEST_CASE("convgru_weights are orthogonal per gate with zero biases as dpc") {
    // Each gate block is [hid, (in + hid)·k·k], never taller than wide: its rows are orthonormal.
    for (int64_t k : {1, 3}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(k);
        CAPTURE(dtype_name(dtype));
        const int64_t in = 3, hid = 5;
        Generator gen(21);
        const ConvGRUWeights w = convgru_weights(in, hid, k, gen, dtype);
        REQUIRE(w.gate_weight.shape() == Shape{2 * hid, in + hid, k, k});
        REQUIRE(w.out_weight.shape() == Shape{hid, in + hid, k, k});
        const double tol = dtype == DType::f64 ? 1e-12 : 1e-6;
        const Tensor update = w.gate_weight.narrow(0, 0, hid), reset = w.gate_weight.narrow(0, hid, hid);
        CHECK(orthogonality_error(update, 1.0) < tol);
        CHECK(orthogonality_error(reset, 1.0) < tol);
        CHECK(orthogonality_error(w.out_weight, 1.0) < tol);
        // Drawn separately: the two gate blocks differ, and W_z·W_rᵀ is no identity.
        CHECK(max(abs(sub(update.detach(), reset.detach()))).item() > 0.1);
        CHECK(orthogonality_error(w.gate_weight, 1.0) > 0.1);
        CHECK(max(abs(w.gate_bias)).item() == 0.0);
        CHECK(max(abs(w.out_bias)).item() == 0.0);
        for (const Tensor* t : {&w.gate_weight, &w.gate_bias, &w.out_weight, &w.out_bias}) {
          CHECK(t->requires_grad());
          CHECK(t->dtype() == dtype);
        }
      }
    }
    Generator gen(22);
    const ConvGRUWeights scaled = convgru_weights(2, 3, 1, gen, DType::f64, Device::cpu(), 0.1);
    CHECK(orthogonality_error(scaled.gate_weight.narrow(0, 3, 3), 0.1) < 1e-12);
    CHECK(orthogonality_error(scaled.out_weight, 0.1) < 1e-12);
  }

  TEST_CASE("convgru_weights are deterministic for a seed") {
    Generator a(5), b(5), c(6);
    const ConvGRUWeights first = convgru_weights(4, 3, 3, a), second = convgru_weights(4, 3, 3, b);
    const ConvGRUWeights other = convgru_weights(4, 3, 3, c);
    FOVEA_CHECK_CLOSE(first.gate_weight, second.gate_weight, 0.0, 0.0);
    FOVEA_CHECK_CLOSE(first.out_weight, second.out_weight, 0.0, 0.0);
    CHECK(max(abs(sub(first.gate_weight.detach(), other.gate_weight.detach()))).item() > 0.1);
    CHECK(max(abs(sub(first.out_weight.detach(), other.out_weight.detach()))).item() > 0.1);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("convgru rejects channel mismatch even kernels and bad shapes") {
    const ConvGRUWeights w = make_weights(3, 4, 3, 1);
    const Tensor h = zeros({1, 4, 5, 5}, DType::f64);
    CHECK_THROWS_WITH_AS(convgru_cell(zeros({1, 2, 5, 5}, DType::f64), h, w),
                         doctest::Contains("x has 2 and the state 4"), Error);
    CHECK_THROWS_WITH_AS(convgru_cell(zeros({1, 3, 5, 5}, DType::f64), zeros({1, 5, 5, 5}, DType::f64), w),
                         doctest::Contains("h must be [N, hid, H, W] = [1, 4, 5, 5]"), Error);
    const ConvGRUWeights even = make_weights(3, 4, 2, 1);
    CHECK_THROWS_WITH_AS(convgru_cell(zeros({1, 3, 5, 5}, DType::f64), h, even), doctest::Contains("odd size k"),
                         Error);
    Generator gen(0);
    CHECK_THROWS_WITH_AS(convgru_weights(3, 4, 2, gen), doctest::Contains("odd kernel size"), Error);
    ConvGRUWeights bad_gate = w;
    bad_gate.gate_weight = zeros({4, 7, 3, 3}, DType::f64);
    CHECK_THROWS_WITH_AS(convgru_cell(zeros({1, 3, 5, 5}, DType::f64), h, bad_gate),
                         doctest::Contains("gate_weight (W_z over W_r) must be [8, 7, 3, 3]"), Error);
    CHECK_THROWS_WITH_AS(convgru(zeros({1, 3, 5, 5}, DType::f64), w, 0.0, true), doctest::Contains("[N, T, in, H, W]"),
                         Error);
    CHECK_THROWS_WITH_AS(convgru(zeros({1, 2, 3, 5, 5}, DType::f64), w, 1.0, true),
                         doctest::Contains("dropout_p must be in [0, 1)"), Error);
    CHECK_THROWS_WITH_AS(convgru_cell(zeros({1, 3, 5, 5}, DType::f32), h, w), doctest::Contains("but x is"), Error);
  }
}
