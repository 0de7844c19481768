// CPU kernels of masked_conv3d: a masked vol2col over the plan's active output positions only
// (reading x through the mask, zero outside it and in the padding) + OpenBLAS GEMM, in tiles of
// plan.tile_columns columns. Inactive positions get the bias alone. Backward recomputes the
// columns for grad_weight (so weight-gradient work outside the mask is skipped too) and
// scatters Wᵀ·grad_out back through the mask (grad_x is zero outside it). Each tile's col2vol
// runs in parallel over input channels in a fixed order, so results are deterministic.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "models/masked_conv3d_kernels.h"

namespace fovea::cpu {
namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Decoded columns of one tile: sample, output plane offset, first input position per dim.
struct TileColumns {
  std::vector<int64_t> n, p, d0, h0, w0;
  int64_t count = 0;
};

TileColumns decode(const int64_t* columns, int64_t j0, int64_t count, const ConvGeometry& g) {
  TileColumns t;
  t.count = count;
  for (auto* v : {&t.n, &t.p, &t.d0, &t.h0, &t.w0}) v->resize(static_cast<size_t>(count));
  const int64_t plane = g.out_plane(), out_h = g.out[1], out_w = g.out[2];
  for (int64_t j = 0; j < count; ++j) {
    const int64_t pos = columns[j0 + j], n = pos / plane, p = pos % plane;
    const int64_t ow = p % out_w, oh = p / out_w % out_h, od = p / (out_w * out_h);
    const size_t k = static_cast<size_t>(j);
    t.n[k] = n;
    t.p[k] = p;
    t.d0[k] = od * g.stride[0] - g.padding[0];
    t.h0[k] = oh * g.stride[1] - g.padding[1];
    t.w0[k] = ow * g.stride[2] - g.padding[2];
  }
  return t;
}

// cols[(ci, kd, kh, kw), j] = (x ⊙ m)[n_j, ci, d0_j + kd·dd, h0_j + kh·dh, w0_j + kw·dw], 0 outside.
template <typename T>
void masked_vol2col(const T* x, const T* masks, const int64_t* index, const ConvGeometry& g, const TileColumns& t,
                    T* cols) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t rows = g.in_channels * g.kernel_volume();
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t kw = row % kw_n, kh = row / kw_n % kh_n, kd = row / (kw_n * kh_n) % kd_n;
    const int64_t ci = row / g.kernel_volume();
    T* dst = cols + row * t.count;
    for (int64_t j = 0; j < t.count; ++j) {
      const size_t k = static_cast<size_t>(j);
      const int64_t id = t.d0[k] + kd * g.dilation[0], ih = t.h0[k] + kh * g.dilation[1],
                    iw = t.w0[k] + kw * g.dilation[2];
      T v = T(0);
      if (id >= 0 && id < in_d && ih >= 0 && ih < in_h && iw >= 0 && iw < in_w) {
        const int64_t n = t.n[k];
        const T m = masks[(index[n] * in_h + ih) * in_w + iw];
        if (m != T(0)) v = x[(((n * g.in_channels + ci) * in_d + id) * in_h + ih) * in_w + iw];
      }
      dst[j] = v;
    }
  }
}

// grad_x[n_j, ci, ...] += cols[(ci, kd, kh, kw), j] where the mask is 1: the adjoint of
// masked_vol2col. Parallel over input channels, each adding in (row, column) order.
template <typename T>
void masked_col2vol(const T* cols, const T* masks, const int64_t* index, const ConvGeometry& g, const TileColumns& t,
                    T* grad_x) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t kv = g.kernel_volume();
#pragma omp parallel for schedule(static)
  for (int64_t ci = 0; ci < g.in_channels; ++ci)
    for (int64_t r = 0; r < kv; ++r) {
      const int64_t kw = r % kw_n, kh = r / kw_n % kh_n, kd = r / (kw_n * kh_n);
      const T* src = cols + (ci * kv + r) * t.count;
      for (int64_t j = 0; j < t.count; ++j) {
        const size_t k = static_cast<size_t>(j);
        const int64_t id = t.d0[k] + kd * g.dilation[0], ih = t.h0[k] + kh * g.dilation[1],
                      iw = t.w0[k] + kw * g.dilation[2];
        if (id < 0 || id >= in_d || ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) continue;
        const int64_t n = t.n[k];
        if (masks[(index[n] * in_h + ih) * in_w + iw] == T(0)) continue;
        grad_x[(((n * g.in_channels + ci) * in_d + id) * in_h + ih) * in_w + iw] += src[j];
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
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    const TileColumns t = decode(columns, j0, count, g);
    masked_vol2col(x.data<T>(), masks.data<T>(), mask_index.data<int64_t>(), g, t, cols.data());
    gemm(CblasNoTrans, CblasNoTrans, cout, count, rows, weight.data<T>(), rows, cols.data(), count, T(0),
         result.data(), count);
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t j = 0; j < count; ++j)
        o[(t.n[static_cast<size_t>(j)] * cout + co) * plane + t.p[static_cast<size_t>(j)]] += result[co * count + j];
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
  const T* m = masks.data<T>();
  const int64_t* index = mask_index.data<int64_t>();
  for (int64_t j0 = 0; j0 < plan.active; j0 += tile) {
    const int64_t count = std::min(tile, plan.active - j0);
    const TileColumns t = decode(columns, j0, count, g);
#pragma omp parallel for schedule(static)
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t j = 0; j < count; ++j)
        go[static_cast<size_t>(co * count + j)] =
            gout[(t.n[static_cast<size_t>(j)] * cout + co) * plane + t.p[static_cast<size_t>(j)]];
    if (grad_weight.defined()) {
      masked_vol2col(x.data<T>(), m, index, g, t, cols.data());
      gemm(CblasNoTrans, CblasTrans, cout, rows, count, go.data(), count, cols.data(), count, T(1),
           grad_weight.data<T>(), rows);
    }
    if (grad_x.defined()) {
      gemm(CblasTrans, CblasNoTrans, rows, count, cout, weight.data<T>(), rows, go.data(), count, T(0), cols.data(),
           count);
      masked_col2vol(cols.data(), m, index, g, t, grad_x.data<T>());
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
