// CPU kernels of masked_conv3d: a masked vol2col over the plan's active output positions only
// (reading x through the mask, zero outside it and in the padding) + OpenBLAS GEMM, in tiles of
// plan.tile_columns columns. Inactive positions get the bias alone. Backward recomputes the
// columns for grad_weight (so weight-gradient work outside the mask is skipped too) and
// scatters Wᵀ·grad_out back through the mask (grad_x is zero outside it). Columns are handled
// as runs along output rows, copied through the runs of ones of each mask row. Each tile's
// col2vol runs in parallel over input planes (sample, channel, frame), every element adding in
// a fixed order, so results are deterministic.

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/linalg.h"
#include "models/masked_conv3d_kernels.h"

namespace fovea::cpu {
namespace {

// Runs of ones of each mask row: intervals [a, b) of w, listed per (mask, row) from offsets.
struct MaskRuns {
  std::vector<int64_t> offsets, bounds;  // row r's intervals: bounds[2i], bounds[2i + 1], i in offsets[r, r + 1)
};

template <typename T>
MaskRuns mask_runs(const T* masks, int64_t mask_count, int64_t in_h, int64_t in_w) {
  MaskRuns r;
  r.offsets.reserve(static_cast<size_t>(mask_count * in_h + 1));
  for (int64_t row = 0; row < mask_count * in_h; ++row) {
    r.offsets.push_back(static_cast<int64_t>(r.bounds.size() / 2));
    const T* m = masks + row * in_w;
    for (int64_t w = 0; w < in_w;) {
      if (m[w] == T(0)) {
        ++w;
        continue;
      }
      const int64_t a = w;
      while (w < in_w && m[w] != T(0)) ++w;
      r.bounds.push_back(a);
      r.bounds.push_back(w);
    }
  }
  r.offsets.push_back(static_cast<int64_t>(r.bounds.size() / 2));
  return r;
}

// A tile's columns as runs of consecutive output columns ow0.. of one output row (n, od, oh),
// starting at tile column j; by_depth[(n - n0)·oD + od] .. [+ 1] bounds the runs of (n, od).
struct Run {
  int64_t j, len, n, od, oh, ow0;
};
struct TileRuns {
  std::vector<Run> runs;
  std::vector<int64_t> by_depth;
  int64_t n0 = 0, samples = 0, count = 0;
};

TileRuns tile_runs(const int64_t* columns, int64_t j0, int64_t count, const ConvGeometry& g) {
  TileRuns t;
  t.count = count;
  const int64_t plane = g.out_plane(), out_d = g.out[0], out_h = g.out[1], out_w = g.out[2];
  for (int64_t j = 0; j < count; ++j) {
    const int64_t pos = columns[j0 + j];
    if (j > 0 && pos == columns[j0 + j - 1] + 1 && pos % out_w != 0) {
      ++t.runs.back().len;
      continue;
    }
    const int64_t n = pos / plane, p = pos % plane;
    t.runs.push_back({j, 1, n, p / (out_w * out_h), p / out_w % out_h, p % out_w});
  }
  t.n0 = t.runs.front().n;
  t.samples = t.runs.back().n - t.n0 + 1;
  t.by_depth.assign(static_cast<size_t>(t.samples * out_d + 1), 0);
  for (const Run& r : t.runs) ++t.by_depth[static_cast<size_t>((r.n - t.n0) * out_d + r.od + 1)];
  for (size_t i = 1; i < t.by_depth.size(); ++i) t.by_depth[i] += t.by_depth[i - 1];
  return t;
}

inline int64_t ceil_div_nonneg(int64_t a, int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

// Calls f(ow_lo, ow_hi, iw_lo) for each span of the run's columns whose input position
// iw = ow·stride + offset lies in one of the mask row's runs of ones.
template <typename F>
void for_mask_spans(const Run& r, const MaskRuns& mr, int64_t mask_row, int64_t stride, int64_t offset, F&& f) {
  for (int64_t i = mr.offsets[static_cast<size_t>(mask_row)]; i < mr.offsets[static_cast<size_t>(mask_row + 1)]; ++i) {
    const int64_t a = mr.bounds[static_cast<size_t>(2 * i)], b = mr.bounds[static_cast<size_t>(2 * i + 1)];
    const int64_t lo = std::max(r.ow0, ceil_div_nonneg(a - offset, stride));
    const int64_t hi = std::min(r.ow0 + r.len, ceil_div_nonneg(b - offset, stride));
    if (lo < hi) f(lo, hi, lo * stride + offset);
  }
}

// cols[(ci, kd, kh, kw), j] = (x ⊙ m)[n_j, ci, d0_j + kd·dd, h0_j + kh·dh, w0_j + kw·dw], 0 outside,
// copying whole unmasked spans of input rows.
template <typename T>
void masked_vol2col(const T* x, const MaskRuns& mr, const int64_t* index, const ConvGeometry& g, const TileRuns& t,
                    T* cols) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t rows = g.in_channels * g.kernel_volume(), s = g.stride[2];
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t kw = row % kw_n, kh = row / kw_n % kh_n, kd = row / (kw_n * kh_n) % kd_n;
    const int64_t ci = row / g.kernel_volume(), offset = kw * g.dilation[2] - g.padding[2];
    T* dst = cols + row * t.count;
    std::memset(dst, 0, static_cast<size_t>(t.count) * sizeof(T));
    for (const Run& r : t.runs) {
      const int64_t id = r.od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
      const int64_t ih = r.oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
      if (id < 0 || id >= in_d || ih < 0 || ih >= in_h) continue;
      const T* src = x + (((r.n * g.in_channels + ci) * in_d + id) * in_h + ih) * in_w;
      T* d = dst + r.j - r.ow0;
      for_mask_spans(r, mr, index[r.n] * in_h + ih, s, offset, [&](int64_t lo, int64_t hi, int64_t iw) {
        if (s == 1) {
          std::memcpy(d + lo, src + iw, static_cast<size_t>(hi - lo) * sizeof(T));
        } else {
          for (int64_t ow = lo; ow < hi; ++ow, iw += s) d[ow] = src[iw];
        }
      });
    }
  }
}

// grad_x[n_j, ci, ...] += cols[(ci, kd, kh, kw), j] where the mask is 1: the adjoint of
// masked_vol2col. Parallel over input planes (n, ci, id); each element adds in (row, column) order.
template <typename T>
void masked_col2vol(const T* cols, const MaskRuns& mr, const int64_t* index, const ConvGeometry& g, const TileRuns& t,
                    T* grad_x) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t kv = g.kernel_volume(), out_d = g.out[0], s = g.stride[2];
  const int64_t units = t.samples * g.in_channels * in_d;
#pragma omp parallel for schedule(dynamic)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t id = u % in_d, ci = u / in_d % g.in_channels, nl = u / (in_d * g.in_channels);
    const int64_t n = t.n0 + nl;
    T* plane = grad_x + ((n * g.in_channels + ci) * in_d + id) * in_h * in_w;
    for (int64_t r = 0; r < kv; ++r) {
      const int64_t kw = r % kw_n, kh = r / kw_n % kh_n, kd = r / (kw_n * kh_n);
      const int64_t depth = id + g.padding[0] - kd * g.dilation[0];
      if (depth < 0 || depth % g.stride[0] != 0 || depth / g.stride[0] >= out_d) continue;
      const int64_t od = depth / g.stride[0], offset = kw * g.dilation[2] - g.padding[2];
      const T* src = cols + (ci * kv + r) * t.count;
      const size_t k = static_cast<size_t>(nl * out_d + od);
      for (int64_t q = t.by_depth[k]; q < t.by_depth[k + 1]; ++q) {
        const Run& run = t.runs[static_cast<size_t>(q)];
        const int64_t ih = run.oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
        if (ih < 0 || ih >= in_h) continue;
        T* dst = plane + ih * in_w;
        const T* col = src + run.j - run.ow0;
        for_mask_spans(run, mr, index[n] * in_h + ih, s, offset, [&](int64_t lo, int64_t hi, int64_t iw) {
          for (int64_t ow = lo; ow < hi; ++ow, iw += s) dst[iw] += col[ow];
        });
      }
    }
  }
}

template <typename T>
void forward_typed(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                   const Tensor& bias, const MaskedConvPlan& plan, const Tensor& out) {
  const ConvGeometry& g = plan.geometry;
  const int64_t plane = g.out_plane(), cout = g.out_channels, rows = g.in_channels * g.kernel_volume();
  T* o = out.data<T>();
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  const int64_t planes = g.batch * cout;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < planes; ++i) std::fill(o + i * plane, o + (i + 1) * plane, b ? b[i % cout] : T(0));
  if (plan.active == 0) return;
  const int64_t tile = std::min(plan.tile_columns, plan.active);
  std::vector<T> cols(static_cast<size_t>(rows * tile)), result(static_cast<size_t>(cout * tile));
  const int64_t* columns = plan.columns.data<int64_t>();
  const MaskRuns mr = mask_runs(masks.data<T>(), masks.size(0), g.in[1], g.in[2]);
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    const TileRuns t = tile_runs(columns, j0, count, g);
    masked_vol2col(x.data<T>(), mr, mask_index.data<int64_t>(), g, t, cols.data());
    gemm(false, false, cout, count, rows, weight.data<T>(), rows, cols.data(), count, T(0),
         result.data(), count);
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < cout; ++co)
      for (const Run& r : t.runs) {
        T* dst = o + (r.n * cout + co) * plane + (r.od * g.out[1] + r.oh) * g.out[2] + r.ow0;
        const T* src = result.data() + co * count + r.j;
        for (int64_t k = 0; k < r.len; ++k) dst[k] += src[k];
      }
  }
}

template <typename T>
void backward_typed(const Tensor& grad_out, const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                    const Tensor& weight, const MaskedConvPlan& plan, const Tensor& grad_x, const Tensor& grad_weight) {
  const ConvGeometry& g = plan.geometry;
  const int64_t plane = g.out_plane(), cout = g.out_channels, rows = g.in_channels * g.kernel_volume();
  if (grad_x.defined()) std::memset(grad_x.raw_data(), 0, static_cast<size_t>(grad_x.numel()) * sizeof(T));
  if (grad_weight.defined())
    std::memset(grad_weight.raw_data(), 0, static_cast<size_t>(grad_weight.numel()) * sizeof(T));
  if (plan.active == 0) return;
  const int64_t tile = std::min(plan.tile_columns, plan.active);
  std::vector<T> cols(static_cast<size_t>(rows * tile)), go(static_cast<size_t>(cout * tile));
  const int64_t* columns = plan.columns.data<int64_t>();
  const T* gout = grad_out.data<T>();
  const MaskRuns mr = mask_runs(masks.data<T>(), masks.size(0), g.in[1], g.in[2]);
  const int64_t* index = mask_index.data<int64_t>();
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    const TileRuns t = tile_runs(columns, j0, count, g);
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < cout; ++co)
      for (const Run& r : t.runs)
        std::memcpy(go.data() + co * count + r.j,
                    gout + (r.n * cout + co) * plane + (r.od * g.out[1] + r.oh) * g.out[2] + r.ow0,
                    static_cast<size_t>(r.len) * sizeof(T));
    if (grad_weight.defined()) {
      masked_vol2col(x.data<T>(), mr, index, g, t, cols.data());
      gemm(false, true, cout, rows, count, go.data(), count, cols.data(), count, T(1),
           grad_weight.data<T>(), rows);
    }
    if (grad_x.defined()) {
      gemm(true, false, rows, count, cout, weight.data<T>(), rows, go.data(), count, T(0), cols.data(),
           count);
      masked_col2vol(cols.data(), mr, index, g, t, grad_x.data<T>());
    }
  }
}

}  // namespace

void masked_conv3d_forward(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                           const Tensor& bias, const MaskedConvPlan& plan, const Tensor& out) {
  if (out.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "masked_conv3d",
                       [&] { forward_typed<scalar_t>(x, masks, mask_index, weight, bias, plan, out); });
}

void masked_conv3d_backward(const Tensor& grad_out, const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                            const Tensor& weight, const MaskedConvPlan& plan, const Tensor& grad_x,
                            const Tensor& grad_weight) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "masked_conv3d backward", [&] {
    backward_typed<scalar_t>(grad_out, x, masks, mask_index, weight, plan, grad_x, grad_weight);
  });
}

}  // namespace fovea::cpu
