// NVTX ranges for Nsight: an RAII range and FOVEA_NVTX_RANGE(name). With FOVEA_NVTX=OFF
// (or without the NVTX3 headers) they compile to nothing. NVTX3 is header-only and costs a
// branch when no profiler is attached, so ranges stay on in release builds.
#pragma once
#include "fovea/build_config.h"

#if FOVEA_NVTX_ENABLED
#include <nvtx3/nvToolsExt.h>

namespace fovea {
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};
}  // namespace fovea

#define FOVEA_NVTX_CAT2(a, b) a##b
#define FOVEA_NVTX_CAT(a, b) FOVEA_NVTX_CAT2(a, b)
#define FOVEA_NVTX_RANGE(name) ::fovea::NvtxRange FOVEA_NVTX_CAT(fovea_nvtx_range_, __LINE__)(name)
#else
#define FOVEA_NVTX_RANGE(name) ((void)0)
#endif
