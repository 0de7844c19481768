// The DPC ConvGRU (models/convgru.h) on the CPU: gradcheck in double of the fused cell for x, h
// and every weight and bias at small odd sizes for k = 1 (the GEMM fast path) and k = 3 (conv2d);
// the fused cell and sequence against the unfused twin in forward and backward through time,
// without dropout and with dropout 0.1 from the same generator state; bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "models/convgru.h"
#include "tests/gradcheck.h"

using namespace fovea;
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
