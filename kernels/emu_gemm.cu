// emu_gemm: a 16x16 shared-memory tiled GEMM (row-major float, C = A·B, any m, n, k). It is the
// SIMT emulator's benchmark (`fovea bench --filter emu`) and end-to-end test kernel; it builds
// with nvcc as well as through the emulator.
#include "emu/emu_gemm.h"
#include "emu/portable.h"

namespace fovea {
namespace {
constexpr int tile = 16;
}

__global__ void emu_gemm(const float* a, const float* b, float* c, int m, int n, int k) {
  __shared__ float a_tile[tile][tile];
  __shared__ float b_tile[tile][tile];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int row = static_cast<int>(blockIdx.y) * tile + ty;
  const int col = static_cast<int>(blockIdx.x) * tile + tx;
  float sum = 0.0f;
  for (int k0 = 0; k0 < k; k0 += tile) {
    a_tile[ty][tx] = row < m && k0 + tx < k ? a[static_cast<long long>(row) * k + k0 + tx] : 0.0f;
    b_tile[ty][tx] = k0 + ty < k && col < n ? b[static_cast<long long>(k0 + ty) * n + col] : 0.0f;
    __syncthreads();
    for (int i = 0; i < tile; ++i) sum += a_tile[ty][i] * b_tile[i][tx];
    __syncthreads();
  }
  if (row < m && col < n) c[static_cast<long long>(row) * n + col] = sum;
}

cudaError_t launch_emu_gemm(const float* a, const float* b, float* c, int m, int n, int k, cudaStream_t stream) {
  const dim3 block(tile, tile);
  const dim3 grid((n + tile - 1) / tile, (m + tile - 1) / tile);
  return launch_kernel(emu_gemm, grid, block, 0, stream, a, b, c, m, n, k);
}

}  // namespace fovea
