// The host caching allocator: small blocks go straight to aligned_alloc; blocks of 1 MiB
// and more are rounded up to a size class and parked in a free list on release, so the next
// request of that class reuses warm pages instead of faulting in fresh ones.
#include "engine/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "engine/error.h"

namespace fovea {
namespace {

constexpr int64_t kAlignment = 64;
constexpr int64_t kCacheThreshold = int64_t{1} << 20;
constexpr int64_t kCacheLimit = int64_t{8} << 30;  // cached bytes beyond this are freed

struct State {
  std::mutex mutex;
  std::map<int64_t, std::vector<void*>> free_blocks;
  AllocatorStats stats;
};

State& state() {
  static State* s = new State();  // never destroyed: tensors may outlive static teardown
  return *s;
}

int64_t size_class(int64_t nbytes) { return allocation_size_class(nbytes, kAlignment); }

}  // namespace

int64_t allocation_size_class(int64_t nbytes, int64_t small_granularity) {
  if (nbytes <= 0) return small_granularity;
  if (nbytes < kCacheThreshold) return (nbytes + small_granularity - 1) / small_granularity * small_granularity;
  int64_t power = 1;
  while (power * 2 <= nbytes) power *= 2;
  const int64_t step = power / 8;
  return (nbytes + step - 1) / step * step;
}

HostAllocator& HostAllocator::instance() {
  static HostAllocator allocator;
  return allocator;
}

void* HostAllocator::allocate(int64_t nbytes) {
  const int64_t rounded = size_class(nbytes > 0 ? nbytes : 1);
  State& s = state();
  {
    std::lock_guard lock(s.mutex);
    s.stats.allocations++;
    auto it = s.free_blocks.find(rounded);
    if (it != s.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      s.stats.cached_bytes -= rounded;
      s.stats.cache_hits++;
      s.stats.current_bytes += rounded;
      s.stats.peak_bytes = std::max(s.stats.peak_bytes, s.stats.current_bytes);
      return ptr;
    }
  }
  void* ptr = std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
  if (!ptr) {
    empty_cache();
    ptr = std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
  }
  FOVEA_CHECK(ptr != nullptr, "allocate", "out of host memory allocating ", nbytes,
              " bytes; reduce the batch size or the model size");
  std::lock_guard lock(s.mutex);
  s.stats.current_bytes += rounded;
  s.stats.peak_bytes = std::max(s.stats.peak_bytes, s.stats.current_bytes);
  return ptr;
}

void HostAllocator::release(void* ptr, int64_t nbytes) {
  if (!ptr) return;
  const int64_t rounded = size_class(nbytes > 0 ? nbytes : 1);
  State& s = state();
  {
    std::lock_guard lock(s.mutex);
    s.stats.current_bytes -= rounded;
    if (rounded >= kCacheThreshold && s.stats.cached_bytes + rounded <= kCacheLimit) {
      s.free_blocks[rounded].push_back(ptr);
      s.stats.cached_bytes += rounded;
      return;
    }
  }
  std::free(ptr);
}

void HostAllocator::empty_cache() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  for (auto& [size, blocks] : s.free_blocks)
    for (void* ptr : blocks) std::free(ptr);
  s.free_blocks.clear();
  s.stats.cached_bytes = 0;
}

AllocatorStats HostAllocator::stats() const {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.stats;
}

}  // namespace fovea
