// Tests of batch_norm: batch and running statistics against hand-computed values (PyTorch's
// momentum and unbiased running variance), evaluation and batch-statistics-only modes, every
// input rank, gradients by central differences, and the errors for bad arguments.
#include <doctest/doctest.h>

#include <cmath>

#include "fovea/build_config.h"
#include "tests/gradcheck.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

using namespace fovea;
using fovea::testing::gradcheck;
using fovea::testing::random_input;

namespace {

// (x - mean) / sqrt(var + eps) per channel of [N, C, ...] with ops, the oracle.
Tensor normalised(const Tensor& x, double eps) {
  Shape dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  const Tensor m = mean(x, dims, true);
  const Tensor v = var(x, dims, 0, true);
  return div(sub(x, m), sqrt(add(v, eps)));
}

Shape channel_shape(const Tensor& x) {
  Shape s(x.dim(), 1);
  s[1] = x.size(1);
  return s;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("batch_norm running stats values by hand") {
    // Channel 0: 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3); channel 1: 2, 2, 2, 6.
    const Tensor x = from_vector({1, 2, 3, 2, 5, 2, 7, 6}, {4, 2}, DType::f64);
    Tensor running_mean = from_vector({1, -1}, {2}, DType::f64);
    Tensor running_var = from_vector({2, 0.5}, {2}, DType::f64);
    const Tensor y = batch_norm(x, running_mean, running_var, Tensor(), Tensor(), true, 0.1, 1e-5);
    FOVEA_CHECK_CLOSE(running_mean, from_vector({0.9 * 1 + 0.1 * 4, 0.9 * -1 + 0.1 * 3}, {2}, DType::f64), 1e-14, 0);
    FOVEA_CHECK_CLOSE(running_var, from_vector({0.9 * 2 + 0.1 * 20.0 / 3, 0.9 * 0.5 + 0.1 * 4.0}, {2}, DType::f64),
                      1e-14, 1e-14);
    FOVEA_CHECK_CLOSE(y.select(1, 0), div(from_vector({-3, -1, 1, 3}, {4}, DType::f64), std::sqrt(5 + 1e-5)), 1e-14,
                      1e-14);
  }

  TEST_CASE("batch_norm training 5d matches batch statistics and updates running stats in place") {
    const Tensor x = random_input({3, 4, 2, 3, 5}, 1, -2, 3, false);
    const Tensor w = random_input({4}, 2, 0.5, 1.5, false), b = random_input({4}, 3, -1, 1, false);
    Tensor running_mean = zeros({4}, DType::f64), running_var = ones({4}, DType::f64);
    const uint64_t version = running_mean.version();
    const Tensor y = batch_norm(x, running_mean, running_var, w, b, true, 0.3);
    const Tensor expected = add(mul(normalised(x, 1e-5), w.reshape(channel_shape(x))), b.reshape(channel_shape(x)));
    FOVEA_CHECK_CLOSE(y, expected, 1e-12, 1e-12);
    CHECK(running_mean.version() > version);
    FOVEA_CHECK_CLOSE(running_mean, mul(mean(x, {0, 2, 3, 4}), 0.3), 1e-12, 1e-12);
    FOVEA_CHECK_CLOSE(running_var, add(mul(var(x, {0, 2, 3, 4}, 1), 0.3), 0.7), 1e-12, 1e-12);
  }

  TEST_CASE("batch_norm eval uses the running stats and leaves them unchanged") {
    const Tensor x = random_input({5, 3, 7}, 4, -1, 1, false);
    const Tensor running_mean = from_vector({0.5, -0.25, 0}, {3}, DType::f64);
    const Tensor running_var = from_vector({4, 0.25, 1}, {3}, DType::f64);
    const Tensor y = batch_norm(x, running_mean, running_var, Tensor(), from_vector({1, 2, 3}, {3}, DType::f64), false);
    const Tensor expected = add(div(sub(x, running_mean.reshape({1, 3, 1})), sqrt(add(running_var, 1e-5)).reshape({1, 3, 1})),
                                from_vector({1, 2, 3}, {1, 3, 1}, DType::f64));
    FOVEA_CHECK_CLOSE(y, expected, 1e-12, 1e-12);
    FOVEA_CHECK_CLOSE(running_mean, from_vector({0.5, -0.25, 0}, {3}, DType::f64), 0, 0);
  }

  TEST_CASE("batch_norm batch statistics mode without running stats, every rank") {
    for (const Shape& shape : {Shape{6, 3}, Shape{2, 3, 5}, Shape{2, 3, 4, 2}, Shape{2, 3, 2, 3, 2}}) {
      CAPTURE(shape_str(shape));
      const Tensor x = random_input(shape, 5, -1, 1, false);
      FOVEA_CHECK_CLOSE(batch_norm(x, Tensor(), Tensor()), normalised(x, 1e-5), 1e-12, 1e-12);
      const Tensor y32 = batch_norm(x.to(DType::f32), Tensor(), Tensor());
      CHECK(y32.dtype() == DType::f32);
      FOVEA_CHECK_CLOSE(y32, normalised(x, 1e-5).to(DType::f32), 1e-5, 1e-5);
    }
  }

  TEST_CASE("batch_norm backward in eval mode scales the gradient by the running invstd") {
    const Tensor x = random_input({3, 2, 4}, 6);
    const Tensor running_var = from_vector({4, 0.25}, {2}, DType::f64);
    const Tensor y = batch_norm(x, zeros({2}, DType::f64), running_var, Tensor(), Tensor(), false, 0.1, 0);
    const Tensor go = random_input({3, 2, 4}, 7, -1, 1, false);
    y.backward(go);
    FOVEA_CHECK_CLOSE(x.grad(), mul(go, from_vector({0.5, 2}, {1, 2, 1}, DType::f64)), 1e-14, 1e-14);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("batch_norm gradcheck training 2d with affine and running stats") {
    const Tensor x = random_input({5, 3}, 11), w = random_input({3}, 12, 0.5, 1.5), b = random_input({3}, 13);
    const Tensor rm = zeros({3}, DType::f64), rv = ones({3}, DType::f64);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [rm, rv](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], true); }, {x, w, b}));
  }

  TEST_CASE("batch_norm gradcheck training 5d odd sizes without affine") {
    const Tensor x = random_input({3, 2, 3, 1, 5}, 14);
    FOVEA_CHECK_GRADCHECK(
        gradcheck([](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor()); }, {x}));
  }

  TEST_CASE("batch_norm gradcheck training 4d weight only") {
    const Tensor x = random_input({2, 3, 3, 2}, 15), w = random_input({3}, 16, 0.5, 1.5);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), in[1], Tensor(), true); },
        {x, w}));
  }

  TEST_CASE("batch_norm gradcheck eval mode") {
    const Tensor x = random_input({2, 3, 4}, 17), w = random_input({3}, 18, 0.5, 1.5), b = random_input({3}, 19);
    const Tensor rm = random_input({3}, 20, -1, 1, false), rv = random_input({3}, 21, 0.5, 2, false);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [rm, rv](const std::vector<Tensor>& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); },
        {x, w, b}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("batch_norm badinput ranks and shapes") {
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4}), Tensor(), Tensor()), doctest::Contains("expected x of shape [N, C]"),
                         Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({2, 2, 2, 2, 2, 2}), Tensor(), Tensor()), doctest::Contains("[N, C, T, H, W]"),
                         Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), Tensor(), Tensor(), zeros({4})),
                         doctest::Contains("'weight' must have shape [3]"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), zeros({2}), ones({3})),
                         doctest::Contains("'running_mean' must have shape [3]"), Error);
  }

  TEST_CASE("batch_norm badinput running stats and modes") {
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), zeros({3}), Tensor()), doctest::Contains("both be given"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
                         doctest::Contains("running statistics, but none were given"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({1, 3}), Tensor(), Tensor()),
                         doctest::Contains("more than 1 value per channel"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, -1),
                         doctest::Contains("eps must be non-negative"), Error);
  }

  TEST_CASE("batch_norm badinput dtypes") {
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), Tensor(), Tensor(), ones({3}, DType::f64)),
                         doctest::Contains("'weight' is f64 but x is f32"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}, DType::i64), Tensor(), Tensor()),
                         doctest::Contains("must be f32 or f64"), Error);
  }

  TEST_CASE("batch_norm badinput CUDA tensors") {
#if FOVEA_HAS_CUDA
    if (!cuda::available()) return;
    const Tensor x = zeros({4, 3}, DType::f32, Device::cuda());
    CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), ones({3})), doctest::Contains("different devices"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(x, zeros({3}), ones({3})), doctest::Contains("different devices"), Error);
    const Tensor cuda_bias = zeros({3}, DType::f32, Device::cuda());
    CHECK_THROWS_WITH_AS(batch_norm(zeros({4, 3}), Tensor(), Tensor(), Tensor(), cuda_bias),
                         doctest::Contains("different devices"), Error);
#else
    CHECK_THROWS_WITH_AS(zeros({4, 3}, DType::f32, Device::cuda()), doctest::Contains("no CUDA backend"), Error);
#endif
  }
}
