// Launchers of the elementwise kernels (kernels/elementwise.cu): strided, broadcasting, one
// grid-stride loop per op family. Operand 0 is always the output.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// Same order as fovea::cpu::UnaryOp / BinaryOp.
enum class UnaryKind : int { neg, exp, log, sqrt, rsqrt, abs, relu, sigmoid, tanh, sign };
enum class BinaryKind : int { add, sub, mul, div, maximum, minimum, eq, ne, lt, le, gt, ge };

cudaError_t launch_unary(UnaryKind op, ElementType type, void* out, const void* in, const StridedSpace<2>& space,
                         cudaStream_t stream);
// out = a op (alpha·b) for add/sub; comparisons write u8.
cudaError_t launch_binary(BinaryKind op, ElementType type, void* out, const void* a, const void* b, double alpha,
                          const StridedSpace<3>& space, cudaStream_t stream);
cudaError_t launch_pow_scalar(ElementType type, void* out, const void* in, double exponent,
                              const StridedSpace<2>& space, cudaStream_t stream);
cudaError_t launch_clamp(ElementType type, void* out, const void* in, double lo, double hi,
                         const StridedSpace<2>& space, cudaStream_t stream);
// out = cond ? a : b with a u8 condition (operand 1).
cudaError_t launch_where(ElementType type, void* out, const uint8_t* cond, const void* a, const void* b,
                         const StridedSpace<4>& space, cudaStream_t stream);
// out (type out_type) = in (type in_type) converted.
cudaError_t launch_copy(ElementType out_type, ElementType in_type, void* out, const void* in,
                        const StridedSpace<2>& space, cudaStream_t stream);
cudaError_t launch_fill(ElementType type, void* out, double value, const StridedSpace<1>& space, cudaStream_t stream);

}  // namespace fovea::kernels
