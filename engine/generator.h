// Counter-based random numbers: Philox4x32-10 keyed by a seed. Element i of a draw uses
// counter (offset + i), so a stream does not depend on thread count or device, and a
// generator's state is just (seed, offset), easy to checkpoint and restore.
#pragma once
#include <array>
#include <cstdint>

namespace fovea {

#if defined(__CUDACC__)
#define FOVEA_HOST_DEVICE __host__ __device__
#else
#define FOVEA_HOST_DEVICE
#endif

struct Philox {
  // Returns the four 32-bit words of block `counter` (128-bit: lo, hi) under `seed`.
  FOVEA_HOST_DEVICE static inline std::array<uint32_t, 4> block(uint64_t seed, uint64_t counter_lo,
                                                               uint64_t counter_hi = 0) {
    uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
    uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t{0xD2511F53u} * c0;
      const uint64_t p1 = uint64_t{0xCD9E8D57u} * c2;
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
      c1 = static_cast<uint32_t>(p1);
      c3 = static_cast<uint32_t>(p0);
      c0 = n0;
      c2 = n2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return {c0, c1, c2, c3};
  }
  // Uniform in [0, 1) from the top bits of one word (f32) or two words (f64).
  FOVEA_HOST_DEVICE static inline float uniform_f32(uint32_t w) { return static_cast<float>(w >> 8) * 0x1.0p-24f; }
  FOVEA_HOST_DEVICE static inline double uniform_f64(uint32_t lo, uint32_t hi) {
    const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
    return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
  }
};

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
