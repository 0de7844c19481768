// Autograd: accumulation into leaves, explicit output gradients, NoGradGuard, detach,
// freeing the graph, and detection of in-place changes to saved tensors.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace fovea;

TEST_SUITE("unit") {
  TEST_CASE("autograd accumulates gradients across uses and backward calls") {
    Tensor x = from_vector({1, 2, 3}, {3}, DType::f64).requires_grad_();
    Tensor y = sum(mul(x, x)) + sum(mul(x, 3.0));  // dy/dx = 2x + 3
    y.backward();
    CHECK(to_vector(x.grad()) == std::vector<double>{5, 7, 9});
    sum(x).backward();
    CHECK(to_vector(x.grad()) == std::vector<double>{6, 8, 10});
    x.zero_grad();
    CHECK_FALSE(x.grad().defined());
  }

  TEST_CASE("autograd backward with an explicit output gradient") {
    Tensor x = from_vector({1, 2}, {2}, DType::f64).requires_grad_();
    Tensor y = mul(x, x);
    y.backward(from_vector({1, 10}, {2}, DType::f64));
    CHECK(to_vector(x.grad()) == std::vector<double>{2, 40});
  }

  TEST_CASE("autograd no_grad guard and detach record nothing") {
    Tensor x = ones({2}, DType::f64).requires_grad_();
    {
      NoGradGuard guard;
      CHECK_FALSE(mul(x, 2.0).requires_grad());
    }
    CHECK(mul(x, 2.0).requires_grad());
    CHECK_FALSE(mul(x.detach(), 2.0).requires_grad());
    CHECK(x.detach().impl()->storage == x.impl()->storage);
  }

  TEST_CASE("autograd graph through views reaches the base") {
    Tensor x = arange(0.0, 6.0, 1.0, DType::f64).view({2, 3}).detach().requires_grad_();
    Tensor y = sum(x.t().narrow(0, 1, 2).select(1, 0));  // x[0,1] + x[0,2]
    y.backward();
    CHECK(to_vector(x.grad()) == std::vector<double>{0, 1, 1, 0, 0, 0});
  }

  TEST_CASE("autograd retain_graph allows a second backward") {
    Tensor x = from_vector({3}, {1}, DType::f64).requires_grad_();
    Tensor y = sum(mul(x, x));
    y.backward(Tensor(), true);
    y.backward();
    CHECK(to_vector(x.grad()) == std::vector<double>{12});
  }

  TEST_CASE("autograd diamond graph sums both paths") {
    Tensor x = from_vector({2}, {1}, DType::f64).requires_grad_();
    Tensor a = exp(x);
    Tensor y = sum(add(mul(a, a), a));  // e^{2x} + e^x
    y.backward();
    const double e = std::exp(2.0);
    CHECK(to_vector(x.grad())[0] == doctest::Approx(2 * e * e + e));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("autograd backward twice through a freed graph is an error") {
    Tensor x = ones({2}, DType::f64).requires_grad_();
    Tensor y = sum(mul(x, x));
    y.backward();
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), Error);
  }

  TEST_CASE("autograd in-place change of a saved tensor is detected") {
    Tensor x = ones({2}, DType::f64).requires_grad_();
    Tensor h = mul(x, 2.0);
    Tensor y = sum(mul(h, h));
    {
      NoGradGuard guard;
      h.detach().fill_(5);
    }
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("modified in place"), Error);
  }

  TEST_CASE("autograd backward on a tensor without grad or with a wrong gradient shape") {
    CHECK_THROWS_WITH_AS(ones({1}).backward(), doctest::Contains("does not require grad"), Error);
    Tensor x = ones({2}, DType::f64).requires_grad_();
    Tensor y = mul(x, 2.0);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("one-element output"), Error);
    CHECK_THROWS_WITH_AS(y.backward(ones({3}, DType::f64)), doctest::Contains("expected [2]"), Error);
    CHECK_THROWS_WITH_AS(ones({2}, DType::i64).requires_grad_(), doctest::Contains("floating-point"), Error);
    CHECK_THROWS_WITH_AS(y.requires_grad_(false), doctest::Contains("only leaf tensors"), Error);
  }

  TEST_CASE("autograd in-place update of a leaf that requires grad is refused") {
    Tensor x = ones({2}, DType::f64).requires_grad_();
    CHECK_THROWS_WITH_AS(x.fill_(0), doctest::Contains("requires grad"), Error);
    NoGradGuard guard;
    x.mul_(2.0);
    CHECK(to_vector(x) == std::vector<double>{2, 2});
  }
}
