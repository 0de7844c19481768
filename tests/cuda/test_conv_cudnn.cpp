// The cuDNN convolution path. In builds with cuDNN (FOVEA_HAS_CUDNN), on a GPU: conv2d and conv3d
// through cuDNN against the handwritten CUDA kernels, forward and backward (grad input, weight
// and bias), f32 with TF32 off and f64, across strides, padding, dilation, groups (depthwise
// included), 1×1 kernels of stride 2 and odd sizes; one cached plan per operation and shape;
// per-call choice over the global one; the backward following its forward's choice. The two
// paths sum in different orders (and cuDNN may pick FFT or Winograd engines), hence 1e-4
// (absolute and relative) in f32 and 1e-11 in f64. In every CUDA build: the settings'
// defaults and the errors for a cuDNN request that cannot run.
#include "engine/autograd.h"
#include "tests/cuda/cuda_test.h"
#if FOVEA_HAS_CUDNN
#include "engine/cuda/cudnn.h"
#endif

using namespace fovea;
using testing::cuda_device;
using testing::random_input;

namespace {

// Restores the global convolution settings at the end of a test.
struct ConvSettingsGuard {
  ConvBackend backend = conv_backend();
  bool tf32 = allow_tf32();
  ~ConvSettingsGuard() {
    set_conv_backend(backend);
    set_allow_tf32(tf32);
  }
};

#if FOVEA_HAS_CUDNN

struct ConvCase {
  Shape x, w;
  Shape stride, padding, dilation;
  int64_t groups;
  bool bias;
};

double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-11 : 1e-4; }

// Output and the gradients of x, weight and bias (undefined without bias), on the CPU.
struct Result {
  Tensor out, grad_x, grad_w, grad_b;
};

Result run_conv(const ConvCase& c, bool three_d, ConvBackend backend, DType dtype, uint64_t seed) {
  const auto leaf = [&](const Shape& shape, uint64_t s) {
    Tensor t = random_input(shape, s, -1, 1, false).to(dtype).to(cuda_device());
    t.requires_grad_();
    return t;
  };
  const Tensor x = leaf(c.x, seed), w = leaf(c.w, seed + 1);
  const Tensor b = c.bias ? leaf({c.w[0]}, seed + 2) : Tensor();
  const Tensor out = three_d ? conv3d(x, w, b, c.stride, c.padding, c.dilation, c.groups, backend)
                             : conv2d(x, w, b, c.stride, c.padding, c.dilation, c.groups, backend);
  out.backward(random_input(out.shape(), seed + 3, -1, 1, false).to(dtype).to(cuda_device()));
  return {out.detach().to(Device::cpu()), x.grad().to(Device::cpu()), w.grad().to(Device::cpu()),
          c.bias ? b.grad().to(Device::cpu()) : Tensor()};
}

void check_cudnn_matches_handwritten(const ConvCase& c, bool three_d, uint64_t seed) {
  for (DType dtype : {DType::f64, DType::f32}) {
    CAPTURE(shape_str(c.x));
    CAPTURE(shape_str(c.w));
    CAPTURE(dtype_name(dtype));
    const Result expected = run_conv(c, three_d, ConvBackend::handwritten, dtype, seed);
    const Result actual = run_conv(c, three_d, ConvBackend::cudnn, dtype, seed);
    const double tol = tolerance(dtype);
    FOVEA_CHECK_CLOSE(actual.out, expected.out, tol, tol);
    FOVEA_CHECK_CLOSE(actual.grad_x, expected.grad_x, tol, tol);
    FOVEA_CHECK_CLOSE(actual.grad_w, expected.grad_w, tol, tol);
    if (c.bias) FOVEA_CHECK_CLOSE(actual.grad_b, expected.grad_b, tol, tol);
  }
}

Tensor device_input(const Shape& shape, uint64_t seed) {
  return random_input(shape, seed, -1, 1, false).to(cuda_device());
}

#endif

}  // namespace

#if FOVEA_HAS_CUDNN
TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("conv3d cudnn matches handwritten with stride padding dilation and groups") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    ConvSettingsGuard guard;
    set_allow_tf32(false);
    const std::vector<ConvCase> cases = {
        {{2, 3, 4, 5, 6}, {4, 3, 3, 3, 3}, {1}, {1}, {1}, 1, true},
        {{3, 4, 5, 6, 7}, {6, 2, 2, 3, 2}, {2, 1, 2}, {0, 1, 2}, {1, 2, 1}, 2, false},
        {{2, 4, 3, 6, 5}, {4, 1, 3, 3, 3}, {1, 2, 3}, {1, 2, 0}, {1, 1, 2}, 4, true},
        {{1, 2, 3, 4, 5}, {3, 2, 2, 2, 2}, {1}, {0}, {1}, 1, false},
        {{3, 5, 5, 7, 3}, {4, 5, 1, 1, 1}, {2}, {0}, {1}, 1, true},
        {{2, 3, 7, 9, 11}, {5, 3, 3, 7, 7}, {1, 2, 2}, {1, 3, 3}, {1}, 1, true},
    };
    for (size_t i = 0; i < cases.size(); ++i) check_cudnn_matches_handwritten(cases[i], true, 100 + 10 * i);
  }

  TEST_CASE("conv2d cudnn matches handwritten with stride padding dilation groups and bias") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    ConvSettingsGuard guard;
    set_allow_tf32(false);
    const std::vector<ConvCase> cases = {
        {{2, 3, 7, 6}, {5, 3, 3, 3}, {1}, {1}, {1}, 1, true},
        {{3, 4, 9, 8}, {4, 2, 3, 2}, {2, 1}, {1, 2}, {2, 1}, 2, false},
        {{2, 6, 7, 9}, {6, 1, 3, 3}, {1, 2}, {2, 1}, {2, 1}, 6, true},
        {{2, 3, 6, 5}, {6, 1, 3, 3}, {1}, {1}, {1}, 3, true},
        {{1, 3, 11, 10}, {5, 3, 7, 5}, {2}, {3, 2}, {1}, 1, false},
        {{3, 5, 7, 5}, {4, 5, 1, 1}, {2}, {0}, {1}, 1, true},
    };
    for (size_t i = 0; i < cases.size(); ++i) check_cudnn_matches_handwritten(cases[i], false, 300 + 10 * i);
  }

  TEST_CASE("conv3d cudnn caches one plan per operation and shape") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    ConvSettingsGuard guard;
    set_allow_tf32(false);
    set_conv_backend(ConvBackend::handwritten);
    cuda::cudnn_clear_plans();
    const ConvCase c{{2, 3, 4, 5, 6}, {4, 3, 3, 3, 3}, {1}, {1}, {1}, 1, true};
    const Result first = run_conv(c, true, ConvBackend::cudnn, DType::f32, 700);
    CHECK(cuda::cudnn_plan_count() == 3);  // forward, backward-data, backward-filter
    const Result again = run_conv(c, true, ConvBackend::cudnn, DType::f32, 700);
    CHECK(cuda::cudnn_plan_count() == 3);
    FOVEA_CHECK_CLOSE(again.out, first.out, tolerance(DType::f32), tolerance(DType::f32));
    FOVEA_CHECK_CLOSE(again.grad_w, first.grad_w, tolerance(DType::f32), tolerance(DType::f32));
    run_conv({{3, 3, 4, 5, 6}, {4, 3, 3, 3, 3}, {1}, {1}, {1}, 1, true}, true, ConvBackend::cudnn, DType::f32, 710);
    CHECK(cuda::cudnn_plan_count() == 6);
    run_conv(c, true, ConvBackend::cudnn, DType::f64, 720);
    CHECK(cuda::cudnn_plan_count() == 9);
    set_allow_tf32(true);
    NoGradGuard no_grad;
    conv3d(device_input(c.x, 730), device_input(c.w, 731), Tensor(), c.stride, c.padding, c.dilation, c.groups,
           ConvBackend::cudnn);
    CHECK(cuda::cudnn_plan_count() == 10);  // the TF32 setting is part of the key
    cuda::cudnn_clear_plans();
    CHECK(cuda::cudnn_plan_count() == 0);
  }

  TEST_CASE("conv2d cudnn per call backend overrides the global setting") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    ConvSettingsGuard guard;
    NoGradGuard no_grad;
    cuda::cudnn_clear_plans();
    const auto conv = [](int64_t batch, ConvBackend backend, Device device) {
      return conv2d(random_input({batch, 3, 6, 5}, 800 + batch, -1, 1, false).to(device),
                    random_input({4, 3, 3, 3}, 810, -1, 1, false).to(device), Tensor(), {1}, {1}, {1}, 1, backend);
    };
    set_conv_backend(ConvBackend::handwritten);
    conv(1, ConvBackend::cudnn, cuda_device());
    CHECK(cuda::cudnn_plan_count() == 1);
    conv(2, ConvBackend::global, cuda_device());
    CHECK(cuda::cudnn_plan_count() == 1);
    set_conv_backend(ConvBackend::cudnn);
    CHECK(conv_backend() == ConvBackend::cudnn);
    conv(3, ConvBackend::global, cuda_device());
    CHECK(cuda::cudnn_plan_count() == 2);
    conv(4, ConvBackend::handwritten, cuda_device());
    CHECK(cuda::cudnn_plan_count() == 2);
    const Tensor on_cpu = conv(5, ConvBackend::global, Device::cpu());  // the global setting leaves CPU tensors alone
    CHECK(on_cpu.device() == Device::cpu());
    CHECK(cuda::cudnn_plan_count() == 2);
  }

  TEST_CASE("conv3d cudnn backward follows the backend of its forward") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    ConvSettingsGuard guard;
    set_conv_backend(ConvBackend::handwritten);
    cuda::cudnn_clear_plans();
    Tensor x = device_input({2, 3, 4, 5, 6}, 900), w = device_input({4, 3, 3, 3, 3}, 901);
    x.requires_grad_();
    w.requires_grad_();
    const Tensor through_cudnn = conv3d(x, w, Tensor(), {1}, {1}, {1}, 1, ConvBackend::cudnn);
    CHECK(cuda::cudnn_plan_count() == 1);
    sum(through_cudnn).backward();
    CHECK(cuda::cudnn_plan_count() == 3);
    set_conv_backend(ConvBackend::cudnn);
    cuda::cudnn_clear_plans();
    sum(conv3d(x, w, Tensor(), {1}, {1}, {1}, 1, ConvBackend::handwritten)).backward();
    CHECK(cuda::cudnn_plan_count() == 0);
  }
}
#endif

TEST_SUITE("unit") {
  TEST_CASE("conv3d cudnn settings default to handwritten with tf32 off") {
    CHECK(conv_backend() == ConvBackend::handwritten);
    CHECK_FALSE(allow_tf32());
    ConvSettingsGuard guard;
    set_allow_tf32(true);
    CHECK(allow_tf32());
    set_conv_backend(ConvBackend::handwritten);
    CHECK(conv_backend() == ConvBackend::handwritten);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("conv3d cudnn set_conv_backend rejects global") {
    CHECK_THROWS_WITH_AS(set_conv_backend(ConvBackend::global), doctest::Contains("pass ConvBackend::handwritten"),
                         Error);
  }

#if FOVEA_HAS_CUDNN
  TEST_CASE("conv3d cudnn backend on cpu tensors asks for cuda tensors") {
    const Tensor x = zeros({1, 2, 3, 4, 4}), w = zeros({3, 2, 2, 2, 2});
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1}, {0}, {1}, 1, ConvBackend::cudnn),
                         doctest::Contains("ConvBackend::cudnn runs on CUDA tensors only, but x is on cpu"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 2, 4, 4}), zeros({3, 2, 2, 2}), Tensor(), {1}, {0}, {1}, 1,
                                ConvBackend::cudnn),
                         doctest::Contains("move the tensors with .to(Device::cuda())"), Error);
  }

#else
  TEST_CASE("conv3d cudnn backend in a build without cudnn names the build options") {
    ConvSettingsGuard guard;
    const Tensor x = zeros({1, 2, 3, 4, 4}), w = zeros({3, 2, 2, 2, 2});
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1}, {0}, {1}, 1, ConvBackend::cudnn),
                         doctest::Contains("-DFOVEA_CUDA=on -DFOVEA_CUDNN=on"), Error);
    CHECK_THROWS_WITH_AS(conv2d(zeros({1, 2, 4, 4}), zeros({3, 2, 2, 2}), Tensor(), {1}, {0}, {1}, 1,
                                ConvBackend::cudnn),
                         doctest::Contains("FOVEA_HAS_CUDNN=0"), Error);
    CHECK_THROWS_WITH_AS(set_conv_backend(ConvBackend::cudnn), doctest::Contains("FOVEA_CUDNN=on"), Error);
    CHECK(conv_backend() == ConvBackend::handwritten);
  }

  TEST_CASE("conv3d cudnn backend in a build without cudnn refuses cuda tensors") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = zeros({1, 2, 3, 4, 4}).to(cuda_device()), w = zeros({3, 2, 2, 2, 2}).to(cuda_device());
    CHECK_THROWS_WITH_AS(conv3d(x, w, Tensor(), {1}, {0}, {1}, 1, ConvBackend::cudnn),
                         doctest::Contains("use ConvBackend::handwritten"), Error);
    const Tensor handwritten = conv3d(x, w, Tensor(), {1}, {0}, {1}, 1, ConvBackend::handwritten);
    CHECK(handwritten.device() == cuda_device());
  }
#endif
}
