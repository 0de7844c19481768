# Compiler flags per build type, ccache, and the Asan (AddressSanitizer + UBSan) build type.
find_program(FOVEA_CCACHE ccache)
if(FOVEA_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${FOVEA_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${FOVEA_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${FOVEA_CCACHE})
endif()

set(CMAKE_CXX_FLAGS_RELEASE "-O3 -DNDEBUG")
set(CMAKE_CXX_FLAGS_RELWITHDEBINFO "-O2 -g -DNDEBUG")
set(CMAKE_CXX_FLAGS_DEBUG "-O0 -g")
set(CMAKE_CXX_FLAGS_ASAN "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined")
set(CMAKE_EXE_LINKER_FLAGS_ASAN "-fsanitize=address,undefined")
set(CMAKE_SHARED_LINKER_FLAGS_ASAN "-fsanitize=address,undefined")

# Never -ffast-math: the CPU ops are the oracle for the CUDA kernels.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wall> $<$<COMPILE_LANGUAGE:CXX>:-Wextra>
                    $<$<COMPILE_LANGUAGE:CXX>:-Wno-unused-parameter>
                    $<$<COMPILE_LANGUAGE:CXX>:-Wno-missing-field-initializers>)

# __FILE__ relative to the source tree, so errors print engine/ops/x.cpp:42.
add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=>)
