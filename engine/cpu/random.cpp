// CPU kernels of rand, randn, randint and the dropout mask (see random.h for the rule).
#include "engine/cpu/random.h"

#include <cmath>

#include "kernels/philox.h"

namespace fovea::cpu {
namespace {

template <typename T>
void uniform_typed(T* p, int64_t n, uint64_t seed, uint64_t first) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const auto w = kernels::philox_block(seed, first + i);
    if constexpr (std::is_same_v<T, float>)
      p[i] = kernels::philox_uniform_f32(w[0]);
    else
      p[i] = kernels::philox_uniform_f64(w[0], w[1]);
  }
}

// u1 in (0, 1] so the logarithm is finite.
template <typename T>
void normal_typed(T* p, int64_t n, uint64_t seed, uint64_t first) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const auto w = kernels::philox_block(seed, first + i);
    const double u1 = 1.0 - kernels::philox_uniform_f64(w[0], w[1]);
    const double u2 = kernels::philox_uniform_f64(w[2], w[3]);
    p[i] = static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
  }
}

template <typename T>
void dropout_typed(const T* in, int64_t n, double p, T scale, uint64_t seed, uint64_t first, T* out, uint8_t* keep) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float u = kernels::philox_uniform_f32(kernels::philox_block(seed, first + static_cast<uint64_t>(i))[0]);
    const bool kept = static_cast<double>(u) >= p;
    keep[i] = kept ? 1 : 0;
    out[i] = in[i] * (kept ? scale : T(0));
  }
}

}  // namespace

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t first) {
  FOVEA_DISPATCH_FLOAT(t.dtype(), "rand", [&] { uniform_typed(t.data<scalar_t>(), t.numel(), seed, first); });
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t first) {
  FOVEA_DISPATCH_FLOAT(t.dtype(), "randn", [&] { normal_typed(t.data<scalar_t>(), t.numel(), seed, first); });
}

void fill_randint(const Tensor& t, int64_t low, int64_t high, uint64_t seed, uint64_t first) {
  const uint64_t range = static_cast<uint64_t>(high - low);
  int64_t* p = t.data<int64_t>();
  const int64_t n = t.numel();
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const auto w = kernels::philox_block(seed, first + i);
    const uint64_t bits = (static_cast<uint64_t>(w[1]) << 32) | w[0];
    p[i] = low + static_cast<int64_t>(bits % range);
  }
}

void dropout(const Tensor& in, double p, double scale, uint64_t seed, uint64_t first, const Tensor& out,
             const Tensor& keep) {
  FOVEA_DISPATCH_FLOAT(in.dtype(), "dropout", [&] {
    dropout_typed<scalar_t>(in.data<scalar_t>(), in.numel(), p, static_cast<scalar_t>(scale), seed, first,
                            out.data<scalar_t>(), keep.data<uint8_t>());
  });
}

}  // namespace fovea::cpu
