// The emulator's cuBLAS (kernels/emu/cublas.cpp) against a naive column-major product: every
// transpose combination with padded leading dimensions, strided batches with a broadcast
// operand, alpha and beta, beta == 0 over NaN, and the argument and memory checks.
#include <cublas_v2.h>

#include "emu_test_util.h"

#include <cmath>
#include <functional>
#include <limits>

namespace fovea::emu_test {
namespace {

struct Handle {
  cublasHandle_t h = nullptr;
  Handle() { REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS); }
  ~Handle() { cublasDestroy(h); }
};

// Column-major sizes of one gemm; a, b and c hold `batch` matrices `stride_*` elements apart.
struct Problem {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  int m = 5, n = 4, k = 3;
  int lda = 0, ldb = 0, ldc = 0;  // padded past the minimum when 0
  long long stride_a = 0, stride_b = 0, stride_c = 0;
  int batch = 1;

  int a_rows() const { return ta == CUBLAS_OP_N ? m : k; }
  int a_cols() const { return ta == CUBLAS_OP_N ? k : m; }
  int b_rows() const { return tb == CUBLAS_OP_N ? k : n; }
  int b_cols() const { return tb == CUBLAS_OP_N ? n : k; }
  void pad() {
    if (lda == 0) lda = a_rows() + 2;
    if (ldb == 0) ldb = b_rows() + 1;
    if (ldc == 0) ldc = m + 3;
  }
  std::size_t elements(long long stride, int ld, int cols) const {
    return static_cast<std::size_t>(stride * (batch - 1) + static_cast<long long>(ld) * cols);
  }
};

template <typename T>
std::vector<T> pattern(std::size_t count, int seed) {
  std::vector<T> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<T>(((i * 7 + seed * 13) % 17) / 8.0 - 1.0);
  return values;
}

// C := alpha·op(A)·op(B) + beta·C, column-major, straight from the definition.
template <typename T>
std::vector<T> reference(const Problem& p, T alpha, const std::vector<T>& a, const std::vector<T>& b, T beta,
                         std::vector<T> c) {
  for (int batch = 0; batch < p.batch; ++batch)
    for (int j = 0; j < p.n; ++j)
      for (int i = 0; i < p.m; ++i) {
        double sum = 0;
        for (int l = 0; l < p.k; ++l) {
          const T x = p.ta == CUBLAS_OP_N ? a[batch * p.stride_a + i + l * p.lda] : a[batch * p.stride_a + l + i * p.lda];
          const T y = p.tb == CUBLAS_OP_N ? b[batch * p.stride_b + l + j * p.ldb] : b[batch * p.stride_b + j + l * p.ldb];
          sum += static_cast<double>(x) * y;
        }
        T& out = c[batch * p.stride_c + i + j * p.ldc];
        out = static_cast<T>(alpha * sum + (beta != 0 ? beta * static_cast<double>(out) : 0.0));
      }
  return c;
}

cublasStatus_t call(const Handle& h, const Problem& p, const float* alpha, const float* a, const float* b,
                    const float* beta, float* c) {
  if (p.batch == 1 && p.stride_a == 0 && p.stride_b == 0 && p.stride_c == 0)
    return cublasSgemm(h.h, p.ta, p.tb, p.m, p.n, p.k, alpha, a, p.lda, b, p.ldb, beta, c, p.ldc);
  return cublasSgemmStridedBatched(h.h, p.ta, p.tb, p.m, p.n, p.k, alpha, a, p.lda, p.stride_a, b, p.ldb, p.stride_b,
                                   beta, c, p.ldc, p.stride_c, p.batch);
}

cublasStatus_t call(const Handle& h, const Problem& p, const double* alpha, const double* a, const double* b,
                    const double* beta, double* c) {
  if (p.batch == 1 && p.stride_a == 0 && p.stride_b == 0 && p.stride_c == 0)
    return cublasDgemm(h.h, p.ta, p.tb, p.m, p.n, p.k, alpha, a, p.lda, b, p.ldb, beta, c, p.ldc);
  return cublasDgemmStridedBatched(h.h, p.ta, p.tb, p.m, p.n, p.k, alpha, a, p.lda, p.stride_a, b, p.ldb, p.stride_b,
                                   beta, c, p.ldc, p.stride_c, p.batch);
}

// Runs the problem on the emulated device and compares all of C (padding included, which must
// be left as it was) with the reference.
template <typename T>
void check_against_reference(Problem p, T alpha, T beta, std::vector<T> c_init = {}) {
  p.pad();
  const std::vector<T> a = pattern<T>(p.elements(p.stride_a, p.lda, p.a_cols()), 1);
  const std::vector<T> b = pattern<T>(p.elements(p.stride_b, p.ldb, p.b_cols()), 2);
  if (c_init.empty()) c_init = pattern<T>(p.elements(p.stride_c, p.ldc, p.n), 3);
  DeviceBuffer<T> da(a), db(b), dc(c_init);
  Handle h;
  REQUIRE(call(h, p, &alpha, da.get(), db.get(), &beta, dc.get()) == CUBLAS_STATUS_SUCCESS);
  const std::vector<T> expected = reference(p, alpha, a, b, beta, c_init), actual = dc.download();
  const double tolerance = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    if (std::isnan(expected[i]))
      CHECK(std::isnan(actual[i]));  // padding of a NaN-filled C, never written
    else
      CHECK(std::abs(actual[i] - expected[i]) <= tolerance);
  }
}

const cublasOperation_t operations[] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};

}  // namespace

TEST_SUITE("emu") {

TEST_CASE("emu/cublas gemm is column-major for every transpose combination with padded leading dims") {
  CleanEmulator clean;
  for (const cublasOperation_t ta : operations)
    for (const cublasOperation_t tb : operations) {
      CAPTURE(static_cast<int>(ta));
      CAPTURE(static_cast<int>(tb));
      Problem p;
      p.ta = ta;
      p.tb = tb;
      check_against_reference<float>(p, 1.5f, -0.5f);
      check_against_reference<double>(p, 1.5, -0.5);
    }
  // A non-square product where every index mix-up changes the result or the bounds.
  Problem tall;
  tall.m = 7;
  tall.n = 2;
  tall.k = 9;
  tall.ta = CUBLAS_OP_T;
  check_against_reference<double>(tall, 1.0, 0.0);
}

TEST_CASE("emu/cublas strided batched gemm with a stride 0 operand and gaps between matrices") {
  CleanEmulator clean;
  for (const cublasOperation_t tb : {CUBLAS_OP_N, CUBLAS_OP_T}) {
    CAPTURE(static_cast<int>(tb));
    Problem p;
    p.tb = tb;
    p.batch = 3;
    p.pad();
    p.stride_a = 0;
    p.stride_b = static_cast<long long>(p.ldb) * p.b_cols() + 5;
    p.stride_c = static_cast<long long>(p.ldc) * p.n + 2;
    check_against_reference<float>(p, 1.0f, 0.25f);
    check_against_reference<double>(p, -2.0, 0.0);
  }
}

TEST_CASE("emu/cublas beta 0 ignores nan in c and alpha 0 or k 0 leave beta times c") {
  CleanEmulator clean;
  Problem p;
  p.pad();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  check_against_reference<double>(p, 2.0, 0.0, std::vector<double>(p.elements(0, p.ldc, p.n), nan));
  check_against_reference<double>(p, 0.0, 3.0);
  Problem empty_inner;
  empty_inner.k = 0;
  check_against_reference<float>(empty_inner, 1.0f, 0.5f);
  check_against_reference<float>(empty_inner, 1.0f, 0.0f,
                                 std::vector<float>(static_cast<std::size_t>(empty_inner.m + 3) * empty_inner.n, NAN));
}

TEST_CASE("emu/cublas rejects bad arguments with invalid value and names the argument") {
  CleanEmulator clean;
  Handle h;
  DeviceBuffer<float> a(64), b(64), c(64);
  const float one = 1, zero = 0;
  struct Bad {
    const char* what;
    std::function<cublasStatus_t()> call;
    const char* report;
  };
  const auto sgemm = [&](cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb, int ldc) {
    return [=, &h, &a, &b, &c] {
      return cublasSgemm(h.h, ta, tb, m, n, k, &one, a.get(), lda, b.get(), ldb, &zero, c.get(), ldc);
    };
  };
  const auto batched = [&](long long stride_c, int ldc, int batch) {
    return [=, &h, &a, &b, &c] {
      return cublasSgemmStridedBatched(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.get(), 2, 4, b.get(), 2, 4,
                                       &zero, c.get(), ldc, stride_c, batch);
    };
  };
  const Bad cases[] = {
      {"lda below m for op N", sgemm(CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, 3, 3, 4), "lda = 3 is below max(1, m) = 4"},
      {"lda below k for op T", sgemm(CUBLAS_OP_T, CUBLAS_OP_N, 4, 2, 3, 2, 3, 4), "lda = 2 is below max(1, k) = 3"},
      {"ldb below k for op N", sgemm(CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, 4, 2, 4), "ldb = 2 is below max(1, k) = 3"},
      {"ldb below n for op T", sgemm(CUBLAS_OP_N, CUBLAS_OP_T, 4, 2, 3, 4, 1, 4), "ldb = 1 is below max(1, n) = 2"},
      {"ldc below m", sgemm(CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, 4, 3, 3), "ldc = 3 is below max(1, m) = 4"},
      {"ld 0 for an empty matrix", sgemm(CUBLAS_OP_N, CUBLAS_OP_N, 0, 2, 3, 0, 3, 1), "lda = 0 is below max(1, m) = 1"},
      {"negative m", sgemm(CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 3, 4, 3, 4), "negative size m = -1"},
      {"conjugate-only op", sgemm(CUBLAS_OP_CONJG, CUBLAS_OP_N, 4, 2, 3, 4, 3, 4), "transa is CUBLAS_OP_CONJG"},
      {"null alpha",
       [&] {
         return cublasSgemm(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 3, nullptr, a.get(), 4, b.get(), 3, &zero, c.get(), 4);
       },
       "alpha or beta is a null pointer"},
      {"negative batch", batched(4, 2, -1), "batchCount = -1 is negative"},
      {"batch writing one c", batched(0, 2, 2), "share elements"},
      {"batch with overlapping c", batched(3, 2, 2), "share elements"},
  };
  for (const Bad& bad : cases) {
    CAPTURE(bad.what);
    CHECK(bad.call() == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(fovea::emu::last_report().find(bad.report) != std::string::npos);
  }
  // Interleaved C matrices (strideC = m with ldc = 2m) touch disjoint elements: allowed.
  CHECK(batched(2, 4, 2)() == CUBLAS_STATUS_SUCCESS);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cublasSetMathMode(h.h, static_cast<cublasMath_t>(5)) == CUBLAS_STATUS_INVALID_VALUE);
  cublasHandle_t destroyed = nullptr;
  REQUIRE(cublasCreate(&destroyed) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasDestroy(destroyed) == CUBLAS_STATUS_SUCCESS);
  CHECK(cublasSgemm(destroyed, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.get(), 2, b.get(), 2, &zero, c.get(), 2) ==
        CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(cublasDestroy(destroyed) == CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
}

TEST_CASE("emu/cublas operands outside device memory fail the call as an illegal address") {
  Handle h;
  DeviceBuffer<double> a(12), b(12), c(24);
  std::vector<double> host(12, 1.0);
  const double one = 1, zero = 0;
  struct Bad {
    const char* what;
    const double *a, *b;
    int lda;
    long long stride_b;
    int batch;
    const char* report;
  };
  for (const Bad& bad : {Bad{"host memory as A", host.data(), b.get(), 3, 0, 1, "matrix A of batch 0"},
                         Bad{"lda running past the end of A", a.get(), b.get(), 5, 0, 1, "matrix A of batch 0"},
                         Bad{"strideB running past the end of B", a.get(), b.get(), 3, 6, 2, "matrix B of batch 1"}}) {
    CAPTURE(bad.what);
    CleanEmulator clean;
    // 3 x 3 column-major matrices: A needs lda·2 + 3 elements, B 9 per batch.
    CHECK(cublasDgemmStridedBatched(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 3, 3, 3, &one, bad.a, bad.lda, 0, bad.b, 3,
                                    bad.stride_b, &zero, c.get(), 3, 9, bad.batch) == CUBLAS_STATUS_EXECUTION_FAILED);
    CHECK(fovea::emu::last_report().find(bad.report) != std::string::npos);
    CHECK(fovea::emu::last_report().find("not inside one cudaMalloc allocation") != std::string::npos);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
  }
}

TEST_CASE("emu/cublas tf32 math mode rounds f32 inputs and the default mode keeps full precision") {
  CleanEmulator clean;
  const float a_value = 1.0f + std::ldexp(1.0f, -12), b_value = 1.0f, zero = 0, one = 1;
  DeviceBuffer<float> a(std::vector<float>{a_value}), b(std::vector<float>{b_value}), c(1);
  Handle h;
  const auto product = [&] {
    REQUIRE(cublasSgemm(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, a.get(), 1, b.get(), 1, &zero, c.get(), 1) ==
            CUBLAS_STATUS_SUCCESS);
    return c.download()[0];
  };
  CHECK(product() == a_value);
  REQUIRE(cublasSetMathMode(h.h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
  CHECK(product() == 1.0f);
  REQUIRE(cublasSetMathMode(h.h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
  CHECK(product() == a_value);
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
