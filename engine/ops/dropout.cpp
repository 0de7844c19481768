// dropout: the front-end (kernels in engine/cpu/random.cpp and the CUDA backend). The mask is a pure function of the generator
// state, and the CUDA kernel must reproduce it bit for bit, so the rule is fixed here:
//
//   training with 0 < p <= 1, for a tensor of n elements and generator gen (the default
//   generator when none is given):
//     first  = gen.advance(n)                           (one reservation per call)
//     u_i    = kernels::philox_uniform_f32(kernels::philox_block(gen.seed(), first + i)[0])
//     keep_i = static_cast<double>(u_i) >= p            (compared in double)
//     scale  = p < 1 ? static_cast<T>(1.0 / (1.0 - p)) : 0   (computed in double, rounded to T)
//     out_i  = x_i * (keep_i ? scale : 0)               (in T, so NaN and inf inputs propagate)
//   where i is the row-major position of the element in the tensor's shape (not its storage
//   offset). u_i < 1, so p == 1 keeps nothing. Backward: grad_i = g_i * keep_i * scale.
//
// With training off or p == 0 the input is returned as is and the generator is untouched.
#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {

Tensor dropout(const Tensor& a, double p, bool training, Generator* gen) {
  FOVEA_NVTX_RANGE("dropout");
  check_defined(a, "dropout", "a");
  FOVEA_CHECK(p >= 0.0 && p <= 1.0, "dropout", "probability p must be in [0, 1], got ", p);
  check_floating(a, "dropout", "a");
  if (!training || p == 0.0) return a;

  Generator& g = gen ? *gen : default_generator();
  const int64_t n = a.numel();
  const uint64_t first = g.advance(static_cast<uint64_t>(n));
  const Tensor in = a.detach().contiguous();
  Tensor out = make_tensor(a.shape(), a.dtype(), a.device());
  Tensor keep = make_tensor(a.shape(), DType::u8, a.device());
  const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  FOVEA_ON_DEVICE(a.device(), dropout, in, p, scale, g.seed(), first, out, keep);
  record_op("dropout", {out}, {a}, [keep, scale](const std::vector<Tensor>& grad) {
    return std::vector<Tensor>{mul(mul(grad[0], keep), scale)};
  });
  return out;
}

}  // namespace fovea
