// Host memory for tensor storage: 64-byte aligned blocks, with large blocks kept in a cache
// keyed by rounded size and handed out again, so a steady-state training loop does not
// page-fault on every fresh output. Statistics report current, peak and cached bytes.
#pragma once
#include <cstdint>

namespace fovea {

struct AllocatorStats {
  int64_t current_bytes = 0;  // handed out and not yet returned
  int64_t peak_bytes = 0;
  int64_t cached_bytes = 0;   // returned blocks kept for reuse
  int64_t allocations = 0;
  int64_t cache_hits = 0;
};

// Rounds a request up to its cache size class: small requests to a multiple of
// `small_granularity`, requests of 1 MiB and more to a multiple of 1/8 of their power of two
// (at most 12.5% waste), so freed blocks match later requests of similar size.
int64_t allocation_size_class(int64_t nbytes, int64_t small_granularity);

class HostAllocator {
 public:
  static HostAllocator& instance();
  // Never returns null: throws fovea::Error when the system is out of memory even after the
  // cache was emptied.
  void* allocate(int64_t nbytes);
  void release(void* ptr, int64_t nbytes);
  void empty_cache();
  AllocatorStats stats() const;
};

}  // namespace fovea
