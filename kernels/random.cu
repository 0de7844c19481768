// Random kernels: one grid-stride loop, philox_kernel, in which element i draws Philox block
// first + i (kernels/philox.h) and an op turns its words into the element; so the values do
// not depend on the launch shape and equal the CPU's (engine/cpu/random.cpp) bit for bit.
#include <cmath>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/philox.h"
#include "kernels/random.h"

namespace fovea::kernels {
namespace {

constexpr int kThreads = 256;

template <typename Op>
__global__ void philox_kernel(Op op, int64_t n, uint64_t seed, uint64_t first) {
  for (int64_t i = first_index(); i < n; i += grid_stride())
    op(i, philox_block(seed, first + static_cast<uint64_t>(i)));
}

template <typename T>
struct Uniform {
  T* out;
  __device__ void operator()(int64_t i, const PhiloxWords& r) const {
    if constexpr (std::is_same_v<T, float>)
      out[i] = philox_uniform_f32(r.w[0]);
    else
      out[i] = philox_uniform_f64(r.w[0], r.w[1]);
  }
};

// Box-Muller with u1 in (0, 1] so the logarithm is finite.
template <typename T>
struct Normal {
  T* out;
  __device__ void operator()(int64_t i, const PhiloxWords& r) const {
    const double u1 = 1.0 - philox_uniform_f64(r.w[0], r.w[1]);
    const double u2 = philox_uniform_f64(r.w[2], r.w[3]);
    out[i] = static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
  }
};

struct Randint {
  int64_t* out;
  int64_t low;
  uint64_t range;
  __device__ void operator()(int64_t i, const PhiloxWords& r) const {
    const uint64_t bits = (static_cast<uint64_t>(r.w[1]) << 32) | r.w[0];
    out[i] = low + static_cast<int64_t>(bits % range);
  }
};

template <typename T>
struct Dropout {
  const T* in;
  double p;
  T scale;
  T* out;
  uint8_t* keep;
  __device__ void operator()(int64_t i, const PhiloxWords& r) const {
    const bool kept = static_cast<double>(philox_uniform_f32(r.w[0])) >= p;
    keep[i] = kept ? 1 : 0;
    out[i] = in[i] * (kept ? scale : T(0));
  }
};

template <typename Op>
cudaError_t launch_philox(const Op& op, int64_t n, uint64_t seed, uint64_t first, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return launch_kernel(philox_kernel<Op>, dim3(grid_for(n, kThreads)), dim3(kThreads), 0, stream, op, n, seed, first);
}

}  // namespace

cudaError_t launch_fill_uniform(ElementType type, void* out, int64_t n, uint64_t seed, uint64_t first,
                                cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_philox(Uniform<T>{static_cast<T*>(out)}, n, seed, first, stream);
  });
}

cudaError_t launch_fill_normal(ElementType type, void* out, int64_t n, uint64_t seed, uint64_t first,
                               cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_philox(Normal<T>{static_cast<T*>(out)}, n, seed, first, stream);
  });
}

cudaError_t launch_fill_randint(int64_t* out, int64_t n, int64_t low, uint64_t range, uint64_t seed, uint64_t first,
                                cudaStream_t stream) {
  return launch_philox(Randint{out, low, range}, n, seed, first, stream);
}

cudaError_t launch_dropout(ElementType type, const void* in, int64_t n, double p, double scale, uint64_t seed,
                           uint64_t first, void* out, uint8_t* keep, cudaStream_t stream) {
  return with_float_type(type, [&](auto tag) {
    using T = decltype(tag);
    return launch_philox(Dropout<T>{static_cast<const T*>(in), p, static_cast<T>(scale), static_cast<T*>(out), keep},
                         n, seed, first, stream);
  });
}

}  // namespace fovea::kernels
