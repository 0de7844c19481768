// conv2d and conv3d on the CUDA device against the CPU, forward and backward: strides, padding,
// dilation, groups (depthwise included), bias on and off, 1×1×1 kernels of stride 2 and ragged
// sizes, f32 and f64; the vol2col + cuBLAS kernels called directly at every tiling of the batch
// (single-sample tiles in place, multi-sample tiles through the scratch matrix, a ragged last
// tile, grad_weight accumulated over tiles). f32 sums of up to ~100 products run in different
// orders on the two devices, hence a 1e-4 tolerance; f64 agrees to 1e-12.
#include "engine/cpu/conv.h"
#include "engine/cuda/ops.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;

namespace {

struct ConvCase {
  Shape x, w;
  Shape stride, padding, dilation;
  int64_t groups;
  bool bias;
};

double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-12 : 1e-4; }

Tensor leaf(const Shape& shape, uint64_t seed, DType dtype) {
  Tensor t = random_input(shape, seed, -1, 1, false).to(dtype);
  t.requires_grad_();
  return t;
}

std::vector<Tensor> conv_inputs(const ConvCase& c, DType dtype, uint64_t seed) {
  std::vector<Tensor> in = {leaf(c.x, seed, dtype), leaf(c.w, seed + 1, dtype)};
  if (c.bias) in.push_back(leaf({c.w[0]}, seed + 2, dtype));
  return in;
}

void check_case(const ConvCase& c, bool three_d, uint64_t seed) {
  for (DType dtype : {DType::f64, DType::f32}) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    CAPTURE(dtype_name(dtype));
    check_cuda_matches_cpu(
        [&c, three_d](const std::vector<Tensor>& t) {
          const Tensor bias = c.bias ? t[2] : Tensor();
          return three_d ? conv3d(t[0], t[1], bias, c.stride, c.padding, c.dilation, c.groups)
                         : conv2d(t[0], t[1], bias, c.stride, c.padding, c.dilation, c.groups);
        },
        conv_inputs(c, dtype, seed), tolerance(dtype), tolerance(dtype));
  }
}

cpu::ConvGeometry geometry_of(const Shape& x, const Shape& w, std::array<int64_t, 3> stride,
                              std::array<int64_t, 3> padding, std::array<int64_t, 3> dilation, int64_t groups) {
  cpu::ConvGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.groups = groups;
  g.stride = stride;
  g.padding = padding;
  g.dilation = dilation;
  for (int d = 0; d < 3; ++d) {
    g.in[d] = x[2 + d];
    g.kernel[d] = w[2 + d];
    g.out[d] = cpu::conv_output_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], g.dilation[d]);
  }
  return g;
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("conv3d cuda matches cpu with stride padding dilation and groups") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<ConvCase> cases = {
        {{2, 3, 4, 5, 6}, {4, 3, 3, 3, 3}, {1}, {1}, {1}, 1, true},
        {{3, 4, 5, 6, 7}, {6, 2, 2, 3, 2}, {2, 1, 2}, {0, 1, 2}, {1, 2, 1}, 2, false},
        {{2, 4, 3, 6, 5}, {4, 1, 3, 3, 3}, {1, 2, 3}, {1, 2, 0}, {1, 1, 2}, 4, true},
        {{1, 2, 3, 4, 5}, {3, 2, 2, 2, 2}, {1}, {0}, {1}, 1, false},
    };
    for (size_t i = 0; i < cases.size(); ++i) check_case(cases[i], true, 100 + 10 * i);
  }

  TEST_CASE("conv3d cuda 1x1x1 kernel with stride 2 at ragged sizes") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_case({{3, 5, 5, 7, 3}, {4, 5, 1, 1, 1}, {2}, {0}, {1}, 1, true}, true, 200);
    check_case({{2, 6, 3, 5, 4}, {6, 2, 1, 1, 1}, {2}, {0}, {1}, 3, false}, true, 210);
  }

  TEST_CASE("conv2d cuda matches cpu with stride padding dilation groups and bias") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<ConvCase> cases = {
        {{2, 3, 7, 6}, {5, 3, 3, 3}, {1}, {1}, {1}, 1, true},
        {{3, 4, 9, 8}, {4, 2, 3, 2}, {2, 1}, {1, 2}, {2, 1}, 2, false},
        {{2, 6, 7, 9}, {6, 1, 3, 3}, {1, 2}, {2, 1}, {2, 1}, 6, true},
        {{1, 3, 11, 10}, {5, 3, 7, 5}, {2}, {3, 2}, {1}, 1, false},
    };
    for (size_t i = 0; i < cases.size(); ++i) check_case(cases[i], false, 300 + 10 * i);
  }

  TEST_CASE("conv2d cuda depthwise with a channel multiplier and bias") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_case({{2, 3, 6, 5}, {6, 1, 3, 3}, {1}, {1}, {1}, 3, true}, false, 400);
  }

  TEST_CASE("conv3d cuda kernels match cpu for every tiling of the batch") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Shape xs{5, 4, 3, 5, 4}, ws{6, 2, 2, 3, 2};
    const cpu::ConvGeometry g = geometry_of(xs, ws, {1, 2, 1}, {1, 1, 0}, {1, 1, 2}, 2);
    const Shape out_shape{g.batch, g.out_channels, g.out[0], g.out[1], g.out[2]};
    for (DType dtype : {DType::f64, DType::f32}) {
      const Tensor x = random_input(xs, 500, -1, 1, false).to(dtype);
      const Tensor w = random_input(ws, 501, -1, 1, false).to(dtype);
      const Tensor b = random_input({ws[0]}, 502, -1, 1, false).to(dtype);
      const Tensor go = random_input(out_shape, 503, -1, 1, false).to(dtype);
      Tensor out = make_tensor(out_shape, dtype), gx = make_tensor(xs, dtype), gw = make_tensor(ws, dtype);
      cpu::conv_forward(x, w, b, g, out);
      cpu::conv_backward(go, x, w, g, gx, gw);
      // One sample per tile, two (ragged last tile), four, the whole batch, automatic.
      for (int64_t columns : {int64_t{1}, 2 * g.out_plane(), 4 * g.out_plane(), int64_t{1} << 40, int64_t{0}}) {
        CAPTURE(columns);
        CAPTURE(dtype_name(dtype));
        const Tensor dx = x.to(cuda_device()), dw = w.to(cuda_device());
        Tensor d_out = make_tensor(out_shape, dtype, cuda_device()), d_gx = make_tensor(xs, dtype, cuda_device()),
               d_gw = make_tensor(ws, dtype, cuda_device());
        cuda::conv_forward(dx, dw, b.to(cuda_device()), g, d_out, columns);
        cuda::conv_backward(go.to(cuda_device()), dx, dw, g, d_gx, d_gw, columns);
        FOVEA_CHECK_CLOSE(d_out.to(Device::cpu()), out, tolerance(dtype), tolerance(dtype));
        FOVEA_CHECK_CLOSE(d_gx.to(Device::cpu()), gx, tolerance(dtype), tolerance(dtype));
        FOVEA_CHECK_CLOSE(d_gw.to(Device::cpu()), gw, tolerance(dtype), tolerance(dtype));
        Tensor d_gw_only = make_tensor(ws, dtype, cuda_device());
        cuda::conv_backward(go.to(cuda_device()), dx, dw, g, Tensor(), d_gw_only, columns);
        FOVEA_CHECK_CLOSE(d_gw_only.to(Device::cpu()), gw, tolerance(dtype), tolerance(dtype));
      }
    }
  }

  TEST_CASE("conv3d cuda backward is deterministic") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x0 = random_input({3, 4, 3, 5, 4}, 600, -1, 1, false).to(DType::f32);
    const Tensor w0 = random_input({4, 4, 3, 3, 3}, 601, -1, 1, false).to(DType::f32);
    std::vector<Tensor> grads;
    for (int run = 0; run < 2; ++run) {
      Tensor x = x0.to(cuda_device()), w = w0.to(cuda_device());
      x.requires_grad_();
      w.requires_grad_();
      sum(conv3d(x, w, Tensor(), {2, 1, 1}, {1})).backward();
      grads.push_back(x.grad().to(Device::cpu()));
      grads.push_back(w.grad().to(Device::cpu()));
    }
    FOVEA_CHECK_CLOSE(grads[2], grads[0], 0.0, 0.0);
    FOVEA_CHECK_CLOSE(grads[3], grads[1], 0.0, 0.0);
  }
}
