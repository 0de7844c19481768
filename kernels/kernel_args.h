// Plain-data tensor descriptions that engine/cuda/ hands to the kernel launchers of kernels/,
// so kernel sources never include the engine's headers: element types, and the sizes and
// per-operand element strides of an iteration space (0 where an operand is broadcast).
#pragma once
#include <cstdint>

#include "emu/portable.h"

namespace fovea::kernels {

constexpr int kMaxDims = 8;

// Same order as fovea::DType.
enum class ElementType : int { u8, i32, i64, f32, f64 };

template <int Operands>
struct StridedSpace {
  int rank = 0;
  int64_t numel = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[Operands][kMaxDims] = {};

  // Element offsets of every operand at linear (row-major) position `index`.
  __host__ __device__ void offsets(int64_t index, int64_t (&out)[Operands]) const {
    for (int k = 0; k < Operands; ++k) out[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t coordinate = index % sizes[d];
      index /= sizes[d];
      for (int k = 0; k < Operands; ++k) out[k] += coordinate * strides[k][d];
    }
  }
};

// Blocks for a grid-stride loop over n elements with `threads` per block.
inline unsigned grid_for(int64_t n, int threads, unsigned max_blocks = 4096) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > max_blocks ? max_blocks : blocks));
}

}  // namespace fovea::kernels
