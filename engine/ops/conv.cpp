// Front-ends of conv2d and conv3d: argument checks, the output geometry, the choice of kernels
// (the vol2col + GEMM kernels of the tensors' device, engine/cpu/conv.h and engine/cuda/conv.cpp,
// or cuDNN, engine/cuda/cudnn.h), and their backward, which uses the forward's choice.
// conv2d runs as a conv3d of depth 1.
#include <array>
#include <atomic>

#include "engine/dispatch.h"
#include "engine/ops/common.h"
#include "fovea/build_config.h"
#if FOVEA_HAS_CUDNN
#include "engine/cuda/cudnn.h"
#endif

namespace fovea {
namespace {

std::atomic<ConvBackend> g_conv_backend{ConvBackend::handwritten};
std::atomic<bool> g_allow_tf32{false};

void require_cudnn_build(const char* op) {
#if !FOVEA_HAS_CUDNN
  FOVEA_FAIL(op, "the cuDNN convolution backend was asked for, but this build has none (FOVEA_CUDA=", FOVEA_CUDA_MODE,
             ", FOVEA_HAS_CUDNN=0): reconfigure with -DFOVEA_CUDA=on -DFOVEA_CUDNN=on (needs cuDNN 9.8 or newer), "
             "or use ConvBackend::handwritten");
#endif
}

// True when this call runs through cuDNN: an explicit per-call choice, else the global setting
// for CUDA tensors; CPU tensors run the CPU kernels.
bool use_cudnn(ConvBackend requested, const Tensor& x, const char* op) {
  if (requested == ConvBackend::global) return x.device().is_cuda() && g_conv_backend.load() == ConvBackend::cudnn;
  if (requested != ConvBackend::cudnn) return false;
  require_cudnn_build(op);
  FOVEA_CHECK(x.device().is_cuda(), op, "ConvBackend::cudnn runs on CUDA tensors only, but x is on ", x.device().str(),
              "; move the tensors with .to(Device::cuda()), or pass ConvBackend::handwritten or ConvBackend::global");
  return true;
}

void forward_kernels(bool cudnn, const Tensor& x, const Tensor& w, const Tensor& bias, const cpu::ConvGeometry& g,
                     const Tensor& out, bool allow_tf32) {
#if FOVEA_HAS_CUDNN
  if (cudnn) return cuda::cudnn_conv_forward(x, w, bias, g, out, allow_tf32);
#endif
  FOVEA_ON_DEVICE(x.device(), conv_forward, x, w, bias, g, out);
}

void backward_kernels(bool cudnn, const Tensor& grad_out, const Tensor& x, const Tensor& w, const cpu::ConvGeometry& g,
                      const Tensor& grad_x, const Tensor& grad_w, bool allow_tf32) {
#if FOVEA_HAS_CUDNN
  if (cudnn) return cuda::cudnn_conv_backward(grad_out, x, w, g, grad_x, grad_w, allow_tf32);
#endif
  FOVEA_ON_DEVICE(x.device(), conv_backward, grad_out, x, w, g, grad_x, grad_w);
}

// One value per spatial dim (depth, height, width) from a list of one value or `spatial`
// values; a 2-D op gets `depth_value` for the depth.
std::array<int64_t, 3> per_dim(const Shape& values, int64_t spatial, int64_t depth_value, const char* op,
                               const char* name) {
  FOVEA_CHECK(values.size() == 1 || static_cast<int64_t>(values.size()) == spatial, op, "'", name,
              "' must hold 1 or ", spatial, " values, got ", values.size(), " (", shape_str(values), ")");
  std::array<int64_t, 3> out{depth_value, depth_value, depth_value};
  for (int64_t d = 0; d < spatial; ++d) out[3 - spatial + d] = values.size() == 1 ? values[0] : values[d];
  return out;
}

cpu::ConvGeometry conv_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias, const Shape& stride,
                                const Shape& padding, const Shape& dilation, int64_t groups, int64_t spatial,
                                const char* op) {
  check_defined(x, op, "x");
  check_defined(weight, op, "weight");
  check_same_device(x, weight, op);
  if (bias.defined()) check_same_device(x, bias, op);
  check_floating(x, op, "x");
  FOVEA_CHECK(weight.dtype() == x.dtype(), op, "weight is ", dtype_name(weight.dtype()), " but x is ",
              dtype_name(x.dtype()), "; convert one with .to() so both have the same dtype");
  const char* layout = spatial == 3 ? "[N, C, D, H, W]" : "[N, C, H, W]";
  const char* weight_layout = spatial == 3 ? "[C_out, C_in/groups, kD, kH, kW]" : "[C_out, C_in/groups, kH, kW]";
  FOVEA_CHECK(x.dim() == spatial + 2, op, "expected a ", spatial + 2, "-D input ", layout, ", got shape ",
              shape_str(x.shape()), spatial == 3 ? "; add a batch dim with unsqueeze(0) if needed" : "");
  FOVEA_CHECK(weight.dim() == spatial + 2, op, "expected a ", spatial + 2, "-D weight ", weight_layout,
              ", got shape ", shape_str(weight.shape()));
  FOVEA_CHECK(groups >= 1, op, "groups must be positive, got ", groups);
  cpu::ConvGeometry g;
  g.batch = x.size(0);
  g.in_channels = x.size(1);
  g.out_channels = weight.size(0);
  g.groups = groups;
  FOVEA_CHECK(g.out_channels > 0 && g.out_channels % groups == 0, op, "weight of shape ", shape_str(weight.shape()),
              " has ", g.out_channels, " output channels, which must be a positive multiple of groups (", groups, ")");
  FOVEA_CHECK(weight.size(1) * groups == g.in_channels, op, "input of shape ", shape_str(x.shape()), " has ",
              g.in_channels, " channels but weight of shape ", shape_str(weight.shape()), " with groups = ", groups,
              " expects ", weight.size(1) * groups, " (weight dim 1 is C_in/groups)");
  if (bias.defined()) {
    FOVEA_CHECK(bias.dtype() == x.dtype(), op, "bias is ", dtype_name(bias.dtype()), " but x is ",
                dtype_name(x.dtype()), "; convert one with .to() so both have the same dtype");
    FOVEA_CHECK(bias.dim() == 1 && bias.size(0) == g.out_channels, op, "bias must have shape [", g.out_channels,
                "] to match weight of shape ", shape_str(weight.shape()), ", got ", shape_str(bias.shape()));
  }
  g.stride = per_dim(stride, spatial, 1, op, "stride");
  g.padding = per_dim(padding, spatial, 0, op, "padding");
  g.dilation = per_dim(dilation, spatial, 1, op, "dilation");
  static const char* const kDimNames[3] = {"depth", "height", "width"};
  for (int d = 0; d < 3; ++d) {
    const int64_t axis = d - (3 - spatial);
    g.in[d] = axis >= 0 ? x.size(2 + axis) : 1;
    g.kernel[d] = axis >= 0 ? weight.size(2 + axis) : 1;
    g.out[d] = 1;
    if (axis < 0) continue;
    FOVEA_CHECK(g.stride[d] > 0, op, "stride must be positive, got ", shape_str(stride));
    FOVEA_CHECK(g.padding[d] >= 0, op, "padding must be non-negative, got ", shape_str(padding));
    FOVEA_CHECK(g.dilation[d] > 0, op, "dilation must be positive, got ", shape_str(dilation));
    FOVEA_CHECK(g.kernel[d] > 0, op, "weight of shape ", shape_str(weight.shape()), " has an empty kernel");
    const int64_t extent = g.dilation[d] * (g.kernel[d] - 1) + 1;
    FOVEA_CHECK(extent <= g.in[d] + 2 * g.padding[d], op, "the kernel spans ", extent, " positions along the ",
                kDimNames[d], " (kernel ", g.kernel[d], ", dilation ", g.dilation[d], ") but the padded input has only ",
                g.in[d] + 2 * g.padding[d], " (input ", g.in[d], " + 2·padding ", g.padding[d],
                "); use a smaller kernel or more padding");
    g.out[d] = cpu::conv_output_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], g.dilation[d]);
  }
  return g;
}

Tensor convolution(const Tensor& x, const Tensor& weight, const Tensor& bias, const Shape& stride,
                   const Shape& padding, const Shape& dilation, int64_t groups, ConvBackend backend, int64_t spatial,
                   const char* op) {
  const cpu::ConvGeometry g = conv_geometry(x, weight, bias, stride, padding, dilation, groups, spatial, op);
  const bool cudnn = use_cudnn(backend, x, op);
  const bool tf32 = g_allow_tf32.load();
  const Tensor x5 = spatial == 3 ? x : x.unsqueeze(2);
  const Tensor w5 = spatial == 3 ? weight : weight.unsqueeze(2);
  Tensor out = make_tensor({g.batch, g.out_channels, g.out[0], g.out[1], g.out[2]}, x.dtype(), x.device());
  forward_kernels(cudnn, x5.detach().contiguous(), w5.detach().contiguous(),
                  bias.defined() ? bias.detach().contiguous() : bias, g, out, tf32);
  if (needs_grad({&x, &weight, &bias})) {
    record_op(op, {out}, {x5, w5, bias},
              [sx = SavedTensor(x5, op), sw = SavedTensor(w5, op), g, cudnn, tf32, grad_x = x.requires_grad(),
               grad_w = weight.requires_grad(), grad_b = bias.defined() && bias.requires_grad()](
                  const std::vector<Tensor>& grads) {
                if (!grads[0].defined()) return std::vector<Tensor>(3);
                const Tensor go = grads[0].contiguous();
                const Tensor xs = sx.get().contiguous(), ws = sw.get().contiguous();
                Tensor gx = grad_x ? make_tensor(xs.shape(), xs.dtype(), xs.device()) : Tensor();
                Tensor gw = grad_w ? make_tensor(ws.shape(), ws.dtype(), ws.device()) : Tensor();
                if (grad_x || grad_w) backward_kernels(cudnn, go, xs, ws, g, gx, gw, tf32);
                return std::vector<Tensor>{gx, gw, grad_b ? sum(go, {0, 2, 3, 4}) : Tensor()};
              });
  }
  return spatial == 3 ? out : out.squeeze(2);
}

}  // namespace

void set_conv_backend(ConvBackend backend) {
  FOVEA_CHECK(backend != ConvBackend::global, "set_conv_backend",
              "ConvBackend::global names this setting itself; pass ConvBackend::handwritten or ConvBackend::cudnn");
  if (backend == ConvBackend::cudnn) require_cudnn_build("set_conv_backend");
  g_conv_backend.store(backend);
}

ConvBackend conv_backend() { return g_conv_backend.load(); }

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }

bool allow_tf32() { return g_allow_tf32.load(); }

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Shape& stride, const Shape& padding,
              const Shape& dilation, int64_t groups, ConvBackend backend) {
  FOVEA_NVTX_RANGE("conv2d");
  return convolution(x, weight, bias, stride, padding, dilation, groups, backend, 2, "conv2d");
}

Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Shape& stride, const Shape& padding,
              const Shape& dilation, int64_t groups, ConvBackend backend) {
  FOVEA_NVTX_RANGE("conv3d");
  return convolution(x, weight, bias, stride, padding, dilation, groups, backend, 3, "conv3d");
}

}  // namespace fovea
