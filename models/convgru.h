// The DPC ConvGRU (docs MODELS.md, "ConvGRU (DPC backbone/convrnn.py)"): a cell with three
// convolutions over the channels [x, h] (in + hid → hid), odd kernel k, padding k//2,
//   z = σ(W_z·[x,h] + b_z), r = σ(W_r·[x,h] + b_r), o = tanh(W_o·[x, r⊙h] + b_o),
//   h' = h⊙(1−z) + o⊙z,
// and the sequence forward over T with dropout on the carried state after every step.
// Fused (convgru_cell: the z and r convolutions as one convolution with 2·hid output
// channels, the gate math in two fused elementwise kernels with hand-written backward,
// models/convgru_kernels.h) and an unfused twin from engine ops with the same parameters.
#pragma once
#include "engine/generator.h"
#include "engine/tensor.h"

namespace fovea {

// Parameters of one cell, PyTorch OIHW layouts. gate_weight stacks W_z (output channels
// [0, hid)) over W_r ([hid, 2·hid)); both convolutions see the input channels in the order
// [x channels, hidden channels]. Biases may be undefined (no bias).
struct ConvGRUWeights {
  Tensor gate_weight;  // [2·hid, in + hid, k, k]
  Tensor gate_bias;    // [2·hid]
  Tensor out_weight;   // [hid, in + hid, k, k]
  Tensor out_bias;     // [hid]

  int64_t hidden() const { return out_weight.size(0); }
  int64_t kernel_size() const { return out_weight.size(2); }
};

// DPC's init: W_z, W_r and W_o each drawn separately by nn::init::orthogonal_ (in that order
// from gen) with `gain` (DPC 1, MemDPC 0.1), so each gate's [hid, (in + hid)·k·k] block has
// orthonormal rows scaled by gain; biases zero. Leaves that require grad.
ConvGRUWeights convgru_weights(int64_t in_channels, int64_t hidden, int64_t kernel_size, Generator& gen,
                               DType dtype = DType::f32, Device device = Device::cpu(), double gain = 1.0);

// One step. x [N, in, H, W], h [N, hid, H, W]; returns h' [N, hid, H, W]. Differentiable
// (first order) in x, h and every weight and bias. For k = 1 the convolutions are plain GEMMs
// (matmul over [N, in + hid, H·W]) with no im2col copy; for k > 1 they are engine conv2d.
// The gate tensor [N, 2·hid, H, W] is consumed in place by the fused kernels (no split copy).
Tensor convgru_cell(const Tensor& x, const Tensor& h, const ConvGRUWeights& weights);

// The same step from engine ops: conv2d for z, r and o (with W_z, W_r the two halves of
// gate_weight), sigmoid, tanh, mul, rsub and add, every intermediate materialised.
Tensor convgru_cell_unfused(const Tensor& x, const Tensor& h, const ConvGRUWeights& weights);

struct ConvGRUOutput {
  Tensor states;  // [N, T, hid, H, W]: the (dropped-out) state after every step
  Tensor last;    // [N, hid, H, W]: states[:, T-1]
};

// Sequence forward over x [N, T, in, H, W] from h0 (zeros when undefined): after every step
// h = dropout(cell(x_t, h), p, training, gen), and the dropped-out state is carried forward, as
// DPC's ConvGRU. fused picks convgru_cell or convgru_cell_unfused; with the same generator state
// both draw the same masks. Backward through time is autograd over the per-step ops.
ConvGRUOutput convgru(const Tensor& x, const ConvGRUWeights& weights, double dropout_p, bool training,
                      Generator* gen = nullptr, bool fused = true, const Tensor& h0 = Tensor());

}  // namespace fovea
