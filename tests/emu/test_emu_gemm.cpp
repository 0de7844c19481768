// The emulator's end-to-end check: kernels/emu_gemm.cu (shared-memory tiled GEMM) run by the
// SIMT emulator against a double-precision CPU product, at tile-aligned and ragged shapes.
#include "emu/emu_gemm.h"
#include "emu_test_util.h"

#include <cmath>
#include <random>

namespace fovea::emu_test {

TEST_SUITE("emu") {

TEST_CASE("emu/emu_gemm matches the cpu product") {
  CleanEmulator clean;
  struct Shape {
    int m, n, k;
  };
  for (const Shape shape : {Shape{1, 1, 1}, Shape{16, 16, 16}, Shape{37, 50, 29}, Shape{64, 33, 80}}) {
    const auto [m, n, k] = shape;
    CAPTURE(m);
    CAPTURE(n);
    CAPTURE(k);
    std::mt19937 generator(static_cast<unsigned>(m * 131 + n * 17 + k));
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(k) * n);
    for (float& x : a) x = uniform(generator);
    for (float& x : b) x = uniform(generator);

    DeviceBuffer<float> da(a), db(b), dc(static_cast<std::size_t>(m) * n);
    REQUIRE(launch_emu_gemm(da.get(), db.get(), dc.get(), m, n, k, nullptr) == cudaSuccess);
    CHECK(fovea::emu::last_report().empty());
    const std::vector<float> c = dc.download();

    double worst = 0.0;
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        double exact = 0.0, magnitude = 0.0;
        for (int p = 0; p < k; ++p) {
          const double term = static_cast<double>(a[static_cast<std::size_t>(i) * k + p]) * b[static_cast<std::size_t>(p) * n + j];
          exact += term;
          magnitude += std::abs(term);
        }
        // One float rounding per accumulation step, relative to the sum of magnitudes.
        const double tolerance = 1e-6 + k * 6e-8 * magnitude;
        const double error = std::abs(c[static_cast<std::size_t>(i) * n + j] - exact);
        worst = std::max(worst, error / tolerance);
      }
    }
    CHECK_MESSAGE(worst <= 1.0, "worst error used " << worst << "x the tolerance");
  }
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
