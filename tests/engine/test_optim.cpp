// SGD against hand-computed updates (plain, momentum, Nesterov, weight decay).
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "engine/optim.h"
#include "tests/gradcheck.h"

using namespace fovea;

namespace {
// One step on loss = sum(g0 * p) so that p.grad == g0 exactly.
void step_with_grad(SGD& sgd, const Tensor& p, const std::vector<double>& g) {
  sgd.zero_grad();
  sum(mul(p, from_vector(g, p.shape(), DType::f64))).backward();
  sgd.step();
}
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
}

TEST_SUITE("badinput") {
  TEST_CASE("sgd rejects bad options and non-leaf parameters") {
    Tensor p = ones({1}, DType::f64).requires_grad_();
    CHECK_THROWS_WITH_AS(SGD({p}, {.lr = -1}), doctest::Contains("learning rate"), Error);
    CHECK_THROWS_WITH_AS(SGD({p}, {.lr = 0.1, .nesterov = true}), doctest::Contains("nesterov"), Error);
    CHECK_THROWS_WITH_AS(SGD({mul(p, 2.0)}, {}), doctest::Contains("leaf tensor"), Error);
    CHECK_THROWS_WITH_AS(SGD({ones({1})}, {}), doctest::Contains("leaf tensor"), Error);
  }
}
