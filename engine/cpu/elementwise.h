// CPU kernels of the elementwise ops: strided and broadcasting, OpenMP over chunks, with
// a flat fast path when every operand is contiguous.
#pragma once
#include "engine/tensor.h"

namespace fovea::cpu {

enum class UnaryOp { neg, exp, log, sqrt, rsqrt, abs, relu, sigmoid, tanh, sign };
enum class BinaryOp { add, sub, mul, div, maximum, minimum, eq, ne, lt, le, gt, ge };

// out = op(in); in and out share dtype and shape.
void unary(UnaryOp op, const Tensor& in, const Tensor& out);
// out = a op (alpha * b) for add/sub, a op b otherwise; a and b share a dtype and
// broadcast to out's shape; out has that dtype, or u8 for comparisons.
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha = 1.0);
void pow_scalar(const Tensor& in, double exponent, const Tensor& out);
void clamp(const Tensor& in, double lo, double hi, const Tensor& out);
// out = cond ? a : b, all broadcast to out's shape; cond is u8.
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
// dst = src, broadcast to dst's shape and converted to dst's dtype.
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, double value);

}  // namespace fovea::cpu
