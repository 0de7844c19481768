// Tests of conv2d and conv3d: the vol2col + GEMM kernels against the naive direct reference
// (every tiling of the batch, groups, dilation, strides), hand-computed values, gradients by
// central differences, and the errors for bad arguments.
#include <doctest/doctest.h>

#include "engine/cpu/conv.h"
#include "engine/cpu/conv_reference.h"
#include "fovea/build_config.h"
#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::gradcheck;
using fovea::testing::random_input;

namespace {

struct ConvCase {
  Shape x, w;
  std::array<int64_t, 3> stride, padding, dilation;
  int64_t groups;
  bool bias;
};

cpu::ConvGeometry geometry_of(const ConvCase& c) {
  cpu::ConvGeometry g;
  g.batch = c.x[0];
  g.in_channels = c.x[1];
  g.out_channels = c.w[0];
  g.groups = c.groups;
  g.stride = c.stride;
  g.padding = c.padding;
  g.dilation = c.dilation;
  for (int d = 0; d < 3; ++d) {
    g.in[d] = c.x[2 + d];
    g.kernel[d] = c.w[2 + d];
    g.out[d] = cpu::conv_output_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], g.dilation[d]);
  }
  return g;
}

Shape output_shape(const cpu::ConvGeometry& g) { return {g.batch, g.out_channels, g.out[0], g.out[1], g.out[2]}; }

const std::vector<ConvCase>& kernel_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 3, 5, 6, 7}, {4, 3, 3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, true},
      {{3, 4, 6, 7, 9}, {6, 2, 2, 3, 3}, {2, 1, 2}, {0, 1, 2}, {1, 2, 1}, 2, false},
      {{2, 6, 4, 9, 8}, {6, 1, 3, 3, 3}, {1, 2, 3}, {1, 2, 0}, {2, 1, 2}, 6, true},
      {{4, 8, 4, 6, 6}, {4, 8, 1, 1, 1}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, 1, false},
      {{2, 3, 1, 11, 10}, {5, 3, 1, 7, 5}, {1, 2, 2}, {0, 3, 2}, {1, 1, 1}, 1, true},
  };
  return cases;
}

// Columns per tile: one output row, a few rows, two samples, the whole batch, automatic.
std::vector<int64_t> tilings(const cpu::ConvGeometry& g) { return {1, 3 * g.out[2] + 1, 2 * g.out_plane(), int64_t{1} << 40, 0}; }

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("conv3d im2col path matches the naive reference for every tiling") {
    for (DType dtype : {DType::f64, DType::f32}) {
      const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
      for (size_t i = 0; i < kernel_cases().size(); ++i) {
        const ConvCase& c = kernel_cases()[i];
        const cpu::ConvGeometry g = geometry_of(c);
        const Tensor x = random_input(c.x, 10 + i, -1, 1, false).to(dtype);
        const Tensor w = random_input(c.w, 20 + i, -1, 1, false).to(dtype);
        const Tensor b = c.bias ? random_input({c.w[0]}, 30 + i, -1, 1, false).to(dtype) : Tensor();
        const Tensor go = random_input(output_shape(g), 40 + i, -1, 1, false).to(dtype);
        Tensor ref_out = make_tensor(output_shape(g), dtype), ref_gx = make_tensor(c.x, dtype),
               ref_gw = make_tensor(c.w, dtype);
        cpu::conv_forward_reference(x, w, b, g, ref_out);
        cpu::conv_backward_reference(go, x, w, g, ref_gx, ref_gw);
        for (int64_t columns : tilings(g)) {
          CAPTURE(i);
          CAPTURE(columns);
          CAPTURE(dtype_name(dtype));
          Tensor out = make_tensor(output_shape(g), dtype), gx = make_tensor(c.x, dtype), gw = make_tensor(c.w, dtype);
          cpu::conv_forward(x, w, b, g, out, columns);
          cpu::conv_backward(go, x, w, g, gx, gw, columns);
          FOVEA_CHECK_CLOSE(out, ref_out, tol, tol);
          FOVEA_CHECK_CLOSE(gx, ref_gx, tol, tol);
          FOVEA_CHECK_CLOSE(gw, ref_gw, tol, tol);
        }
      }
    }
  }

  TEST_CASE("conv3d front-end forward and backward match the naive reference") {
    const ConvCase& c = kernel_cases()[1];
    const cpu::ConvGeometry g = geometry_of(c);
    const Tensor x = random_input(c.x, 1), w = random_input(c.w, 2), b = random_input({c.w[0]}, 3);
    const Tensor y = conv3d(x, w, b, {2, 1, 2}, {0, 1, 2}, {1, 2, 1}, 2);
    Tensor ref = make_tensor(output_shape(g), DType::f64);
    cpu::conv_forward_reference(x.detach(), w.detach(), b.detach(), g, ref);
    FOVEA_CHECK_CLOSE(y, ref, 1e-12, 1e-12);
    const Tensor go = random_input(y.shape(), 4, -1, 1, false);
    y.backward(go);
    Tensor gx = make_tensor(c.x, DType::f64), gw = make_tensor(c.w, DType::f64);
    cpu::conv_backward_reference(go, x.detach(), w.detach(), g, gx, gw);
    FOVEA_CHECK_CLOSE(x.grad(), gx, 1e-12, 1e-12);
    FOVEA_CHECK_CLOSE(w.grad(), gw, 1e-12, 1e-12);
    FOVEA_CHECK_CLOSE(b.grad(), sum(go, {0, 2, 3, 4}), 1e-12, 1e-12);
  }

  TEST_CASE("conv2d values by hand") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    const Tensor w = from_vector({1, 0, 0, -1}, {1, 1, 2, 2});
    FOVEA_CHECK_CLOSE(conv2d(x, w), from_vector({-4, -4, -4, -4}, {1, 1, 2, 2}), 0, 0);
    FOVEA_CHECK_CLOSE(conv2d(x, w, from_vector({0.5}, {1}), {2}, {1}),
                      from_vector({-0.5, -2.5, -6.5, -3.5}, {1, 1, 2, 2}), 0, 0);
    // Dilation 2 reads the corners: 1 - 9.
    FOVEA_CHECK_CLOSE(conv2d(x, w, Tensor(), {1}, {0}, {2}), from_vector({-8}, {1, 1, 1, 1}), 0, 0);
  }

  TEST_CASE("conv2d equals conv3d of depth 1 and depthwise groups act per channel") {
    const Tensor x = random_input({2, 4, 7, 6}, 5, -1, 1, false);
    const Tensor w = random_input({4, 1, 3, 3}, 6, -1, 1, false);
    const Tensor y2 = conv2d(x, w, Tensor(), {2, 1}, {1}, {1, 2}, 4);
    const Tensor y3 = conv3d(x.unsqueeze(2), w.unsqueeze(2), Tensor(), {1, 2, 1}, {0, 1, 1}, {1, 1, 2}, 4);
    FOVEA_CHECK_CLOSE(y2, y3.squeeze(2), 0, 0);
    for (int64_t c = 0; c < 4; ++c) {
      const Tensor alone = conv2d(x.narrow(1, c, 1), w.narrow(0, c, 1), Tensor(), {2, 1}, {1}, {1, 2});
      FOVEA_CHECK_CLOSE(y2.narrow(1, c, 1), alone, 1e-12, 1e-12);
    }
  }

  TEST_CASE("conv3d gradient of the weight only and of a strided input view") {
    const Tensor base = random_input({2, 3, 6, 5, 8}, 7, -1, 1, false);
    const Tensor x = base.transpose(3, 4);  // not contiguous
    const Tensor w = random_input({2, 3, 2, 2, 2}, 8);
    const Tensor y = conv3d(x, w, Tensor(), {1}, {1});
    y.backward(ones_like(y));
    const cpu::ConvGeometry g = geometry_of({{2, 3, 6, 8, 5}, {2, 3, 2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1, false});
    Tensor gw = make_tensor(w.shape(), DType::f64);
    cpu::conv_backward_reference(ones_like(y), x.contiguous(), w.detach(), g, Tensor(), gw);
    FOVEA_CHECK_CLOSE(w.grad(), gw, 1e-12, 1e-12);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("conv3d gradcheck padding and bias") {
    const Tensor x = random_input({2, 2, 3, 4, 5}, 11), w = random_input({3, 2, 2, 3, 2}, 12),
                 b = random_input({3}, 13);
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return conv3d(in[0], in[1], in[2], {1}, {1, 0, 1}); },
                                    {x, w, b}));
  }

  TEST_CASE("conv3d gradcheck stride dilation groups odd sizes") {
    const Tensor x = random_input({1, 4, 5, 7, 6}, 14), w = random_input({2, 2, 2, 2, 3}, 15);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return conv3d(in[0], in[1], Tensor(), {2, 1, 2}, {1, 2, 1}, {2, 2, 1}, 2); },
        {x, w}));
  }

  TEST_CASE("conv3d gradcheck pointwise stride 2 downsample") {
    const Tensor x = random_input({2, 3, 3, 5, 5}, 16), w = random_input({4, 3, 1, 1, 1}, 17);
    FOVEA_CHECK_GRADCHECK(
        gradcheck([](const std::vector<Tensor>& in) { return conv3d(in[0], in[1], Tensor(), {2}); }, {x, w}));
  }

  TEST_CASE("conv2d gradcheck stride padding dilation groups") {
    const Tensor x = random_input({2, 6, 7, 5}, 18), w = random_input({3, 2, 3, 2}, 19), b = random_input({3}, 20);
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], {2, 1}, {1}, {2, 1}, 3); }, {x, w, b}));
  }

  TEST_CASE("conv2d gradcheck input only with a large kernel") {
    const Tensor x = random_input({1, 2, 6, 6}, 21);
    const Tensor w = random_input({2, 2, 5, 5}, 22, -1, 1, false);
    FOVEA_CHECK_GRADCHECK(
        gradcheck([w](const std::vector<Tensor>& in) { return conv2d(in[0], w, Tensor(), {3}, {2}); }, {x}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("conv3d badinput ranks") {
    const Tensor w = zeros({2, 3, 1, 1, 1});
    CHECK_THROWS_WITH_AS(conv3d(zeros({3, 4, 4, 4}), w), doctest::Contains("expected a 5-D input"), Error);
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 3, 4, 4, 4}), zeros({2, 3, 1, 1})), doctest::Contains("5-D weight"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 3, 4, 4, 4}), zeros({2, 3, 1, 1})), doctest::Contains("expected a 4-D input"),
                         Error);
  }

  TEST_CASE("conv3d badinput channel and group mismatch") {
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 4, 3, 3, 3}), zeros({2, 3, 1, 1, 1})), doctest::Contains("has 4 channels"),
                         Error);
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 4, 3, 3, 3}), zeros({3, 2, 1, 1, 1}), Tensor(), {1}, {0}, {1}, 2),
                         doctest::Contains("multiple of groups"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 3, 3}), zeros({4, 2, 1, 1}), Tensor(), {1}, {0}, {1}, 0),
                         doctest::Contains("groups must be positive"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 4, 3, 3}), zeros({4, 4, 1, 1}), zeros({3})),
                         doctest::Contains("bias must have shape [4]"), Error);
  }

  TEST_CASE("conv3d badinput kernel larger than padded input") {
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 1, 2, 5, 5}), zeros({1, 1, 3, 3, 3})),
                         doctest::Contains("padded input has only 2"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), {1}, {0}, {3}),
                         doctest::Contains("kernel spans 7"), Error);
  }

  TEST_CASE("conv3d badinput stride padding dilation values") {
    const Tensor x = zeros({1, 1, 4, 4, 4}), w = zeros({1, 1, 2, 2, 2});
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1, 0, 1}), doctest::Contains("stride must be positive"), Error);
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {-1}), doctest::Contains("stride must be positive"), Error);
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1}, {-1}), doctest::Contains("padding must be non-negative"), Error);
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1}, {0}, {0}), doctest::Contains("dilation must be positive"), Error);
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1, 1}), doctest::Contains("'stride' must hold 1 or 3 values"), Error);
  }

  TEST_CASE("conv3d badinput dtypes") {
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 1, 3, 3, 3}), zeros({1, 1, 1, 1, 1}, DType::f64)),
                         doctest::Contains("weight is f64 but x is f32"), Error);
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 1, 3, 3, 3}, DType::i64), zeros({1, 1, 1, 1, 1}, DType::i64)),
                         doctest::Contains("must be f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(conv3d(zeros({1, 1, 3, 3, 3}), zeros({1, 1, 1, 1, 1}), zeros({1}, DType::f64)),
                         doctest::Contains("bias is f64"), Error);
    CHECK_THROWS_WITH_AS(conv3d(Tensor(), zeros({1, 1, 1, 1, 1})), doctest::Contains("undefined"), Error);
  }

  TEST_CASE("conv3d badinput CUDA tensors") {
#if FOVEA_HAS_CUDA
    const Tensor x = zeros({1, 1, 3, 3, 3}, DType::f32, Device::cuda());
    CHECK_THROWS_WITH_AS(conv3d(x, zeros({1, 1, 1, 1, 1})),
                         doctest::Contains("conv3d: tensors are on different devices: cuda:0 and cpu"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 1, 3, 3}), zeros({1, 1, 1, 1}, DType::f32, Device::cuda())),
                         doctest::Contains("tensors are on different devices"), Error);
    CHECK_THROWS_WITH_AS(conv3d(x, zeros({1, 1, 1, 1, 1}, DType::f32, Device::cuda()), zeros({1})),
                         doctest::Contains("different devices"), Error);
#else
    CHECK_THROWS_WITH_AS(zeros({1, 1, 3, 3, 3}, DType::f32, Device::cuda()), doctest::Contains("no CUDA backend"),
                         Error);
#endif
  }
}
