// `fovea info`: version, build configuration, BLAS, threads and devices.
#include <cstdio>
#include <cstring>

#include "apps/command.h"
#include "engine/allocator.h"
#include "engine/info.h"
#include "fovea/build_config.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace {

void print_devices() {
  std::printf("devices    : cpu\n");
#if FOVEA_HAS_CUDA
  if (!fovea::cuda::available()) {
    std::printf("             no CUDA device: %s\n", fovea::cuda::unavailable_reason().c_str());
    return;
  }
  for (int i = 0; i < fovea::cuda::device_count(); ++i)
    std::printf("             cuda:%d %s\n", i, fovea::cuda::device_name(i).c_str());
#else
  std::printf("             no CUDA backend in this build (configure with FOVEA_CUDA=on or emu)\n");
#endif
}

int run_info(int argc, char** argv) {
  if (argc > 1 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    std::printf("usage: fovea info\n\nPrints the version, build configuration, BLAS library and thread count.\n");
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr, "fovea info: unexpected argument '%s' (it takes none)\n", argv[1]);
    return 2;
  }
  const fovea::BuildInfo info = fovea::build_info();
  std::printf("fovea %s (commit %s)\n", info.version.c_str(), info.commit.c_str());
  std::printf("build type : %s\n", info.build_type.c_str());
  std::printf("compiler   : %s\n", info.compiler.c_str());
  std::printf("cuda       : %s\n", info.cuda_mode.c_str());
  std::printf("cuda archs : %s\n", FOVEA_CUDA_ARCHITECTURES);
  std::printf("emulated: %s\n", info.cuda_mode == "emu" ? "yes" : "no");
  print_devices();
  std::printf("nvtx       : %s\n", info.nvtx ? "on" : "off");
  std::printf("blas       : %s\n", info.blas.c_str());
  std::printf("threads    : %d (OpenMP; OpenBLAS shares the same pool)\n", info.threads);
  return 0;
}

}  // namespace

FOVEA_COMMAND("info", "print version, build configuration, BLAS and thread count", run_info);
