// The part of the cuBLAS v2 API the engine calls, served on the host for the emulated build
// (FOVEA_CUDA=emu links this instead of libcublas; the prototypes come from the toolkit's
// cublas_api.h). The semantics are cuBLAS's: column-major operands, op(A) and op(B), leading
// dimensions validated as cuBLAS does, alpha and beta from host memory, C not read when beta is
// 0, strided batches (stride 0 included). Stricter than cuBLAS: every matrix a call touches must
// lie inside one cudaMalloc allocation, the C matrices of a batch must not share elements, and
// CUBLAS_TF32_TENSOR_OP_MATH rounds f32 inputs to TF32 as tensor cores do, so precision loss
// shows in tests. Its job is catching layout mistakes, so the product is a plain loop
// accumulating in double. A call runs in the order of the handle's stream (runtime.cpp): at once
// on the legacy stream, else queued with alpha and beta read at the call, as cuBLAS reads them.
#include <cublas_v2.h>

#include "emu/internal.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math_mode = CUBLAS_DEFAULT_MATH;
};

namespace fovea::emu::detail {
namespace {

struct Handles {
  std::mutex mutex;
  std::set<cublasHandle_t> live;
};

Handles& handles() {
  static Handles h;
  return h;
}

bool is_live(cublasHandle_t handle) {
  std::lock_guard lock(handles().mutex);
  return handles().live.count(handle) != 0;
}

// One gemm or strided-batched gemm call, its sizes widened so that products cannot overflow.
struct GemmCall {
  const char* api;
  cublasHandle_t handle;
  cublasOperation_t transa, transb;
  long long m, n, k;
  long long lda, ldb, ldc;
  long long stride_a, stride_b, stride_c;
  long long batch;
};

const char* operation_name(cublasOperation_t op) {
  switch (op) {
    case CUBLAS_OP_N: return "CUBLAS_OP_N";
    case CUBLAS_OP_T: return "CUBLAS_OP_T";
    case CUBLAS_OP_C: return "CUBLAS_OP_C";
    case CUBLAS_OP_CONJG: return "CUBLAS_OP_CONJG";
  }
  return "an unknown cublasOperation_t";
}

bool valid_operation(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

cublasStatus_t invalid(const GemmCall& call, const std::string& why) {
  record_report(std::string("fovea emu: ") + call.api + ": illegal argument: " + why);
  return CUBLAS_STATUS_INVALID_VALUE;
}

// Elements from the first to the last of a column-major rows × cols matrix.
long long span(long long rows, long long cols, long long ld) { return rows == 0 || cols == 0 ? 0 : (cols - 1) * ld + rows; }

// True when two elements of the C matrices of the batch are the same memory.
bool outputs_overlap(const GemmCall& call) {
  const long long matrix_span = span(call.m, call.n, call.ldc);
  const long long step = call.stride_c < 0 ? -call.stride_c : call.stride_c;
  if (call.batch < 2 || matrix_span == 0 || step >= matrix_span) return false;
  if (step == 0) return true;
  std::vector<bool> written(static_cast<size_t>((call.batch - 1) * step + matrix_span), false);
  for (long long b = 0; b < call.batch; ++b)
    for (long long j = 0; j < call.n; ++j)
      for (long long i = 0; i < call.m; ++i) {
        const auto at = static_cast<size_t>(b * step + j * call.ldc + i);
        if (written[at]) return true;
        written[at] = true;
      }
  return false;
}

// cuBLAS's argument checks, in its order, with the reason named.
cublasStatus_t validate(const GemmCall& call, const void* alpha, const void* beta) {
  if (!valid_operation(call.transa)) return invalid(call, std::string("transa is ") + operation_name(call.transa));
  if (!valid_operation(call.transb)) return invalid(call, std::string("transb is ") + operation_name(call.transb));
  if (call.m < 0 || call.n < 0 || call.k < 0)
    return invalid(call, "negative size m = " + std::to_string(call.m) + ", n = " + std::to_string(call.n) +
                             ", k = " + std::to_string(call.k));
  if (alpha == nullptr || beta == nullptr) return invalid(call, "alpha or beta is a null pointer");
  const long long a_rows = call.transa == CUBLAS_OP_N ? call.m : call.k;
  if (call.lda < std::max(1LL, a_rows))
    return invalid(call, "lda = " + std::to_string(call.lda) + " is below max(1, " +
                             (call.transa == CUBLAS_OP_N ? "m" : "k") + ") = " + std::to_string(std::max(1LL, a_rows)) +
                             " for transa = " + operation_name(call.transa));
  const long long b_rows = call.transb == CUBLAS_OP_N ? call.k : call.n;
  if (call.ldb < std::max(1LL, b_rows))
    return invalid(call, "ldb = " + std::to_string(call.ldb) + " is below max(1, " +
                             (call.transb == CUBLAS_OP_N ? "k" : "n") + ") = " + std::to_string(std::max(1LL, b_rows)) +
                             " for transb = " + operation_name(call.transb));
  if (call.ldc < std::max(1LL, call.m))
    return invalid(call, "ldc = " + std::to_string(call.ldc) + " is below max(1, m) = " +
                             std::to_string(std::max(1LL, call.m)));
  if (call.batch < 0) return invalid(call, "batchCount = " + std::to_string(call.batch) + " is negative");
  if (outputs_overlap(call))
    return invalid(call, "strideC = " + std::to_string(call.stride_c) + " makes the C matrices of the batch share "
                             "elements (ldc = " + std::to_string(call.ldc) + ", m = " + std::to_string(call.m) +
                             ", n = " + std::to_string(call.n) + "): a race on a GPU");
  return CUBLAS_STATUS_SUCCESS;
}

// Every matrix the call reads or writes, batch by batch, must be device memory.
template <typename T>
cublasStatus_t check_device_memory(const GemmCall& call, bool reads_ab, const T* a, const T* b, const T* c) {
  struct Operand {
    const char* name;
    const T* base;
    long long stride, elements;
    bool touched;
  };
  const bool a_n = call.transa == CUBLAS_OP_N, b_n = call.transb == CUBLAS_OP_N;
  const Operand operands[] = {
      {"A", a, call.stride_a, span(a_n ? call.m : call.k, a_n ? call.k : call.m, call.lda), reads_ab},
      {"B", b, call.stride_b, span(b_n ? call.k : call.n, b_n ? call.n : call.k, call.ldb), reads_ab},
      {"C", c, call.stride_c, span(call.m, call.n, call.ldc), true}};
  for (const Operand& op : operands) {
    if (!op.touched || op.elements == 0) continue;
    for (long long i = 0; i < call.batch; ++i) {
      const T* first = op.base + i * op.stride;
      const auto bytes = static_cast<std::size_t>(op.elements) * sizeof(T);
      if (is_device_range(first, bytes)) continue;
      char where[32];
      std::snprintf(where, sizeof where, "%p", static_cast<const void*>(first));
      record_error(cudaErrorIllegalAddress,
                   std::string("fovea emu: ") + call.api + ": matrix " + op.name + " of batch " + std::to_string(i) +
                       " at " + where + " (" + std::to_string(bytes) +
                       " bytes) is not inside one cudaMalloc allocation: host memory, freed memory, or a leading "
                       "dimension, stride or size that runs past the end of the buffer",
                   true);
      return CUBLAS_STATUS_EXECUTION_FAILED;
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}

// Round to nearest even at TF32's 10 explicit mantissa bits.
float round_to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  auto bits = std::bit_cast<std::uint32_t>(x);
  bits += 0xfffu + ((bits >> 13) & 1u);
  return std::bit_cast<float>(bits & ~0x1fffu);
}

template <typename T>
void multiply(const GemmCall& call, double alpha, const T* a, const T* b, double beta, T* c, bool tf32) {
  const auto input = [tf32](T x) { return static_cast<double>(tf32 ? round_to_tf32(static_cast<float>(x)) : x); };
  const bool a_n = call.transa == CUBLAS_OP_N, b_n = call.transb == CUBLAS_OP_N;
  for (long long batch = 0; batch < call.batch; ++batch) {
    const T* ab = a + batch * call.stride_a;
    const T* bb = b + batch * call.stride_b;
    T* cb = c + batch * call.stride_c;
    for (long long j = 0; j < call.n; ++j)
      for (long long i = 0; i < call.m; ++i) {
        double sum = 0;
        if (alpha != 0)
          for (long long l = 0; l < call.k; ++l)
            sum += input(a_n ? ab[i + l * call.lda] : ab[l + i * call.lda]) *
                   input(b_n ? bb[l + j * call.ldb] : bb[j + l * call.ldb]);
        T& out = cb[i + j * call.ldc];
        out = static_cast<T>(alpha * sum + (beta != 0 ? beta * static_cast<double>(out) : 0.0));
      }
  }
}

template <typename T>
cublasStatus_t gemm(const GemmCall& call, const T* alpha, const T* a, const T* b, const T* beta, T* c) {
  if (!is_live(call.handle)) {
    record_report(std::string("fovea emu: ") + call.api + ": the handle is not a live cublasCreate handle");
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  if (const cublasStatus_t status = validate(call, alpha, beta)) return status;
  if (call.m == 0 || call.n == 0 || call.batch == 0) return CUBLAS_STATUS_SUCCESS;
  if (sticky_error() != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (!is_live_stream(call.handle->stream)) {
    record_report(std::string("fovea emu: ") + call.api + ": the handle's stream (cublasSetStream) is not live");
    return CUBLAS_STATUS_EXECUTION_FAILED;
  }
  const bool reads_ab = *alpha != T(0) && call.k > 0;
  if (const cublasStatus_t status = check_device_memory(call, reads_ab, a, b, c)) return status;
  const bool tf32 = std::is_same_v<T, float> && (call.handle->math_mode & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH;
  const double alpha_value = *alpha, beta_value = *beta;
  const cudaError_t submitted = submit(call.api, call.handle->stream, [=] {
    multiply(call, alpha_value, a, b, beta_value, c, tf32);
    return cudaSuccess;
  });
  return submitted == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

bool valid_math_mode(cublasMath_t mode) {
  switch (mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION) {
    case CUBLAS_DEFAULT_MATH:
    case CUBLAS_TENSOR_OP_MATH:
    case CUBLAS_PEDANTIC_MATH:
    case CUBLAS_TF32_TENSOR_OP_MATH:
    case CUBLAS_FP32_EMULATED_BF16X9_MATH:
    case CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH: return true;
    default: return false;
  }
}

}  // namespace
}  // namespace fovea::emu::detail

using fovea::emu::detail::gemm;
using fovea::emu::detail::GemmCall;
using fovea::emu::detail::handles;
using fovea::emu::detail::is_live;

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  if (fovea::emu::detail::sticky_error() != cudaSuccess) return CUBLAS_STATUS_NOT_INITIALIZED;
  *handle = new cublasContext;
  std::lock_guard lock(handles().mutex);
  handles().live.insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  {
    std::lock_guard lock(handles().mutex);
    if (handles().live.erase(handle) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!is_live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!is_live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!fovea::emu::detail::valid_math_mode(mode)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->math_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the handle was not created by cublasCreate (or was destroyed)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an unsupported value or parameter was passed to the function";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "the device does not support the requested feature";
    case CUBLAS_STATUS_MAPPING_ERROR: return "access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
  }
  return "unknown cuBLAS status";
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                              const float* beta, float* C, int ldc) {
  return gemm(GemmCall{"cublasSgemm", handle, transa, transb, m, n, k, lda, ldb, ldc, 0, 0, 0, 1}, alpha, A, B, beta,
              C);
}

cublasStatus_t cublasDgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const double* alpha, const double* A, int lda, const double* B, int ldb,
                              const double* beta, double* C, int ldc) {
  return gemm(GemmCall{"cublasDgemm", handle, transa, transb, m, n, k, lda, ldb, ldc, 0, 0, 0, 1}, alpha, A, B, beta,
              C);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float* alpha, const float* A, int lda,
                                         long long int strideA, const float* B, int ldb, long long int strideB,
                                         const float* beta, float* C, int ldc, long long int strideC,
                                         int batchCount) {
  return gemm(GemmCall{"cublasSgemmStridedBatched", handle, transa, transb, m, n, k, lda, ldb, ldc, strideA, strideB,
                       strideC, batchCount},
              alpha, A, B, beta, C);
}

cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const double* alpha, const double* A, int lda,
                                         long long int strideA, const double* B, int ldb, long long int strideB,
                                         const double* beta, double* C, int ldc, long long int strideC,
                                         int batchCount) {
  return gemm(GemmCall{"cublasDgemmStridedBatched", handle, transa, transb, m, n, k, lda, ldb, ldc, strideA, strideB,
                       strideC, batchCount},
              alpha, A, B, beta, C);
}

}  // extern "C"
