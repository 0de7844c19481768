// Elementwise ops: values, broadcasting over non-contiguous inputs, a gradcheck per op in
// double precision, and bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::gradcheck;
using testing::random_input;

namespace {
testing::GradcheckResult check_unary(Tensor (*op)(const Tensor&), double lo, double hi) {
  return gradcheck([op](const std::vector<Tensor>& in) { return op(in[0]); }, {random_input({3, 5}, 11, lo, hi)});
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("add broadcasts over non-contiguous inputs") {
    Tensor a = arange(0.0, 6.0, 1.0, DType::f32).view({2, 3}).t();  // [3,2], strides [1,3]
    Tensor b = from_vector({10, 20}, {2});
    CHECK(to_vector(add(a, b)) == std::vector<double>{10, 23, 11, 24, 12, 25});
    CHECK(to_vector(sub(a, b, 2.0)) == std::vector<double>{-20, -37, -19, -36, -18, -35});
    CHECK(to_vector(add(b.view({2, 1}), b)) == std::vector<double>{20, 30, 30, 40});
  }

  TEST_CASE("add mul div on a large contiguous tensor use every thread correctly") {
    Tensor a = arange(0.0, 100000.0, 1.0, DType::f64);
    Tensor b = full({100000}, 2.0, DType::f64);
    const std::vector<double> s = to_vector(div(mul(add(a, b), b), 4.0));
    bool ok = true;
    for (size_t i = 0; i < s.size(); ++i) ok = ok && s[i] == (static_cast<double>(i) + 2.0) * 2.0 / 4.0;
    CHECK(ok);
  }

  TEST_CASE("unary ops match the c++ math library") {
    Tensor x = from_vector({-2, -0.5, 0.25, 3}, {4}, DType::f64);
    const std::vector<double> v = to_vector(x);
    auto each = [&](const Tensor& t, double (*f)(double)) {
      const std::vector<double> got = to_vector(t);
      for (size_t i = 0; i < v.size(); ++i) CHECK(got[i] == doctest::Approx(f(v[i])));
    };
    each(exp(x), [](double a) { return std::exp(a); });
    each(tanh(x), [](double a) { return std::tanh(a); });
    each(sigmoid(x), [](double a) { return 1 / (1 + std::exp(-a)); });
    each(abs(x), [](double a) { return std::abs(a); });
    each(relu(x), [](double a) { return a > 0 ? a : 0.0; });
    each(neg(x), [](double a) { return -a; });
    each(pow(x, 3.0), [](double a) { return a * a * a; });
    each(clamp(x, -1.0, 1.0), [](double a) { return std::min(1.0, std::max(-1.0, a)); });
    Tensor p = abs(x);
    const std::vector<double> pv = to_vector(p);
    const std::vector<double> lg = to_vector(log(p)), sq = to_vector(sqrt(p)), rs = to_vector(rsqrt(p));
    for (size_t i = 0; i < pv.size(); ++i) {
      CHECK(lg[i] == doctest::Approx(std::log(pv[i])));
      CHECK(sq[i] == doctest::Approx(std::sqrt(pv[i])));
      CHECK(rs[i] == doctest::Approx(1 / std::sqrt(pv[i])));
    }
  }

  TEST_CASE("sigmoid is finite for large inputs") {
    const std::vector<double> s = to_vector(sigmoid(from_vector({-1000, 1000}, {2})));
    CHECK(s[0] == 0.0);
    CHECK(s[1] == 1.0);
  }

  TEST_CASE("comparisons give u8 masks and where masked_fill select") {
    Tensor a = from_vector({1, 2, 3}, {3}), b = from_vector({3, 2, 1}, {3});
    CHECK(lt(a, b).dtype() == DType::u8);
    CHECK(to_vector(lt(a, b)) == std::vector<double>{1, 0, 0});
    CHECK(to_vector(le(a, b)) == std::vector<double>{1, 1, 0});
    CHECK(to_vector(gt(a, b)) == std::vector<double>{0, 0, 1});
    CHECK(to_vector(ge(a, b)) == std::vector<double>{0, 1, 1});
    CHECK(to_vector(eq(a, b)) == std::vector<double>{0, 1, 0});
    CHECK(to_vector(ne(a, b)) == std::vector<double>{1, 0, 1});
    CHECK(to_vector(where(lt(a, b), a, b)) == std::vector<double>{1, 2, 1});
    CHECK(to_vector(masked_fill(a, gt(a, 1.5), -1)) == std::vector<double>{1, -1, -1});
    CHECK(to_vector(maximum(a, b)) == std::vector<double>{3, 2, 3});
  }

  TEST_CASE("sum_to reduces broadcast dimensions") {
    Tensor g = ones({2, 3, 4});
    CHECK(to_vector(sum_to(g, {3, 1})) == std::vector<double>{8, 8, 8});
    CHECK(sum_to(g, {4}).shape() == Shape{4});
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("add gradcheck with broadcasting") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1], 0.5); },
                                    {random_input({3, 1, 5}, 1), random_input({4, 1}, 2)}));
  }
  TEST_CASE("sub gradcheck with broadcasting") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); },
                                    {random_input({2, 3}, 3), random_input({3}, 4)}));
  }
  TEST_CASE("mul gradcheck broadcasting backward of a*b+c") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return add(mul(in[0], in[1]), in[2]); },
                                    {random_input({3, 1, 5}, 5), random_input({4, 1}, 6), random_input({5}, 7)}));
  }
  TEST_CASE("div gradcheck") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return div(in[0], in[1]); },
                                    {random_input({2, 4}, 8), random_input({2, 1}, 9, 0.5, 2.0)}));
  }
  TEST_CASE("neg gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(neg, -1, 1)); }
  TEST_CASE("exp gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(exp, -1, 1)); }
  TEST_CASE("log gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(log, 0.2, 2)); }
  TEST_CASE("sqrt gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(sqrt, 0.2, 2)); }
  TEST_CASE("rsqrt gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(rsqrt, 0.2, 2)); }
  TEST_CASE("abs gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(abs, -1, 1)); }
  TEST_CASE("relu gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(relu, -1, 1)); }
  TEST_CASE("sigmoid gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(sigmoid, -3, 3)); }
  TEST_CASE("tanh gradcheck") { FOVEA_CHECK_GRADCHECK(check_unary(tanh, -2, 2)); }
  TEST_CASE("pow gradcheck with a fractional exponent") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 2.5); },
                                    {random_input({6}, 10, 0.3, 2.0)}));
  }
  TEST_CASE("clamp gradcheck") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.4); },
                                    {random_input({4, 5}, 12)}));
  }
  TEST_CASE("where gradcheck") {
    const Tensor cond = gt(random_input({3, 4}, 13, -1, 1, false), 0.0);
    FOVEA_CHECK_GRADCHECK(gradcheck([cond](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); },
                                    {random_input({3, 4}, 14), random_input({4}, 15)}));
  }
  TEST_CASE("masked_fill gradcheck") {
    const Tensor mask = gt(random_input({3, 4}, 16, -1, 1, false), 0.0);
    FOVEA_CHECK_GRADCHECK(gradcheck([mask](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, 2.0); },
                                    {random_input({3, 4}, 17)}));
  }
  TEST_CASE("maximum gradcheck") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return maximum(in[0], in[1]); },
                                    {random_input({3, 4}, 18), random_input({3, 4}, 19)}));
  }
  TEST_CASE("contiguous gradcheck through transpose expand and clone") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return in[0].t().unsqueeze(0).expand({2, 4, 3}).contiguous().clone(); },
        {random_input({3, 4}, 20)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("add with shapes that do not broadcast") {
    CHECK_THROWS_WITH_AS(add(ones({2, 3}), ones({4})), doctest::Contains("do not broadcast"), Error);
    CHECK_THROWS_WITH_AS(mul(ones({2, 3}), ones({3, 2})), doctest::Contains("[2, 3] and [3, 2]"), Error);
  }
  TEST_CASE("where and masked_fill reject non-mask conditions and bad shapes") {
    CHECK_THROWS_WITH_AS(where(ones({2}), ones({2}), ones({2})), doctest::Contains("u8 mask"), Error);
    CHECK_THROWS_WITH_AS(masked_fill(ones({2}), ones({2}), 1.0), doctest::Contains("u8 tensor"), Error);
    CHECK_THROWS_WITH_AS(masked_fill(ones({2}), ones({3, 2}, DType::u8), 1.0), doctest::Contains("does not broadcast"), Error);
  }
  TEST_CASE("clamp with min above max or no bound") {
    CHECK_THROWS_WITH_AS(clamp(ones({2}), 1.0, 0.0), doctest::Contains("greater than max"), Error);
    CHECK_THROWS_WITH_AS(clamp(ones({2}), std::nullopt, std::nullopt), doctest::Contains("at least one"), Error);
  }
  TEST_CASE("elementwise ops reject undefined tensors") {
    CHECK_THROWS_WITH_AS(add(Tensor(), ones({2})), doctest::Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(exp(Tensor()), doctest::Contains("undefined"), Error);
  }
  TEST_CASE("add on empty tensors gives empty results") {
    CHECK(add(ones({0, 3}), ones({3})).shape() == Shape{0, 3});
    CHECK_THROWS_WITH_AS(add(ones({0, 3}), ones({2, 3})), doctest::Contains("do not broadcast"), Error);
  }
}
