// The engine's op front-ends. Each validates its arguments (fovea::Error naming the op,
// what it received and what it expected), picks the output shape and dtype, dispatches to
// the device implementation and records the autograd node.
#pragma once
#include <optional>
#include <tuple>
#include <vector>

#include "engine/generator.h"
#include "engine/tensor.h"

namespace fovea {

// ---- factories (engine/ops/factory.cpp) ----
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor scalar_tensor(double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::i64, Device device = Device::cpu());
Tensor arange(int64_t end, DType dtype = DType::i64);
// Copies host values into a new tensor of the given shape (row-major).
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32);
std::vector<double> to_vector(const Tensor& t);  // row-major values as double
// Random factories draw from a counter-based Philox stream (engine/generator.h); the
// same generator state gives the same values on every device and thread count.
Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, Device device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, Device device = Device::cpu());
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr, Device device = Device::cpu());

// ---- elementwise (engine/ops/elementwise.cpp) ----
DType result_type(const Tensor& a, const Tensor& b);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Tensor add(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor sub(const Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give f32
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max);
Tensor clamp_min(const Tensor& a, double min);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);  // condition: u8
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);   // mask: u8
Tensor maximum(const Tensor& a, const Tensor& b);
// Comparisons give u8 masks (1 = true) and carry no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
// Reduces a broadcast gradient back to `shape` (sum over broadcast dimensions).
Tensor sum_to(const Tensor& t, const Shape& shape);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator-(const Tensor& a);

// ---- reductions (engine/ops/reduce.cpp); empty dims = all dims ----
Tensor sum(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
Tensor var(const Tensor& a, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor norm(const Tensor& a, double p = 2.0, const Shape& dims = {}, bool keepdim = false);
// Max/min over one dim: values and i64 indices (first occurrence).
std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& a);  // over all elements
Tensor min(const Tensor& a);
Tensor argmax(const Tensor& a, int64_t dim, bool keepdim = false);

// ---- linear algebra (engine/ops/linalg.cpp), OpenBLAS on the CPU ----
Tensor matmul(const Tensor& a, const Tensor& b);  // torch.matmul semantics, batch dims broadcast
Tensor bmm(const Tensor& a, const Tensor& b);     // [B,M,K] x [B,K,N]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());  // weight [out,in]

// ---- softmax and losses (engine/ops/loss.cpp) ----
enum class Reduction { none, mean, sum };
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);
// input [N,C] or [N,C,d1,...] logits; target i64 [N] or [N,d1,...] class indices.
Tensor cross_entropy(const Tensor& input, const Tensor& target, int64_t ignore_index = -100,
                     Reduction reduction = Reduction::mean);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, int64_t ignore_index = -100,
                Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// x / max(||x||_2 over dim, eps), as torch.nn.functional.normalize.
Tensor normalize(const Tensor& x, int64_t dim = 1, double eps = 1e-12);

// ---- joining, splitting, indexing (engine/ops/index.cpp) ----
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& a, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim = 0);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
// out = a with src added at index along dim (out-of-place scatter_add).
Tensor scatter_add(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& src);
// Rows of table [M, D] picked by indices of any shape: result indices.shape + [D].
Tensor embedding(const Tensor& table, const Tensor& indices);

// ---- dropout (engine/ops/dropout.cpp) ----
// Zeroes elements with probability p and scales the rest by 1/(1-p) when training;
// identity otherwise. The mask comes from `gen` (the global generator when null).
Tensor dropout(const Tensor& a, double p, bool training, Generator* gen = nullptr);

// ---- convolution, normalisation, pooling (engine/ops/{conv,norm,pool}.cpp) ----
// Every op runs on the CPU and on CUDA tensors (handwritten kernels; batch_norm and the pools
// have no cuDNN path). Per-dimension parameters (stride, padding, ...) take one value for every
// spatial dim or one value per dim. Inputs are batched: [N, C, H, W] for 2-D ops,
// [N, C, D, H, W] for 3-D. Weights are OIHW / OIDHW; groups split the channels as in PyTorch.
//
// Which kernels run conv2d/conv3d on CUDA tensors: `handwritten` (vol2col + cuBLAS, the
// default) or `cudnn` (builds with FOVEA_HAS_CUDNN: FOVEA_CUDA=on and cuDNN >= 9.8 found).
// `global` takes the setting of set_conv_backend. CPU tensors always run the CPU kernels, and
// an explicit `cudnn` for them throws; so does asking for cudnn in a build without it.
enum class ConvBackend : uint8_t { global, handwritten, cudnn };
void set_conv_backend(ConvBackend backend);  // handwritten or cudnn
ConvBackend conv_backend();
// TF32 tensor-core math (10-bit mantissa products) for f32 convolutions through cuDNN: faster,
// less precise. Off by default; the correctness tests keep it off.
void set_allow_tf32(bool allow);
bool allow_tf32();
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Shape& stride = {1},
              const Shape& padding = {0}, const Shape& dilation = {1}, int64_t groups = 1,
              ConvBackend backend = ConvBackend::global);
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Shape& stride = {1},
              const Shape& padding = {0}, const Shape& dilation = {1}, int64_t groups = 1,
              ConvBackend backend = ConvBackend::global);
// x [N, C], [N, C, L], [N, C, H, W] or [N, C, T, H, W]; weight, bias [C] optional.
// training: normalises with the batch statistics (biased variance) and, when running_mean
// and running_var are defined, updates them in place as PyTorch does:
// running = (1 - momentum)·running + momentum·batch, with the unbiased batch variance.
// Undefined running tensors with training = true give the always-batch-statistics mode.
// !training: normalises with running_mean and running_var, which must then be defined.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = true,
                  double momentum = 0.1, double eps = 1e-5);
// Pools: an empty stride means stride = kernel_size. Padding acts as -inf for max pools and
// as zeros for average pools; ceil_mode keeps a last partial window unless it would start
// in the padding. Indices are flat positions within each (N, C) plane of x.
std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const Shape& kernel_size, const Shape& stride = {},
                                                   const Shape& padding = {0}, const Shape& dilation = {1},
                                                   bool ceil_mode = false);
std::tuple<Tensor, Tensor> max_pool3d_with_indices(const Tensor& x, const Shape& kernel_size, const Shape& stride = {},
                                                   const Shape& padding = {0}, const Shape& dilation = {1},
                                                   bool ceil_mode = false);
Tensor max_pool2d(const Tensor& x, const Shape& kernel_size, const Shape& stride = {}, const Shape& padding = {0},
                  const Shape& dilation = {1}, bool ceil_mode = false);
Tensor max_pool3d(const Tensor& x, const Shape& kernel_size, const Shape& stride = {}, const Shape& padding = {0},
                  const Shape& dilation = {1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, const Shape& kernel_size, const Shape& stride = {}, const Shape& padding = {0},
                  bool ceil_mode = false, bool count_include_pad = true);
Tensor avg_pool3d(const Tensor& x, const Shape& kernel_size, const Shape& stride = {}, const Shape& padding = {0},
                  bool ceil_mode = false, bool count_include_pad = true);
// Output bin i of a dim of length L with O bins covers [floor(i·L/O), ceil((i+1)·L/O)).
Tensor adaptive_avg_pool2d(const Tensor& x, const Shape& output_size);
Tensor adaptive_avg_pool3d(const Tensor& x, const Shape& output_size);
std::tuple<Tensor, Tensor> adaptive_max_pool2d_with_indices(const Tensor& x, const Shape& output_size);
std::tuple<Tensor, Tensor> adaptive_max_pool3d_with_indices(const Tensor& x, const Shape& output_size);
Tensor adaptive_max_pool2d(const Tensor& x, const Shape& output_size);
Tensor adaptive_max_pool3d(const Tensor& x, const Shape& output_size);

}  // namespace fovea
