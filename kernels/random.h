// Launchers of the random kernels (kernels/random.cu): rand, randn, randint and dropout on
// contiguous tensors of n elements. Element i uses Philox block first + i under `seed` by the
// rule of engine/cpu/random.h, so the values equal the CPU's bit for bit.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// out (f32/f64) = uniform [0, 1).
cudaError_t launch_fill_uniform(ElementType type, void* out, int64_t n, uint64_t seed, uint64_t first,
                                cudaStream_t stream);
// out (f32/f64) = standard normal (Box-Muller in double).
cudaError_t launch_fill_normal(ElementType type, void* out, int64_t n, uint64_t seed, uint64_t first,
                               cudaStream_t stream);
// out (i64) = low + (64-bit word pair) mod range.
cudaError_t launch_fill_randint(int64_t* out, int64_t n, int64_t low, uint64_t range, uint64_t seed, uint64_t first,
                                cudaStream_t stream);
// keep = uniform_f32 >= p (compared in double); out = in · (keep ? scale : 0), in and out f32/f64.
cudaError_t launch_dropout(ElementType type, const void* in, int64_t n, double p, double scale, uint64_t seed,
                           uint64_t first, void* out, uint8_t* keep, cudaStream_t stream);

}  // namespace fovea::kernels
