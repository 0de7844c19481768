// The cuDNN convolution path (engine/cuda/cudnn.cpp, built only when FOVEA_HAS_CUDNN): forward,
// backward-data and backward-filter through the cuDNN 9 graph (backend) API. Each operation's
// execution plan is chosen once per key (operation, shapes, strides, alignments, stride/padding/
// dilation/groups, dtype, TF32 setting, device) and cached for the life of the process. With
// TF32 off, f32 convolutions only take engines without tensor-core or down-converting numerics.
#pragma once
#include <cstdint>
#include <string>

#include "engine/cpu/conv.h"

namespace fovea::cuda {

// The tensors and layouts of cuda::conv_forward / conv_backward (contiguous, on one CUDA device,
// f32 or f64). grad_x and grad_weight may each be undefined when not wanted.
void cudnn_conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const cpu::ConvGeometry& g,
                        const Tensor& out, bool allow_tf32);
void cudnn_conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const cpu::ConvGeometry& g,
                         const Tensor& grad_x, const Tensor& grad_weight, bool allow_tf32);

// Execution plans cached so far, and dropping them (tests of the cache).
int64_t cudnn_plan_count();
void cudnn_clear_plans();

// The version of the cuDNN library loaded at run time, e.g. "9.19.0".
std::string cudnn_version();

}  // namespace fovea::cuda
