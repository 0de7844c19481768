// CPU kernels of the random ops. Element i (row-major position) of a draw uses the Philox
// block at counter first + i under the generator's seed, so the CUDA kernels reproduce the
// same values bit for bit and the result does not depend on the thread count.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

// t (contiguous, f32/f64) = uniform [0, 1): f32 from word 0, f64 from words 0 and 1.
void fill_uniform(const Tensor& t, uint64_t seed, uint64_t first);
// t (contiguous, f32/f64) = standard normal by Box-Muller on the element's four words.
void fill_normal(const Tensor& t, uint64_t seed, uint64_t first);
// t (contiguous, i64) = low + (64-bit word pair) mod (high - low).
void fill_randint(const Tensor& t, int64_t low, int64_t high, uint64_t seed, uint64_t first);
// out = in · (keep ? scale : 0) with keep = (double)uniform_f32(word 0) >= p; in, out and
// keep (u8) contiguous with the same number of elements.
void dropout(const Tensor& in, double p, double scale, uint64_t seed, uint64_t first, const Tensor& out,
             const Tensor& keep);

}  // namespace fovea::cpu
