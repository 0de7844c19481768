// Benchmarks of the engine core against raw baselines in the same run: matmul against a
// raw OpenBLAS sgemm, and a steady-state elementwise add against memcpy.
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "engine/ops.h"
#include "profiling/bench.h"

namespace {

using fovea::Tensor;

// Compares sampled entries of c = a·b with double-precision dot products.
std::string check_gemm(const float* a, const float* b, const float* c, int64_t m, int64_t n, int64_t k) {
  for (int64_t s = 0; s < 97; ++s) {
    const int64_t i = (s * 7919) % m, j = (s * 104729) % n;
    double ref = 0, mag = 0;
    for (int64_t p = 0; p < k; ++p) {
      ref += static_cast<double>(a[i * k + p]) * b[p * n + j];
      mag += std::abs(static_cast<double>(a[i * k + p]) * b[p * n + j]);
    }
    if (std::abs(c[i * n + j] - ref) > 1e-5 * mag + 1e-6) {
      std::ostringstream out;
      out << "c[" << i << "," << j << "] = " << c[i * n + j] << ", expected " << ref;
      return out.str();
    }
  }
  return "";
}

}  // namespace

FOVEA_BENCH(matmul) {
  if (!runner.wants("matmul", {"fovea", "openblas"})) return;
  const int64_t n = 1024;
  fovea::Generator gen(1);
  const Tensor a = fovea::randn({n, n}, fovea::DType::f32, &gen);
  const Tensor b = fovea::randn({n, n}, fovea::DType::f32, &gen);
  Tensor engine_out;
  const Tensor raw_out = fovea::empty({n, n});
  const double flops = 2.0 * n * n * n;
  const double bytes = 3.0 * n * n * 4;  // read A and B, write C once
  fovea::bench::Case c{.kernel = "matmul", .shape = "1024x1024x1024"};
  c.variants.push_back({"fovea", bytes, flops, [&] { engine_out = fovea::matmul(a, b); },
                        [&] { return check_gemm(a.data<float>(), b.data<float>(), engine_out.data<float>(), n, n, n); }});
  c.variants.push_back({"openblas", bytes, flops,
                        [&] {
                          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n,
                                      b.data<float>(), n, 0.0f, raw_out.data<float>(), n);
                        },
                        [&] { return check_gemm(a.data<float>(), b.data<float>(), raw_out.data<float>(), n, n, n); }});
  runner.run(std::move(c));
}

FOVEA_BENCH(elementwise) {
  if (!runner.wants("elementwise", {"fovea", "memcpy"})) return;
  const int64_t n = int64_t{16} << 20;  // 64 MiB per f32 operand
  fovea::Generator gen(2);
  const Tensor a = fovea::rand({n}, fovea::DType::f32, &gen);
  const Tensor b = fovea::rand({n}, fovea::DType::f32, &gen);
  Tensor sum_out;
  const Tensor copy_out = fovea::empty({n});
  auto check_sampled = [&](const Tensor& out, bool is_sum) -> std::string {
    const float *pa = a.data<float>(), *pb = b.data<float>(), *po = out.data<float>();
    for (int64_t i = 0; i < n; i += 4099) {
      const float expected = is_sum ? pa[i] + pb[i] : pa[i];
      if (po[i] != expected) return "element " + std::to_string(i) + " is wrong";
    }
    return "";
  };
  fovea::bench::Case c{.kernel = "elementwise", .shape = "add_f32_16777216"};
  c.variants.push_back({"fovea", 3.0 * n * 4, 1.0 * n, [&] { sum_out = fovea::add(a, b); },
                        [&] { return check_sampled(sum_out, true); }});
  c.variants.push_back({"memcpy", 2.0 * n * 4, 0.0,
                        [&] { std::memcpy(copy_out.data<float>(), a.data<float>(), n * sizeof(float)); },
                        [&] { return check_sampled(copy_out, false); }});
  runner.run(std::move(c));
}
