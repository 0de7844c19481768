// CPU matrix products: one BLAS call per matrix of the batch. A batch of small matrices (or
// one with at least a matrix per thread) runs in parallel over the batch, and OpenBLAS's
// OpenMP build then stays single-threaded inside each call (one thread pool); otherwise
// each call gets the whole machine from BLAS itself.
#include "engine/cpu/linalg.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>

#include "engine/error.h"

namespace fovea::cpu {
namespace {

// Below this many multiply-adds per matrix, a batch is split over threads.
constexpr int64_t kSmallMatrixMacs = int64_t{128} * 128 * 128;

// How row-major BLAS reads a rows × cols matrix with the given element strides, if it can.
std::optional<MatrixLayout> layout_of(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  if (col_stride == 1 || cols == 1) {
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : row_stride;
    if (ld >= std::max<int64_t>(cols, 1)) return MatrixLayout{false, ld};
  }
  if (row_stride == 1 || rows == 1) {
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : col_stride;
    if (ld >= std::max<int64_t>(rows, 1)) return MatrixLayout{true, ld};
  }
  return std::nullopt;
}


// Element offsets of every matrix of `t` (row-major over its leading dims).
std::vector<int64_t> matrix_offsets(const Tensor& t) {
  const int64_t batch_rank = t.dim() - 2;
  int64_t count = 1;
  for (int64_t d = 0; d < batch_rank; ++d) count *= t.shape()[d];
  std::vector<int64_t> offsets(count, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, offset = 0;
    for (int64_t d = batch_rank - 1; d >= 0; --d) {
      offset += (rest % t.shape()[d]) * t.strides()[d];
      rest /= t.shape()[d];
    }
    offsets[i] = offset;
  }
  return offsets;
}

struct GemmPlan {
  int m, n, k;
  MatrixLayout a, b;
  std::vector<int64_t> a_offsets, b_offsets;
};

template <typename T>
void batched_gemm(const GemmPlan& p, const T* a, const T* b, T* c) {
  const int64_t batch = static_cast<int64_t>(p.a_offsets.size());
  const int64_t matrix_size = int64_t{p.m} * p.n;
  const int64_t macs = matrix_size * p.k;
  const bool over_batch = batch > 1 && (macs <= kSmallMatrixMacs || batch >= omp_get_max_threads());
#pragma omp parallel for if (over_batch) schedule(static)
  for (int64_t i = 0; i < batch; ++i)
    gemm(p.a.transposed, p.b.transposed, p.m, p.n, p.k, a + p.a_offsets[i], p.a.leading_dim, b + p.b_offsets[i],
         p.b.leading_dim, T(0), c + i * matrix_size, p.n);
}

}  // namespace

std::optional<MatrixLayout> matrix_layout(const Tensor& t) {
  const int64_t r = t.dim();
  return layout_of(t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1]);
}

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

bool blas_compatible(const Tensor& t) { return t.dim() >= 2 && matrix_layout(t).has_value(); }

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t r = a.dim();
  const int64_t m = a.shape()[r - 2], k = a.shape()[r - 1], n = b.shape()[r - 1];
  if (out.numel() == 0) return;
  if (k == 0) {
    std::memset(out.raw_data(), 0, static_cast<size_t>(out.numel() * dtype_size(out.dtype())));
    return;
  }
  const auto a_layout = matrix_layout(a), b_layout = matrix_layout(b);
  FOVEA_CHECK(a_layout && b_layout, "matmul", "operand strides ", shape_str(a.strides()), " and ",
              shape_str(b.strides()), " cannot be read by BLAS; make the operand contiguous first");
  for (int64_t v : {m, n, k, a_layout->leading_dim, b_layout->leading_dim})
    FOVEA_CHECK(v <= INT_MAX, "matmul", "matrix dimension or leading dimension ", v,
                " exceeds the 32-bit BLAS interface (at most ", INT_MAX, ")");
  GemmPlan plan{static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), *a_layout, *b_layout,
                matrix_offsets(a), matrix_offsets(b)};
  FOVEA_DISPATCH_FLOAT(a.dtype(), "matmul", [&] {
    batched_gemm<scalar_t>(plan, a.data<scalar_t>(), b.data<scalar_t>(), out.data<scalar_t>());
  });
}

}  // namespace fovea::cpu
