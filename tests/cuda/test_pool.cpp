// Max, average and adaptive pools on the CUDA device against the CPU, forward (values and
// indices) and backward: 2-D and 3-D, overlapping windows (stride < kernel), padding,
// dilation, ceil_mode, count_include_pad, adaptive bins that overlap, ties, f32 and f64.
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::atol_for;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;
using testing::rtol_for;

namespace {

using PoolFn = std::function<Tensor(const Tensor&)>;

Tensor input(const Shape& shape, uint64_t seed, DType dtype) {
  return random_input(shape, seed, -2.0, 2.0, false).to(dtype).requires_grad_();
}

// Values in {-2, -1.5, ..., 2}: ties inside most windows.
Tensor tied_input(const Shape& shape, uint64_t seed, DType dtype) {
  Generator gen(seed);
  return mul(randint(-4, 5, shape, &gen).to(dtype), 0.5).requires_grad_();
}

void check_pool(const PoolFn& pool, const Tensor& x) {
  const DType dtype = x.dtype();
  check_cuda_matches_cpu([&](const std::vector<Tensor>& t) { return pool(t[0]); }, {x}, atol_for(dtype),
                         rtol_for(dtype));
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("max_pool2d cuda matches the cpu with overlapping windows padding dilation and ceil_mode") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<PoolFn> pools = {
        [](const Tensor& x) { return max_pool2d(x, {2}); },
        [](const Tensor& x) { return max_pool2d(x, {3}, {1}); },
        [](const Tensor& x) { return max_pool2d(x, {3, 2}, {2, 1}, {1, 0}); },
        [](const Tensor& x) { return max_pool2d(x, {3}, {2}, {1}, {1}, true); },
        [](const Tensor& x) { return max_pool2d(x, {2, 3}, {1, 2}, {0, 1}, {2, 1}, true); },
    };
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      for (size_t i = 0; i < pools.size(); ++i) {
        CAPTURE(i);
        check_pool(pools[i], input({2, 3, 7, 6}, 61 + i, dtype));
        check_pool(pools[i], tied_input({2, 3, 7, 6}, 71 + i, dtype));
      }
    }
  }

  TEST_CASE("max_pool3d cuda matches the cpu with overlapping windows and ceil_mode") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<PoolFn> pools = {
        [](const Tensor& x) { return max_pool3d(x, {2}); },
        [](const Tensor& x) { return max_pool3d(x, {3, 2, 2}, {1, 2, 1}, {1, 0, 1}); },
        [](const Tensor& x) { return max_pool3d(x, {2}, {2}, {1}, {1}, true); },
    };
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      for (size_t i = 0; i < pools.size(); ++i) {
        CAPTURE(i);
        check_pool(pools[i], input({2, 2, 5, 4, 5}, 81 + i, dtype));
        check_pool(pools[i], tied_input({1, 3, 4, 5, 3}, 91 + i, dtype));
      }
    }
  }

  TEST_CASE("max_pool cuda indices equal the cpu indices with ties") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = tied_input({2, 3, 6, 7}, 101, DType::f32).detach();
    const auto [cpu_values, cpu_indices] = max_pool2d_with_indices(x, {3}, {1}, {1});
    const auto [cuda_values, cuda_indices] = max_pool2d_with_indices(x.to(cuda_device()), {3}, {1}, {1});
    REQUIRE(cuda_indices.device() == cuda_device());
    FOVEA_CHECK_CLOSE(cuda_values.to(Device::cpu()), cpu_values, 0.0, 0.0);
    FOVEA_CHECK_CLOSE(cuda_indices.to(Device::cpu()).to(DType::f64), cpu_indices.to(DType::f64), 0.0, 0.0);
    const Tensor x3 = tied_input({1, 2, 4, 5, 6}, 102, DType::f64).detach();
    const auto [cpu_values3, cpu_indices3] = max_pool3d_with_indices(x3, {2, 3, 2}, {1, 2, 1}, {1}, {1}, true);
    const auto [cuda_values3, cuda_indices3] =
        max_pool3d_with_indices(x3.to(cuda_device()), {2, 3, 2}, {1, 2, 1}, {1}, {1}, true);
    FOVEA_CHECK_CLOSE(cuda_values3.to(Device::cpu()), cpu_values3, 0.0, 0.0);
    FOVEA_CHECK_CLOSE(cuda_indices3.to(Device::cpu()).to(DType::f64), cpu_indices3.to(DType::f64), 0.0, 0.0);
  }

  TEST_CASE("avg_pool2d cuda matches the cpu with ceil_mode and count_include_pad") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<PoolFn> pools = {
        [](const Tensor& x) { return avg_pool2d(x, {2}); },
        [](const Tensor& x) { return avg_pool2d(x, {3}, {1}); },
        [](const Tensor& x) { return avg_pool2d(x, {3, 2}, {2, 1}, {1, 0}, false, true); },
        [](const Tensor& x) { return avg_pool2d(x, {3}, {2}, {1}, false, false); },
        [](const Tensor& x) { return avg_pool2d(x, {3}, {2}, {1}, true, true); },
        [](const Tensor& x) { return avg_pool2d(x, {2, 3}, {2}, {1}, true, false); },
    };
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      for (size_t i = 0; i < pools.size(); ++i) {
        CAPTURE(i);
        check_pool(pools[i], input({2, 3, 7, 6}, 111 + i, dtype));
      }
    }
  }

  TEST_CASE("avg_pool3d cuda matches the cpu with ceil_mode and count_include_pad") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<PoolFn> pools = {
        [](const Tensor& x) { return avg_pool3d(x, {2}); },
        [](const Tensor& x) { return avg_pool3d(x, {3, 2, 2}, {1, 2, 1}, {1, 0, 1}, false, true); },
        [](const Tensor& x) { return avg_pool3d(x, {2}, {2}, {1}, true, false); },
        [](const Tensor& x) { return avg_pool3d(x, {3}, {2}, {1}, true, true); },
    };
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      for (size_t i = 0; i < pools.size(); ++i) {
        CAPTURE(i);
        check_pool(pools[i], input({2, 2, 5, 4, 5}, 121 + i, dtype));
      }
    }
  }

  TEST_CASE("adaptive avg and max pools cuda match the cpu with overlapping bins") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<PoolFn> pools = {
        [](const Tensor& x) { return adaptive_avg_pool2d(x, {3, 4}); },
        [](const Tensor& x) { return adaptive_avg_pool2d(x, {1}); },
        [](const Tensor& x) { return adaptive_max_pool2d(x, {4, 5}); },
        [](const Tensor& x) { return adaptive_max_pool2d(x, {7, 1}); },
    };
    const std::vector<PoolFn> pools3 = {
        [](const Tensor& x) { return adaptive_avg_pool3d(x, {2, 3, 4}); },
        [](const Tensor& x) { return adaptive_max_pool3d(x, {3, 2, 4}); },
    };
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      for (size_t i = 0; i < pools.size(); ++i) {
        CAPTURE(i);
        check_pool(pools[i], input({2, 3, 7, 6}, 131 + i, dtype));
      }
      for (size_t i = 0; i < pools3.size(); ++i) {
        CAPTURE(i);
        check_pool(pools3[i], input({1, 2, 5, 4, 7}, 141 + i, dtype));
      }
    }
  }
}
