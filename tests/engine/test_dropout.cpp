// dropout: the documented Philox mask rule, mask statistics, seeding, eval mode, scaling,
// backward, gradchecks with a re-seeded generator, bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "kernels/philox.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::gradcheck;
using testing::random_input;

namespace {

// 1 where dropout kept the element, 0 where it dropped it (inputs must be non-zero).
std::vector<double> kept_mask(const Tensor& out) {
  std::vector<double> mask = to_vector(out);
  for (double& v : mask) v = v != 0.0 ? 1.0 : 0.0;
  return mask;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("dropout mask follows the documented philox rule") {
    const double p = 0.4;
    Generator gen(99);
    gen.advance(17);  // a generator that has already been used
    Tensor out = dropout(ones({6, 7}, DType::f64), p, true, &gen);
    CHECK(gen.offset() == 17 + 42);
    const std::vector<double> values = to_vector(out);
    bool all_match = true;
    for (int64_t i = 0; i < 42; ++i) {
      const float u = kernels::philox_uniform_f32(kernels::philox_block(99, 17 + static_cast<uint64_t>(i))[0]);
      const double expected = static_cast<double>(u) >= p ? 1.0 / (1.0 - p) : 0.0;
      all_match = all_match && values[i] == expected;
    }
    CHECK(all_match);
  }
  TEST_CASE("dropout keeps a fraction 1 - p of a large tensor") {
    // The kept count is Binomial(n, 1 - p): mean n(1 - p), sd sqrt(n p (1 - p)) = 458 here.
    // A 6 sd band fails with probability below 1e-8 for a correct mask.
    const int64_t n = 1'000'000;
    const double p = 0.3;
    Generator gen(2024);
    const Tensor out = dropout(ones({n}), p, true, &gen);
    const double kept = sum(gt(out, 0.0).to(DType::f64)).item();
    const double sd = std::sqrt(n * p * (1 - p));
    CHECK(std::abs(kept - n * (1 - p)) <= 6 * sd);
  }
  TEST_CASE("dropout same seed gives the same mask and calls advance the generator") {
    Tensor x = ones({50, 40});
    Generator first(5), second(5);
    const Tensor a = dropout(x, 0.5, true, &first);
    CHECK(to_vector(a) == to_vector(dropout(x, 0.5, true, &second)));
    CHECK(first.offset() == 2000);
    CHECK(to_vector(dropout(x, 0.5, true, &first)) != to_vector(a));
    Generator other(6);
    CHECK(to_vector(dropout(x, 0.5, true, &other)) != to_vector(a));
  }
  TEST_CASE("dropout draws from the default generator when none is given") {
    Tensor x = ones({300});
    manual_seed(77);
    const Tensor from_default = dropout(x, 0.2, true);
    CHECK(default_generator().offset() == 300);
    Generator explicit_gen(77);
    CHECK(to_vector(from_default) == to_vector(dropout(x, 0.2, true, &explicit_gen)));
  }
  TEST_CASE("dropout in eval mode or with p 0 is the identity") {
    Tensor x = random_input({4, 5}, 1, -1.0, 1.0, false);
    Generator gen(3);
    Tensor eval = dropout(x, 0.7, false, &gen);
    CHECK(eval.impl() == x.impl());
    CHECK(dropout(x, 0.0, true, &gen).impl() == x.impl());
    CHECK(gen.offset() == 0);
  }
  TEST_CASE("dropout scales kept values by 1 over 1 - p") {
    Tensor x = random_input({200}, 2, 1.0, 2.0, false);
    Generator gen(8);
    const double p = 0.25;
    const std::vector<double> in = to_vector(x), out = to_vector(dropout(x, p, true, &gen));
    bool scaled = true;
    int64_t kept = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      if (out[i] == 0.0) continue;
      kept++;
      scaled = scaled && std::abs(out[i] - in[i] / (1 - p)) <= 1e-15 * std::abs(out[i]);
    }
    CHECK(scaled);
    CHECK(kept > 0);
    CHECK(kept < 200);
  }
  TEST_CASE("dropout masks by row-major position for non-contiguous inputs") {
    Tensor x = add(arange(0.0, 12.0, 1.0, DType::f32), 1.0).view({3, 4}).t();
    Generator a(4), b(4);
    CHECK(to_vector(dropout(x, 0.5, true, &a)) == to_vector(dropout(x.contiguous(), 0.5, true, &b)));
  }
  TEST_CASE("dropout f32 and f64 draw the same mask") {
    Generator a(12), b(12);
    CHECK(kept_mask(dropout(ones({500}), 0.6, true, &a)) ==
          kept_mask(dropout(ones({500}, DType::f64), 0.6, true, &b)));
  }
  TEST_CASE("dropout p 1 gives zeros and zero gradient") {
    Tensor x = random_input({10}, 4);
    Tensor out = dropout(x, 1.0, true);
    CHECK(to_vector(out) == std::vector<double>(10, 0.0));
    sum(out).backward();
    CHECK(to_vector(x.grad()) == std::vector<double>(10, 0.0));
  }
  TEST_CASE("dropout backward applies the forward mask and scale") {
    Tensor x = random_input({30}, 5, 1.0, 2.0);
    Generator gen(31);
    const double p = 0.5;
    Tensor out = dropout(x, p, true, &gen);
    sum(out).backward();
    std::vector<double> expected = kept_mask(out);
    for (double& v : expected) v /= 1 - p;
    CHECK(to_vector(x.grad()) == expected);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("dropout gradcheck p 0.3 with a re-seeded generator") {
    Generator gen;
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [&gen](const std::vector<Tensor>& in) {
          gen.set_state(42, 0);
          return dropout(in[0], 0.3, true, &gen);
        },
        {random_input({4, 6}, 6)}));
  }
  TEST_CASE("dropout gradcheck non-contiguous input p 0.6") {
    Generator gen;
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [&gen](const std::vector<Tensor>& in) {
          gen.set_state(43, 0);
          return dropout(in[0].t(), 0.6, true, &gen);
        },
        {random_input({5, 3}, 7)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("dropout p out of range") {
    Tensor x = ones({3});
    CHECK_THROWS_WITH_AS(dropout(x, -0.1, true), doctest::Contains("p must be in [0, 1], got -0.1"), fovea::Error);
    CHECK_THROWS_WITH_AS(dropout(x, 1.5, false), doctest::Contains("got 1.5"), fovea::Error);
    CHECK_THROWS_WITH_AS(dropout(x, std::nan(""), true), doctest::Contains("p must be in [0, 1]"), fovea::Error);
  }
  TEST_CASE("dropout of an integer or undefined tensor") {
    CHECK_THROWS_WITH_AS(dropout(arange(4), 0.5, true), doctest::Contains("must be f32 or f64, got i64"), fovea::Error);
    CHECK_THROWS_WITH_AS(dropout(Tensor(), 0.5, true), doctest::Contains("undefined"), fovea::Error);
  }
}
