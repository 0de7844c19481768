// FOVEA_ON_DEVICE(device, kernel, args...): calls fovea::cpu::kernel(args...) or, for a CUDA
// device, fovea::cuda::kernel(args...), the CUDA backend's function of the same name and
// signature. Builds without a CUDA backend never create CUDA tensors, so there the call
// goes straight to the CPU.
#pragma once
#include "engine/cpu/conv.h"
#include "engine/cpu/elementwise.h"
#include "engine/cpu/index.h"
#include "engine/cpu/linalg.h"
#include "engine/cpu/norm.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/random.h"
#include "engine/cpu/reduce.h"
#include "engine/cpu/softmax.h"
#include "fovea/build_config.h"

#if FOVEA_HAS_CUDA
#include "engine/cuda/ops.h"
#define FOVEA_ON_DEVICE(device, kernel, ...) \
  ((device).is_cuda() ? ::fovea::cuda::kernel(__VA_ARGS__) : ::fovea::cpu::kernel(__VA_ARGS__))
#else
#define FOVEA_ON_DEVICE(device, kernel, ...) ::fovea::cpu::kernel(__VA_ARGS__)
#endif
