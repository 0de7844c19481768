// CPU convolution through vol2col + GEMM. The column matrix has one row per (input channel,
// kd, kh, kw) and one column per output position of the current tile; a group's rows are
// contiguous, so per-group GEMMs read row blocks of it. vol2col copies contiguous input
// rows (memcpy for stride 1); the backward col2vol gathers per input plane, so every
// element accumulates in a fixed order.
// Threads: with at least one work unit (a sample's tiles) per thread, each thread runs
// whole units with single-threaded BLAS (few synchronisations, private cache-sized
// buffers); otherwise units run in turn, vol2col/col2vol parallelise inside and BLAS uses
// every thread.
#include "engine/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "engine/cpu/linalg.h"
#include "engine/error.h"

namespace fovea::cpu {
namespace {

// Output positions covered by one tile: whole samples [n0, n1), or positions
// [p0, p0 + count) of the single sample n0 (then n1 = n0 + 1). p0 and count are multiples
// of the output width.
struct Tile {
  int64_t n0, n1, p0, count;
  int64_t columns() const { return (n1 - n0) * count; }
  bool single_sample() const { return n1 - n0 == 1; }
};

// Columns per tile when the caller leaves it to the kernel: enough for the column matrix to
// stay in the last-level cache while vol2col writes it and the GEMM reads it, but at least
// kMinColumns so that packing the weights is amortised, and never above kMaxColumnBytes.
// Tiles of several small samples are split further, down to kMinSharedColumns, so that
// every thread gets a unit of work.
constexpr int64_t kTargetColumnBytes = int64_t{4} << 20;
constexpr int64_t kMaxColumnBytes = int64_t{64} << 20;
constexpr int64_t kMinColumns = 512;
constexpr int64_t kMinSharedColumns = 256;
// Bound on the per-thread column buffers when threads run units of their own.
constexpr int64_t kMaxWorkspaceBytes = int64_t{256} << 20;

int64_t auto_tile_columns(const ConvGeometry& g, int64_t element_size) {
  const int64_t column_bytes = g.in_channels * g.kernel_volume() * element_size;
  int64_t columns = std::max<int64_t>(1, std::min(std::max(kTargetColumnBytes / column_bytes, kMinColumns),
                                                  kMaxColumnBytes / column_bytes));
  const int64_t plane = g.out_plane();
  if (plane < columns) {
    const int64_t threads = omp_get_max_threads();
    const int64_t per_thread = (g.batch + threads - 1) / threads * plane;
    columns = std::max(std::min(columns, per_thread), std::min(columns, kMinSharedColumns));
  }
  return columns;
}

// Tiles of about `columns` output positions: balanced chunks of whole output rows of one
// sample when a sample has at least that many positions, else groups of whole samples.
std::vector<Tile> make_tiles(const ConvGeometry& g, int64_t columns) {
  const int64_t plane = g.out_plane(), width = g.out[2], rows = plane / width;
  std::vector<Tile> tiles;
  if (plane >= columns || g.batch == 1) {
    const int64_t rows_wanted = std::max<int64_t>(1, columns / width);
    const int64_t chunks = (rows + rows_wanted - 1) / rows_wanted;
    const int64_t step = (rows + chunks - 1) / chunks * width;
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t p = 0; p < plane; p += step) tiles.push_back({n, n + 1, p, std::min(step, plane - p)});
    return tiles;
  }
  const int64_t samples_wanted = columns / plane;
  const int64_t tile_count = (g.batch + samples_wanted - 1) / samples_wanted;
  const int64_t per_tile = (g.batch + tile_count - 1) / tile_count;
  for (int64_t n = 0; n < g.batch; n += per_tile) tiles.push_back({n, std::min(g.batch, n + per_tile), 0, plane});
  return tiles;
}

// Range [lo, hi) of output positions o along one dim whose input position o·stride + offset
// lies in [0, in).
inline void valid_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = offset > in - 1 ? 0 : std::min(out, (in - 1 - offset) / stride + 1);
  if (hi < lo) hi = lo;
}

// cols[(ci, kd, kh, kw), tile column] = x[n, ci, od·sd - pd + kd·dd, ...] (0 in the padding).
template <typename T>
void vol2col(const T* x, const ConvGeometry& g, const Tile& tile, T* cols) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t out_h = g.out[1], out_w = g.out[2];
  const int64_t row_count = g.in_channels * g.kernel_volume();
  const int64_t columns = tile.columns();
  const int64_t first_row = tile.p0 / out_w, row_units = tile.count / out_w;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < row_count; ++row) {
    const int64_t kw = row % kw_n, kh = (row / kw_n) % kh_n, kd = (row / (kw_n * kh_n)) % kd_n;
    const int64_t ci = row / g.kernel_volume();
    const int64_t w_offset = kw * g.dilation[2] - g.padding[2];
    int64_t lo, hi;
    valid_range(w_offset, g.stride[2], in_w, out_w, lo, hi);
    T* dst = cols + row * columns;
    for (int64_t n = tile.n0; n < tile.n1; ++n) {
      const T* channel = x + (n * g.in_channels + ci) * in_d * in_h * in_w;
      for (int64_t u = first_row; u < first_row + row_units; ++u, dst += out_w) {
        const int64_t od = u / out_h, oh = u % out_h;
        const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
        const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
        if (id < 0 || id >= in_d || ih < 0 || ih >= in_h || lo == hi) {
          std::fill(dst, dst + out_w, T(0));
          continue;
        }
        const T* src = channel + (id * in_h + ih) * in_w + w_offset;
        std::fill(dst, dst + lo, T(0));
        if (g.stride[2] == 1) {
          std::memcpy(dst + lo, src + lo, static_cast<size_t>(hi - lo) * sizeof(T));
        } else if (g.stride[2] == 2) {
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[2 * ow];
        } else {
          const int64_t s = g.stride[2];
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * s];
        }
        std::fill(dst + hi, dst + out_w, T(0));
      }
    }
  }
}

// The adjoint of vol2col: grad_x[n, ci, id, ih, iw] += every column entry that vol2col
// copied from there. Parallel over the input planes (n, ci, id) that the tile touches.
template <typename T>
void col2vol(const T* cols, const ConvGeometry& g, const Tile& tile, T* grad_x) {
  const auto [kd_n, kh_n, kw_n] = g.kernel;
  const auto [in_d, in_h, in_w] = g.in;
  const int64_t out_d = g.out[0], out_h = g.out[1], out_w = g.out[2];
  const int64_t columns = tile.columns();
  const int64_t first_row = tile.p0 / out_w, last_row = (tile.p0 + tile.count) / out_w;  // [first, last)
  const int64_t od_first = first_row / out_h, od_last = (last_row - 1) / out_h;
  const int64_t id_lo = std::max<int64_t>(0, od_first * g.stride[0] - g.padding[0]);
  const int64_t id_hi = std::min(in_d, od_last * g.stride[0] - g.padding[0] + (kd_n - 1) * g.dilation[0] + 1);
  if (id_hi <= id_lo) return;
  const int64_t id_count = id_hi - id_lo;
  const int64_t samples = tile.n1 - tile.n0;
  const int64_t items = samples * g.in_channels * id_count;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t id = id_lo + item % id_count;
    const int64_t ci = (item / id_count) % g.in_channels;
    const int64_t sample = item / (id_count * g.in_channels);
    T* plane = grad_x + (((tile.n0 + sample) * g.in_channels + ci) * in_d + id) * in_h * in_w;
    for (int64_t kd = 0; kd < kd_n; ++kd) {
      const int64_t t = id + g.padding[0] - kd * g.dilation[0];
      if (t < 0 || t % g.stride[0] != 0 || t / g.stride[0] >= out_d) continue;
      const int64_t od = t / g.stride[0];
      const int64_t oh_lo = std::max<int64_t>(0, first_row - od * out_h);
      const int64_t oh_hi = std::min(out_h, last_row - od * out_h);
      for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
        const int64_t column0 = sample * tile.count + (od * out_h + oh - first_row) * out_w;
        for (int64_t kh = 0; kh < kh_n; ++kh) {
          const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
          if (ih < 0 || ih >= in_h) continue;
          for (int64_t kw = 0; kw < kw_n; ++kw) {
            const int64_t w_offset = kw * g.dilation[2] - g.padding[2];
            int64_t lo, hi;
            valid_range(w_offset, g.stride[2], in_w, out_w, lo, hi);
            const int64_t row = ((ci * kd_n + kd) * kh_n + kh) * kw_n + kw;
            const T* src = cols + row * columns + column0;
            T* dst = plane + ih * in_w + w_offset;
            const int64_t s = g.stride[2];
            if (s == 1) {
#pragma omp simd
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * s] += src[ow];
            }
          }
        }
      }
    }
  }
}

// Copies between a [N, C, P] tensor and a [C, samples·P] tile matrix of whole samples.
template <typename T>
void gather_tile(const T* src, int64_t channels, int64_t plane, const Tile& tile, T* matrix) {
  const int64_t samples = tile.n1 - tile.n0;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t s = 0; s < samples; ++s)
      std::memcpy(matrix + (c * samples + s) * plane, src + ((tile.n0 + s) * channels + c) * plane,
                  static_cast<size_t>(plane) * sizeof(T));
}

template <typename T>
void scatter_tile(const T* matrix, int64_t channels, int64_t plane, const Tile& tile, T* dst) {
  const int64_t samples = tile.n1 - tile.n0;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t s = 0; s < samples; ++s)
      std::memcpy(dst + ((tile.n0 + s) * channels + c) * plane, matrix + (c * samples + s) * plane,
                  static_cast<size_t>(plane) * sizeof(T));
}

// Where the [C, tile columns] matrix of a [N, C, P] tensor lives: in place for a
// single-sample tile (leading dimension P), else in `scratch`.
template <typename T>
struct TileMatrix {
  T* data;
  int64_t ld;
};

template <typename T>
TileMatrix<T> tile_matrix(T* tensor, int64_t channels, int64_t plane, const Tile& tile, T* scratch) {
  if (tile.single_sample()) return {tensor + tile.n0 * channels * plane + tile.p0, plane};
  return {scratch, tile.columns()};
}

// Tiles grouped into work units: the tiles of one sample, or one tile of whole samples.
// Units touch disjoint parts of the output and of grad_x, so they can run in parallel.
struct Plan {
  std::vector<Tile> tiles;
  std::vector<size_t> unit_starts;  // index of each unit's first tile, plus tiles.size()
  int64_t max_columns = 0;
  bool any_multi = false;
  bool over_units = false;  // one thread per unit with single-threaded BLAS, else BLAS threads

  size_t units() const { return unit_starts.size() - 1; }
};

Plan make_plan(const ConvGeometry& g, int64_t tile_columns, int64_t element_size) {
  Plan p;
  p.tiles = make_tiles(g, tile_columns > 0 ? tile_columns : auto_tile_columns(g, element_size));
  for (size_t i = 0; i < p.tiles.size(); ++i) {
    if (i == 0 || p.tiles[i].n0 != p.tiles[i - 1].n0) p.unit_starts.push_back(i);
    p.max_columns = std::max(p.max_columns, p.tiles[i].columns());
    p.any_multi = p.any_multi || !p.tiles[i].single_sample();
  }
  p.unit_starts.push_back(p.tiles.size());
  const int threads = omp_get_max_threads();
  const int64_t column_bytes = g.in_channels * g.kernel_volume() * p.max_columns * element_size;
  p.over_units = threads > 1 && static_cast<int64_t>(p.units()) >= threads &&
                 threads * column_bytes <= kMaxWorkspaceBytes;
  return p;
}

// Column and output-tile buffers for each thread that runs units.
template <typename T>
struct Workspace {
  Tensor cols, scratch;
  int64_t cols_size = 0, scratch_size = 0;
  Workspace(const ConvGeometry& g, const Plan& p) {
    const int64_t workers = p.over_units ? omp_get_max_threads() : 1;
    cols_size = g.in_channels * g.kernel_volume() * p.max_columns;
    scratch_size = p.any_multi ? g.out_channels * p.max_columns : 0;
    cols = make_tensor({workers * cols_size}, dtype_of<T>::value);
    scratch = make_tensor({workers * scratch_size}, dtype_of<T>::value);
  }
  T* cols_of(int worker) const { return cols.data<T>() + worker * cols_size; }
  T* scratch_of(int worker) const { return scratch.data<T>() + worker * scratch_size; }
};

template <typename T>
void zero(T* p, int64_t count) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; i += 16384)
    std::memset(p + i, 0, static_cast<size_t>(std::min<int64_t>(16384, count - i)) * sizeof(T));
}

template <typename T>
void forward_typed(const T* x, const T* weight, const T* bias, const ConvGeometry& g, T* out, int64_t tile_columns) {
  const int64_t cout_g = g.out_channels / g.groups, rows_g = g.in_channels / g.groups * g.kernel_volume();
  const int64_t plane = g.out_plane();
  const Plan plan = make_plan(g, tile_columns, sizeof(T));
  const Workspace<T> ws(g, plan);
  const int64_t units = static_cast<int64_t>(plan.units());
#pragma omp parallel for if (plan.over_units) schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int worker = plan.over_units ? omp_get_thread_num() : 0;
    T* cols = ws.cols_of(worker);
    for (size_t t = plan.unit_starts[u]; t < plan.unit_starts[u + 1]; ++t) {
      const Tile& tile = plan.tiles[t];
      vol2col(x, g, tile, cols);
      const TileMatrix<T> result = tile_matrix(out, g.out_channels, plane, tile, ws.scratch_of(worker));
      for (int64_t grp = 0; grp < g.groups; ++grp)
        gemm(false, false, cout_g, tile.columns(), rows_g, weight + grp * cout_g * rows_g, rows_g,
             cols + grp * rows_g * tile.columns(), tile.columns(), T(0), result.data + grp * cout_g * result.ld,
             result.ld);
      if (!tile.single_sample()) scatter_tile(result.data, g.out_channels, plane, tile, out);
    }
  }
  if (!bias) return;
  const int64_t planes = g.batch * g.out_channels;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < planes; ++i) {
    const T b = bias[i % g.out_channels];
    T* p = out + i * plane;
#pragma omp simd
    for (int64_t j = 0; j < plane; ++j) p[j] += b;
  }
}

// Each unit accumulates its own weight gradient (unit 0 directly in grad_weight) and the
// partial sums are added in unit order at the end, so the summation order does not depend
// on the thread count. When the partial sums would not fit kMaxColumnBytes, units run one after
// the other and accumulate into grad_weight in place.
template <typename T>
void backward_typed(const T* grad_out, const T* x, const T* weight, const ConvGeometry& g, T* grad_x,
                    T* grad_weight, int64_t tile_columns) {
  const int64_t cout_g = g.out_channels / g.groups, rows_g = g.in_channels / g.groups * g.kernel_volume();
  const int64_t plane = g.out_plane(), weight_size = g.out_channels * rows_g;
  Plan plan = make_plan(g, tile_columns, sizeof(T));
  const int64_t units = static_cast<int64_t>(plan.units());
  const bool unit_partials =
      grad_weight && units > 1 && (units - 1) * weight_size * static_cast<int64_t>(sizeof(T)) <= kMaxColumnBytes;
  if (grad_weight && !unit_partials) plan.over_units = false;
  const Workspace<T> ws(g, plan);
  const Tensor partials = make_tensor({unit_partials ? (units - 1) * weight_size : 0}, dtype_of<T>::value);
  const int64_t sample_size = g.in_channels * g.in_plane();
#pragma omp parallel for if (plan.over_units) schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int worker = plan.over_units ? omp_get_thread_num() : 0;
    T* cols = ws.cols_of(worker);
    const Tile& first = plan.tiles[plan.unit_starts[u]];
    if (grad_x) zero(grad_x + first.n0 * sample_size, (first.n1 - first.n0) * sample_size);
    T* unit_grad_weight = unit_partials && u > 0 ? partials.data<T>() + (u - 1) * weight_size : grad_weight;
    for (size_t t = plan.unit_starts[u]; t < plan.unit_starts[u + 1]; ++t) {
      const Tile& tile = plan.tiles[t];
      const int64_t columns = tile.columns();
      if (!tile.single_sample()) gather_tile(grad_out, g.out_channels, plane, tile, ws.scratch_of(worker));
      const TileMatrix<const T> go = tile_matrix<const T>(grad_out, g.out_channels, plane, tile, ws.scratch_of(worker));
      if (grad_weight) {
        const bool overwrite = t == plan.unit_starts[u] && (unit_partials || u == 0);
        vol2col(x, g, tile, cols);
        for (int64_t grp = 0; grp < g.groups; ++grp)
          gemm(false, true, cout_g, rows_g, columns, go.data + grp * cout_g * go.ld, go.ld,
               cols + grp * rows_g * columns, columns, overwrite ? T(0) : T(1), unit_grad_weight + grp * cout_g * rows_g,
               rows_g);
      }
      if (grad_x) {
        for (int64_t grp = 0; grp < g.groups; ++grp)
          gemm(true, false, rows_g, columns, cout_g, weight + grp * cout_g * rows_g, rows_g,
               go.data + grp * cout_g * go.ld, go.ld, T(0), cols + grp * rows_g * columns, columns);
        col2vol(cols, g, tile, grad_x);
      }
    }
  }
  if (grad_weight && units == 0) zero(grad_weight, weight_size);
  if (!unit_partials) return;
  const T* p = partials.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < weight_size; ++i) {
    T acc = grad_weight[i];
    for (int64_t u = 0; u + 1 < units; ++u) acc += p[u * weight_size + i];
    grad_weight[i] = acc;
  }
}

}  // namespace

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

void conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g,
                  const Tensor& out, int64_t tile_columns) {
  if (out.numel() == 0) return;
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv", [&] {
    forward_typed<scalar_t>(x.data<scalar_t>(), weight.data<scalar_t>(),
                            bias.defined() ? bias.data<scalar_t>() : nullptr, g, out.data<scalar_t>(),
                            tile_columns);
  });
}

void conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                   const Tensor& grad_x, const Tensor& grad_weight, int64_t tile_columns) {
  FOVEA_DISPATCH_FLOAT(x.dtype(), "conv backward", [&] {
    backward_typed<scalar_t>(grad_out.data<scalar_t>(), x.data<scalar_t>(), weight.data<scalar_t>(), g,
                             grad_x.defined() ? grad_x.data<scalar_t>() : nullptr,
                             grad_weight.defined() ? grad_weight.data<scalar_t>() : nullptr, tile_columns);
  });
}

}  // namespace fovea::cpu
