// Elementwise ops on the CUDA device against the CPU, forward and backward, at ragged and
// broadcast shapes with non-contiguous inputs.
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("add sub mul div cuda match cpu with broadcasting and ragged shapes") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const auto& [sa, sb] : {std::pair<Shape, Shape>{{3, 1, 5}, {4, 1}}, {{257}, {257}}, {{2, 33, 7}, {7}}}) {
      CAPTURE(shape_str(sa));
      const std::vector<Tensor> in = {random_input(sa, 1), random_input(sb, 2, 0.5, 2.0)};
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return add(x[0], x[1], 0.5); }, in, 1e-12, 1e-12);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return sub(x[0], x[1]); }, in, 1e-12, 1e-12);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return mul(x[0], x[1]); }, in, 1e-12, 1e-12);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return div(x[0], x[1]); }, in, 1e-12, 1e-12);
    }
  }

  TEST_CASE("add cuda on transposed f32 inputs") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor a = random_input({5, 7}, 3).to(DType::f32).detach();
    const Tensor b = random_input({7, 5}, 4).to(DType::f32).detach();
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return add(x[0], x[1].t()); }, {a, b}, 1e-6, 1e-6);
  }

  TEST_CASE("exp log sqrt rsqrt sigmoid tanh cuda match cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> in = {random_input({3, 37}, 5, 0.2, 2.0)};
    for (auto op : {exp, log, sqrt, rsqrt, sigmoid, tanh}) {
      check_cuda_matches_cpu([op](const std::vector<Tensor>& x) { return op(x[0]); }, in, 1e-12, 1e-12);
    }
  }

  TEST_CASE("neg abs relu pow clamp cuda match cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> in = {random_input({4, 65}, 6)};
    for (auto op : {neg, abs, relu}) {
      check_cuda_matches_cpu([op](const std::vector<Tensor>& x) { return op(x[0]); }, in, 0, 0);
    }
    const std::vector<Tensor> positive = {random_input({4, 65}, 7, 0.1, 2.0)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return pow(x[0], 2.5); }, positive, 1e-12, 1e-12);
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return clamp(x[0], -0.3, 0.4); }, in, 0, 0);
  }

  TEST_CASE("where masked_fill maximum and comparisons cuda match cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // The broadcast operand's gradient is a sum over rows, which the device reduces in a
    // different order than the CPU: equal up to rounding, not bit for bit.
    const std::vector<Tensor> in = {random_input({6, 11}, 8), random_input({11}, 9)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return where(gt(x[0], 0.0), x[0], x[1]); }, in, 1e-12, 1e-12);
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return masked_fill(x[0], lt(x[1], 0.0), 3.0); }, in, 0, 0);
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return maximum(x[0], x[1]); }, in, 1e-12, 1e-12);
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return le(x[0], x[1]); }, in, 0, 0);
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return ne(x[0], x[1]); }, in, 0, 0);
  }

  TEST_CASE("copy cuda converts dtypes and materialises expanded views") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor a = from_vector({1.7, -2.2, 3.5}, {3, 1}, DType::f64);
    for (DType t : {DType::u8, DType::i32, DType::i64, DType::f32}) {
      check_cuda_matches_cpu([t](const std::vector<Tensor>& x) { return x[0].to(t); }, {abs(a).detach()}, 0, 0);
    }
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return x[0].expand({3, 4}).contiguous(); }, {a}, 0, 0);
    Tensor d = zeros({2, 3}, DType::f32, testing::cuda_device());
    d.narrow(1, 1, 2).fill_(5);
    d.select(0, 0).copy_(from_vector({1, 2, 3}, {3}));
    CHECK(to_vector(d) == std::vector<double>{1, 2, 3, 0, 5, 5});
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("add cuda and cpu tensors together is an error") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK_THROWS_WITH_AS(add(ones({2}), ones({2}, DType::f32, testing::cuda_device())),
                         doctest::Contains("different devices"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).to(Device::cuda(7)), doctest::Contains("does not exist"), Error);
  }
}
