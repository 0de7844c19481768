// Philox4x32-10 and its conversions to uniform floats: the one definition of the counter-based
// stream, shared by the CPU kernels (engine/cpu/random.cpp) and the CUDA kernels
// (kernels/random.cu), so both devices draw identical values. Dependency-free, so the engine
// and kernel sources (nvcc, emulator) can all include it.
#pragma once
#include <cstdint>

#if defined(__CUDACC__) || defined(FOVEA_EMU_DEVICE)
#define FOVEA_PHILOX_FN __host__ __device__ inline
#else
#define FOVEA_PHILOX_FN inline
#endif

namespace fovea::kernels {

struct PhiloxWords {
  uint32_t w[4];
  FOVEA_PHILOX_FN uint32_t operator[](int i) const { return w[i]; }
};

// The four 32-bit words of block `counter` under `seed`.
FOVEA_PHILOX_FN PhiloxWords philox_block(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
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
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) from the top 24 bits of one word.
FOVEA_PHILOX_FN float philox_uniform_f32(uint32_t w) { return static_cast<float>(w >> 8) * 0x1.0p-24f; }

// Uniform in [0, 1) from 53 bits of two words.
FOVEA_PHILOX_FN double philox_uniform_f64(uint32_t lo, uint32_t hi) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

}  // namespace fovea::kernels
