// Front-ends of masked_conv3d (fused device kernels, models/masked_conv3d_kernels.h), of its
// unfused twin composed from engine ops, and fixation_masks. The plan of active output
// positions is computed on the host from the (small) masks and the mask indices.
#include "models/masked_conv3d.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "engine/dispatch.h"
#include "engine/ops/common.h"
#include "models/masked_conv3d_kernels.h"

namespace fovea {
namespace {

constexpr int64_t kCpuTileBytes = int64_t{8} << 20;
constexpr int64_t kCudaTileBytes = int64_t{64} << 20;

std::array<int64_t, 3> per_dim(const Shape& values, const char* op, const char* name) {
  FOVEA_CHECK(values.size() == 1 || values.size() == 3, op, "'", name, "' must hold 1 or 3 values, got ",
              values.size(), " (", shape_str(values), ")");
  if (values.size() == 1) return {values[0], values[0], values[0]};
  return {values[0], values[1], values[2]};
}

// Checks every argument and returns the convolution's geometry.
cpu::ConvGeometry check_arguments(const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                                  const Tensor& weight, const Tensor& bias, const Shape& stride, const Shape& padding,
                                  const Shape& dilation, const char* op) {
  check_defined(x, op, "x");
  check_defined(masks, op, "masks");
  check_defined(mask_index, op, "mask_index");
  check_defined(weight, op, "weight");
  check_floating(x, op, "x");
  check_same_device(x, weight, op);
  FOVEA_CHECK(x.dim() == 5, op, "x must be [N, C, T, H, W], got shape ", shape_str(x.shape()));
  FOVEA_CHECK(weight.dtype() == x.dtype(), op, "weight is ", dtype_name(weight.dtype()), " but x is ",
              dtype_name(x.dtype()), "; convert one with .to() so both have the same dtype");
  FOVEA_CHECK(weight.dim() == 5 && weight.size(1) == x.size(1), op, "weight must be [Cout, C, kT, kH, kW] with C = ",
              x.size(1), " for x of shape ", shape_str(x.shape()), ", got ", shape_str(weight.shape()));
  if (bias.defined()) {
    check_same_device(x, bias, op);
    FOVEA_CHECK(bias.dtype() == x.dtype(), op, "bias is ", dtype_name(bias.dtype()), " but x is ",
                dtype_name(x.dtype()));
    FOVEA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), op, "bias must be [Cout] = [", weight.size(0),
                "], got ", shape_str(bias.shape()));
  }
  FOVEA_CHECK(masks.dtype() == DType::u8 || masks.dtype() == DType::f32 || masks.dtype() == DType::f64, op,
              "masks must be u8, f32 or f64, got ", dtype_name(masks.dtype()));
  FOVEA_CHECK(masks.dim() == 3 && masks.size(1) == x.size(3) && masks.size(2) == x.size(4), op,
              "masks must be [P, H, W] = [P, ", x.size(3), ", ", x.size(4), "] for x of shape ", shape_str(x.shape()),
              ", got ", shape_str(masks.shape()));
  FOVEA_CHECK(masks.device().is_cpu() || masks.device() == x.device(), op, "masks are on ", masks.device().str(),
              " but x is on ", x.device().str());
  FOVEA_CHECK(mask_index.device().is_cpu() || mask_index.device() == x.device(), op, "mask_index is on ",
              mask_index.device().str(), " but x is on ", x.device().str());
  FOVEA_CHECK(mask_index.dtype() == DType::i64 && mask_index.dim() == 1 && mask_index.size(0) == x.size(0), op,
              "mask_index must be i64 [N] = [", x.size(0), "], got ", dtype_name(mask_index.dtype()), " ",
              shape_str(mask_index.shape()));
  cpu::ConvGeometry g;
  g.batch = x.size(0);
  g.in_channels = x.size(1);
  g.out_channels = weight.size(0);
  g.stride = per_dim(stride, op, "stride");
  g.padding = per_dim(padding, op, "padding");
  g.dilation = per_dim(dilation, op, "dilation");
  for (int d = 0; d < 3; ++d) {
    g.in[d] = x.size(2 + d);
    g.kernel[d] = weight.size(2 + d);
    FOVEA_CHECK(g.stride[d] >= 1 && g.dilation[d] >= 1 && g.padding[d] >= 0, op,
                "stride and dilation must be >= 1 and padding >= 0, got stride ", shape_str(stride), ", padding ",
                shape_str(padding), ", dilation ", shape_str(dilation));
    g.out[d] = cpu::conv_output_size(g.in[d], g.kernel[d], g.stride[d], g.padding[d], g.dilation[d]);
    FOVEA_CHECK(g.out[d] >= 1, op, "the kernel ", shape_str(weight.shape()), " does not fit x of shape ",
                shape_str(x.shape()), " with this padding and dilation");
  }
  return g;
}

// Host copies of the masks (as 0/1 bytes, checked binary) and of the indices (checked in range).
struct HostMasks {
  std::vector<uint8_t> masks;
  std::vector<int64_t> index;
};

HostMasks host_masks(const Tensor& masks, const Tensor& mask_index, const char* op) {
  HostMasks h;
  const Tensor m = masks.detach().to(Device::cpu()).to(DType::f64).contiguous();
  const double* md = m.data<double>();
  h.masks.resize(static_cast<size_t>(m.numel()));
  for (int64_t i = 0; i < m.numel(); ++i) {
    FOVEA_CHECK(md[i] == 0.0 || md[i] == 1.0, op, "masks must be binary (every value 0 or 1), found ", md[i],
                " at flat index ", i);
    h.masks[static_cast<size_t>(i)] = md[i] != 0.0;
  }
  const Tensor idx = mask_index.detach().to(Device::cpu()).contiguous();
  const int64_t* id = idx.data<int64_t>();
  for (int64_t n = 0; n < idx.numel(); ++n) {
    FOVEA_CHECK(id[n] >= 0 && id[n] < masks.size(0), op, "mask_index[", n, "] = ", id[n], " is outside [0, ",
                masks.size(0), ") (P = ", masks.size(0), " masks)");
    h.index.push_back(id[n]);
  }
  return h;
}

// Active output positions (global n·P + p) and the stats.
std::vector<int64_t> active_positions(const HostMasks& h, const cpu::ConvGeometry& g, int64_t mask_count) {
  const int64_t out_d = g.out[0], out_h = g.out[1], out_w = g.out[2], in_h = g.in[1], in_w = g.in[2];
  const int64_t plane2 = out_h * out_w, plane = g.out_plane();
  std::vector<uint8_t> depth_ok(static_cast<size_t>(out_d), 0);
  for (int64_t od = 0; od < out_d; ++od)
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
      if (id >= 0 && id < g.in[0]) depth_ok[static_cast<size_t>(od)] = 1;
    }
  // Per mask: which output (oh, ow) see some mask pixel, computed for the masks in use only.
  std::vector<std::vector<uint8_t>> spatial(static_cast<size_t>(mask_count));
  std::vector<int64_t> columns;
  for (int64_t n = 0; n < g.batch; ++n) {
    const int64_t p = h.index[static_cast<size_t>(n)];
    std::vector<uint8_t>& a = spatial[static_cast<size_t>(p)];
    if (a.empty()) {
      a.assign(static_cast<size_t>(plane2), 0);
      const uint8_t* m = h.masks.data() + p * in_h * in_w;
      for (int64_t oh = 0; oh < out_h; ++oh)
        for (int64_t ow = 0; ow < out_w; ++ow) {
          bool hit = false;
          for (int64_t kh = 0; kh < g.kernel[1] && !hit; ++kh) {
            const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
            if (ih < 0 || ih >= in_h) continue;
            for (int64_t kw = 0; kw < g.kernel[2] && !hit; ++kw) {
              const int64_t iw = ow * g.stride[2] - g.padding[2] + kw * g.dilation[2];
              hit = iw >= 0 && iw < in_w && m[ih * in_w + iw];
            }
          }
          a[static_cast<size_t>(oh * out_w + ow)] = hit;
        }
    }
    for (int64_t od = 0; od < out_d; ++od) {
      if (!depth_ok[static_cast<size_t>(od)]) continue;
      for (int64_t q = 0; q < plane2; ++q)
        if (a[static_cast<size_t>(q)]) columns.push_back(n * plane + od * plane2 + q);
    }
  }
  return columns;
}

struct Prepared {
  cpu::ConvGeometry geometry;
  std::vector<int64_t> columns;
};

Prepared prepare(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                 const Tensor& bias, const Shape& stride, const Shape& padding, const Shape& dilation, const char* op) {
  Prepared p;
  p.geometry = check_arguments(x, masks, mask_index, weight, bias, stride, padding, dilation, op);
  const HostMasks h = host_masks(masks, mask_index, op);
  p.columns = active_positions(h, p.geometry, masks.size(0));
  return p;
}

MaskedConvStats stats_of(const Prepared& p) {
  const int64_t total = p.geometry.batch * p.geometry.out_plane();
  return {total - static_cast<int64_t>(p.columns.size()), total};
}

Shape out_shape(const cpu::ConvGeometry& g) { return {g.batch, g.out_channels, g.out[0], g.out[1], g.out[2]}; }

}  // namespace

Tensor masked_conv3d(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                     const Tensor& bias, const Shape& stride, const Shape& padding, const Shape& dilation,
                     MaskedConvStats* stats) {
  FOVEA_NVTX_RANGE("masked_conv3d");
  const char* op = "masked_conv3d";
  const Prepared prepared = prepare(x, masks, mask_index, weight, bias, stride, padding, dilation, op);
  if (stats) *stats = stats_of(prepared);
  MaskedConvPlan plan;
  plan.geometry = prepared.geometry;
  plan.active = static_cast<int64_t>(prepared.columns.size());
  {
    Tensor cols = make_tensor({plan.active}, DType::i64);
    std::copy(prepared.columns.begin(), prepared.columns.end(), cols.data<int64_t>());
    plan.columns = cols.to(x.device());
  }
  const int64_t row_bytes =
      plan.geometry.in_channels * plan.geometry.kernel_volume() * static_cast<int64_t>(dtype_size(x.dtype()));
  plan.tile_columns =
      std::max<int64_t>(1, (x.device().is_cuda() ? kCudaTileBytes : kCpuTileBytes) / std::max<int64_t>(1, row_bytes));

  const Tensor xc = x.detach().contiguous();
  const Tensor w = weight.detach().contiguous();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  const Tensor m = masks.detach().to(x.dtype()).to(x.device()).contiguous();
  const Tensor idx = mask_index.detach().to(x.device()).contiguous();
  Tensor out = make_tensor(out_shape(plan.geometry), x.dtype(), x.device());
  FOVEA_ON_DEVICE(x.device(), masked_conv3d_forward, xc, m, idx, w, b, plan, out);

  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs)) {
    const bool has_bias = bias.defined();
    record_op(op, {out}, inputs,
              [sx = SavedTensor(xc, op), sw = SavedTensor(w, op), sm = SavedTensor(m, op),
               si = SavedTensor(idx, op), plan, has_bias](const std::vector<Tensor>& grads) {
                const Tensor x = sx.get(), w = sw.get(), m = sm.get(), idx = si.get();
                const Tensor go = grads[0].contiguous();
                const Tensor grad_x = make_tensor(x.shape(), x.dtype(), x.device());
                const Tensor grad_w = make_tensor(w.shape(), w.dtype(), w.device());
                FOVEA_ON_DEVICE(x.device(), masked_conv3d_backward, go, x, m, idx, w, plan, grad_x, grad_w);
                std::vector<Tensor> result{grad_x, grad_w};
                if (has_bias) result.push_back(sum(go, {0, 2, 3, 4}));
                return result;
              });
  }
  return out;
}

Tensor masked_conv3d_unfused(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                             const Tensor& bias, const Shape& stride, const Shape& padding, const Shape& dilation) {
  FOVEA_NVTX_RANGE("masked_conv3d_unfused");
  const char* op = "masked_conv3d_unfused";
  const cpu::ConvGeometry g = check_arguments(x, masks, mask_index, weight, bias, stride, padding, dilation, op);
  host_masks(masks, mask_index, op);  // the same checks as the fused op (binary, indices in range)
  const Tensor m = masks.detach().to(x.dtype()).to(x.device());
  const Tensor per_sample = index_select(m, 0, mask_index.to(x.device())).reshape({g.batch, 1, 1, g.in[1], g.in[2]});
  return conv3d(mul(x, per_sample), weight, bias, stride, padding, dilation);
}

MaskedConvStats masked_conv3d_stats(const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                                    const Tensor& weight, const Shape& stride, const Shape& padding,
                                    const Shape& dilation) {
  return stats_of(prepare(x, masks, mask_index, weight, Tensor(), stride, padding, dilation, "masked_conv3d_stats"));
}

Tensor fixation_masks(int64_t height, int64_t width, int64_t grid, double area_fraction) {
  const char* op = "fixation_masks";
  FOVEA_CHECK(height >= 1 && width >= 1, op, "height and width must be >= 1, got ", height, " x ", width);
  FOVEA_CHECK(grid >= 1, op, "grid must be >= 1, got ", grid);
  FOVEA_CHECK(area_fraction > 0 && area_fraction <= 1, op, "area_fraction must be in (0, 1], got ", area_fraction);
  const double side = std::sqrt(area_fraction);
  const int64_t mh = std::clamp<int64_t>(std::llround(height * side), 1, height);
  const int64_t mw = std::clamp<int64_t>(std::llround(width * side), 1, width);
  std::vector<std::pair<double, double>> centres;
  for (int64_t i = 0; i < grid; ++i)
    for (int64_t j = 0; j < grid; ++j)
      centres.emplace_back((i + 0.5) * height / grid, (j + 0.5) * width / grid);
  if (grid % 2 == 0) centres.emplace_back(height / 2.0, width / 2.0);
  const int64_t count = static_cast<int64_t>(centres.size());
  Tensor masks = zeros({count, height, width}, DType::u8);
  uint8_t* data = masks.data<uint8_t>();
  for (int64_t k = 0; k < count; ++k) {
    const auto [cy, cx] = centres[static_cast<size_t>(k)];
    const int64_t top = std::clamp<int64_t>(std::llround(cy - mh / 2.0), 0, height - mh);
    const int64_t left = std::clamp<int64_t>(std::llround(cx - mw / 2.0), 0, width - mw);
    for (int64_t y = top; y < top + mh; ++y)
      std::fill(data + (k * height + y) * width + left, data + (k * height + y) * width + left + mw, uint8_t{1});
  }
  return masks;
}

}  // namespace fovea
