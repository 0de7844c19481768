// Collects the build configuration and the runtime BLAS/OpenMP settings (and, in builds with
// cuDNN, the cuDNN version loaded at run time).
#include "engine/info.h"

#include <cblas.h>
#include <omp.h>

#include <array>
#include <cstdio>

#include "fovea/build_config.h"
#if FOVEA_HAS_CUDNN
#include "engine/cuda/cudnn.h"
#endif

namespace fovea {
namespace {

std::string git_commit() {
#ifdef FOVEA_SOURCE_DIR
  std::array<char, 64> buffer{};
  std::string cmd = std::string("git -C '") + FOVEA_SOURCE_DIR + "' rev-parse --short HEAD 2>/dev/null";
  if (FILE* pipe = popen(cmd.c_str(), "r")) {
    std::string out;
    while (fgets(buffer.data(), buffer.size(), pipe)) out += buffer.data();
    pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    if (!out.empty()) return out;
  }
#endif
  return "unknown";
}

}  // namespace

BuildInfo build_info() {
  BuildInfo info;
  info.version = FOVEA_VERSION;
  info.build_type = FOVEA_BUILD_TYPE;
  info.cuda_mode = FOVEA_CUDA_MODE;
#if FOVEA_HAS_CUDNN
  info.cuda_mode += " (cuDNN " + cuda::cudnn_version() + ", built against " FOVEA_CUDNN_HEADER_VERSION ")";
#else
  if (info.cuda_mode == "on") info.cuda_mode += " (no cuDNN: FOVEA_CUDNN=off or cuDNN 9.8+ not found)";
#endif
  info.nvtx = FOVEA_NVTX_ENABLED;
  info.compiler = FOVEA_CXX_COMPILER;
  info.blas = std::string(openblas_get_config()) + " (" + FOVEA_BLAS_LIBRARIES + ")";
  info.threads = omp_get_max_threads();
  info.commit = git_commit();
  return info;
}

}  // namespace fovea
