// CPU kernels of cosine_attention. Per sample, the similarity matrix is visited in tiles of at
// most kTile × kTile positions, each made by a BLAS GEMM, masked by the ReLU and consumed by
// further GEMMs while it is still in a per-thread buffer; Y = c·A stays in a per-thread buffer
// too and pred = W·Y + b·sᵀ is one more GEMM, so the forward reads c and W and writes pred once.
// The backward recomputes the similarity tiles. Samples run in parallel (OpenBLAS's OpenMP build
// then stays single-threaded inside each call); grad_weight (one GEMM over all samples'
// positions) and grad_bias are formed afterwards, so no sum depends on how samples meet threads.
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"
#include "models/cosine_attention_kernels.h"

namespace fovea::cpu {
namespace {

constexpr int64_t kTile = 128;

CBLAS_TRANSPOSE blas_op(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }

// Row-major out = op(a)·op(b) + beta·out, op(a) m × k, op(b) k × n.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* out, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, blas_op(trans_a), blas_op(trans_b), static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, out,
              static_cast<int>(ldc));
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double beta, double* out, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, blas_op(trans_a), blas_op(trans_b), static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, out,
              static_cast<int>(ldc));
}

struct Geometry {
  int64_t samples, channels, positions;
};

Geometry geometry_of(const Tensor& c, const char* op) {
  const Geometry g{c.size(0), c.size(1), c.size(2)};
  FOVEA_CHECK(g.channels * g.samples * g.positions <= INT_MAX && g.channels * g.channels <= INT_MAX, op, "c of ",
              g.samples, " samples × ", g.channels, " channels × ", g.positions,
              " positions exceeds the 32-bit BLAS interface; split the batch");
  return g;
}

// The column norms ‖x_u‖ of a [C, P] matrix (accumulated in double) and their scales
// 1 / max(‖x_u‖, eps), which turn raw dot products into cosines.
template <typename T>
struct ColumnScales {
  std::vector<double> norms;
  std::vector<T> inverse;

  ColumnScales(const T* x, const Geometry& g, double eps) : norms(g.positions, 0.0), inverse(g.positions) {
    for (int64_t ch = 0; ch < g.channels; ++ch)
      for (int64_t u = 0; u < g.positions; ++u) {
        const double value = x[ch * g.positions + u];
        norms[u] += value * value;
      }
    for (int64_t u = 0; u < g.positions; ++u) {
      norms[u] = std::sqrt(norms[u]);
      inverse[u] = static_cast<T>(1.0 / std::max(norms[u], eps));
    }
  }
};

// One tile of the similarity matrix: rows u0.., columns v0.. of one sample.
struct Tile {
  int64_t u0, rows, v0, cols;
};

template <typename Fn>
void for_each_tile(int64_t positions, Fn&& fn) {
  for (int64_t u0 = 0; u0 < positions; u0 += kTile)
    for (int64_t v0 = 0; v0 < positions; v0 += kTile)
      fn(Tile{u0, std::min(kTile, positions - u0), v0, std::min(kTile, positions - v0)});
}

// tile (rows × cols) = ReLU(ĉ_uᵀ ĉ_v) over the tile's positions.
template <typename T>
void attention_tile(const T* x, const Geometry& g, const ColumnScales<T>& scales, const Tile& t, T* tile) {
  gemm(true, false, t.rows, t.cols, g.channels, x + t.u0, g.positions, x + t.v0, g.positions, T(0), tile, t.cols);
  for (int64_t i = 0; i < t.rows; ++i)
    for (int64_t j = 0; j < t.cols; ++j) {
      const T cosine = tile[i * t.cols + j] * scales.inverse[t.u0 + i] * scales.inverse[t.v0 + j];
      tile[i * t.cols + j] = cosine > T(0) ? cosine : T(0);
    }
}

// Y = x·A and s = A·1 of one sample, Y [C, P] and s [P] overwritten.
template <typename T>
void attend(const T* x, const Geometry& g, const ColumnScales<T>& scales, T* y, T* s, std::vector<T>& tile) {
  std::fill(s, s + g.positions, T(0));
  for_each_tile(g.positions, [&](const Tile& t) {
    attention_tile(x, g, scales, t, tile.data());
    for (int64_t i = 0; i < t.rows; ++i)
      for (int64_t j = 0; j < t.cols; ++j) s[t.u0 + i] += tile[i * t.cols + j];
    gemm(false, true, g.channels, t.rows, t.cols, x + t.v0, g.positions, tile.data(), t.cols, t.v0 == 0 ? T(0) : T(1),
         y + t.u0, g.positions);
  });
}

template <typename T>
void forward(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps, const Tensor& pred) {
  const Geometry g = geometry_of(c, "cosine_attention");
  const int64_t sample_size = g.channels * g.positions;
  const T* x_all = c.data<T>();
  const T* w = weight.data<T>();
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  T* pred_all = pred.data<T>();
#pragma omp parallel if (g.samples > 1)
  {
    std::vector<T> y(sample_size), s(g.positions), tile(kTile * kTile);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.samples; ++n) {
      const T* x = x_all + n * sample_size;
      T* out = pred_all + n * sample_size;
      attend(x, g, ColumnScales<T>(x, g, eps), y.data(), s.data(), tile);
      gemm(false, false, g.channels, g.positions, g.channels, w, g.channels, y.data(), g.positions, T(0), out,
           g.positions);
      if (b)
        for (int64_t ch = 0; ch < g.channels; ++ch)
          for (int64_t u = 0; u < g.positions; ++u) out[ch * g.positions + u] += b[ch] * s[u];
    }
  }
}

// Per-thread buffers of the backward: dY = Wᵀ·grad_pred, the gradient of ĉ, ds = grad_predᵀ·b,
// and three similarity-sized tiles (A, then dA terms).
template <typename T>
struct BackwardBuffers {
  std::vector<T> grad_y, grad_normalized, grad_s, attention, grad_uv, grad_vu;

  BackwardBuffers(const Geometry& g)
      : grad_y(g.channels * g.positions), grad_normalized(g.channels * g.positions), grad_s(g.positions),
        attention(kTile * kTile), grad_uv(kTile * kTile), grad_vu(kTile * kTile) {}
};

// grad_c of one sample, and its Y = x·A (leading dimension ldy) and s = A·1 for the parameter
// gradients.
template <typename T>
void backward_sample(const T* x, const T* w, const T* b, const T* grad_pred, const Geometry& g, double eps,
                     BackwardBuffers<T>& buf, T* grad_x, T* y, int64_t ldy, T* s) {
  const int64_t C = g.channels, P = g.positions;
  const ColumnScales<T> scales(x, g, eps);
  T* dy = buf.grad_y.data();
  T* dxh = buf.grad_normalized.data();
  T* ds = buf.grad_s.data();
  gemm(true, false, C, P, C, w, C, grad_pred, P, T(0), dy, P);
  std::fill(ds, ds + P, T(0));
  if (b)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t u = 0; u < P; ++u) ds[u] += b[ch] * grad_pred[ch * P + u];
  std::fill(s, s + P, T(0));
  for_each_tile(P, [&](const Tile& t) {
    T* a = buf.attention.data();
    T* coef = buf.grad_uv.data();  // dY_u·x_v, then the coefficient of x_v in the gradient of ĉ_u
    T* reverse = buf.grad_vu.data();  // dY_v·x_u
    attention_tile(x, g, scales, t, a);
    gemm(true, false, t.rows, t.cols, C, dy + t.u0, P, x + t.v0, P, T(0), coef, t.cols);
    gemm(true, false, t.rows, t.cols, C, x + t.u0, P, dy + t.v0, P, T(0), reverse, t.cols);
    // d loss / d cos_uv = ds_u + dY_u·x_v; cos_uv and cos_vu both hold ĉ_u·ĉ_v, so ĉ_u receives
    // (dcos_uv + dcos_vu)·ĉ_v where the ReLU is open.
    for (int64_t i = 0; i < t.rows; ++i)
      for (int64_t j = 0; j < t.cols; ++j) {
        const int64_t k = i * t.cols + j, u = t.u0 + i, v = t.v0 + j;
        s[u] += a[k];
        coef[k] = a[k] > T(0) ? (coef[k] + reverse[k] + ds[u] + ds[v]) * scales.inverse[v] : T(0);
      }
    const T beta = t.v0 == 0 ? T(0) : T(1);
    gemm(false, true, C, t.rows, t.cols, x + t.v0, P, a, t.cols, beta, y + t.u0, ldy);
    gemm(false, true, C, t.rows, t.cols, dy + t.v0, P, a, t.cols, beta, grad_x + t.u0, P);
    gemm(false, true, C, t.rows, t.cols, x + t.v0, P, coef, t.cols, beta, dxh + t.u0, P);
  });
  // Through ĉ = x / max(‖x‖, eps): dx = r⁻¹·dĉ − [‖x‖ ≥ eps]·r⁻³·x·(x·dĉ), r = max(‖x‖, eps).
  std::vector<double> dot(P, 0.0);
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t u = 0; u < P; ++u) dot[u] += static_cast<double>(x[ch * P + u]) * dxh[ch * P + u];
  for (int64_t u = 0; u < P; ++u) {
    const double r_inv = scales.inverse[u];
    dot[u] = scales.norms[u] >= eps ? dot[u] * r_inv * r_inv * r_inv : 0.0;
  }
  for (int64_t ch = 0; ch < C; ++ch)
    for (int64_t u = 0; u < P; ++u) {
      const int64_t k = ch * P + u;
      grad_x[k] += static_cast<T>(scales.inverse[u] * dxh[k] - dot[u] * x[k]);
    }
}

template <typename T>
void backward(const Tensor& c, const Tensor& weight, const Tensor& bias, const Tensor& grad_pred, double eps,
              const Tensor& grad_c, const Tensor& grad_weight, const Tensor& grad_bias) {
  const Geometry g = geometry_of(c, "cosine_attention");
  const int64_t C = g.channels, P = g.positions, sample_size = C * P;
  const T* x_all = c.data<T>();
  const T* w = weight.data<T>();
  const T* b = bias.defined() ? bias.data<T>() : nullptr;
  const T* dpred_all = grad_pred.data<T>();
  T* dx_all = grad_c.data<T>();
  // Y and grad_pred of all samples as [C, N·P] matrices: grad_weight is one GEMM over N·P.
  const int64_t all_positions = g.samples * P;
  std::vector<T> y_all(C * all_positions), dpred_by_channel(C * all_positions), s_all(all_positions);
#pragma omp parallel if (g.samples > 1)
  {
    BackwardBuffers<T> buffers(g);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.samples; ++n) {
      const T* dpred = dpred_all + n * sample_size;
      backward_sample(x_all + n * sample_size, w, b, dpred, g, eps, buffers, dx_all + n * sample_size,
                      y_all.data() + n * P, all_positions, s_all.data() + n * P);
      for (int64_t ch = 0; ch < C; ++ch)
        std::copy(dpred + ch * P, dpred + (ch + 1) * P, dpred_by_channel.data() + ch * all_positions + n * P);
    }
  }
  gemm(false, true, C, C, all_positions, dpred_by_channel.data(), all_positions, y_all.data(), all_positions, T(0),
       grad_weight.data<T>(), C);
  if (!grad_bias.defined()) return;
  T* db = grad_bias.data<T>();
  for (int64_t ch = 0; ch < C; ++ch) {
    double sum = 0.0;
    for (int64_t n = 0; n < g.samples; ++n)
      for (int64_t u = 0; u < P; ++u) sum += static_cast<double>(dpred_all[n * sample_size + ch * P + u]) * s_all[n * P + u];
    db[ch] = static_cast<T>(sum);
  }
}

}  // namespace

void cosine_attention_forward(const Tensor& c, const Tensor& weight, const Tensor& bias, double eps,
                              const Tensor& pred) {
  FOVEA_DISPATCH_FLOAT(c.dtype(), "cosine_attention", [&] { forward<scalar_t>(c, weight, bias, eps, pred); });
}

void cosine_attention_backward(const Tensor& c, const Tensor& weight, const Tensor& bias, const Tensor& grad_pred,
                               double eps, const Tensor& grad_c, const Tensor& grad_weight, const Tensor& grad_bias) {
  FOVEA_DISPATCH_FLOAT(c.dtype(), "cosine_attention", [&] {
    backward<scalar_t>(c, weight, bias, grad_pred, eps, grad_c, grad_weight, grad_bias);
  });
}

}  // namespace fovea::cpu
