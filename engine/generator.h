// Counter-based random numbers: Philox4x32-10 (kernels/philox.h) keyed by a seed. Element i
// of a draw uses counter (offset + i), so a stream does not depend on thread count or device,
// and a generator's state is just (seed, offset), easy to checkpoint and restore.
#pragma once
#include <cstdint>

namespace fovea {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserves `count` counters and returns the first.
  uint64_t advance(uint64_t count) {
    const uint64_t first = offset_;
    offset_ += count;
    return first;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide default generator (seeded 0 until manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace fovea
