// `fovea info`: version, build configuration, BLAS, threads and devices.
#include <cstdio>
#include <cstring>

#include "apps/command.h"
#include "engine/allocator.h"
#include "engine/info.h"

namespace {

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
  std::printf("emulated   : %s\n", info.cuda_mode == "emu" ? "yes" : "no");
  std::printf("devices    : cpu%s\n", info.cuda_mode == "off" ? " (CUDA backend not built: FOVEA_CUDA=off)" : "");
  std::printf("nvtx       : %s\n", info.nvtx ? "on" : "off");
  std::printf("blas       : %s\n", info.blas.c_str());
  std::printf("threads    : %d (OpenMP; OpenBLAS shares the same pool)\n", info.threads);
  return 0;
}

}  // namespace

FOVEA_COMMAND("info", "print version, build configuration, BLAS and thread count", run_info);
