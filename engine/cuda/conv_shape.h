// The plain-data convolution sizes the conv kernels take, from the engine's ConvGeometry;
// shared by the conv and masked-conv CUDA glue.
#pragma once
#include "engine/cpu/conv.h"
#include "kernels/conv.h"

namespace fovea::cuda {

kernels::ConvShape conv_shape(const cpu::ConvGeometry& g);

}  // namespace fovea::cuda
