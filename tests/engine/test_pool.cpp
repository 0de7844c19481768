// Tests of the max, average and adaptive pools: hand-computed values and indices, a naive
// pooling written from PyTorch's definitions (ceil_mode, padding, dilation,
// count_include_pad), gradients by central differences, and the errors for bad arguments.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "fovea/build_config.h"
#include "tests/gradcheck.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

using namespace fovea;
using fovea::testing::gradcheck;
using fovea::testing::random_input;

namespace {

struct NaivePool {
  std::array<int64_t, 3> kernel, stride, padding, dilation;
  bool ceil_mode = false, count_include_pad = true;
};

int64_t naive_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const double exact = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(exact) : std::floor(exact)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

// Max (values and flat indices) or average pool of x [N, C, D, H, W] in f64, straight from
// the definitions: padding is -inf for max and 0 for average.
std::tuple<Tensor, Tensor> naive_pool(const Tensor& x, const NaivePool& p, bool is_max) {
  const Shape& s = x.shape();
  std::array<int64_t, 3> out{};
  for (int d = 0; d < 3; ++d)
    out[d] = naive_out_size(s[2 + d], p.kernel[d], p.stride[d], p.padding[d], is_max ? p.dilation[d] : 1, p.ceil_mode);
  const std::vector<double> v = to_vector(x);
  std::vector<double> values, indices;
  for (int64_t plane = 0; plane < s[0] * s[1]; ++plane)
    for (int64_t od = 0; od < out[0]; ++od)
      for (int64_t oh = 0; oh < out[1]; ++oh)
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t best_index = -1, inside = 0, padded = 1;
          const int64_t o[3] = {od, oh, ow};
          for (int d = 0; d < 3 && !is_max; ++d) {
            const int64_t start = o[d] * p.stride[d] - p.padding[d];
            padded *= std::min(start + p.kernel[d], s[2 + d] + p.padding[d]) - start;
          }
          for (int64_t a = 0; a < p.kernel[0]; ++a)
            for (int64_t b = 0; b < p.kernel[1]; ++b)
              for (int64_t c = 0; c < p.kernel[2]; ++c) {
                const int64_t k[3] = {a, b, c};
                int64_t pos[3];
                bool valid = true;
                for (int d = 0; d < 3; ++d) {
                  pos[d] = o[d] * p.stride[d] - p.padding[d] + k[d] * (is_max ? p.dilation[d] : 1);
                  valid = valid && pos[d] >= 0 && pos[d] < s[2 + d];
                }
                if (!valid) continue;
                const int64_t flat = (pos[0] * s[3] + pos[1]) * s[4] + pos[2];
                const double value = v[plane * s[2] * s[3] * s[4] + flat];
                ++inside;
                sum += value;
                if (best_index < 0 || value > best) {
                  best = value;
                  best_index = flat;
                }
              }
          values.push_back(is_max ? best : sum / static_cast<double>(p.count_include_pad ? padded : inside));
          indices.push_back(static_cast<double>(best_index));
        }
  const Shape out_shape{s[0], s[1], out[0], out[1], out[2]};
  return {from_vector(values, out_shape, DType::f64), from_vector(indices, out_shape, DType::i64)};
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("max_pool2d values and indices by hand with padding acting as -inf") {
    const Tensor x = from_vector({-1, -2, -3, -4, -5, -6, -7, -8, -9}, {1, 1, 3, 3});
    auto [values, indices] = max_pool2d_with_indices(x, {2}, {2}, {1});
    FOVEA_CHECK_CLOSE(values, from_vector({-1, -2, -4, -5}, {1, 1, 2, 2}), 0, 0);
    FOVEA_CHECK_CLOSE(indices, from_vector({0, 1, 3, 4}, {1, 1, 2, 2}, DType::i64), 0, 0);
    CHECK(indices.dtype() == DType::i64);
    // ceil_mode keeps a last partial window: 3 wide with kernel 2 stride 2 gives 2 columns.
    FOVEA_CHECK_CLOSE(max_pool2d(x, {2}, {2}, {0}, {1}, true), from_vector({-1, -3, -7, -9}, {1, 1, 2, 2}), 0, 0);
    CHECK(max_pool2d(x, {2}, {2}).shape() == Shape{1, 1, 1, 1});
  }

  TEST_CASE("max_pool3d with padding dilation and ceil_mode matches the naive pool") {
    const Tensor x = random_input({2, 3, 5, 7, 6}, 1, -1, 1, false);
    const NaivePool configs[] = {
        {{2, 3, 2}, {2, 2, 1}, {1, 1, 0}, {1, 1, 2}, true},
        {{3, 3, 3}, {2, 3, 2}, {1, 0, 1}, {2, 1, 1}, false},
        {{1, 2, 3}, {1, 2, 2}, {0, 1, 1}, {1, 2, 1}, true},
    };
    for (const NaivePool& p : configs) {
      auto [values, indices] = max_pool3d_with_indices(x, {p.kernel[0], p.kernel[1], p.kernel[2]},
                                                       {p.stride[0], p.stride[1], p.stride[2]},
                                                       {p.padding[0], p.padding[1], p.padding[2]},
                                                       {p.dilation[0], p.dilation[1], p.dilation[2]}, p.ceil_mode);
      auto [ref_values, ref_indices] = naive_pool(x, p, true);
      FOVEA_CHECK_CLOSE(values, ref_values, 0, 0);
      FOVEA_CHECK_CLOSE(indices, ref_indices, 0, 0);
    }
  }

  TEST_CASE("avg_pool3d count_include_pad and ceil_mode match the naive pool") {
    const Tensor x = random_input({2, 2, 5, 6, 7}, 2, -1, 1, false);
    for (bool include : {true, false})
      for (bool ceil_mode : {true, false}) {
        CAPTURE(include);
        CAPTURE(ceil_mode);
        const NaivePool p{{2, 3, 3}, {2, 2, 3}, {1, 1, 1}, {1, 1, 1}, ceil_mode, include};
        const Tensor y = avg_pool3d(x, {2, 3, 3}, {2, 2, 3}, {1}, ceil_mode, include);
        FOVEA_CHECK_CLOSE(y, std::get<0>(naive_pool(x, p, false)), 1e-14, 1e-14);
      }
  }

  TEST_CASE("avg_pool2d values by hand") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    // Padding 1, kernel 2, stride 2: corner windows hold one real value out of four.
    FOVEA_CHECK_CLOSE(avg_pool2d(x, {2}, {2}, {1}), from_vector({0.25, 1.25, 2.75, 7.0}, {1, 1, 2, 2}), 1e-15, 0);
    FOVEA_CHECK_CLOSE(avg_pool2d(x, {2}, {2}, {1}, false, false), from_vector({1, 2.5, 5.5, 7}, {1, 1, 2, 2}), 1e-15, 0);
    // ceil_mode without padding: the last window is cut to the input and divides by its size.
    FOVEA_CHECK_CLOSE(avg_pool2d(x, {2}, {2}, {0}, true), from_vector({3, 4.5, 7.5, 9}, {1, 1, 2, 2}), 1e-15, 0);
  }

  TEST_CASE("adaptive_avg_pool2d and adaptive_max_pool2d overlapping bins by hand") {
    // Length 5 into 3 bins: [0, 2), [1, 4), [3, 5).
    const Tensor x = from_vector({1, 5, 2, 4, 3}, {1, 1, 1, 5});
    FOVEA_CHECK_CLOSE(adaptive_avg_pool2d(x, {1, 3}), from_vector({3, 11.0 / 3, 3.5}, {1, 1, 1, 3}), 1e-15, 0);
    auto [values, indices] = adaptive_max_pool2d_with_indices(x, {1, 3});
    FOVEA_CHECK_CLOSE(values, from_vector({5, 5, 4}, {1, 1, 1, 3}), 0, 0);
    FOVEA_CHECK_CLOSE(indices, from_vector({1, 1, 3}, {1, 1, 1, 3}, DType::i64), 0, 0);
    CHECK(adaptive_avg_pool2d(x, {2, 7}).shape() == Shape{1, 1, 2, 7});
  }

  TEST_CASE("adaptive_avg_pool3d to one bin is the mean and 2d pools equal 3d pools of depth 1") {
    const Tensor x = random_input({2, 3, 4, 5, 6}, 3, -1, 1, false);
    FOVEA_CHECK_CLOSE(adaptive_avg_pool3d(x, {1}), mean(x, {2, 3, 4}, true), 1e-14, 1e-14);
    FOVEA_CHECK_CLOSE(adaptive_max_pool3d(x, {1}), std::get<0>(max(x.flatten(2), 2, true)).unsqueeze(-1).unsqueeze(-1),
                      0, 0);
    const Tensor x2 = x.select(2, 1);
    const Tensor x3 = x2.unsqueeze(2);
    FOVEA_CHECK_CLOSE(max_pool2d(x2, {3, 2}, {2}, {1}, {1, 2}, true),
                      max_pool3d(x3, {1, 3, 2}, {1, 2, 2}, {0, 1, 1}, {1, 1, 2}, true).squeeze(2), 0, 0);
    FOVEA_CHECK_CLOSE(avg_pool2d(x2, {3}, {2}, {1}, true, false),
                      avg_pool3d(x3, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, true, false).squeeze(2), 0, 0);
    FOVEA_CHECK_CLOSE(adaptive_avg_pool2d(x2, {3, 4}), adaptive_avg_pool3d(x3, {1, 3, 4}).squeeze(2), 0, 0);
  }

  TEST_CASE("max_pool2d backward routes the gradient to the argmax, summing overlaps") {
    Tensor x = from_vector({1, 9, 2, 3, 4, 5}, {1, 1, 2, 3}, DType::f64);
    x.requires_grad_();
    const Tensor y = max_pool2d(x, {2}, {1});  // both windows pick the 9
    y.backward(from_vector({2, 3}, {1, 1, 1, 2}, DType::f64));
    FOVEA_CHECK_CLOSE(x.grad(), from_vector({0, 5, 0, 0, 0, 0}, {1, 1, 2, 3}, DType::f64), 0, 0);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("max_pool2d gradcheck stride padding") {
    const Tensor x = random_input({2, 2, 5, 7}, 11);
    FOVEA_CHECK_GRADCHECK(
        gradcheck([](const std::vector<Tensor>& in) { return max_pool2d(in[0], {3, 2}, {2, 1}, {1}); }, {x}));
  }

  TEST_CASE("max_pool3d gradcheck ceil_mode dilation") {
    const Tensor x = random_input({1, 2, 5, 4, 7}, 12);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return max_pool3d(in[0], {2, 2, 3}, {2}, {1, 0, 1}, {1, 2, 1}, true); },
        {x}));
  }

  TEST_CASE("avg_pool2d gradcheck ceil_mode without count_include_pad") {
    const Tensor x = random_input({2, 1, 5, 6}, 13);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return avg_pool2d(in[0], {3, 2}, {2}, {1}, true, false); }, {x}));
  }

  TEST_CASE("avg_pool3d gradcheck count_include_pad") {
    const Tensor x = random_input({1, 2, 3, 5, 4}, 14);
    FOVEA_CHECK_GRADCHECK(
        gradcheck([](const std::vector<Tensor>& in) { return avg_pool3d(in[0], {2, 3, 2}, {1, 2, 2}, {1}); }, {x}));
  }

  TEST_CASE("adaptive_avg_pool2d and adaptive_avg_pool3d gradcheck") {
    const Tensor x2 = random_input({2, 2, 5, 7}, 15), x3 = random_input({1, 2, 5, 3, 4}, 16);
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], {3, 4}); }, {x2}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_avg_pool3d(in[0], {2, 2, 3}); }, {x3}));
  }

  TEST_CASE("adaptive_max_pool2d and adaptive_max_pool3d gradcheck") {
    const Tensor x2 = random_input({2, 2, 5, 7}, 17), x3 = random_input({1, 2, 5, 3, 4}, 18);
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_max_pool2d(in[0], {3, 4}); }, {x2}));
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return adaptive_max_pool3d(in[0], {2, 2, 3}); }, {x3}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("max_pool badinput ranks and parameters") {
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({3, 4, 4}), {2}), doctest::Contains("add a batch dim"), Error);
    CHECK_THROWS_WITH_AS(max_pool3d(zeros({1, 3, 4, 4}), {2}), doctest::Contains("expected a 5-D input"), Error);
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), {0}), doctest::Contains("kernel_size must be positive"), Error);
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), {2}, {0}), doctest::Contains("stride must be positive"), Error);
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), {2}, {}, {2}), doctest::Contains("half the kernel size"), Error);
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 4, 4}), {2}, {}, {0}, {0}), doctest::Contains("dilation must be positive"),
                         Error);
    CHECK_THROWS_WITH_AS(max_pool3d(zeros({1, 1, 4, 4, 4}), {2, 2}), doctest::Contains("1 or 3 values"), Error);
    CHECK_THROWS_WITH_AS(max_pool2d(zeros({1, 1, 2, 4}), {3}), doctest::Contains("smaller than the kernel extent"), Error);
  }

  TEST_CASE("avg_pool badinput parameters and dtypes") {
    CHECK_THROWS_WITH_AS(avg_pool3d(zeros({1, 1, 2, 2, 2}), {3}), doctest::Contains("smaller than the kernel extent"),
                         Error);
    CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 4, 4}, DType::i64), {2}), doctest::Contains("must be f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(avg_pool2d(zeros({1, 1, 4, 4}), {3}, {1}, {-1}), doctest::Contains("half the kernel size"),
                         Error);
  }

  TEST_CASE("adaptive pool badinput output sizes") {
    CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({1, 1, 4, 4}), {0, 2}), doctest::Contains("output_size must be positive"),
                         Error);
    CHECK_THROWS_WITH_AS(adaptive_max_pool3d(zeros({1, 1, 4, 4, 4}), {2, 2}), doctest::Contains("1 or 3 values"), Error);
    CHECK_THROWS_WITH_AS(adaptive_avg_pool3d(zeros({1, 1, 0, 4, 4}), {2}), doctest::Contains("empty spatial dim"), Error);
  }

  TEST_CASE("max_pool badinput CUDA tensors") {
#if FOVEA_HAS_CUDA
    if (!cuda::available()) return;
    CHECK_THROWS_WITH_AS(max_pool3d(zeros({1, 1, 4, 4, 4}, DType::f32, Device::cuda()), {5}),
                         doctest::Contains("smaller than the kernel extent"), Error);
    CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(zeros({1, 1, 4, 4}, DType::f32, Device::cuda()), {0, 2}),
                         doctest::Contains("output_size must be positive"), Error);
#else
    CHECK_THROWS_WITH_AS(zeros({1, 1, 4, 4}, DType::f32, Device::cuda()), doctest::Contains("no CUDA backend"), Error);
#endif
  }
}
