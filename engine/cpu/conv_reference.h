// Naive direct convolution, one output element at a time with double accumulation: the
// oracle that tests and benchmark checks compare the vol2col + GEMM path against.
#pragma once
#include "engine/cpu/conv.h"

namespace fovea::cpu {

// Single elements; tensors contiguous as for conv_forward, bias may be undefined.
double conv_output_at(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g, int64_t n,
                      int64_t co, int64_t od, int64_t oh, int64_t ow);
double conv_grad_input_at(const Tensor& grad_out, const Tensor& weight, const ConvGeometry& g, int64_t n,
                          int64_t ci, int64_t id, int64_t ih, int64_t iw);
// Gradient of weight[co, c, kd, kh, kw] (c counts within the group).
double conv_grad_weight_at(const Tensor& grad_out, const Tensor& x, const ConvGeometry& g, int64_t co, int64_t c,
                           int64_t kd, int64_t kh, int64_t kw);

// Whole tensors from the element functions; outputs contiguous of x's dtype.
void conv_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g,
                            const Tensor& out);
void conv_backward_reference(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                             const Tensor& grad_x, const Tensor& grad_weight);

}  // namespace fovea::cpu
