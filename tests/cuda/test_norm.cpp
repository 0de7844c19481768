// batch_norm on the CUDA device against the CPU, forward and backward: training with running
// statistics (updated in place on the device), evaluation, the batch-statistics-only mode,
// 2-D to 5-D inputs, ragged channel counts and channels longer than a block, f32 and f64, and
// tensors on different devices rejected.
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::atol_for;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;
using testing::rtol_for;

namespace {

Tensor input(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad, double lo = -2.0, double hi = 3.0) {
  Tensor x = random_input(shape, seed, lo, hi, false).to(dtype);
  if (requires_grad) x.requires_grad_();
  return x;
}

// The shapes of the tests: 2-D to 5-D, with channels of 1, 33 (ragged) and 300 to 1200
// values (several threads' or warps' worth per block).
const std::vector<Shape> kShapes = {{6, 3}, {4, 5, 7}, {2, 33, 3}, {4, 3, 300}, {2, 3, 5, 7}, {2, 3, 2, 3, 4}};

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("batch_norm cuda training matches the cpu with weight and bias") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : kShapes) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        const int64_t channels = shape[1];
        check_cuda_matches_cpu(
            [](const std::vector<Tensor>& t) { return batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true); },
            {input(shape, 21, dtype, true), input({channels}, 22, dtype, true, 0.5, 1.5),
             input({channels}, 23, dtype, true)},
            atol_for(dtype) * 10, rtol_for(dtype) * 10);
      }
    }
  }

  TEST_CASE("batch_norm cuda training updates running statistics in place like the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : kShapes) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        const int64_t channels = shape[1];
        const Tensor x = input(shape, 31, dtype, false);
        Tensor cpu_mean = input({channels}, 32, dtype, false), cpu_var = input({channels}, 33, dtype, false, 0.5, 2);
        Tensor cuda_mean = cpu_mean.to(cuda_device()), cuda_var = cpu_var.to(cuda_device());
        const Tensor cpu_out = batch_norm(x, cpu_mean, cpu_var, Tensor(), Tensor(), true, 0.3);
        const Tensor cuda_out = batch_norm(x.to(cuda_device()), cuda_mean, cuda_var, Tensor(), Tensor(), true, 0.3);
        REQUIRE(cuda_mean.device() == cuda_device());
        FOVEA_CHECK_CLOSE(cuda_out.to(Device::cpu()), cpu_out, atol_for(dtype) * 10, rtol_for(dtype) * 10);
        FOVEA_CHECK_CLOSE(cuda_mean.to(Device::cpu()), cpu_mean, atol_for(dtype), rtol_for(dtype));
        FOVEA_CHECK_CLOSE(cuda_var.to(Device::cpu()), cpu_var, atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("batch_norm cuda evaluation mode matches the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : kShapes) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        const int64_t channels = shape[1];
        check_cuda_matches_cpu(
            [](const std::vector<Tensor>& t) { return batch_norm(t[0], t[1], t[2], t[3], t[4], false); },
            {input(shape, 41, dtype, true), input({channels}, 42, dtype, false),
             input({channels}, 43, dtype, false, 0.5, 2), input({channels}, 44, dtype, true, 0.5, 1.5),
             input({channels}, 45, dtype, true)},
            atol_for(dtype) * 10, rtol_for(dtype) * 10);
      }
    }
  }

  TEST_CASE("batch_norm cuda batch statistics only without weight matches the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : kShapes) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        check_cuda_matches_cpu([](const std::vector<Tensor>& t) { return batch_norm(t[0], Tensor(), Tensor()); },
                               {input(shape, 51, dtype, true)}, atol_for(dtype) * 10, rtol_for(dtype) * 10);
      }
    }
  }

  TEST_CASE("batch_norm cuda rejects tensors on different devices") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = zeros({4, 3}, DType::f32, cuda_device());
    CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor(), ones({3})),
                         doctest::Contains("tensors are on different devices"), Error);
    CHECK_THROWS_WITH_AS(batch_norm(x, zeros({3}), ones({3}).to(cuda_device())),
                         doctest::Contains("tensors are on different devices"), Error);
  }
}
