// What a kernel source in kernels/ needs to build both with nvcc and with the SIMT emulator:
// a launch helper (g++ has no <<< >>>) and a dynamic shared memory declaration that the
// emulator can bounds-check. Include it as "emu/portable.h" from every .cu file.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

// FOVEA_DYNAMIC_SHARED(float, tile); declares `tile`, indexable like the `extern __shared__ float
// tile[]` it stands for. Under the emulator every subscript is checked against the byte count
// given at launch.
#if defined(FOVEA_EMU_DEVICE)
#define FOVEA_DYNAMIC_SHARED(type, name) ::fovea::emu::DynamicShared<type> name(#name, __FILE__, __LINE__)
#else
#define FOVEA_DYNAMIC_SHARED(type, name)                                          \
  extern __shared__ __align__(16) unsigned char fovea_dynamic_shared_##name[]; \
  type* name = reinterpret_cast<type*>(fovea_dynamic_shared_##name)
#endif

namespace fovea {

// Launches `kernel` over `grid` x `block` with `dynamic_shared_bytes` of dynamic shared memory
// on `stream`. Returns the launch status (under the emulator, on the legacy stream: the
// kernel's outcome).
template <typename... Params, typename... Args>
cudaError_t launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t dynamic_shared_bytes,
                          cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = dynamic_shared_bytes;
  config.stream = stream;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace fovea
