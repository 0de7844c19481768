// masked_conv3d and fixation_masks on the CPU: gradcheck in double for x, weight and bias; the
// fused kernels against the unfused twin (conv3d of the masked input) in forward and backward
// for the 5 and 9 saccade masks and a random per-sample mask tensor; both against PyTorch
// goldens of conv3d(x * mask) (tools/make_goldens.py); the fixation mask geometry; the
// skipped-work report; bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "models/masked_conv3d.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::GoldenFile;
using testing::gradcheck;
using testing::random_input;

namespace {

struct Conv {
  Shape stride, padding, dilation;
};

struct Result {
  Tensor out, grad_x, grad_weight, grad_bias;
};

Result run(bool fused, const Tensor& x0, const Tensor& masks, const Tensor& index, const Tensor& w0, const Tensor& b0,
           const Conv& c) {
  const Tensor x = x0.detach().clone().requires_grad_(), w = w0.detach().clone().requires_grad_();
  const Tensor b = b0.detach().clone().requires_grad_();
  const Tensor out = fused ? masked_conv3d(x, masks, index, w, b, c.stride, c.padding, c.dilation)
                           : masked_conv3d_unfused(x, masks, index, w, b, c.stride, c.padding, c.dilation);
  Generator gen(5);
  out.backward(rand(out.shape(), out.dtype(), &gen));
  return {out.detach(), x.grad(), w.grad(), b.grad()};
}

void check_fused_matches_unfused(const Shape& x_shape, int64_t cout, const Shape& kernel, const Tensor& masks,
                                 const Tensor& index, const Conv& c, DType dtype) {
  const Tensor x = random_input(x_shape, 11, -1, 1, false).to(dtype);
  const Tensor w = random_input({cout, x_shape[1], kernel[0], kernel[1], kernel[2]}, 12, -0.5, 0.5, false).to(dtype);
  const Tensor b = random_input({cout}, 13, -0.5, 0.5, false).to(dtype);
  const Result f = run(true, x, masks, index, w, b, c), u = run(false, x, masks, index, w, b, c);
  const double tol = dtype == DType::f64 ? 1e-11 : 1e-4;
  REQUIRE(f.out.shape() == u.out.shape());
  FOVEA_CHECK_CLOSE(f.out, u.out, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_x, u.grad_x, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_weight, u.grad_weight, tol, tol);
  FOVEA_CHECK_CLOSE(f.grad_bias, u.grad_bias, tol, tol);
}

Tensor index_of(std::vector<int64_t> v) {
  Tensor t = make_tensor({static_cast<int64_t>(v.size())}, DType::i64);
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

}  // namespace

TEST_SUITE("gradcheck") {
  TEST_CASE("masked_conv3d gradcheck in double for x weight and bias at odd sizes") {
    const Tensor masks = fixation_masks(7, 5, 2, 0.25);
    const Tensor index = index_of({4, 1, 2});
    const Tensor x = random_input({3, 2, 3, 7, 5}, 21);
    const Tensor w = random_input({3, 2, 3, 3, 3}, 22, -0.5, 0.5);
    const Tensor b = random_input({3}, 23);
    auto fn = [&](const std::vector<Tensor>& in) {
      return masked_conv3d(in[0], masks, index, in[1], in[2], {1, 2, 1}, {1, 1, 1}, {1});
    };
    FOVEA_CHECK_GRADCHECK(gradcheck(fn, {x, w, b}));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("masked_conv3d fused matches unfused for the 5 fixation masks") {
    const Tensor masks = fixation_masks(14, 18, 2, 0.25);
    REQUIRE(masks.size(0) == 5);
    for (DType dtype : {DType::f64, DType::f32}) {
      check_fused_matches_unfused({5, 3, 4, 14, 18}, 4, {3, 7, 7}, masks, index_of({0, 1, 2, 3, 4}),
                                  {{1, 2, 2}, {1, 3, 3}, {1}}, dtype);
    }
  }

  TEST_CASE("masked_conv3d fused matches unfused for the 9 fixation masks with dilation") {
    const Tensor masks = fixation_masks(15, 13, 3, 0.2);
    REQUIRE(masks.size(0) == 9);
    check_fused_matches_unfused({9, 2, 3, 15, 13}, 3, {1, 3, 3}, masks, index_of({8, 7, 6, 5, 4, 3, 2, 1, 0}),
                                {{1, 1, 2}, {0, 2, 1}, {1, 2, 1}}, DType::f64);
  }

  TEST_CASE("masked_conv3d fused matches unfused for a random per-sample mask tensor") {
    Generator gen(3);
    const Tensor masks = gt(rand({3, 9, 11}, DType::f32, &gen), 0.6).to(DType::f32);
    check_fused_matches_unfused({3, 2, 2, 9, 11}, 2, {2, 3, 3}, masks, index_of({0, 1, 2}), {{1}, {1}, {1}},
                                DType::f64);
  }

  TEST_CASE("masked_conv3d golden fused and unfused match pytorch conv3d of the masked input") {
    // Cases: 5 rectangular masks picked per sample with stride 1×2×1; a per-sample mask tensor
    // with dilation; an R3D-18-like stem (3×7×7, stride 1×2×2, padding 1×3×3, no bias); a
    // per-sample mask tensor with stride 2×1×2. Masks passed as u8 and as x's dtype.
    const GoldenFile golden = GoldenFile::load("masked_conv3d");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 4);
    for (const std::string& name : cases) {
      const auto field = [&](const std::string& f) { return name + "/" + f; };
      const Conv c{golden.get_shape(field("stride")), golden.get_shape(field("padding")),
                   golden.get_shape(field("dilation"))};
      const bool with_bias = golden.has(field("bias"));
      for (DType dtype : {DType::f64, DType::f32}) {
        for (DType mask_dtype : {DType::u8, dtype}) {
          for (bool fused : {true, false}) {
            CAPTURE(name);
            CAPTURE(dtype_name(dtype));
            CAPTURE(dtype_name(mask_dtype));
            CAPTURE(fused);
            const double tol = dtype == DType::f64 ? 1e-11 : 1e-4;
            const Tensor masks = golden.get(field("masks")).to(mask_dtype);
            const Tensor index = golden.get(field("mask_index"));
            const Tensor x = golden.get_leaf(field("x"), dtype), w = golden.get_leaf(field("weight"), dtype);
            const Tensor b = with_bias ? golden.get_leaf(field("bias"), dtype) : Tensor();
            const Tensor out = fused ? masked_conv3d(x, masks, index, w, b, c.stride, c.padding, c.dilation)
                                     : masked_conv3d_unfused(x, masks, index, w, b, c.stride, c.padding, c.dilation);
            FOVEA_CHECK_CLOSE(out, golden.get(field("out")).to(dtype), tol, tol);
            out.backward(golden.get(field("grad_output")).to(dtype));
            FOVEA_CHECK_CLOSE(x.grad(), golden.get(field("grad_x")).to(dtype), tol, tol);
            FOVEA_CHECK_CLOSE(w.grad(), golden.get(field("grad_weight")).to(dtype), tol, tol);
            if (with_bias) FOVEA_CHECK_CLOSE(b.grad(), golden.get(field("grad_bias")).to(dtype), tol, tol);
          }
        }
      }
    }
  }

  TEST_CASE("masked_conv3d reports skipped work for small masks and none for a full mask") {
    const Tensor x = zeros({2, 1, 2, 32, 32});
    const Tensor w = zeros({1, 1, 3, 3, 3});
    MaskedConvStats s = masked_conv3d_stats(x, fixation_masks(32, 32, 2, 0.1), index_of({0, 4}), w, {1}, {1}, {1});
    CHECK(s.total_positions == 2 * 2 * 32 * 32);
    CHECK(s.skipped_positions > 0);
    CHECK(s.skipped_fraction() > 0.5);
    MaskedConvStats full;
    masked_conv3d(x, ones({1, 32, 32}, DType::u8), index_of({0, 0}), w, Tensor(), {1}, {1}, {1}, &full);
    CHECK(full.total_positions == 2 * 2 * 32 * 32);
    CHECK(full.skipped_positions == 0);
  }

  TEST_CASE("fixation_mask geometry has 25 percent area and the grid centres") {
    const Tensor m = fixation_masks(112, 112, 2, 0.25);
    REQUIRE(m.shape() == Shape{5, 112, 112});
    const Tensor m3 = fixation_masks(90, 120, 3, 0.25);
    REQUIRE(m3.shape() == Shape{9, 90, 120});
    for (const Tensor& masks : {m, m3}) {
      const int64_t h = masks.size(1), w = masks.size(2);
      for (int64_t k = 0; k < masks.size(0); ++k) {
        const Tensor one = masks.select(0, k).to(DType::f64);
        CHECK(std::abs(sum(one).item() / double(h * w) - 0.25) < 0.02);
      }
    }
    // 2×2 grid on 112×112: 56×56 squares at the quadrants and the centre.
    const uint8_t* d = m.data<uint8_t>();
    auto at = [&](int64_t k, int64_t y, int64_t x) { return d[(k * 112 + y) * 112 + x]; };
    CHECK(at(0, 0, 0) == 1);
    CHECK(at(0, 55, 55) == 1);
    CHECK(at(0, 56, 56) == 0);
    CHECK(at(3, 111, 111) == 1);
    CHECK(at(4, 28, 28) == 1);
    CHECK(at(4, 83, 83) == 1);
    CHECK(at(4, 27, 28) == 0);
    CHECK(at(4, 84, 84) == 0);
    // 3×3 grid: the middle mask is centred on the image centre.
    const uint8_t* d3 = m3.data<uint8_t>();
    CHECK(d3[(4 * 90 + 45) * 120 + 60] == 1);
    CHECK(d3[(4 * 90 + 0) * 120 + 0] == 0);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("masked_conv3d rejects bad masks and indices") {
    const Tensor x = zeros({2, 1, 2, 8, 8});
    const Tensor w = zeros({1, 1, 3, 3, 3});
    const Tensor masks = fixation_masks(8, 8);
    CHECK_THROWS_AS(masked_conv3d(x, fixation_masks(8, 9), index_of({0, 1}), w), Error);
    CHECK_THROWS_AS(masked_conv3d(x, masks, index_of({0, 5}), w), Error);
    CHECK_THROWS_AS(masked_conv3d(x, masks, index_of({-1, 0}), w), Error);
    CHECK_THROWS_AS(masked_conv3d(x, masks, index_of({0}), w), Error);
    CHECK_THROWS_AS(masked_conv3d(x, full({1, 8, 8}, 0.5), index_of({0, 0}), w), Error);
    CHECK_THROWS_AS(masked_conv3d_unfused(x, full({1, 8, 8}, 2.0), index_of({0, 0}), w), Error);
    CHECK_THROWS_AS(fixation_masks(8, 8, 2, 1.5), Error);
  }
}
