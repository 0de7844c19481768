// Fused cosine-attention kernels of the saccade predictor (models/cosine_attention.h):
// pred_u = Σ_v ReLU(ĉ_u·ĉ_v)·g(c_v), g(c) = W·c + b, computed regrouped as
// pred = W·(c·A) + b·(A·1)ᵀ with A = ReLU(ĉᵀĉ), so neither g(c) nor A is ever stored.
//
//   cosine_attention_norms_kernel     a thread per (sample, position): ‖c_u‖ over channels.
//   cosine_attention_forward_kernel   a block per (16-position tile u, sample), 256 threads.
//       For each 32-position tile v: S = c_uᵀc_v accumulated over 32-channel chunks staged in
//       shared memory; A = ReLU(S·r_u·r_v) (r = 1/max(‖c‖, eps)) kept in shared memory; then
//       Y[:, u] += c[:, v]·Aᵀ into a [C][16] shared accumulator, and s_u += Σ_v A_uv. Epilogue:
//       variant 1 (kWritePred) streams W through shared memory in 16 × 32 chunks and writes
//       pred[:, u] = W·Y + b·sᵀ, so the forward reads c and W and writes pred once; variant 2
//       writes Y and s (the backward's recomputation, whose W-products go to cuBLAS).
//   cosine_attention_backward_kernel  a block per (16-position tile u, sample). With
//       dY = Wᵀ·dpred and ds = dpredᵀ·b given, per tile v it recomputes S and forms
//       dY_u·c_v and c_u·dY_v; A and the coefficient (dA_uv + dA_vu)·r_v (dA_uv = dY_u·c_v + ds_u,
//       zero where the ReLU is closed) stay in shared memory and accumulate
//       direct[:, u] += dY[:, v]·Aᵀ and dĉ[:, u] += c[:, v]·coefᵀ. Epilogue: per position the
//       dot c_u·dĉ_u (16-lane shuffle reduction), then
//       grad_c = direct + r·dĉ − [‖c‖ ≥ eps]·r³·c·(c·dĉ). Each output has one owner thread and a
//       fixed summation order: results are deterministic and no atomics are used.
// Shared memory: the fixed tiles plus C·16 (forward) or 2·C·16 (backward) elements; the host
// checks the device's opt-in limit (cosine_attention_shared_bytes) and raises it per kernel.
#include <cmath>

#include "kernels/common.h"
#include "kernels/cosine_attention.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kTileU = 16;
constexpr int kTileV = 32;
constexpr int kChunk = 32;  // channels staged per step
constexpr unsigned kFullMask = 0xffffffffu;

// Thread tid computes similarity entries (tid / 16, tid % 16) and (tid / 16, tid % 16 + 16) of
// a tile, and accumulator rows tid / 16 and tid / 16 + 16 of a chunk at column tid % 16.
static_assert(kThreads == kTileU * kTileV / 2 && kThreads == kChunk * kTileU / 2, "thread mapping");

template <typename T>
struct ForwardTiles {
  T xu[kChunk][kTileU];      // c[chunk, tile u]
  T xv[kChunk][kTileV + 1];  // c[chunk, tile v]; W chunks in the epilogue
  T a[kTileU][kTileV + 1];
  T scale_u[kTileU], scale_v[kTileV], row_sum[kTileU];
};

template <typename T>
struct BackwardTiles {
  T xu[kChunk][kTileU], dyu[kChunk][kTileU];
  T xv[kChunk][kTileV + 1], dyv[kChunk][kTileV + 1];
  T a[kTileU][kTileV + 1], coef[kTileU][kTileV + 1];
  T scale_u[kTileU], scale_v[kTileV], ds_u[kTileU], ds_v[kTileV], dot[kTileU];
};

template <typename T>
__device__ T inverse_scale(T norm, T eps) {
  return T(1) / (norm > eps ? norm : eps);
}

// Copies rows [row0, row0 + kChunk) and columns [col0, col0 + Width) of a row-major matrix
// with `rows` × `cols` entries into tile, zero outside the matrix.
template <int Width, int Pitch, typename T>
__device__ void stage(T (*tile)[Pitch], const T* m, int64_t rows, int64_t cols, int64_t row0, int64_t col0) {
  for (int e = threadIdx.x; e < kChunk * Width; e += kThreads) {
    const int r = e / Width, k = e % Width;
    const int64_t row = row0 + r, col = col0 + k;
    tile[r][k] = row < rows && col < cols ? m[row * cols + col] : T(0);
  }
}

template <typename T>
__global__ void cosine_attention_norms_kernel(T* norms, const T* c, int64_t samples, int64_t channels,
                                              int64_t positions) {
  for (int64_t i = first_index(); i < samples * positions; i += grid_stride()) {
    const T* x = c + i / positions * channels * positions + i % positions;
    T sum = 0;
    for (int64_t ch = 0; ch < channels; ++ch) sum += x[ch * positions] * x[ch * positions];
    norms[i] = std::sqrt(sum);
  }
}

template <typename T, bool kWritePred>
__global__ void cosine_attention_forward_kernel(T* out, T* s_out, const T* c, const T* norms, const T* weight,
                                                const T* bias, int64_t channels, int64_t positions, T eps) {
  FOVEA_DYNAMIC_SHARED(T, y);  // [channels][kTileU]
  __shared__ ForwardTiles<T> t;
  const int tid = threadIdx.x, row = tid / kTileU, col = tid % kTileU;
  const int64_t n = blockIdx.y, u0 = static_cast<int64_t>(blockIdx.x) * kTileU;
  const T* x = c + n * channels * positions;
  const T* r = norms + n * positions;
  if (tid < kTileU) {
    t.scale_u[tid] = u0 + tid < positions ? inverse_scale(r[u0 + tid], eps) : T(0);
    t.row_sum[tid] = 0;
  }
  for (int64_t v0 = 0; v0 < positions; v0 += kTileV) {
    if (tid < kTileV) t.scale_v[tid] = v0 + tid < positions ? inverse_scale(r[v0 + tid], eps) : T(0);
    T s0 = 0, s1 = 0;
    for (int64_t ch0 = 0; ch0 < channels; ch0 += kChunk) {
      stage<kTileU>(t.xu, x, channels, positions, ch0, u0);
      stage<kTileV>(t.xv, x, channels, positions, ch0, v0);
      __syncthreads();
      for (int k = 0; k < kChunk; ++k) {
        s0 += t.xu[k][row] * t.xv[k][col];
        s1 += t.xu[k][row] * t.xv[k][col + kTileU];
      }
      __syncthreads();
    }
    s0 *= t.scale_u[row] * t.scale_v[col];
    s1 *= t.scale_u[row] * t.scale_v[col + kTileU];
    t.a[row][col] = s0 > T(0) ? s0 : T(0);
    t.a[row][col + kTileU] = s1 > T(0) ? s1 : T(0);
    __syncthreads();
    if (tid < kTileU)
      for (int k = 0; k < kTileV; ++k) t.row_sum[tid] += t.a[tid][k];
    for (int64_t ch0 = 0; ch0 < channels; ch0 += kChunk) {
      stage<kTileV>(t.xv, x, channels, positions, ch0, v0);
      __syncthreads();
      for (int half = 0; half < 2; ++half) {
        const int local = row + half * kTileU;
        const int64_t ch = ch0 + local;
        if (ch >= channels) continue;
        T sum = v0 == 0 ? T(0) : y[ch * kTileU + col];
        for (int k = 0; k < kTileV; ++k) sum += t.xv[local][k] * t.a[col][k];
        y[ch * kTileU + col] = sum;
      }
      __syncthreads();
    }
  }
  const int64_t u = u0 + col;
  if constexpr (kWritePred) {
    // pred[o, u] = Σ_ch W[o, ch]·Y[ch, u] + b[o]·s_u; 16 output channels per pass.
    for (int64_t o0 = 0; o0 < channels; o0 += kTileU) {
      const int64_t o = o0 + row;
      T sum = 0;
      for (int64_t ch0 = 0; ch0 < channels; ch0 += kChunk) {
        for (int e = tid; e < kTileU * kChunk; e += kThreads) {
          const int64_t wo = o0 + e / kChunk, wc = ch0 + e % kChunk;
          t.xv[e / kChunk][e % kChunk] = wo < channels && wc < channels ? weight[wo * channels + wc] : T(0);
        }
        __syncthreads();
        const int steps = channels - ch0 < kChunk ? static_cast<int>(channels - ch0) : kChunk;
        for (int k = 0; k < steps; ++k) sum += t.xv[row][k] * y[(ch0 + k) * kTileU + col];
        __syncthreads();
      }
      if (o < channels && u < positions)
        out[(n * channels + o) * positions + u] = sum + (bias != nullptr ? bias[o] * t.row_sum[col] : T(0));
    }
  } else {
    for (int64_t ch = row; ch < channels; ch += kThreads / kTileU)
      if (u < positions) out[(n * channels + ch) * positions + u] = y[ch * kTileU + col];
    if (tid < kTileU && u0 + tid < positions) s_out[n * positions + u0 + tid] = t.row_sum[tid];
  }
}

template <typename T>
__global__ void cosine_attention_backward_kernel(T* grad_c, const T* c, const T* norms, const T* grad_y,
                                                 const T* grad_s, int64_t channels, int64_t positions, T eps) {
  FOVEA_DYNAMIC_SHARED(T, acc);  // direct [channels][kTileU], then dĉ [channels][kTileU]
  __shared__ BackwardTiles<T> t;
  const int tid = threadIdx.x, row = tid / kTileU, col = tid % kTileU;
  const int64_t n = blockIdx.y, u0 = static_cast<int64_t>(blockIdx.x) * kTileU;
  const int64_t direct = 0, normalized = channels * kTileU;
  const T* x = c + n * channels * positions;
  const T* dy = grad_y + n * channels * positions;
  const T* r = norms + n * positions;
  const T* ds = grad_s + n * positions;
  if (tid < kTileU) {
    const bool inside = u0 + tid < positions;
    t.scale_u[tid] = inside ? inverse_scale(r[u0 + tid], eps) : T(0);
    t.ds_u[tid] = inside ? ds[u0 + tid] : T(0);
  }
  for (int64_t v0 = 0; v0 < positions; v0 += kTileV) {
    if (tid < kTileV) {
      const bool inside = v0 + tid < positions;
      t.scale_v[tid] = inside ? inverse_scale(r[v0 + tid], eps) : T(0);
      t.ds_v[tid] = inside ? ds[v0 + tid] : T(0);
    }
    T s[2] = {0, 0}, uv[2] = {0, 0}, vu[2] = {0, 0};  // c_u·c_v, dY_u·c_v, c_u·dY_v
    for (int64_t ch0 = 0; ch0 < channels; ch0 += kChunk) {
      stage<kTileU>(t.xu, x, channels, positions, ch0, u0);
      stage<kTileU>(t.dyu, dy, channels, positions, ch0, u0);
      stage<kTileV>(t.xv, x, channels, positions, ch0, v0);
      stage<kTileV>(t.dyv, dy, channels, positions, ch0, v0);
      __syncthreads();
      for (int k = 0; k < kChunk; ++k)
        for (int h = 0; h < 2; ++h) {
          const int v = col + h * kTileU;
          s[h] += t.xu[k][row] * t.xv[k][v];
          uv[h] += t.dyu[k][row] * t.xv[k][v];
          vu[h] += t.xu[k][row] * t.dyv[k][v];
        }
      __syncthreads();
    }
    for (int h = 0; h < 2; ++h) {
      const int v = col + h * kTileU;
      const T cosine = s[h] * t.scale_u[row] * t.scale_v[v];
      const bool open = cosine > T(0);
      t.a[row][v] = open ? cosine : T(0);
      t.coef[row][v] = open ? (uv[h] + vu[h] + t.ds_u[row] + t.ds_v[v]) * t.scale_v[v] : T(0);
    }
    for (int64_t ch0 = 0; ch0 < channels; ch0 += kChunk) {
      stage<kTileV>(t.xv, x, channels, positions, ch0, v0);
      stage<kTileV>(t.dyv, dy, channels, positions, ch0, v0);
      __syncthreads();
      for (int half = 0; half < 2; ++half) {
        const int local = row + half * kTileU;
        const int64_t ch = ch0 + local;
        if (ch >= channels) continue;
        T through_a = v0 == 0 ? T(0) : acc[direct + ch * kTileU + col];
        T through_norm = v0 == 0 ? T(0) : acc[normalized + ch * kTileU + col];
        for (int k = 0; k < kTileV; ++k) {
          through_a += t.dyv[local][k] * t.a[col][k];
          through_norm += t.xv[local][k] * t.coef[col][k];
        }
        acc[direct + ch * kTileU + col] = through_a;
        acc[normalized + ch * kTileU + col] = through_norm;
      }
      __syncthreads();
    }
  }
  // dot_u = c_u·dĉ_u: 16 threads per position, reduced within aligned 16-lane groups.
  const int position = tid / kTileU, part = tid % kTileU;
  T dot = 0;
  if (u0 + position < positions)
    for (int64_t ch = part; ch < channels; ch += kTileU)
      dot += x[ch * positions + u0 + position] * acc[normalized + ch * kTileU + position];
  for (int lane_mask = kTileU / 2; lane_mask > 0; lane_mask /= 2) dot += __shfl_xor_sync(kFullMask, dot, lane_mask);
  if (part == 0) t.dot[position] = dot;
  __syncthreads();
  const int64_t u = u0 + col;
  if (u >= positions) return;
  const T scale = t.scale_u[col];
  const T radial = r[u] >= eps ? scale * scale * scale * t.dot[col] : T(0);
  for (int64_t ch = row; ch < channels; ch += kThreads / kTileU) {
    const int64_t k = ch * positions + u;
    grad_c[n * channels * positions + k] =
        acc[direct + ch * kTileU + col] + scale * acc[normalized + ch * kTileU + col] - radial * x[k];
  }
}

// Lets the kernel take `bytes` of dynamic shared memory (beyond the default 48 KiB if need be).
template <typename Kernel>
cudaError_t allow_shared(Kernel kernel, std::size_t bytes) {
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

dim3 tile_grid(int64_t samples, int64_t positions) {
  return dim3(static_cast<unsigned>((positions + kTileU - 1) / kTileU), static_cast<unsigned>(samples));
}

template <typename T, bool kWritePred>
cudaError_t launch_attention(T* out, T* s_out, const void* c, const void* norms, const void* weight, const void* bias,
                             int64_t samples, int64_t channels, int64_t positions, double eps, cudaStream_t stream) {
  if (samples * channels * positions == 0) return cudaSuccess;
  const auto kernel = cosine_attention_forward_kernel<T, kWritePred>;
  const std::size_t bytes = static_cast<std::size_t>(channels) * kTileU * sizeof(T);
  if (const cudaError_t status = allow_shared(kernel, bytes); status != cudaSuccess) return status;
  return launch_kernel(kernel, tile_grid(samples, positions), dim3(kThreads), bytes, stream, out, s_out,
                       static_cast<const T*>(c), static_cast<const T*>(norms), static_cast<const T*>(weight),
                       static_cast<const T*>(bias), channels, positions, static_cast<T>(eps));
}

}  // namespace

cudaError_t launch_cosine_attention_norms(ElementType type, void* norms, const void* c, int64_t samples,
                                          int64_t channels, int64_t positions, cudaStream_t stream) {
  if (samples * positions == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_kernel(cosine_attention_norms_kernel<T>, dim3(grid_for(samples * positions, kThreads)),
                         dim3(kThreads), 0, stream, static_cast<T*>(norms), static_cast<const T*>(c), samples,
                         channels, positions);
  });
}

cudaError_t launch_cosine_attention_forward(ElementType type, void* pred, const void* c, const void* norms,
                                            const void* weight, const void* bias, int64_t samples, int64_t channels,
                                            int64_t positions, double eps, cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_attention<T, true>(static_cast<T*>(pred), nullptr, c, norms, weight, bias, samples, channels,
                                     positions, eps, stream);
  });
}

cudaError_t launch_cosine_attention_attend(ElementType type, void* y, void* s, const void* c, const void* norms,
                                           int64_t samples, int64_t channels, int64_t positions, double eps,
                                           cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_attention<T, false>(static_cast<T*>(y), static_cast<T*>(s), c, norms, nullptr, nullptr, samples,
                                      channels, positions, eps, stream);
  });
}

cudaError_t launch_cosine_attention_backward(ElementType type, void* grad_c, const void* c, const void* norms,
                                             const void* grad_y, const void* grad_s, int64_t samples,
                                             int64_t channels, int64_t positions, double eps, cudaStream_t stream) {
  if (samples * channels * positions == 0) return cudaSuccess;
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    const auto kernel = cosine_attention_backward_kernel<T>;
    const std::size_t bytes = 2 * static_cast<std::size_t>(channels) * kTileU * sizeof(T);
    if (const cudaError_t status = allow_shared(kernel, bytes); status != cudaSuccess) return status;
    return launch_kernel(kernel, tile_grid(samples, positions), dim3(kThreads), bytes, stream,
                         static_cast<T*>(grad_c), static_cast<const T*>(c), static_cast<const T*>(norms),
                         static_cast<const T*>(grad_y), static_cast<const T*>(grad_s), channels, positions,
                         static_cast<T>(eps));
  });
}

std::size_t cosine_attention_shared_bytes(ElementType type, int64_t channels, bool backward) {
  const bool f64 = type == ElementType::f64;
  const std::size_t element = f64 ? sizeof(double) : sizeof(float);
  const std::size_t tiles = backward ? (f64 ? sizeof(BackwardTiles<double>) : sizeof(BackwardTiles<float>))
                                     : (f64 ? sizeof(ForwardTiles<double>) : sizeof(ForwardTiles<float>));
  return tiles + (backward ? 2 : 1) * static_cast<std::size_t>(channels) * kTileU * element;
}

}  // namespace fovea::kernels
