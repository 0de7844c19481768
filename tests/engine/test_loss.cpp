// Tests of softmax, log_softmax, nll_loss, cross_entropy, l1_loss, mse_loss and normalize:
// hand-computed values, layouts with the class dim in the middle, ignore_index, gradients by
// central differences, and the errors for bad inputs.
#include <doctest/doctest.h>

#include <cmath>

#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::gradcheck;
using fovea::testing::random_input;

namespace {

Tensor targets(const std::vector<double>& values, const Shape& shape) { return from_vector(values, shape, DType::i64); }

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("softmax values and stability") {
    const Tensor x = from_vector({1, 2, 3, 1000, 1001, 1002}, {2, 3}, DType::f64);
    const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    const std::vector<double> row = {std::exp(1.0) / total, std::exp(2.0) / total, std::exp(3.0) / total};
    const Tensor expected = from_vector({row[0], row[1], row[2], row[0], row[1], row[2]}, {2, 3}, DType::f64);
    FOVEA_CHECK_CLOSE(softmax(x, 1), expected, 1e-15, 1e-12);
    FOVEA_CHECK_CLOSE(softmax(x, -1), expected, 1e-15, 1e-12);
    FOVEA_CHECK_CLOSE(softmax(from_vector({0, 0}, {2}), 0), from_vector({0.5, 0.5}, {2}), 1e-12, 0);
    CHECK(softmax(scalar_tensor(3.0), 0).item() == 1.0);
    CHECK(softmax(empty({0, 3}), 1).shape() == Shape{0, 3});
  }

  TEST_CASE("softmax middle dim matches the last dim layout") {
    // 300 inner columns: more than one column block of the kernel.
    const Tensor x = random_input({2, 5, 300}, 1, -3, 3, false);
    const Tensor by_last = softmax(x.transpose(1, 2).contiguous(), 2).transpose(1, 2);
    FOVEA_CHECK_CLOSE(softmax(x, 1), by_last, 1e-15, 1e-12);
    FOVEA_CHECK_CLOSE(log_softmax(x, 1), log(by_last), 1e-12, 1e-12);
    FOVEA_CHECK_CLOSE(sum(softmax(x, 0), {0}), ones({5, 300}, DType::f64), 1e-12, 0);
    // Large enough to split over threads in both kernels.
    const Tensor big = random_input({3, 40, 400}, 6, -3, 3, false);
    FOVEA_CHECK_CLOSE(log_softmax(big, 1), log_softmax(big.transpose(1, 2).contiguous(), 2).transpose(1, 2), 1e-12,
                      1e-12);
  }

  TEST_CASE("log_softmax values and stability") {
    const Tensor x = from_vector({1000, 0}, {1, 2});
    FOVEA_CHECK_CLOSE(log_softmax(x, 1), from_vector({0, -1000}, {1, 2}), 1e-4, 0);
    const Tensor y = from_vector({1, 2, 3}, {3}, DType::f64);
    const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    FOVEA_CHECK_CLOSE(log_softmax(y, 0), from_vector({1 - lse, 2 - lse, 3 - lse}, {3}, DType::f64), 1e-15, 1e-12);
    const Tensor z = random_input({7, 40}, 2, -5, 5, false).to(DType::f32);
    FOVEA_CHECK_CLOSE(log_softmax(z, 1), log(softmax(z, 1)), 1e-5, 1e-5);
  }

  TEST_CASE("nll_loss values for every reduction with ignore_index") {
    const Tensor lp = from_vector({-1, -2, -3, -4, -5, -6, -7, -8, -9}, {3, 3}, DType::f64);
    const Tensor t = targets({2, -100, 0}, {3});
    FOVEA_CHECK_CLOSE(nll_loss(lp, t), scalar_tensor(5.0, DType::f64), 0, 1e-15);
    FOVEA_CHECK_CLOSE(nll_loss(lp, t, -100, Reduction::sum), scalar_tensor(10.0, DType::f64), 0, 1e-15);
    FOVEA_CHECK_CLOSE(nll_loss(lp, t, -100, Reduction::none), from_vector({3, 0, 7}, {3}, DType::f64), 1e-12, 0);
    FOVEA_CHECK_CLOSE(nll_loss(lp, targets({2, 1, 0}, {3}), 1), scalar_tensor(5.0, DType::f64), 0, 1e-15);
  }

  TEST_CASE("nll_loss all targets ignored gives nan and zero gradient") {
    const Tensor lp = random_input({2, 3}, 3);
    const Tensor loss = nll_loss(lp, targets({-100, -100}, {2}));
    CHECK(std::isnan(loss.item()));
    loss.backward();
    FOVEA_CHECK_CLOSE(lp.grad(), zeros({2, 3}, DType::f64), 1e-12, 0);
  }

  TEST_CASE("nll_loss gradient scatters minus one over count") {
    const Tensor lp = random_input({3, 4}, 4);
    nll_loss(lp, targets({1, -100, 3}, {3})).backward();
    const Tensor expected = from_vector({0, -0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5}, {3, 4}, DType::f64);
    FOVEA_CHECK_CLOSE(lp.grad(), expected, 1e-12, 0);
  }

  TEST_CASE("cross_entropy values") {
    const Tensor logits = from_vector({1, 2, 3, 0, 0, 0}, {2, 3}, DType::f64);
    const double first = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
    const double second = std::log(3.0);
    FOVEA_CHECK_CLOSE(cross_entropy(logits, targets({2, 1}, {2})), scalar_tensor((first + second) / 2, DType::f64),
                      0, 1e-14);
    FOVEA_CHECK_CLOSE(cross_entropy(logits, targets({2, -100}, {2})), scalar_tensor(first, DType::f64), 0, 1e-14);
    FOVEA_CHECK_CLOSE(cross_entropy(logits, from_vector({2, 1}, {2}, DType::i32), -100, Reduction::none),
                      from_vector({first, second}, {2}, DType::f64), 0, 1e-14);
  }

  TEST_CASE("cross_entropy spatial layout matches flattened rows") {
    const Tensor logits = random_input({2, 4, 3, 5}, 5, -2, 2, false);
    const Tensor t = randint(0, 4, {2, 3, 5}, nullptr);
    const Tensor rows = logits.permute({0, 2, 3, 1}).reshape({30, 4});
    FOVEA_CHECK_CLOSE(cross_entropy(logits, t), cross_entropy(rows, t.reshape({30})), 1e-14, 1e-12);
    FOVEA_CHECK_CLOSE(cross_entropy(logits, t, -100, Reduction::none),
                      cross_entropy(rows, t.reshape({30}), -100, Reduction::none).reshape({2, 3, 5}), 1e-14, 1e-12);
  }

  TEST_CASE("l1_loss and mse_loss values") {
    const Tensor a = from_vector({1, 2, 3, 4}, {2, 2});
    const Tensor b = from_vector({2, 2, 5, 1}, {2, 2});
    CHECK(l1_loss(a, b).item() == 1.5);
    CHECK(l1_loss(a, b, Reduction::sum).item() == 6.0);
    FOVEA_CHECK_CLOSE(l1_loss(a, b, Reduction::none), from_vector({1, 0, 2, 3}, {2, 2}), 1e-12, 0);
    CHECK(mse_loss(a, b).item() == 3.5);
    CHECK(mse_loss(a, b, Reduction::sum).item() == 14.0);
    FOVEA_CHECK_CLOSE(mse_loss(a, b, Reduction::none), from_vector({1, 0, 4, 9}, {2, 2}), 1e-12, 0);
  }

  TEST_CASE("normalize values and zero rows") {
    const Tensor x = from_vector({3, 4, 0, 0}, {2, 2}, DType::f64);
    FOVEA_CHECK_CLOSE(normalize(x), from_vector({0.6, 0.8, 0, 0}, {2, 2}, DType::f64), 1e-15, 0);
    FOVEA_CHECK_CLOSE(normalize(x, 0), from_vector({1, 1, 0, 0}, {2, 2}, DType::f64), 1e-15, 0);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("softmax gradcheck last and middle dim") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], -1); },
                                    {random_input({3, 5}, 10)}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0].transpose(0, 2), 1); },
                                    {random_input({4, 3, 2}, 11)}));
  }

  TEST_CASE("log_softmax gradcheck last and middle dim") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); },
                                    {random_input({3, 5}, 12)}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0].transpose(0, 1), 1); },
                                    {random_input({4, 3, 2}, 13)}));
  }

  TEST_CASE("nll_loss gradcheck every reduction") {
    const Tensor t = targets({0, 3, -100, 2}, {4});
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>& in) { return nll_loss(in[0], t, -100, r); },
                                      {random_input({4, 5}, 14)}));
  }

  TEST_CASE("cross_entropy gradcheck ignore_index") {
    const Tensor t = targets({1, -100, 0, 2, -100}, {5});
    FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t); },
                                    {random_input({5, 3}, 15, -2, 2)}));
    const Tensor custom = targets({1, 2, 0, 2, 2}, {5});
    FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], custom, 2); },
                                    {random_input({5, 3}, 16, -2, 2)}));
  }

  TEST_CASE("cross_entropy gradcheck spatial layout") {
    const Tensor t = targets({0, 1, -100, 2, 2, 0, -100, 1, 1, 0, 2, 2}, {2, 2, 3});
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, -100, r); },
                                      {random_input({2, 3, 2, 3}, 17, -2, 2)}));
  }

  TEST_CASE("l1_loss gradcheck") {
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      FOVEA_CHECK_GRADCHECK(gradcheck([r](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1], r); },
                                      {random_input({3, 4}, 18), random_input({3, 4}, 19)}));
  }

  TEST_CASE("mse_loss gradcheck") {
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      FOVEA_CHECK_GRADCHECK(gradcheck([r](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1], r); },
                                      {random_input({3, 4}, 20), random_input({3, 4}, 21)}));
  }

  TEST_CASE("normalize gradcheck") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return normalize(in[0]); },
                                    {random_input({3, 4}, 22)}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return normalize(in[0], 0); },
                                    {random_input({3, 4, 2}, 23)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("softmax badinput dim out of range and integer dtype") {
    CHECK_THROWS_WITH_AS(softmax(ones({2, 3}), 2), doctest::Contains("dimension 2 is out of range"), fovea::Error);
    CHECK_THROWS_WITH_AS(softmax(ones({2, 3}, DType::i64), 1), doctest::Contains("must be f32 or f64, got i64"),
                         fovea::Error);
  }

  TEST_CASE("log_softmax badinput dim out of range") {
    CHECK_THROWS_WITH_AS(log_softmax(ones({2, 3}), -3), doctest::Contains("dimension -3 is out of range"),
                         fovea::Error);
  }

  TEST_CASE("nll_loss badinput targets out of range") {
    CHECK_THROWS_WITH_AS(nll_loss(zeros({2, 5}), targets({1, 5}, {2})),
                         doctest::Contains("target value 5 at flat position 1 is out of range for 5 classes"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(nll_loss(zeros({2, 5}), targets({-1, 0}, {2})), doctest::Contains("target value -1"),
                         fovea::Error);
  }

  TEST_CASE("nll_loss badinput target dtype and shape") {
    CHECK_THROWS_WITH_AS(nll_loss(zeros({2, 5}), zeros({2})), doctest::Contains("class indices as i64"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(nll_loss(zeros({2, 5, 3}), targets({0, 1}, {2})),
                         doctest::Contains("target of shape [2] does not match input of shape [2, 5, 3]"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(nll_loss(zeros({5}), targets({0}, {1})), doctest::Contains("input must be [N, C]"),
                         fovea::Error);
  }

  TEST_CASE("nll_loss badinput empty inputs") {
    CHECK_THROWS_WITH_AS(nll_loss(zeros({0, 5}), targets({}, {0})), doctest::Contains("empty input"), fovea::Error);
    CHECK_THROWS_WITH_AS(nll_loss(zeros({2, 0}), targets({0, 0}, {2})), doctest::Contains("has no classes"),
                         fovea::Error);
  }

  TEST_CASE("cross_entropy badinput targets and rank") {
    CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4}), targets({0, 1, 2, 3, 0, 1, 2, 7}, {2, 4})),
                         doctest::Contains("target value 3 at flat position 3 is out of range for 3 classes"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(cross_entropy(zeros({3}), targets({0}, {1})), doctest::Contains("logits [N, C]"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3}, DType::i64), targets({0, 1}, {2})),
                         doctest::Contains("must be f32 or f64"), fovea::Error);
  }

  TEST_CASE("l1_loss badinput shape mismatch") {
    CHECK_THROWS_WITH_AS(l1_loss(ones({2, 3}), ones({3, 2})),
                         doctest::Contains("input of shape [2, 3] and target of shape [3, 2] must have the same shape"),
                         fovea::Error);
  }

  TEST_CASE("mse_loss badinput dtype and empty") {
    CHECK_THROWS_WITH_AS(mse_loss(ones({2}, DType::i64), ones({2})), doctest::Contains("must be f32 or f64"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(mse_loss(ones({0, 2}), ones({0, 2})), doctest::Contains("empty input of shape [0, 2]"),
                         fovea::Error);
    CHECK(mse_loss(ones({0, 2}), ones({0, 2}), Reduction::sum).item() == 0.0);
  }

  TEST_CASE("normalize badinput dim and dtype") {
    CHECK_THROWS_WITH_AS(normalize(ones({2, 3}), 3), doctest::Contains("dimension 3 is out of range"), fovea::Error);
    CHECK_THROWS_WITH_AS(normalize(ones({2, 3}, DType::i32)), doctest::Contains("must be f32 or f64"), fovea::Error);
  }
}
