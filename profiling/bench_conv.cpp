// Benchmarks of conv3d: forward + backward (grad input and grad weight) of each of the 11
// distinct convolution shapes of r3d_18 at batch 8 on 16×112×112 clips, through the engine, on
// the CPU and, in CUDA builds with a GPU, on the device: variant `fovea` (the engine's default,
// the handwritten vol2col + cuBLAS kernels) and `cudnn` (builds with cuDNN, TF32 off). Under
// the emulator (device "cuda-emu") a few reduced shapes at batch 2 run instead, each in seconds.
// Every variant is checked against direct loops on the CPU at sampled positions before it is
// timed; GPU runs end with a device synchronisation. Compare the GFLOP/s with the
// matmul/openblas entry of the same run, e.g.
//   fovea bench --filter 'conv3d|matmul' --json conv.json
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu/conv_reference.h"
#include "engine/ops.h"
#include "fovea/build_config.h"
#include "profiling/bench.h"

namespace {

using fovea::ConvBackend;
using fovea::Device;
using fovea::Shape;
using fovea::Tensor;

struct ConvLayer {
  const char* name;
  int64_t in_channels, out_channels;
  std::array<int64_t, 3> in, kernel, stride, padding;
};

constexpr int64_t kBatch = 8;
constexpr int64_t kEmulatedBatch = 2;

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

// Reduced shapes of the stem, a stage's two convolutions and its shortcut for the emulator.
const ConvLayer kEmulatedLayers[] = {
    {"stem", 3, 16, {8, 32, 32}, {3, 7, 7}, {1, 2, 2}, {1, 3, 3}},
    {"layer2_down", 16, 32, {8, 16, 16}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}},
    {"layer2", 32, 32, {4, 8, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}},
    {"layer2_shortcut", 16, 32, {8, 16, 16}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}},
};

fovea::cpu::ConvGeometry geometry_of(const ConvLayer& l, int64_t batch) {
  fovea::cpu::ConvGeometry g;
  g.batch = batch;
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

std::string shape_string(const ConvLayer& l, int64_t batch) {
  std::ostringstream s;
  s << batch << "x" << l.in_channels << "x" << l.in[0] << "x" << l.in[1] << "x" << l.in[2] << "->" << l.out_channels
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

using fovea::bench::synchronize;

// The convolution's tensors: CPU masters (the reference inputs) and the device copies the
// variants run on, leaves that require grad.
struct Problem {
  fovea::cpu::ConvGeometry g;
  Shape stride, padding;
  Tensor x_master, w_master, go_master;
  Tensor x, w, go;
};

std::shared_ptr<Problem> make_problem(const ConvLayer& layer, int64_t batch, Device device) {
  auto p = std::make_shared<Problem>();
  p->g = geometry_of(layer, batch);
  p->stride = to_shape(layer.stride);
  p->padding = to_shape(layer.padding);
  fovea::Generator gen(3);
  Shape x_shape{batch, layer.in_channels};
  Shape w_shape{layer.out_channels, layer.in_channels};
  for (int d = 0; d < 3; ++d) {
    x_shape.push_back(layer.in[d]);
    w_shape.push_back(layer.kernel[d]);
  }
  p->x_master = fovea::randn(x_shape, fovea::DType::f32, &gen);
  p->w_master = fovea::mul(fovea::randn(w_shape, fovea::DType::f32, &gen),
                           1.0 / std::sqrt(double(p->g.kernel_volume())));
  p->go_master =
      fovea::randn({batch, layer.out_channels, p->g.out[0], p->g.out[1], p->g.out[2]}, fovea::DType::f32, &gen);
  p->x = p->x_master.to(device);
  p->w = p->w_master.to(device);
  p->go = p->go_master.to(device);
  p->x.requires_grad_();
  p->w.requires_grad_();
  return p;
}

fovea::bench::Variant variant(const std::shared_ptr<Problem>& p, const char* name, ConvBackend backend) {
  const fovea::cpu::ConvGeometry& g = p->g;
  const double macs = double(g.batch) * g.out_channels * (g.in_channels / g.groups) * g.kernel_volume() * g.out_plane();
  const double flops = 3 * 2 * macs;
  const double bytes =
      4.0 * (3.0 * double(p->x.numel()) + 3.0 * double(p->w.numel()) + 2.0 * double(p->go.numel()));
  const auto y = std::make_shared<Tensor>();
  const auto run = [p, y, backend] {
    p->x.zero_grad();
    p->w.zero_grad();
    *y = fovea::conv3d(p->x, p->w, Tensor(), p->stride, p->padding, {1}, 1, backend);
    y->backward(p->go);
    synchronize(p->x.device());
  };
  const auto check = [p, y] {
    return check_sampled(p->g, p->x_master, p->w_master, y->detach().to(Device::cpu()), p->go_master,
                         p->x.grad().to(Device::cpu()), p->w.grad().to(Device::cpu()));
  };
  return {name, bytes, flops, run, check};
}

void bench_layer(fovea::bench::Runner& runner, const ConvLayer& layer, int64_t batch, Device device,
                 const std::string& device_name, const std::vector<std::pair<const char*, ConvBackend>>& backends) {
  const std::string kernel = std::string("conv3d_") + layer.name;
  std::vector<std::string> names;
  for (const auto& b : backends) names.emplace_back(b.first);
  if (!runner.wants(kernel, names)) return;
  const auto problem = make_problem(layer, batch, device);
  fovea::bench::Case c{.kernel = kernel, .shape = shape_string(layer, batch), .device = device_name};
  c.min_repeats = 3;
  if (device_name == "cuda-emu") {
    c.min_repeats = 1;
    c.min_seconds = 0;
  }
  for (const auto& [name, backend] : backends) c.variants.push_back(variant(problem, name, backend));
  runner.run(std::move(c));
}

}  // namespace

FOVEA_BENCH(conv3d) {
  for (const fovea::bench::Target& t : fovea::bench::targets()) {
    if (t.emulated()) {
      for (const ConvLayer& layer : kEmulatedLayers)
        bench_layer(runner, layer, kEmulatedBatch, t.device, t.name, {{"fovea", ConvBackend::global}});
      continue;
    }
    std::vector<std::pair<const char*, ConvBackend>> backends = {{"fovea", ConvBackend::global}};
#if FOVEA_HAS_CUDNN
    if (t.device.is_cuda()) backends.emplace_back("cudnn", ConvBackend::cudnn);
#endif
    for (const ConvLayer& layer : kLayers) bench_layer(runner, layer, kBatch, t.device, t.name, backends);
  }
}
