// CUDA backend of rand, randn, randint and dropout: the launchers of kernels/random.cu on the
// current stream, drawing the same Philox stream as engine/cpu/random.cpp.
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/random.h"

namespace fovea::cuda {

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t first) {
  check_launch(kernels::launch_fill_uniform(element_type(t.dtype()), t.raw_data(), t.numel(), seed, first,
                                            current_stream()),
               "rand");
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t first) {
  check_launch(kernels::launch_fill_normal(element_type(t.dtype()), t.raw_data(), t.numel(), seed, first,
                                           current_stream()),
               "randn");
}

void fill_randint(const Tensor& t, int64_t low, int64_t high, uint64_t seed, uint64_t first) {
  check_launch(kernels::launch_fill_randint(t.data<int64_t>(), t.numel(), low, static_cast<uint64_t>(high - low), seed,
                                            first, current_stream()),
               "randint");
}

void dropout(const Tensor& in, double p, double scale, uint64_t seed, uint64_t first, const Tensor& out,
             const Tensor& keep) {
  check_launch(kernels::launch_dropout(element_type(in.dtype()), in.raw_data(), in.numel(), p, scale, seed, first,
                                       out.raw_data(), keep.data<uint8_t>(), current_stream()),
               "dropout");
}

}  // namespace fovea::cuda
