// The memory bank of NPID, CMC and the saccade model: [M, D] feature rows, one per training
// instance, refreshed after each step by a momentum update (no autograd).
#pragma once
#include "engine/tensor.h"

namespace fovea {

// In place, for each row i named by indices [N] (i64 or i32):
//   bank[i] ← m·bank[i] + (1 − m)·values[n]    (m weights the old value, NPID/CMC convention)
// then bank[i] ← bank[i] / max(‖bank[i]‖₂, 1e-12) when renormalize (NPID and CMC renormalise,
// the saccade reference code does not). values [N, D] has the bank's dtype; bank [M, D] is
// contiguous and does not require grad. Duplicate indices: the last occurrence n wins and is
// applied to the old row once, what the reference's index_select → update → index_copy_ does on
// the CPU; the same on every device. Indices outside [0, M) and non-finite values are rejected
// before the bank is touched. Bumps the bank's version, so a backward that saved it refuses to
// run on the updated rows.
void memory_bank_update(const Tensor& bank, const Tensor& indices, const Tensor& values, double momentum,
                        bool renormalize);

}  // namespace fovea
