// CPU reductions: rows in parallel; f32 sums accumulate in double.
#include "engine/cpu/reduce.h"

#include <cmath>
#include <limits>

#include "engine/error.h"

namespace fovea::cpu {
namespace {

template <typename T>
void reduce_rows_typed(ReduceOp op, const T* src, int64_t rows, int64_t length, T* dst) {
#pragma omp parallel for if (rows * length > 32768 && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = src + r * length;
    if (op == ReduceOp::sum) {
      using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
      Acc acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < length; ++i) acc += row[i];
      dst[r] = static_cast<T>(acc);
      continue;
    }
    T best = row[0];
    for (int64_t i = 1; i < length; ++i) {
      const T v = row[i];
      if (v != v) {
        best = v;
        break;
      }
      if (op == ReduceOp::max ? v > best : v < best) best = v;
    }
    dst[r] = best;
  }
}

template <typename T>
void arg_reduce_rows_typed(ReduceOp op, const T* src, int64_t rows, int64_t length, T* values, int64_t* indices) {
#pragma omp parallel for if (rows * length > 32768 && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = src + r * length;
    int64_t best_i = 0;
    for (int64_t i = 1; i < length; ++i) {
      const T v = row[i], best = row[best_i];
      if (best != best) break;
      if (v != v || (op == ReduceOp::max ? v > best : v < best)) best_i = i;
    }
    values[r] = row[best_i];
    indices[r] = best_i;
  }
}

template <typename T>
void var_rows_typed(const T* src, int64_t rows, int64_t length, int64_t correction, T* dst) {
  const double denom = static_cast<double>(length - correction);
#pragma omp parallel for if (rows * length > 32768 && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = src + r * length;
    double mean = 0;
    for (int64_t i = 0; i < length; ++i) mean += row[i];
    mean /= static_cast<double>(length);
    double ss = 0;
    for (int64_t i = 0; i < length; ++i) ss += (row[i] - mean) * (row[i] - mean);
    dst[r] = static_cast<T>(denom > 0 ? ss / denom : std::numeric_limits<double>::quiet_NaN());
  }
}

}  // namespace

void reduce_rows(ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& out) {
  FOVEA_DISPATCH_ALL(in.dtype(), "reduce", [&] {
    reduce_rows_typed<scalar_t>(op, in.data<scalar_t>(), rows, length, out.data<scalar_t>());
  });
}

void arg_reduce_rows(ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& values,
                     const Tensor& indices) {
  FOVEA_DISPATCH_ALL(in.dtype(), "arg_reduce", [&] {
    arg_reduce_rows_typed<scalar_t>(op, in.data<scalar_t>(), rows, length, values.data<scalar_t>(),
                                    indices.data<int64_t>());
  });
}

void var_rows(const Tensor& in, int64_t rows, int64_t length, int64_t correction, const Tensor& out) {
  FOVEA_DISPATCH_FLOAT(in.dtype(), "var", [&] {
    var_rows_typed<scalar_t>(in.data<scalar_t>(), rows, length, correction, out.data<scalar_t>());
  });
}

}  // namespace fovea::cpu
