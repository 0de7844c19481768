// CPU kernels of cat, index_select / index_add, gather / scatter_add and the index range
// check. Work is split over OpenMP threads so that no two threads write one element.
#include "engine/cpu/index.h"

#include <algorithm>
#include <limits>

#include "engine/cpu/elementwise.h"
#include "engine/cpu/strided.h"
#include "engine/error.h"

namespace fovea::cpu {
namespace {

// A contiguous tensor seen as [outer, size, inner] around one dim.
struct AxisView {
  int64_t outer = 1, size = 1, inner = 1;
};

AxisView axis_view(const Shape& shape, int64_t dim) {
  AxisView v;
  v.size = shape[dim];
  for (int64_t d = 0; d < dim; ++d) v.outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) v.inner *= shape[d];
  return v;
}

// index_add hands each thread whole column blocks, so accumulation order stays fixed.
constexpr int64_t kColumnBlock = 64;

template <typename I>
void check_index_range_typed(const I* index, int64_t n, int64_t limit, const char* op, const std::string& what) {
  I lowest = std::numeric_limits<I>::max(), highest = std::numeric_limits<I>::lowest();
#pragma omp parallel for reduction(min : lowest) reduction(max : highest) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    lowest = std::min(lowest, index[i]);
    highest = std::max(highest, index[i]);
  }
  if (n == 0 || (lowest >= 0 && static_cast<int64_t>(highest) < limit)) return;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t value = index[i];
    FOVEA_CHECK(value >= 0 && value < limit, op, "index value ", value, " at position ", i,
                " of the index is out of range for ", what, ": expected a value in [0, ", limit, ")",
                value < 0 ? "; negative indices are not wrapped" : "");
  }
}

template <typename T, typename I>
void index_select_typed(const T* a, const I* index, int64_t count, AxisView v, T* out) {
  const int64_t rows = v.outer * count;
#pragma omp parallel for if (rows * v.inner > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r / count, j = r % count;
    const T* row = a + (o * v.size + static_cast<int64_t>(index[j])) * v.inner;
    std::copy(row, row + v.inner, out + r * v.inner);
  }
}

template <typename T, typename I>
void index_add_typed(T* out, const I* index, int64_t count, AxisView v, const T* src) {
  const int64_t blocks = (v.inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t tasks = v.outer * blocks;
#pragma omp parallel for if (v.outer * count * v.inner > kParallelGrain && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t o = task / blocks, column = (task % blocks) * kColumnBlock;
    const int64_t width = std::min(kColumnBlock, v.inner - column);
    for (int64_t j = 0; j < count; ++j) {
      T* dst = out + (o * v.size + static_cast<int64_t>(index[j])) * v.inner + column;
      const T* row = src + (o * count + j) * v.inner + column;
      for (int64_t i = 0; i < width; ++i) dst[i] += row[i];
    }
  }
}

template <typename T, typename I>
void gather_typed(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  const T* pa = a.data<T>();
  const I* pi = index.data<I>();
  T* po = out.data<T>();
  Shape a_strides = a.strides();
  const int64_t a_dim_stride = a_strides[dim];
  a_strides[dim] = 0;  // the coordinate along dim comes from the index value
  for_each_run<3>(index.shape(), {index.strides(), out.strides(), a_strides}, [&](const StridedRun<3>& r) {
    for (int64_t t = 0; t < r.length; ++t) {
      const int64_t picked = pi[r.offset[0] + t * r.stride[0]];
      po[r.offset[1] + t * r.stride[1]] = pa[r.offset[2] + t * r.stride[2] + picked * a_dim_stride];
    }
  });
}

// Each output element receives from one line of the index along dim, and every line is
// walked by one thread in increasing position, so threads never share an output element.
// Lines are split into per-thread blocks along the largest other dim; within a run of
// neighbouring lines, the loop order follows the index layout so memory is read in order.
template <typename T, typename I>
void scatter_add_typed(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  T* po = out.data<T>();
  const I* pi = index.data<I>();
  const T* ps = src.data<T>();
  Shape lines = index.shape();
  const int64_t line_length = lines[dim];
  lines[dim] = 1;
  Shape out_strides = out.strides();
  const int64_t out_dim_stride = out_strides[dim];
  out_strides[dim] = 0;  // the coordinate along dim comes from the index value
  const std::array<Shape, 3> strides{index.strides(), src.strides(), out_strides};
  const int64_t index_dim_stride = index.strides()[dim], src_dim_stride = src.strides()[dim];

  int64_t split_dim = -1;
  for (int64_t d = 0; d < index.dim(); ++d)
    if (d != dim && (split_dim < 0 || lines[d] > lines[split_dim])) split_dim = d;
  const int64_t blocks = split_dim < 0 || index.numel() <= kParallelGrain
                             ? 1
                             : std::min<int64_t>(omp_get_max_threads(), lines[split_dim]);

#pragma omp parallel for if (blocks > 1) num_threads(static_cast<int>(blocks)) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    Shape block_lines = lines;
    std::array<int64_t, 3> base{0, 0, 0};
    if (split_dim >= 0) {
      const int64_t first = lines[split_dim] * b / blocks;
      block_lines[split_dim] = lines[split_dim] * (b + 1) / blocks - first;
      for (size_t k = 0; k < 3; ++k) base[k] = first * strides[k][split_dim];
    }
    for_each_run<3>(block_lines, strides, [&](const StridedRun<3>& r) {
      const I* index_run = pi + base[0] + r.offset[0];
      const T* src_run = ps + base[1] + r.offset[1];
      T* out_run = po + base[2] + r.offset[2];
      auto add_one = [&](int64_t t, int64_t j) {
        const int64_t target = static_cast<int64_t>(index_run[t * r.stride[0] + j * index_dim_stride]);
        out_run[t * r.stride[2] + target * out_dim_stride] += src_run[t * r.stride[1] + j * src_dim_stride];
      };
      if (index_dim_stride < r.stride[0]) {
        for (int64_t t = 0; t < r.length; ++t)
          for (int64_t j = 0; j < line_length; ++j) add_one(t, j);
      } else {
        for (int64_t j = 0; j < line_length; ++j)
          for (int64_t t = 0; t < r.length; ++t) add_one(t, j);
      }
    });
  }
}

}  // namespace

void check_index_range(const Tensor& index, int64_t limit, const char* op, const std::string& what_is_indexed) {
  FOVEA_DISPATCH_INDEX(index.dtype(), op, [&] {
    check_index_range_typed<scalar_t>(index.data<scalar_t>(), index.numel(), limit, op, what_is_indexed);
  });
}

void cat(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out) {
  if (out.numel() == 0) return;
  // With a non-empty output, an input without elements has size 0 along dim (or is a
  // skipped 1-D empty tensor), so skipping it keeps the offsets right.
  int64_t offset = 0;
  for (const Tensor& input : inputs) {
    if (input.numel() == 0) continue;
    const int64_t length = input.shape()[dim];
    copy(input, out.narrow(dim, offset, length));
    offset += length;
  }
}

void index_select(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  const AxisView v = axis_view(a.shape(), dim);
  FOVEA_DISPATCH_ALL(a.dtype(), "index_select", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_INDEX(index.dtype(), "index_select", [&] {
      index_select_typed<T, scalar_t>(a.data<T>(), index.data<scalar_t>(), index.numel(), v, out.data<T>());
    });
  });
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const AxisView v = axis_view(out.shape(), dim);
  FOVEA_DISPATCH_ALL(out.dtype(), "index_add", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_INDEX(index.dtype(), "index_add", [&] {
      index_add_typed<T, scalar_t>(out.data<T>(), index.data<scalar_t>(), index.numel(), v, src.data<T>());
    });
  });
}

void gather(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  FOVEA_DISPATCH_ALL(a.dtype(), "gather", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_INDEX(index.dtype(), "gather", [&] { gather_typed<T, scalar_t>(a, dim, index, out); });
  });
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  FOVEA_DISPATCH_ALL(out.dtype(), "scatter_add", [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_INDEX(index.dtype(), "scatter_add", [&] { scatter_add_typed<T, scalar_t>(out, dim, index, src); });
  });
}

}  // namespace fovea::cpu
