// Walks N operands of one iteration shape with their own element strides (0 for broadcast
// dimensions): dimensions that are contiguous for every operand are merged, and the
// iteration space is split into linear chunks over OpenMP threads. The callback gets, per
// innermost run, each operand's starting element offset and stride, and the run length.
#pragma once
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "engine/tensor.h"

namespace fovea::cpu {

template <size_t N>
struct StridedRun {
  std::array<int64_t, N> offset;
  std::array<int64_t, N> stride;
  int64_t length;
};

template <size_t N>
struct StridedLayout {
  Shape sizes;
  std::array<Shape, N> strides;
};

// Drops size-1 dimensions and merges dimension pairs contiguous for every operand.
template <size_t N>
StridedLayout<N> coalesce(const Shape& sizes, const std::array<Shape, N>& strides) {
  StridedLayout<N> out;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (sizes[d] == 1) continue;
    if (!out.sizes.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k)
        mergeable = mergeable && out.strides[k].back() == strides[k][d] * sizes[d];
      if (mergeable) {
        out.sizes.back() *= sizes[d];
        for (size_t k = 0; k < N; ++k) out.strides[k].back() = strides[k][d];
        continue;
      }
    }
    out.sizes.push_back(sizes[d]);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(strides[k][d]);
  }
  if (out.sizes.empty()) {
    out.sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) out.strides[k].push_back(0);
  }
  return out;
}

// Iterations below this count run on one thread.
constexpr int64_t kParallelGrain = 32768;

template <size_t N, typename RunFn>
void for_each_run(const Shape& sizes, const std::array<Shape, N>& strides, RunFn&& fn) {
  const StridedLayout<N> layout = coalesce<N>(sizes, strides);
  const int64_t rank = static_cast<int64_t>(layout.sizes.size());
  int64_t total = 1;
  for (int64_t s : layout.sizes) total *= s;
  if (total == 0) return;
  const int64_t inner = layout.sizes[rank - 1];

  auto walk = [&](int64_t begin, int64_t end) {
    Shape index(rank, 0);
    int64_t rest = begin;
    for (int64_t d = rank - 1; d >= 0; --d) {
      index[d] = rest % layout.sizes[d];
      rest /= layout.sizes[d];
    }
    int64_t pos = begin;
    while (pos < end) {
      StridedRun<N> run;
      for (size_t k = 0; k < N; ++k) {
        int64_t off = 0;
        for (int64_t d = 0; d < rank; ++d) off += index[d] * layout.strides[k][d];
        run.offset[k] = off;
        run.stride[k] = layout.strides[k][rank - 1];
      }
      run.length = std::min(inner - index[rank - 1], end - pos);
      fn(run);
      pos += run.length;
      index[rank - 1] += run.length;
      for (int64_t d = rank - 1; d > 0 && index[d] == layout.sizes[d]; --d) {
        index[d] = 0;
        index[d - 1]++;
      }
    }
  };

  const int threads = omp_get_max_threads();
  if (total < kParallelGrain || threads == 1 || omp_in_parallel()) {
    walk(0, total);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (total + kParallelGrain - 1) / kParallelGrain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) walk(total * c / chunks, total * (c + 1) / chunks);
}

// Strides of `t` seen through an iteration shape it broadcasts to (0 where broadcast).
inline Shape broadcast_strides(const Tensor& t, const Shape& shape) {
  Shape out(shape.size(), 0);
  const int64_t shift = static_cast<int64_t>(shape.size()) - t.dim();
  for (int64_t d = 0; d < t.dim(); ++d)
    out[d + shift] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  return out;
}

}  // namespace fovea::cpu
