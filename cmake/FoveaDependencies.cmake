# Finds every dependency once and records a ✓/✗ line for the configure summary.
set(FOVEA_SUMMARY_LINES "")
macro(fovea_dep_status name found detail)
  if(${found})
    list(APPEND FOVEA_SUMMARY_LINES "  ✓ ${name} ${detail}")
  else()
    list(APPEND FOVEA_SUMMARY_LINES "  ✗ ${name} ${detail}")
  endif()
endmacro()

find_package(OpenMP REQUIRED COMPONENTS CXX)
fovea_dep_status("OpenMP" OpenMP_CXX_FOUND "${OpenMP_CXX_VERSION}")

# The image also carries the slow reference BLAS: insist on OpenBLAS (OpenMP variant when
# installed, so the engine's loops and BLAS share one thread pool).
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(FOVEA_CBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu/openblas-pthread
        /usr/include/openblas NO_DEFAULT_PATH)
find_path(FOVEA_CBLAS_INCLUDE_DIR cblas.h)
if(NOT BLAS_LIBRARIES MATCHES "openblas")
  message(FATAL_ERROR "BLAS resolved to '${BLAS_LIBRARIES}', not OpenBLAS. "
                      "Install libopenblas-openmp-dev (scripts/test.sh does this).")
endif()
fovea_dep_status("OpenBLAS" BLAS_FOUND "${BLAS_LIBRARIES}")

find_package(doctest QUIET)
fovea_dep_status("doctest" doctest_FOUND "${doctest_DIR}")

find_path(FOVEA_NVTX3_INCLUDE_DIR nvtx3/nvToolsExt.h PATHS /usr/local/cuda/include)
if(FOVEA_NVTX AND FOVEA_NVTX3_INCLUDE_DIR)
  set(FOVEA_NVTX_ENABLED ON)
else()
  set(FOVEA_NVTX_ENABLED OFF)
endif()
fovea_dep_status("NVTX3 (header-only)" FOVEA_NVTX_ENABLED "FOVEA_NVTX=${FOVEA_NVTX} ${FOVEA_NVTX3_INCLUDE_DIR}")

find_package(Boost QUIET COMPONENTS context)
fovea_dep_status("boost.context" Boost_CONTEXT_FOUND "${Boost_VERSION}")

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(FFMPEG QUIET IMPORTED_TARGET libavformat libavcodec libswscale libavutil)
endif()
fovea_dep_status("FFmpeg (libavformat/libavcodec/libswscale)" FFMPEG_FOUND "${FFMPEG_libavcodec_VERSION}")

find_path(FOVEA_STB_INCLUDE_DIR stb_image.h PATHS /usr/include/stb)
if(FOVEA_STB_INCLUDE_DIR)
  set(FOVEA_STB_FOUND ON)
else()
  set(FOVEA_STB_FOUND OFF)
endif()
fovea_dep_status("stb_image" FOVEA_STB_FOUND "${FOVEA_STB_INCLUDE_DIR}")

# CUDA backend choice. This build resolves auto/on/off/emu to FOVEA_CUDA_MODE.
find_program(FOVEA_NVCC nvcc PATHS /usr/local/cuda/bin)
if(FOVEA_CUDA STREQUAL "auto")
  if(FOVEA_NVCC)
    set(FOVEA_CUDA_MODE on)
  else()
    set(FOVEA_CUDA_MODE off)
  endif()
elseif(FOVEA_CUDA MATCHES "^(on|off|emu)$")
  set(FOVEA_CUDA_MODE ${FOVEA_CUDA})
else()
  message(FATAL_ERROR "FOVEA_CUDA must be auto, on, off or emu (got '${FOVEA_CUDA}')")
endif()
if(FOVEA_NVCC)
  set(_nvcc_found ON)
else()
  set(_nvcc_found OFF)
endif()
fovea_dep_status("nvcc" _nvcc_found "${FOVEA_NVCC}")
