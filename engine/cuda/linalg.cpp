// CUDA matrix products through cuBLAS (the emulated build links kernels/emu/cublas.cpp instead).
// cuBLAS is column-major, and a row-major matrix is the column-major storage of its transpose,
// so C = A·B is computed as Cᵀ = Bᵀ·Aᵀ: gemm with sizes (N, M, K) and B first. Each operand is
// read in place (CUBLAS_OP_N or CUBLAS_OP_T, leading dim from its strides). Batch dims are
// merged where both operands allow it; the innermost merged dim becomes one strided-batched
// call (stride 0 for a broadcast operand), looped over the outer ones.
//
// Math mode: CUBLAS_DEFAULT_MATH, set explicitly. cuBLAS documents it as computing with at least
// the mantissa and exponent bits of the requested type, so f32 products never drop to TF32
// (that takes CUBLAS_TF32_TENSOR_OP_MATH); CUBLAS_PEDANTIC_MATH would also fix the order of
// arithmetic, at a speed cost this engine does not need.
#include <cublas_v2.h>

#include <algorithm>
#include <climits>
#include <map>
#include <mutex>
#include <optional>

#include "engine/cpu/linalg.h"
#include "engine/cuda/ops.h"
#include "engine/cuda/runtime.h"

namespace fovea::cuda {
namespace {

[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expression, const char* file, int line) {
  throw Error("cublas", std::string(expression) + " failed with " + cublasGetStatusName(status) + ": " +
                            cublasGetStatusString(status),
              file, line);
}

#define FOVEA_CUBLAS_CHECK(expression)                                        \
  do {                                                                        \
    const cublasStatus_t fovea_cublas_status = (expression);                  \
    if (fovea_cublas_status != CUBLAS_STATUS_SUCCESS) [[unlikely]]            \
      throw_cublas_error(fovea_cublas_status, #expression, __FILE__, __LINE__); \
  } while (0)

// One handle per device, created on first use and kept for the life of the process (at exit
// the CUDA runtime may already be gone, so they are never destroyed). The lock is held while a
// handle is bound to the caller's stream and used, since streams are per thread.
struct BoundHandle {
  std::unique_lock<std::mutex> lock;
  cublasHandle_t handle;
};

BoundHandle handle_for(int device) {
  static std::mutex mutex;
  static auto* handles = new std::map<int, cublasHandle_t>();  // never destroyed, as its handles
  std::unique_lock lock(mutex);
  FOVEA_CUDA_CHECK(cudaSetDevice(device));
  cublasHandle_t& handle = (*handles)[device];
  if (handle == nullptr) {
    const cublasStatus_t status = cublasCreate(&handle);
    FOVEA_CHECK(status == CUBLAS_STATUS_SUCCESS, "matmul", "cublasCreate on cuda:", device, " failed with ",
                cublasGetStatusName(status), " (", cublasGetStatusString(status),
                "); check the GPU and driver with nvidia-smi, or run on the CPU with --device cpu");
    FOVEA_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  }
  FOVEA_CUBLAS_CHECK(cublasSetStream(handle, current_stream()));
  return {std::move(lock), handle};
}

struct Operand {
  cublasOperation_t op;
  int64_t ld;
};

// How cuBLAS reads the transpose of a row-major matrix: the layout row-major BLAS would use,
// with the transposition flag as a cuBLAS operation.
std::optional<Operand> transposed_view(const Tensor& t) {
  const auto layout = cpu::matrix_layout(t);
  if (!layout) return std::nullopt;
  return Operand{layout->transposed ? CUBLAS_OP_T : CUBLAS_OP_N, layout->leading_dim};
}

struct BatchDim {
  int64_t size, a_stride, b_stride;
};

// The batch dims of a and b (equal shapes), without size-1 dims, neighbours merged where the
// outer stride is the inner one times its size for both operands.
std::vector<BatchDim> merged_batch_dims(const Tensor& a, const Tensor& b) {
  std::vector<BatchDim> dims;
  for (int64_t d = 0; d + 2 < a.dim(); ++d) {
    const BatchDim next{a.shape()[d], a.strides()[d], b.strides()[d]};
    if (next.size == 1) continue;
    if (!dims.empty()) {
      BatchDim& last = dims.back();
      if (last.a_stride == next.a_stride * next.size && last.b_stride == next.b_stride * next.size) {
        last = {last.size * next.size, next.a_stride, next.b_stride};
        continue;
      }
    }
    dims.push_back(next);
  }
  return dims;
}

struct GemmShape {
  int m, n, k;  // cuBLAS's: rows and cols of the column-major Cᵀ, and the inner size
  Operand a, b;  // cuBLAS's A is the engine's b, its B the engine's a
  int batch;
  int64_t a_stride, b_stride, c_stride;
};

int as_int(int64_t value, const char* what) {
  FOVEA_CHECK(value <= INT_MAX, "matmul", what, " ", value, " exceeds the 32-bit cuBLAS interface (at most ", INT_MAX,
              "); split the product into smaller ones");
  return static_cast<int>(value);
}

cublasStatus_t gemm(cublasHandle_t h, const GemmShape& s, const float* a, const float* b, float* c) {
  const float one = 1, zero = 0;
  if (s.batch == 1)
    return cublasSgemm(h, s.a.op, s.b.op, s.m, s.n, s.k, &one, a, s.a.ld, b, s.b.ld, &zero, c, s.m);
  return cublasSgemmStridedBatched(h, s.a.op, s.b.op, s.m, s.n, s.k, &one, a, s.a.ld, s.a_stride, b, s.b.ld,
                                   s.b_stride, &zero, c, s.m, s.c_stride, s.batch);
}

cublasStatus_t gemm(cublasHandle_t h, const GemmShape& s, const double* a, const double* b, double* c) {
  const double one = 1, zero = 0;
  if (s.batch == 1)
    return cublasDgemm(h, s.a.op, s.b.op, s.m, s.n, s.k, &one, a, s.a.ld, b, s.b.ld, &zero, c, s.m);
  return cublasDgemmStridedBatched(h, s.a.op, s.b.op, s.m, s.n, s.k, &one, a, s.a.ld, s.a_stride, b, s.b.ld,
                                   s.b_stride, &zero, c, s.m, s.c_stride, s.batch);
}

}  // namespace

bool blas_compatible(const Tensor& t) { return cpu::blas_compatible(t); }

void matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t r = a.dim();
  const int64_t m = a.shape()[r - 2], k = a.shape()[r - 1], n = b.shape()[r - 1];
  if (out.numel() == 0) return;
  if (k == 0) {
    FOVEA_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, static_cast<size_t>(out.numel() * dtype_size(out.dtype())),
                                     current_stream()));
    return;
  }
  const auto a_view = transposed_view(a), b_view = transposed_view(b);
  FOVEA_CHECK(a_view && b_view, "matmul", "operand strides ", shape_str(a.strides()), " and ", shape_str(b.strides()),
              " cannot be read by cuBLAS; make the operand contiguous first");
  std::vector<BatchDim> outer = merged_batch_dims(a, b);
  const BatchDim inner = outer.empty() ? BatchDim{1, 0, 0} : outer.back();
  if (!outer.empty()) outer.pop_back();
  const GemmShape shape{as_int(n, "matrix dimension N"),
                        as_int(m, "matrix dimension M"),
                        as_int(k, "matrix dimension K"),
                        {b_view->op, as_int(b_view->ld, "leading dimension")},
                        {a_view->op, as_int(a_view->ld, "leading dimension")},
                        as_int(inner.size, "batch size"),
                        inner.b_stride,
                        inner.a_stride,
                        m * n};
  int64_t outer_count = 1;
  for (const BatchDim& d : outer) outer_count *= d.size;
  const BoundHandle bound = handle_for(out.device().index);
  FOVEA_DISPATCH_FLOAT(a.dtype(), "matmul", [&] {
    for (int64_t i = 0; i < outer_count; ++i) {
      int64_t rest = i, a_offset = 0, b_offset = 0;
      for (auto d = outer.rbegin(); d != outer.rend(); ++d) {
        a_offset += (rest % d->size) * d->a_stride;
        b_offset += (rest % d->size) * d->b_stride;
        rest /= d->size;
      }
      FOVEA_CUBLAS_CHECK(gemm(bound.handle, shape, b.data<scalar_t>() + b_offset, a.data<scalar_t>() + a_offset,
                              out.data<scalar_t>() + i * inner.size * m * n));
    }
  });
}

}  // namespace fovea::cuda
