// Benchmarks of conv3d on the CPU: forward + backward (grad input and grad weight) of each of
// the 11 distinct convolution shapes of r3d_18 at batch 8 on 16×112×112 clips, through the
// engine. Compare the GFLOP/s with the matmul/openblas entry of the same run, e.g.
//   fovea bench --filter 'conv3d|matmul' --json conv.json
#include <cmath>
#include <sstream>

#include "engine/autograd.h"
#include "engine/cpu/conv_reference.h"
#include "engine/ops.h"
#include "profiling/bench.h"

namespace {

using fovea::Shape;
using fovea::Tensor;

struct ConvLayer {
  const char* name;
  int64_t in_channels, out_channels;
  std::array<int64_t, 3> in, kernel, stride, padding;
};

constexpr int64_t kBatch = 8;

// r3d_18 on 3×16×112×112: the stem, the two conv shapes of each stage (first conv with
// stride 2 from stage 2 on, then the repeated one) and the 1×1×1 stride-2 shortcuts.
const ConvLayer kLayers[] = {
    {"stem", 3, 64, {16, 112, 112}, {3, 7, 7}, {1, 2, 2}, {1, 3, 3}},
    {"layer1", 64, 64, {16, 56, 56}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}},
    {"layer2_down", 64, 128, {16, 56, 56}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}},
    {"layer2", 128, 128, {8, 28, 28}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}},
    {"layer3_down", 128, 256, {8, 28, 28}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}},
    {"layer3", 256, 256, {4, 14, 14}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}},
    {"layer4_down", 256, 512, {4, 14, 14}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}},
    {"layer4", 512, 512, {2, 7, 7}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}},
    {"layer2_shortcut", 64, 128, {16, 56, 56}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}},
    {"layer3_shortcut", 128, 256, {8, 28, 28}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}},
    {"layer4_shortcut", 256, 512, {4, 14, 14}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}},
};

fovea::cpu::ConvGeometry geometry_of(const ConvLayer& l) {
  fovea::cpu::ConvGeometry g;
  g.batch = kBatch;
  g.in_channels = l.in_channels;
  g.out_channels = l.out_channels;
  g.in = l.in;
  g.kernel = l.kernel;
  g.stride = l.stride;
  g.padding = l.padding;
  g.dilation = {1, 1, 1};
  for (int d = 0; d < 3; ++d) g.out[d] = fovea::cpu::conv_output_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], 1);
  return g;
}

std::string shape_string(const ConvLayer& l) {
  std::ostringstream s;
  s << kBatch << "x" << l.in_channels << "x" << l.in[0] << "x" << l.in[1] << "x" << l.in[2] << "->" << l.out_channels
    << " k" << l.kernel[0] << "x" << l.kernel[1] << "x" << l.kernel[2] << " s" << l.stride[0] << "x" << l.stride[1]
    << "x" << l.stride[2];
  return s.str();
}

Shape to_shape(const std::array<int64_t, 3>& a) { return {a[0], a[1], a[2]}; }

// |got - expected| within f32 rounding of a sum of `terms` products of unit-scale values.
std::string compare(const char* what, int64_t index, double got, double expected, int64_t terms) {
  const double tolerance = 1e-4 * std::sqrt(static_cast<double>(terms)) + 1e-4 * std::abs(expected);
  if (std::abs(got - expected) <= tolerance) return "";
  std::ostringstream out;
  out << what << " element " << index << " = " << got << ", expected " << expected << " (tolerance " << tolerance
      << ")";
  return out.str();
}

// Compares a few sampled outputs, input gradients and weight gradients with the direct loops.
std::string check_sampled(const fovea::cpu::ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& y,
                          const Tensor& go, const Tensor& gx, const Tensor& gw) {
  const float *py = y.data<float>(), *pgx = gx.data<float>(), *pgw = gw.data<float>();
  const int64_t taps = g.in_channels * g.kernel_volume();
  for (int64_t s = 0; s < 16; ++s) {
    const int64_t i = (s * 1000003) % y.numel();
    int64_t rest = i;
    const int64_t ow = rest % g.out[2], oh = (rest /= g.out[2]) % g.out[1], od = (rest /= g.out[1]) % g.out[0];
    const int64_t co = (rest /= g.out[0]) % g.out_channels, n = rest / g.out_channels;
    const double ref = fovea::cpu::conv_output_at(x, w, Tensor(), g, n, co, od, oh, ow);
    if (std::string e = compare("output", i, py[i], ref, taps); !e.empty()) return e;
  }
  for (int64_t s = 0; s < 16; ++s) {
    const int64_t i = (s * 1000033) % x.numel();
    int64_t rest = i;
    const int64_t iw = rest % g.in[2], ih = (rest /= g.in[2]) % g.in[1], id = (rest /= g.in[1]) % g.in[0];
    const int64_t ci = (rest /= g.in[0]) % g.in_channels, n = rest / g.in_channels;
    const double ref = fovea::cpu::conv_grad_input_at(go, w, g, n, ci, id, ih, iw);
    if (std::string e = compare("grad input", i, pgx[i], ref, g.out_channels * g.kernel_volume()); !e.empty()) return e;
  }
  for (int64_t s = 0; s < 4; ++s) {
    const int64_t i = (s * 7919) % w.numel();
    int64_t rest = i;
    const int64_t kw = rest % g.kernel[2], kh = (rest /= g.kernel[2]) % g.kernel[1];
    const int64_t kd = (rest /= g.kernel[1]) % g.kernel[0];
    const int64_t c = (rest /= g.kernel[0]) % g.in_channels, co = rest / g.in_channels;
    const double ref = fovea::cpu::conv_grad_weight_at(go, x, g, co, c, kd, kh, kw);
    if (std::string e = compare("grad weight", i, pgw[i], ref, g.batch * g.out_plane()); !e.empty()) return e;
  }
  return "";
}

void bench_layer(fovea::bench::Runner& runner, const ConvLayer& layer) {
  const std::string kernel = std::string("conv3d_") + layer.name;
  if (!runner.wants(kernel, {"fovea"})) return;
  const fovea::cpu::ConvGeometry g = geometry_of(layer);
  fovea::Generator gen(3);
  Shape x_shape{kBatch, layer.in_channels};
  Shape w_shape{layer.out_channels, layer.in_channels};
  for (int d = 0; d < 3; ++d) {
    x_shape.push_back(layer.in[d]);
    w_shape.push_back(layer.kernel[d]);
  }
  Tensor x = fovea::randn(x_shape, fovea::DType::f32, &gen);
  Tensor w = fovea::mul(fovea::randn(w_shape, fovea::DType::f32, &gen), 1.0 / std::sqrt(double(g.kernel_volume())));
  x.requires_grad_();
  w.requires_grad_();
  const Tensor go = fovea::randn({kBatch, layer.out_channels, g.out[0], g.out[1], g.out[2]}, fovea::DType::f32, &gen);
  Tensor y;
  const auto run = [&] {
    x.zero_grad();
    w.zero_grad();
    y = fovea::conv3d(x, w, Tensor(), to_shape(layer.stride), to_shape(layer.padding));
    y.backward(go);
  };
  const auto check = [&] {
    return check_sampled(g, x.detach(), w.detach(), y.detach(), go, x.grad(), w.grad());
  };
  const double macs = double(kBatch) * g.out_channels * g.in_channels * g.kernel_volume() * g.out_plane();
  const double flops = 3 * 2 * macs;
  const double bytes = 4.0 * (3.0 * double(x.numel()) + 3.0 * double(w.numel()) + 2.0 * double(go.numel()));
  fovea::bench::Case c{.kernel = kernel, .shape = shape_string(layer)};
  c.min_repeats = 3;
  c.variants.push_back({"fovea", bytes, flops, run, check});
  runner.run(std::move(c));
}

}  // namespace

FOVEA_BENCH(conv3d) {
  for (const ConvLayer& layer : kLayers) bench_layer(runner, layer);
}
