// Counter-based random streams for the data pipeline. A stream is a pure function of its key
// (seed, epoch, sample index, purpose...) and a counter, so results do not depend on which
// worker thread draws them or in which order, and any position can be recomputed on resume.
#pragma once
#include <cstdint>
#include <initializer_list>

namespace fovea::data {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Folds any number of key words into one 64-bit key; order matters.
inline uint64_t hash_key(std::initializer_list<uint64_t> words) {
  uint64_t key = 0x6A09E667F3BCC908ull;
  for (uint64_t w : words) key = splitmix64(key ^ splitmix64(w));
  return key;
}

class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}
  CounterRng(std::initializer_list<uint64_t> words) : key_(hash_key(words)) {}

  uint64_t next_u64() { return splitmix64(key_ ^ splitmix64(counter_++)); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n); n > 0. The modulo bias is below 2^-40 for n < 2^24.
  int64_t below(int64_t n) { return static_cast<int64_t>(next_u64() % static_cast<uint64_t>(n)); }
  bool bernoulli(double p) { return uniform() < p; }
  // A child stream for a sub-purpose (e.g. frame t of a per-frame augmentation).
  CounterRng fork(uint64_t word) const { return CounterRng(hash_key({key_, word})); }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace fovea::data
