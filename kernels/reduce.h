// Launchers of the row reductions (kernels/reduce.cu) over a contiguous [rows, length] input:
// sum, max and min (optionally with the index of the first extreme) and variance. A plan says
// how rows are cut into work; rows too long for one block are split across blocks, whose
// partial results go to a device workspace that the caller allocates.
#pragma once
#include <cstddef>

#include "kernels/kernel_args.h"

namespace fovea::kernels {

// Same order as fovea::cpu::ReduceOp.
enum class ReduceKind : int { sum, max, min };

struct ReducePlan {
  int group_threads = 32;  // threads reducing one piece of a row: a warp, or a whole block
  int64_t splits = 1;      // pieces per row; above 1 a second kernel combines them
  std::size_t workspace_bytes = 0;
};

ReducePlan plan_reduce_rows(int64_t rows, int64_t length);

// out[r] = sum/max/min of row r: sums of integers in i64 and of floats in double, then
// converted to the element type; max/min return the first NaN of a row that has one.
// `indices` (i64, may be null) receives the position of the first extreme (max/min only).
cudaError_t launch_reduce_rows(ReduceKind op, ElementType type, const void* in, int64_t rows, int64_t length,
                               void* out, int64_t* indices, const ReducePlan& plan, void* workspace,
                               cudaStream_t stream);
// out[r] = (sum of squared deviations from the mean of row r) / (length - correction), in
// double; NaN when length - correction <= 0. f32/f64.
cudaError_t launch_var_rows(ElementType type, const void* in, int64_t rows, int64_t length, int64_t correction,
                            void* out, const ReducePlan& plan, void* workspace, cudaStream_t stream);

}  // namespace fovea::kernels
