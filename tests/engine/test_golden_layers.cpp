// Compares the layer ops with PyTorch on the golden files written by tools/make_goldens.py:
// conv3d with stride, padding, dilation and groups; batch_norm in training mode with its
// running statistics (and one evaluation case); max, average and adaptive pools with
// ceil_mode and count_include_pad. Values and gradients in f64, conv3d also in f32.
#include <doctest/doctest.h>

#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::GoldenFile;

namespace {

constexpr double kF64Tol = 1e-11;
constexpr double kF32Tol = 1e-4;  // sums of up to a few hundred f32 products of O(1) values

enum PoolKind { kMaxPool = 0, kAvgPool = 1, kAdaptiveMaxPool = 2, kAdaptiveAvgPool = 3 };  // POOL_CODES

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("conv3d golden dilation groups outputs and gradients") {
    const GoldenFile golden = GoldenFile::load("conv3d");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 3);
    for (const std::string& c : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? kF64Tol : kF32Tol;
        const bool has_bias = golden.has(c + "/bias");
        const Tensor x = golden.get_leaf(c + "/x", dtype), w = golden.get_leaf(c + "/weight", dtype);
        const Tensor b = has_bias ? golden.get_leaf(c + "/bias", dtype) : Tensor();
        const Tensor y = conv3d(x, w, b, golden.get_shape(c + "/stride"), golden.get_shape(c + "/padding"),
                                golden.get_shape(c + "/dilation"), golden.get_int(c + "/groups"));
        FOVEA_CHECK_CLOSE(y, golden.get(c + "/out").to(dtype), tol, tol);
        y.backward(golden.get(c + "/grad_output").to(dtype));
        FOVEA_CHECK_CLOSE(x.grad(), golden.get(c + "/grad_x").to(dtype), tol, tol);
        FOVEA_CHECK_CLOSE(w.grad(), golden.get(c + "/grad_weight").to(dtype), tol, tol);
        if (has_bias) FOVEA_CHECK_CLOSE(b.grad(), golden.get(c + "/grad_bias").to(dtype), tol, tol);
      }
    }
  }

  TEST_CASE("batch_norm golden training outputs gradients and running statistics") {
    const GoldenFile golden = GoldenFile::load("batch_norm");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 4);
    for (const std::string& c : cases) {
      CAPTURE(c);
      const Tensor x = golden.get_leaf(c + "/x", DType::f64);
      const Tensor w = golden.get_leaf(c + "/weight", DType::f64), b = golden.get_leaf(c + "/bias", DType::f64);
      const Tensor running_mean = golden.get(c + "/running_mean").clone();
      const Tensor running_var = golden.get(c + "/running_var").clone();
      const Tensor y = batch_norm(x, running_mean, running_var, w, b, golden.get_int(c + "/training") != 0,
                                  golden.get(c + "/momentum").item(), 1e-5);
      FOVEA_CHECK_CLOSE(y, golden.get(c + "/out"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(running_mean, golden.get(c + "/running_mean_after"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(running_var, golden.get(c + "/running_var_after"), kF64Tol, kF64Tol);
      y.backward(golden.get(c + "/grad_output"));
      FOVEA_CHECK_CLOSE(x.grad(), golden.get(c + "/grad_x"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(w.grad(), golden.get(c + "/grad_weight"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(b.grad(), golden.get(c + "/grad_bias"), kF64Tol, kF64Tol);
    }
  }

  TEST_CASE("max_pool avg_pool adaptive golden ceil_mode count_include_pad values indices gradients") {
    const GoldenFile golden = GoldenFile::load("pool");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 8);
    for (const std::string& c : cases) {
      CAPTURE(c);
      const Tensor x = golden.get_leaf(c + "/x", DType::f64);
      const bool is3d = x.dim() == 5;
      const Shape kernel = golden.get_shape(c + "/kernel"), stride = golden.get_shape(c + "/stride");
      const Shape padding = golden.get_shape(c + "/padding"), dilation = golden.get_shape(c + "/dilation");
      const Shape output_size = golden.get_shape(c + "/output_size");
      const bool ceil_mode = golden.get_int(c + "/ceil_mode") != 0;
      const bool include_pad = golden.get_int(c + "/count_include_pad") != 0;
      Tensor y, indices;
      switch (golden.get_int(c + "/kind")) {
        case kMaxPool:
          std::tie(y, indices) = is3d ? max_pool3d_with_indices(x, kernel, stride, padding, dilation, ceil_mode)
                                      : max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode);
          break;
        case kAvgPool:
          y = is3d ? avg_pool3d(x, kernel, stride, padding, ceil_mode, include_pad)
                   : avg_pool2d(x, kernel, stride, padding, ceil_mode, include_pad);
          break;
        case kAdaptiveMaxPool:
          std::tie(y, indices) = is3d ? adaptive_max_pool3d_with_indices(x, output_size)
                                      : adaptive_max_pool2d_with_indices(x, output_size);
          break;
        case kAdaptiveAvgPool:
          y = is3d ? adaptive_avg_pool3d(x, output_size) : adaptive_avg_pool2d(x, output_size);
          break;
        default:
          FAIL("unknown pool kind in ", c);
      }
      FOVEA_CHECK_CLOSE(y, golden.get(c + "/out"), kF64Tol, kF64Tol);
      if (golden.has(c + "/indices")) FOVEA_CHECK_CLOSE(indices, golden.get(c + "/indices"), 0, 0);
      y.backward(golden.get(c + "/grad_output"));
      FOVEA_CHECK_CLOSE(x.grad(), golden.get(c + "/grad_x"), kF64Tol, kF64Tol);
    }
  }
}
