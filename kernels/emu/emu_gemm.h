// Host launcher of kernels/emu_gemm.cu, the SIMT emulator's benchmark GEMM.
#pragma once

#include <cuda_runtime.h>

namespace fovea {

// C = A·B for row-major float matrices A (m x k), B (k x n), C (m x n) in device memory, with a
// 16x16 shared-memory tiled kernel. Returns the launch status.
cudaError_t launch_emu_gemm(const float* a, const float* b, float* c, int m, int n, int k, cudaStream_t stream);

}  // namespace fovea
