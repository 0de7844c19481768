// The CUDA backend's op kernels, one for each function of engine/cpu/*.h with the same name
// and signature (see those headers for what each computes). Tensors are on the device; each
// function launches handwritten kernels from kernels/ on the current stream (cuBLAS for
// matmul) and checks the launch.
#pragma once
#include <string>
#include <vector>

#include "engine/cpu/conv.h"
#include "engine/cpu/elementwise.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/reduce.h"
#include "engine/optim.h"

namespace fovea::cuda {

// elementwise (engine/cuda/elementwise.cpp, kernels/elementwise.cu)
void unary(cpu::UnaryOp op, const Tensor& in, const Tensor& out);
void binary(cpu::BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha = 1.0);
void pow_scalar(const Tensor& in, double exponent, const Tensor& out);
void clamp(const Tensor& in, double lo, double hi, const Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, double value);

// random (engine/cuda/random.cpp, kernels/random.cu)
void fill_uniform(const Tensor& t, uint64_t seed, uint64_t first);
void fill_normal(const Tensor& t, uint64_t seed, uint64_t first);
void fill_randint(const Tensor& t, int64_t low, int64_t high, uint64_t seed, uint64_t first);
void dropout(const Tensor& in, double p, double scale, uint64_t seed, uint64_t first, const Tensor& out,
             const Tensor& keep);

// reductions (engine/cuda/reduce.cpp, kernels/reduce.cu)
void reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& out);
void arg_reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& values,
                     const Tensor& indices);
void var_rows(const Tensor& in, int64_t rows, int64_t length, int64_t correction, const Tensor& out);

// softmax and nll (engine/cuda/softmax.cpp, kernels/softmax.cu)
void softmax(const Tensor& in, int64_t outer, int64_t length, int64_t inner, bool log, const Tensor& out);
int64_t nll_forward(const Tensor& log_probs, const Tensor& target, int64_t classes, int64_t inner,
                    int64_t ignore_index, const Tensor& losses);
void nll_backward(const Tensor& target, const Tensor& grad_losses, double scale, int64_t classes, int64_t inner,
                  int64_t ignore_index, const Tensor& grad_input);

// indexing (engine/cuda/index.cpp, kernels/index.cu)
void check_index_range(const Tensor& index, int64_t limit, const char* op, const std::string& what_is_indexed);
void cat(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out);
void index_select(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out);
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);
void gather(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out);
void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

// linear algebra (engine/cuda/linalg.cpp, cuBLAS; the emulated build serves cuBLAS itself)
bool blas_compatible(const Tensor& t);
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);

// convolution (engine/cuda/conv.cpp, kernels/conv.cu + cuBLAS); the cuDNN twins of these two
// are in engine/cuda/cudnn.h (builds with FOVEA_HAS_CUDNN)
void conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const cpu::ConvGeometry& g,
                  const Tensor& out, int64_t tile_columns = 0);
void conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const cpu::ConvGeometry& g,
                   const Tensor& grad_x, const Tensor& grad_weight, int64_t tile_columns = 0);

// batch normalisation (engine/cuda/norm.cpp, kernels/norm.cu)
void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& var);
void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& out);
void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                         const Tensor& weight, bool batch_stats, const Tensor& grad_x, const Tensor& grad_weight,
                         const Tensor& grad_bias);

// pooling (engine/cuda/pool.cpp, kernels/pool.cu)
void max_pool_forward(const Tensor& x, const cpu::PoolWindows& w, const Tensor& out, const Tensor& indices);
void max_pool_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x);
void avg_pool_forward(const Tensor& x, const cpu::PoolWindows& w, const Tensor& out);
void avg_pool_backward(const Tensor& grad_out, const cpu::PoolWindows& w, const Tensor& grad_x);

// fused optimiser updates (engine/cuda/optim.cpp, kernels/optim.cu); engine/optim.cpp holds the
// CPU twins. Every tensor is checked against its parameter (shape, dtype, contiguity, device).
void sgd_update(const std::vector<SgdTensors>& tensors, const SgdOptions& options);
void adam_update(const std::vector<AdamTensors>& tensors, const AdamOptions& options, bool decoupled_weight_decay);

}  // namespace fovea::cuda
