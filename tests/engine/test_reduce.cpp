// Reductions: values against hand-computed results, gradchecks, bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::gradcheck;
using testing::random_input;

TEST_SUITE("unit") {
  TEST_CASE("sum mean over dims with keepdim") {
    Tensor a = arange(0.0, 24.0, 1.0, DType::f64).view({2, 3, 4});
    CHECK(sum(a).item() == 276);
    CHECK(to_vector(sum(a, {0, 2})) == std::vector<double>{60, 92, 124});
    CHECK(sum(a, {1}, true).shape() == Shape{2, 1, 4});
    CHECK(to_vector(mean(a, {-1})) == std::vector<double>{1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
    CHECK(sum(arange(5)).dtype() == DType::i64);
  }
  TEST_CASE("sum over a transposed input") {
    Tensor a = arange(0.0, 6.0, 1.0, DType::f32).view({2, 3}).t();
    CHECK(to_vector(sum(a, {1})) == std::vector<double>{3, 5, 7});
  }
  TEST_CASE("var is unbiased by default and biased with correction 0") {
    Tensor a = from_vector({1, 2, 3, 4}, {4}, DType::f64);
    CHECK(var(a).item() == doctest::Approx(5.0 / 3.0));
    CHECK(var(a, {}, 0).item() == doctest::Approx(1.25));
  }
  TEST_CASE("max min argmax with indices take the first extreme") {
    Tensor a = from_vector({1, 5, 5, 0, 7, -2}, {2, 3});
    auto [values, indices] = max(a, 1);
    CHECK(to_vector(values) == std::vector<double>{5, 7});
    CHECK(to_vector(indices) == std::vector<double>{1, 1});
    auto [mv, mi] = min(a, 0);
    CHECK(to_vector(mv) == std::vector<double>{0, 5, -2});
    CHECK(to_vector(mi) == std::vector<double>{1, 0, 1});
    CHECK(to_vector(argmax(a, 0)) == std::vector<double>{0, 1, 0});
    CHECK(max(a).item() == 7);
    CHECK(min(a).item() == -2);
  }
  TEST_CASE("norm p 1 2 3") {
    Tensor a = from_vector({3, -4}, {2}, DType::f64);
    CHECK(norm(a).item() == doctest::Approx(5));
    CHECK(norm(a, 1.0).item() == doctest::Approx(7));
    CHECK(norm(a, 3.0).item() == doctest::Approx(std::cbrt(91.0)));
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("sum gradcheck over two dims") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}); },
                                    {random_input({2, 3, 4}, 1)}));
  }
  TEST_CASE("mean gradcheck keepdim") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {1}, true); },
                                    {random_input({3, 4}, 2)}));
  }
  TEST_CASE("var gradcheck unbiased") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return var(in[0], {1}); },
                                    {random_input({3, 5}, 3)}));
  }
  TEST_CASE("norm gradcheck p2 and p3") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return norm(in[0], 2.0, {1}); },
                                    {random_input({3, 4}, 4)}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return norm(in[0], 3.0, {0}, true); },
                                    {random_input({3, 4}, 5)}));
  }
  TEST_CASE("max gradcheck with dim") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return std::get<0>(max(in[0], 1)); },
                                    {random_input({3, 5}, 6)}));
  }
  TEST_CASE("min gradcheck over all elements") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return min(in[0]); },
                                    {random_input({3, 5}, 7)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("reductions reject bad dims") {
    CHECK_THROWS_WITH_AS(sum(ones({2, 3}), {2}), doctest::Contains("out of range"), Error);
    CHECK_THROWS_WITH_AS(sum(ones({2, 3}), {1, -1}), doctest::Contains("appears twice"), Error);
    CHECK_THROWS_WITH_AS(max(ones({2, 3}), -3), doctest::Contains("out of range"), Error);
  }
  TEST_CASE("reductions of empty tensors and integer var") {
    CHECK(sum(ones({0})).item() == 0);
    CHECK_THROWS_WITH_AS(max(ones({0})), doctest::Contains("empty tensor"), Error);
    CHECK_THROWS_WITH_AS(max(ones({2, 0}), 1), doctest::Contains("empty dimension"), Error);
    CHECK_THROWS_WITH_AS(var(ones({3}, DType::i64)), doctest::Contains("must be f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(norm(ones({3}), -1.0), doctest::Contains("positive"), Error);
  }
}
