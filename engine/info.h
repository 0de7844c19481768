// What this build and process are: version, build configuration, BLAS, threads, commit.
#pragma once
#include <string>

namespace fovea {

struct BuildInfo {
  std::string version, build_type, cuda_mode, blas, compiler, commit;
  bool nvtx = false;
  int threads = 1;
};

BuildInfo build_info();

}  // namespace fovea
