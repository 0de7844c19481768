// cosine_attention's fused CUDA kernels (kernels/cosine_attention.cu) against the CPU kernels,
// forward and backward for c, g_weight and g_bias, at reduced shapes that are not multiples of
// the kernels' tiles (16 × 32 positions, 32-channel chunks); the unfused twin on the device;
// determinism; and the device and shared-memory checks.
#include <cmath>

#include "models/cosine_attention.h"
#include "models/prediction_error.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;

namespace {

std::vector<Tensor> inputs(const Shape& c_shape, uint64_t seed, DType dtype, bool with_bias) {
  const int64_t channels = c_shape[1];
  const double bound = 1.0 / std::sqrt(static_cast<double>(channels));
  std::vector<Tensor> in{random_input(c_shape, seed, -1.0, 1.0, false).to(dtype),
                         random_input({channels, channels}, seed + 1, -bound, bound, false).to(dtype)};
  if (with_bias) in.push_back(random_input({channels}, seed + 2, -bound, bound, false).to(dtype));
  for (Tensor& t : in) t.requires_grad_();
  return in;
}

Tensor fused(const std::vector<Tensor>& x) { return cosine_attention(x[0], x[1], x.size() > 2 ? x[2] : Tensor()); }
Tensor unfused(const std::vector<Tensor>& x) {
  return cosine_attention_unfused(x[0], x[1], x.size() > 2 ? x[2] : Tensor());
}

// f32: sums of up to C + P products of O(1) values in a different order than the CPU's BLAS.
double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-11 : 2e-5; }

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("cosine_attention cuda forward and backward match cpu at ragged shapes") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : {Shape{2, 24, 37}, Shape{2, 24, 1, 5, 7}, Shape{1, 40, 70}, Shape{3, 5, 1}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        check_cuda_matches_cpu(fused, inputs(shape, 51, dtype, true), tolerance(dtype), tolerance(dtype));
      }
    }
  }

  TEST_CASE("cosine_attention cuda without bias and with zero feature vectors matches cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f64, DType::f32}) {
      std::vector<Tensor> in = inputs({2, 24, 37}, 52, dtype, false);
      Tensor c = in[0].detach().clone();
      c.select(2, 17).zero_();  // ‖c‖ < eps: cosine 0 everywhere, no gradient through the norm
      in[0] = c.requires_grad_();
      check_cuda_matches_cpu(fused, in, tolerance(dtype), tolerance(dtype));
    }
  }

  TEST_CASE("cosine_attention cuda fused matches the unfused twin on the device") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> in = inputs({2, 24, 37}, 53, DType::f64, true);
    std::vector<Tensor> a, b;
    for (const Tensor& t : in) {
      a.push_back(t.detach().to(testing::cuda_device()).requires_grad_());
      b.push_back(t.detach().to(testing::cuda_device()).requires_grad_());
    }
    const Tensor pa = fused(a), pb = unfused(b);
    FOVEA_CHECK_CLOSE(pa.to(Device::cpu()), pb.to(Device::cpu()), 1e-11, 1e-10);
    const Tensor upstream = ones_like(pa);
    pa.backward(upstream);
    pb.backward(upstream);
    for (size_t i = 0; i < a.size(); ++i) {
      CAPTURE(i);
      FOVEA_CHECK_CLOSE(a[i].grad().to(Device::cpu()), b[i].grad().to(Device::cpu()), 1e-11, 1e-10);
    }
  }

  TEST_CASE("cosine_attention cuda is deterministic and prediction_error runs on the device") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> in = inputs({2, 24, 37}, 54, DType::f32, true);
    std::vector<Tensor> first, second;
    for (const Tensor& t : in) {
      first.push_back(t.detach().to(testing::cuda_device()).requires_grad_());
      second.push_back(t.detach().to(testing::cuda_device()).requires_grad_());
    }
    const Tensor target = random_input({2, 24, 37}, 57, -1.0, 1.0, false).to(DType::f32).to(testing::cuda_device());
    const Tensor loss_first = fixation_prediction_error(first[0], target, first[1], first[2]);
    const Tensor loss_second = fixation_prediction_error(second[0], target, second[1], second[2]);
    CHECK(loss_first.item() == loss_second.item());
    loss_first.backward();
    loss_second.backward();
    for (size_t i = 0; i < first.size(); ++i) {
      CAPTURE(i);
      FOVEA_CHECK_CLOSE(first[i].grad().to(Device::cpu()), second[i].grad().to(Device::cpu()), 0, 0);
    }
    const std::vector<Tensor> cpu = {in[0].detach(), in[1].detach(), in[2].detach()};
    const double expected =
        fixation_prediction_error(cpu[0], target.to(Device::cpu()), cpu[1], cpu[2]).item();
    CHECK(loss_first.item() == doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("cosine_attention cuda rejects mixed devices and channel counts beyond shared memory") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Device cuda = testing::cuda_device();
    const std::vector<Tensor> in = inputs({2, 6, 5}, 55, DType::f32, true);
    CHECK_THROWS_WITH_AS(cosine_attention(in[0].detach().to(cuda), in[1].detach(), in[2].detach().to(cuda)),
                         doctest::Contains("tensors are on different devices"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in[0].detach().to(cuda), in[1].detach().to(cuda), in[2].detach()),
                         doctest::Contains("tensors are on different devices"), Error);
    const int64_t channels = 2048;
    const Tensor c = zeros({1, channels, 3}, DType::f64, cuda);
    const Tensor w = zeros({channels, channels}, DType::f64, cuda);
    CHECK_THROWS_WITH_AS(cosine_attention(c, w), doctest::Contains("use cosine_attention_unfused"), Error);
  }
}
