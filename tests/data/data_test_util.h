// Helpers for the data-pipeline tests: a unique temporary folder removed at scope exit,
// deterministic test clips whose consecutive frames differ clearly, and clip comparisons.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "data/clip.h"
#include "engine/error.h"

namespace fovea::data::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device entropy;
    auto base = std::filesystem::temp_directory_path();
    do {
      path_ = base / ("fovea-data-test-" + std::to_string(entropy()));
    } while (!std::filesystem::create_directory(path_));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Smooth moving sinusoids: frame t is shifted by 3 pixels from frame t-1, so every frame is
// far from its neighbours compared with codec loss.
inline Clip make_test_clip(int64_t frames, int64_t height, int64_t width, int phase = 0) {
  Clip clip(frames, height, width, 3);
  for (int64_t t = 0; t < frames; ++t)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        uint8_t* px = clip.frame(t) + (y * width + x) * 3;
        double s = 3.0 * (t + phase);
        px[0] = static_cast<uint8_t>(128 + 90 * std::sin(6.2831853 * (x + s) / 29.0));
        px[1] = static_cast<uint8_t>(128 + 90 * std::sin(6.2831853 * (y + 0.5 * s) / 23.0));
        px[2] = static_cast<uint8_t>(128 + 60 * std::cos(6.2831853 * (x + y - s) / 41.0));
      }
  return clip;
}

inline double mean_abs_diff(const uint8_t* a, const uint8_t* b, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(n);
}

inline double frame_mad(const Clip& a, int64_t ta, const Clip& b, int64_t tb) {
  return mean_abs_diff(a.frame(ta), b.frame(tb), a.frame_size());
}

// Index of the reference frame closest (mean absolute difference) to decoded frame t.
inline int64_t closest_frame(const Clip& reference, const Clip& decoded, int64_t t) {
  int64_t best = -1;
  double best_mad = 1e30;
  for (int64_t r = 0; r < reference.frames; ++r) {
    double mad = frame_mad(reference, r, decoded, t);
    if (mad < best_mad) best_mad = mad, best = r;
  }
  return best;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs fn, which must throw fovea::Error, and returns its what() text ("" if nothing threw).
template <typename Fn>
std::string error_text(Fn&& fn) {
  try {
    fn();
  } catch (const fovea::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace fovea::data::testing
