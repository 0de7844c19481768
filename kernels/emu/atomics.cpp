// CUDA atomics for emulated kernels, on std::atomic_ref: blocks run concurrently on several
// workers, so global-memory atomics must be real atomics. Kept out of line so that the race
// detector's instrumentation of kernel files never sees them.
#include "emu/device.h"

#include <atomic>

namespace {

template <typename T, typename Update>
T update(T* address, Update next) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load(std::memory_order_relaxed);
  while (!ref.compare_exchange_weak(old, next(old), std::memory_order_relaxed)) {
  }
  return old;
}

template <typename T>
T add(T* address, T value) { return std::atomic_ref<T>(*address).fetch_add(value, std::memory_order_relaxed); }
template <typename T>
T exchange(T* address, T value) { return std::atomic_ref<T>(*address).exchange(value, std::memory_order_relaxed); }
template <typename T>
T minimum(T* address, T value) { return update(address, [value](T old) { return value < old ? value : old; }); }
template <typename T>
T maximum(T* address, T value) { return update(address, [value](T old) { return value > old ? value : old; }); }
template <typename T>
T compare_and_swap(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value, std::memory_order_relaxed);
  return compare;
}

}  // namespace

int atomicAdd(int* a, int v) { return add(a, v); }
unsigned atomicAdd(unsigned* a, unsigned v) { return add(a, v); }
unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { return add(a, v); }
float atomicAdd(float* a, float v) { return add(a, v); }
double atomicAdd(double* a, double v) { return add(a, v); }
int atomicSub(int* a, int v) { return std::atomic_ref<int>(*a).fetch_sub(v, std::memory_order_relaxed); }
unsigned atomicSub(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_sub(v, std::memory_order_relaxed); }
int atomicExch(int* a, int v) { return exchange(a, v); }
unsigned atomicExch(unsigned* a, unsigned v) { return exchange(a, v); }
unsigned long long atomicExch(unsigned long long* a, unsigned long long v) { return exchange(a, v); }
float atomicExch(float* a, float v) { return exchange(a, v); }
int atomicMin(int* a, int v) { return minimum(a, v); }
unsigned atomicMin(unsigned* a, unsigned v) { return minimum(a, v); }
long long atomicMin(long long* a, long long v) { return minimum(a, v); }
unsigned long long atomicMin(unsigned long long* a, unsigned long long v) { return minimum(a, v); }
int atomicMax(int* a, int v) { return maximum(a, v); }
unsigned atomicMax(unsigned* a, unsigned v) { return maximum(a, v); }
long long atomicMax(long long* a, long long v) { return maximum(a, v); }
unsigned long long atomicMax(unsigned long long* a, unsigned long long v) { return maximum(a, v); }
int atomicCAS(int* a, int c, int v) { return compare_and_swap(a, c, v); }
unsigned atomicCAS(unsigned* a, unsigned c, unsigned v) { return compare_and_swap(a, c, v); }
unsigned long long atomicCAS(unsigned long long* a, unsigned long long c, unsigned long long v) {
  return compare_and_swap(a, c, v);
}
int atomicAnd(int* a, int v) { return std::atomic_ref<int>(*a).fetch_and(v, std::memory_order_relaxed); }
unsigned atomicAnd(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_and(v, std::memory_order_relaxed); }
unsigned long long atomicAnd(unsigned long long* a, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*a).fetch_and(v, std::memory_order_relaxed);
}
int atomicOr(int* a, int v) { return std::atomic_ref<int>(*a).fetch_or(v, std::memory_order_relaxed); }
unsigned atomicOr(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_or(v, std::memory_order_relaxed); }
unsigned long long atomicOr(unsigned long long* a, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*a).fetch_or(v, std::memory_order_relaxed);
}
int atomicXor(int* a, int v) { return std::atomic_ref<int>(*a).fetch_xor(v, std::memory_order_relaxed); }
unsigned atomicXor(unsigned* a, unsigned v) { return std::atomic_ref<unsigned>(*a).fetch_xor(v, std::memory_order_relaxed); }
unsigned long long atomicXor(unsigned long long* a, unsigned long long v) {
  return std::atomic_ref<unsigned long long>(*a).fetch_xor(v, std::memory_order_relaxed);
}
unsigned atomicInc(unsigned* a, unsigned limit) {
  return update(a, [limit](unsigned old) { return old >= limit ? 0u : old + 1; });
}
unsigned atomicDec(unsigned* a, unsigned limit) {
  return update(a, [limit](unsigned old) { return (old == 0 || old > limit) ? limit : old - 1; });
}
