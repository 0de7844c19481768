// masked_conv3d's CUDA kernels (kernels/masked_conv3d.cu) against the CPU kernels, forward and
// backward for x, weight and bias, at small ragged shapes with the fixation masks and a random
// per-sample mask tensor.
#include "models/masked_conv3d.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;

namespace {

Tensor index_of(std::vector<int64_t> v) {
  Tensor t = make_tensor({static_cast<int64_t>(v.size())}, DType::i64);
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

std::vector<Tensor> inputs(const Shape& x_shape, int64_t cout, const Shape& kernel, DType dtype) {
  std::vector<Tensor> in{random_input(x_shape, 61, -1, 1, false).to(dtype),
                         random_input({cout, x_shape[1], kernel[0], kernel[1], kernel[2]}, 62, -0.5, 0.5, false).to(dtype),
                         random_input({cout}, 63, -0.5, 0.5, false).to(dtype)};
  for (Tensor& t : in) t.requires_grad_();
  return in;
}

double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-11 : 2e-5; }

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("masked_conv3d cuda forward and backward match cpu with the fixation masks") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor masks = fixation_masks(11, 9, 2, 0.25);
    const Tensor index = index_of({4, 0, 3});
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      auto fn = [&](const std::vector<Tensor>& in) {
        return masked_conv3d(in[0], masks.to(in[0].device()), index.to(in[0].device()), in[1], in[2], {1, 2, 2},
                             {1, 2, 2}, {1});
      };
      check_cuda_matches_cpu(fn, inputs({3, 2, 3, 11, 9}, 3, {3, 5, 5}, dtype), tolerance(dtype), tolerance(dtype));
    }
  }

  TEST_CASE("masked_conv3d cuda matches cpu for a random per-sample mask tensor and 9 masks") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    Generator gen(4);
    const Tensor random_masks = gt(rand({2, 7, 6}, DType::f32, &gen), 0.5).to(DType::f32);
    auto fn = [&](const std::vector<Tensor>& in) {
      return masked_conv3d(in[0], random_masks, index_of({1, 0}), in[1], in[2], {1}, {1}, {1, 1, 2});
    };
    check_cuda_matches_cpu(fn, inputs({2, 2, 2, 7, 6}, 2, {2, 3, 3}, DType::f64), 1e-11, 1e-11);
    const Tensor nine = fixation_masks(9, 9, 3, 0.3);
    auto fn9 = [&](const std::vector<Tensor>& in) {
      return masked_conv3d(in[0], nine, index_of({8, 4, 0}), in[1], in[2], {1}, {0, 1, 1}, {1});
    };
    check_cuda_matches_cpu(fn9, inputs({3, 1, 2, 9, 9}, 2, {1, 3, 3}, DType::f64), 1e-11, 1e-11);
  }
}
