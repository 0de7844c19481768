// Benchmark of the SIMT emulator: kernels/emu_gemm.cu (16x16 shared-memory tiled GEMM) run by
// the emulator ("emulated") against a plain triple loop on the CPU ("cpu_loop") at 512^3.
// Compiled empty unless the emulator is built (FOVEA_HAS_EMU).
#ifdef FOVEA_HAS_EMU
#include "emu/emu_gemm.h"
#include "profiling/bench.h"

#include <cuda_runtime.h>

#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int size = 512;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("emu_gemm benchmark: ") + what + " failed: " + cudaGetErrorString(status));
}

struct DeviceMatrix {
  explicit DeviceMatrix(const std::vector<float>& values) : bytes(values.size() * sizeof(float)) {
    check(cudaMalloc(&data, bytes), "cudaMalloc");
    check(cudaMemcpy(data, values.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  }
  ~DeviceMatrix() { cudaFree(data); }
  std::vector<float> download() const {
    std::vector<float> values(bytes / sizeof(float));
    check(cudaMemcpy(values.data(), data, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
    return values;
  }
  float* data = nullptr;
  std::size_t bytes;
};

void cpu_loop(const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c) {
  for (int i = 0; i < size; ++i)
    for (int j = 0; j < size; ++j) {
      float sum = 0.0f;
      for (int p = 0; p < size; ++p) sum += a[i * size + p] * b[p * size + j];
      c[i * size + j] = sum;
    }
}

// Worst |x - y| relative to the tolerance of a k-step float accumulation of unit-scale terms.
std::string compare(const std::vector<float>& x, const std::vector<float>& y) {
  const double tolerance = 1e-6 + size * 6e-8 * size * 0.25;
  double worst = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double error = std::abs(static_cast<double>(x[i]) - y[i]);
    if (error > worst) worst = error, at = i;
  }
  if (worst <= tolerance) return {};
  return "element " + std::to_string(at) + ": " + std::to_string(x[at]) + " vs " + std::to_string(y[at]) +
         " (tolerance " + std::to_string(tolerance) + ")";
}

}  // namespace

FOVEA_BENCH(emu_gemm) {
  if (!runner.wants("emu_gemm", {"emulated", "cpu_loop"})) return;
  const std::size_t count = static_cast<std::size_t>(size) * size;
  std::vector<float> a(count), b(count);
  std::mt19937 generator(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& x : a) x = uniform(generator);
  for (float& x : b) x = uniform(generator);

  auto da = std::make_shared<DeviceMatrix>(a), db = std::make_shared<DeviceMatrix>(b);
  auto dc = std::make_shared<DeviceMatrix>(std::vector<float>(count));
  auto host_c = std::make_shared<std::vector<float>>(count);
  const double flops = 2.0 * size * size * size;
  const double bytes = 4.0 * (3.0 * size * size);

  const auto emulated = [=] { check(fovea::launch_emu_gemm(da->data, db->data, dc->data, size, size, size, nullptr), "emu_gemm"); };
  const auto loop = [=] { cpu_loop(a, b, *host_c); };

  fovea::bench::Case c;
  c.kernel = "emu_gemm";
  c.shape = "512x512x512";
  c.device = "cuda-emu";
  c.min_repeats = 3;
  c.variants.push_back({"emulated", bytes, flops, emulated, [=] {
                          emulated();
                          loop();
                          return compare(dc->download(), *host_c);
                        }});
  c.variants.push_back({"cpu_loop", bytes, flops, loop, [=] {
                          loop();
                          emulated();
                          return compare(*host_c, dc->download());
                        }});
  runner.run(std::move(c));
}
#endif
