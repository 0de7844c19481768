// CUDA backend of the elementwise kernels: tensor metadata to kernel arguments, then the
// launchers of kernels/elementwise.cu on the current stream.
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/elementwise.h"

namespace fovea::cuda {

void unary(cpu::UnaryOp op, const Tensor& in, const Tensor& out) {
  check_launch(kernels::launch_unary(static_cast<kernels::UnaryKind>(op), element_type(in.dtype()), out.raw_data(),
                                     in.raw_data(), strided_space<2>(out.shape(), {&out, &in}, "unary"),
                                     current_stream()),
               "unary");
}

void binary(cpu::BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha) {
  check_launch(kernels::launch_binary(static_cast<kernels::BinaryKind>(op), element_type(a.dtype()), out.raw_data(),
                                      a.raw_data(), b.raw_data(), alpha,
                                      strided_space<3>(out.shape(), {&out, &a, &b}, "binary"), current_stream()),
               "binary");
}

void pow_scalar(const Tensor& in, double exponent, const Tensor& out) {
  check_launch(kernels::launch_pow_scalar(element_type(in.dtype()), out.raw_data(), in.raw_data(), exponent,
                                          strided_space<2>(out.shape(), {&out, &in}, "pow"), current_stream()),
               "pow");
}

void clamp(const Tensor& in, double lo, double hi, const Tensor& out) {
  check_launch(kernels::launch_clamp(element_type(in.dtype()), out.raw_data(), in.raw_data(), lo, hi,
                                     strided_space<2>(out.shape(), {&out, &in}, "clamp"), current_stream()),
               "clamp");
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_launch(kernels::launch_where(element_type(out.dtype()), out.raw_data(), cond.data<uint8_t>(), a.raw_data(),
                                     b.raw_data(), strided_space<4>(out.shape(), {&out, &cond, &a, &b}, "where"),
                                     current_stream()),
               "where");
}

void copy(const Tensor& src, const Tensor& dst) {
  FOVEA_CHECK(src.device() == dst.device(), "copy", "source on ", src.device().str(), " and destination on ",
              dst.device().str(), "; move one with .to(device) first");
  check_launch(kernels::launch_copy(element_type(dst.dtype()), element_type(src.dtype()), dst.raw_data(),
                                    src.raw_data(), strided_space<2>(dst.shape(), {&dst, &src}, "copy"),
                                    current_stream()),
               "copy");
}

void fill(const Tensor& dst, double value) {
  check_launch(kernels::launch_fill(element_type(dst.dtype()), dst.raw_data(), value,
                                    strided_space<1>(dst.shape(), {&dst}, "fill"), current_stream()),
               "fill");
}

}  // namespace fovea::cuda
