// Device side of the SIMT emulator. g++ force-includes this header (-include) into every .cu
// file it builds for the emulator: CUDA's qualifiers, built-in variables, barriers, warp
// collectives, atomics and math intrinsics are mapped onto the emulator so that the source
// nvcc compiles also compiles, unchanged, as C++. Threads are fibers; a block runs start to
// end on one worker thread, so static __shared__ variables are thread_local.
#pragma once

#if defined(__CUDACC__)
#error "kernels/emu/device.h is for g++ builds of .cu files; nvcc supplies the real device runtime"
#endif

#define FOVEA_EMU_DEVICE 1

// The toolkit's host_defines.h may already have defined these for a host compiler (a file
// that includes cuBLAS's headers before this one): the emulator's meaning wins.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __grid_constant__
#undef __launch_bounds__
#define __global__
#define __device__
#define __host__
#define __shared__ thread_local
#define __constant__
#define __managed__
#define __grid_constant__
#define __launch_bounds__(...)

#include <cuda_runtime.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <type_traits>

// Built-in variables: set by the emulator before it resumes each emulated thread.
extern constinit thread_local uint3 threadIdx;
extern constinit thread_local uint3 blockIdx;
extern constinit thread_local dim3 blockDim;
extern constinit thread_local dim3 gridDim;
inline constexpr int warpSize = 32;

namespace fovea::emu::detail {

enum class BarrierOp : std::uint8_t { sync, count, all, any };
enum class WarpOp : std::uint8_t {
  syncwarp, shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all,
  match_any, match_all, reduce_add, reduce_min, reduce_max, reduce_and, reduce_or, reduce_xor
};
// For the reduce collectives: whether the 32-bit operands are signed.
enum : int { operand_unsigned = 0, operand_signed = 1 };

int block_barrier(BarrierOp op, int predicate, const char* file, int line);
// Exchanges `value` among the lanes of `mask`; `param` is the shuffle's lane/delta/xor mask
// or the reduce operand signedness. Returns this lane's result.
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int param, int width,
                              const char* file, int line);
unsigned active_mask();
[[noreturn]] void trap(const char* file, int line);

void* dynamic_shared_base();
std::size_t dynamic_shared_bytes();
[[noreturn]] void dynamic_shared_overrun(const char* name, const char* file, int line, long long index,
                                         std::size_t element_bytes);

template <typename T>
std::uint64_t to_bits(T value) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>,
                "warp shuffles move values of at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

template <typename T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace fovea::emu::detail

namespace fovea::emu {

// Dynamic shared memory as the kernel sees it, bounds-checked on every subscript. Declared
// through FOVEA_DYNAMIC_SHARED (kernels/emu/portable.h), which is `extern __shared__` under nvcc.
template <typename T>
class DynamicShared {
 public:
  DynamicShared(const char* name, const char* file, int line)
      : data_(static_cast<T*>(detail::dynamic_shared_base())),
        count_(detail::dynamic_shared_bytes() / sizeof(T)),
        name_(name), file_(file), line_(line) {}

  template <std::integral I>
  T& operator[](I index) const {
    if (static_cast<std::size_t>(index) >= count_) [[unlikely]]
      detail::dynamic_shared_overrun(name_, file_, line_, static_cast<long long>(index), sizeof(T));
    return data_[index];
  }
  operator T*() const { return data_; }

 private:
  T* data_;
  std::size_t count_;
  const char* name_;
  const char* file_;
  int line_;
};

}  // namespace fovea::emu

// ---- Barriers and warp collectives (every one is a scheduling point) ----

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  fovea::emu::detail::block_barrier(fovea::emu::detail::BarrierOp::sync, 0, file, line);
}
inline int __syncthreads_count(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return fovea::emu::detail::block_barrier(fovea::emu::detail::BarrierOp::count, predicate, file, line);
}
inline int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return fovea::emu::detail::block_barrier(fovea::emu::detail::BarrierOp::all, predicate, file, line);
}
inline int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return fovea::emu::detail::block_barrier(fovea::emu::detail::BarrierOp::any, predicate, file, line);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  fovea::emu::detail::warp_collective(fovea::emu::detail::WarpOp::syncwarp, mask, 0, 0, warpSize, file, line);
}

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return from_bits<T>(warp_collective(WarpOp::shfl_idx, mask, to_bits(var), src_lane, width, file, line));
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return from_bits<T>(warp_collective(WarpOp::shfl_up, mask, to_bits(var), static_cast<int>(delta), width, file, line));
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return from_bits<T>(warp_collective(WarpOp::shfl_down, mask, to_bits(var), static_cast<int>(delta), width, file, line));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return from_bits<T>(warp_collective(WarpOp::shfl_xor, mask, to_bits(var), lane_mask, width, file, line));
}

inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<unsigned>(warp_collective(WarpOp::ballot, mask, predicate != 0, 0, warpSize, file, line));
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::any, mask, predicate != 0, 0, warpSize, file, line));
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::all, mask, predicate != 0, 0, warpSize, file, line));
}
template <typename T>
unsigned __match_any_sync(unsigned mask, T value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<unsigned>(warp_collective(WarpOp::match_any, mask, to_bits(value), 0, warpSize, file, line));
}
template <typename T>
unsigned __match_all_sync(unsigned mask, T value, int* predicate, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  const auto matched = static_cast<unsigned>(warp_collective(WarpOp::match_all, mask, to_bits(value), 0, warpSize, file, line));
  *predicate = matched != 0;
  return matched;
}

#define FOVEA_EMU_REDUCE(name, op)                                                                        \
  inline unsigned name(unsigned mask, unsigned value, const char* file = __builtin_FILE(),               \
                       int line = __builtin_LINE()) {                                                     \
    using namespace fovea::emu::detail;                                                                   \
    return static_cast<unsigned>(warp_collective(op, mask, value, operand_unsigned, warpSize, file, line)); \
  }
FOVEA_EMU_REDUCE(__reduce_add_sync, WarpOp::reduce_add)
FOVEA_EMU_REDUCE(__reduce_min_sync, WarpOp::reduce_min)
FOVEA_EMU_REDUCE(__reduce_max_sync, WarpOp::reduce_max)
FOVEA_EMU_REDUCE(__reduce_and_sync, WarpOp::reduce_and)
FOVEA_EMU_REDUCE(__reduce_or_sync, WarpOp::reduce_or)
FOVEA_EMU_REDUCE(__reduce_xor_sync, WarpOp::reduce_xor)
#undef FOVEA_EMU_REDUCE
inline int __reduce_add_sync(unsigned mask, int value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::reduce_add, mask, static_cast<unsigned>(value), operand_signed, warpSize, file, line));
}
inline int __reduce_min_sync(unsigned mask, int value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::reduce_min, mask, static_cast<unsigned>(value), operand_signed, warpSize, file, line));
}
inline int __reduce_max_sync(unsigned mask, int value, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  using namespace fovea::emu::detail;
  return static_cast<int>(warp_collective(WarpOp::reduce_max, mask, static_cast<unsigned>(value), operand_signed, warpSize, file, line));
}

// The lanes of the caller's warp that have not exited. Real hardware may report fewer (only
// the currently converged lanes); code must not rely on either.
inline unsigned __activemask() { return fovea::emu::detail::active_mask(); }

[[noreturn]] inline void __trap(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  fovea::emu::detail::trap(file, line);
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __nanosleep(unsigned) {}

// ---- Atomics (defined in the emulator library, never instrumented by the race detector) ----

int atomicAdd(int* address, int value);
unsigned atomicAdd(unsigned* address, unsigned value);
unsigned long long atomicAdd(unsigned long long* address, unsigned long long value);
float atomicAdd(float* address, float value);
double atomicAdd(double* address, double value);
int atomicSub(int* address, int value);
unsigned atomicSub(unsigned* address, unsigned value);
int atomicExch(int* address, int value);
unsigned atomicExch(unsigned* address, unsigned value);
unsigned long long atomicExch(unsigned long long* address, unsigned long long value);
float atomicExch(float* address, float value);
int atomicMin(int* address, int value);
unsigned atomicMin(unsigned* address, unsigned value);
long long atomicMin(long long* address, long long value);
unsigned long long atomicMin(unsigned long long* address, unsigned long long value);
int atomicMax(int* address, int value);
unsigned atomicMax(unsigned* address, unsigned value);
long long atomicMax(long long* address, long long value);
unsigned long long atomicMax(unsigned long long* address, unsigned long long value);
int atomicCAS(int* address, int compare, int value);
unsigned atomicCAS(unsigned* address, unsigned compare, unsigned value);
unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare, unsigned long long value);
int atomicAnd(int* address, int value);
unsigned atomicAnd(unsigned* address, unsigned value);
unsigned long long atomicAnd(unsigned long long* address, unsigned long long value);
int atomicOr(int* address, int value);
unsigned atomicOr(unsigned* address, unsigned value);
unsigned long long atomicOr(unsigned long long* address, unsigned long long value);
int atomicXor(int* address, int value);
unsigned atomicXor(unsigned* address, unsigned value);
unsigned long long atomicXor(unsigned long long* address, unsigned long long value);
unsigned atomicInc(unsigned* address, unsigned limit);
unsigned atomicDec(unsigned* address, unsigned limit);

// ---- Loads, integer and float intrinsics ----

template <typename T>
T __ldg(const T* address) { return *address; }

template <typename A, typename B>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <typename A, typename B>
  requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline int __mul24(int a, int b) { return (a << 8 >> 8) * (b << 8 >> 8); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }

inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }

inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
