// Front-ends of the ConvGRU cell (fused gate kernels, models/convgru_kernels.h, and the unfused
// twin from engine ops) and of the sequence forward with dropout on the carried state.
#include "models/convgru.h"

#include "engine/dispatch.h"
#include "engine/nn/init.h"
#include "engine/ops.h"
#include "engine/ops/common.h"
#include "models/convgru_kernels.h"

namespace fovea {
namespace {

struct Geometry {
  int64_t samples, in_channels, hidden, kernel, height, width;
  int64_t positions() const { return height * width; }
};

void check_parameter(const Tensor& p, const Tensor& x, const Shape& expected, const char* op, const char* name) {
  check_same_device(x, p, op);
  FOVEA_CHECK(p.dtype() == x.dtype(), op, name, " is ", dtype_name(p.dtype()), " but x is ", dtype_name(x.dtype()),
              "; convert one with .to() so both have the same dtype");
  FOVEA_CHECK(p.shape() == expected, op, name, " must be ", shape_str(expected), ", got ", shape_str(p.shape()));
}

Geometry check_arguments(const Tensor& x, const Tensor& h, const ConvGRUWeights& w, const char* op) {
  check_defined(x, op, "x");
  check_defined(h, op, "h");
  check_defined(w.gate_weight, op, "gate_weight");
  check_defined(w.out_weight, op, "out_weight");
  check_floating(x, op, "x");
  FOVEA_CHECK(x.dim() == 4, op, "x must be [N, in, H, W], got shape ", shape_str(x.shape()));
  FOVEA_CHECK(w.out_weight.dim() == 4, op, "out_weight must be [hid, in + hid, k, k], got shape ",
              shape_str(w.out_weight.shape()));
  const Geometry g{x.size(0), x.size(1), w.out_weight.size(0), w.out_weight.size(2), x.size(2), x.size(3)};
  FOVEA_CHECK(g.kernel % 2 == 1 && w.out_weight.size(3) == g.kernel, op,
              "the kernel must be square with an odd size k (padding k//2 keeps H × W), got ",
              w.out_weight.size(2), " × ", w.out_weight.size(3));
  FOVEA_CHECK(w.out_weight.size(1) == g.in_channels + g.hidden, op, "out_weight takes ", w.out_weight.size(1),
              " input channels but x has ", g.in_channels, " and the state ", g.hidden, " (in + hid = ",
              g.in_channels + g.hidden, ")");
  const Shape state{g.samples, g.hidden, g.height, g.width};
  check_same_device(x, h, op);
  FOVEA_CHECK(h.dtype() == x.dtype(), op, "h is ", dtype_name(h.dtype()), " but x is ", dtype_name(x.dtype()));
  FOVEA_CHECK(h.shape() == state, op, "h must be [N, hid, H, W] = ", shape_str(state), " for x of shape ",
              shape_str(x.shape()), ", got ", shape_str(h.shape()));
  check_parameter(w.out_weight, x, w.out_weight.shape(), op, "out_weight");
  check_parameter(w.gate_weight, x, {2 * g.hidden, g.in_channels + g.hidden, g.kernel, g.kernel}, op,
                  "gate_weight (W_z over W_r)");
  if (w.gate_bias.defined()) check_parameter(w.gate_bias, x, {2 * g.hidden}, op, "gate_bias");
  if (w.out_bias.defined()) check_parameter(w.out_bias, x, {g.hidden}, op, "out_bias");
  return g;
}

// Convolution with padding k//2 over [N, C, H, W]. k = 1: a GEMM W[O, C]·x[n] per sample
// through matmul on the [N, C, H·W] view, which skips conv2d's vol2col copy of the input.
Tensor same_conv(const Tensor& x, const Tensor& weight, const Tensor& bias, const Geometry& g) {
  if (g.kernel != 1) return conv2d(x, weight, bias, {1}, {g.kernel / 2});
  const int64_t out = weight.size(0);
  Tensor y = matmul(weight.reshape({out, weight.size(1)}), x.reshape({g.samples, x.size(1), g.positions()}));
  if (bias.defined()) y = add(y, bias.reshape({out, 1}));
  return y.reshape({g.samples, out, g.height, g.width});
}

// A tensor the kernels overwrite entirely, or zeros when they do not run.
Tensor output_tensor(const Shape& shape, const Tensor& like) {
  return like.numel() > 0 ? make_tensor(shape, like.dtype(), like.device()) : zeros(shape, like.dtype(), like.device());
}

// rh = σ(gates_r)⊙h, a differentiable op in gates and h.
Tensor fused_reset(const Tensor& gates, const Tensor& h, const Geometry& g) {
  const char* op = "convgru";
  const Shape flat{g.samples, g.hidden, g.positions()}, flat_gates{g.samples, 2 * g.hidden, g.positions()};
  const Tensor a = gates.detach().contiguous().reshape(flat_gates), hv = h.detach().contiguous().reshape(flat);
  Tensor rh = output_tensor(h.shape(), h);
  if (h.numel() > 0) FOVEA_ON_DEVICE(h.device(), convgru_gates_forward, a, hv, rh.view(flat));
  if (needs_grad({&gates, &h}))
    record_op("convgru_gates", {rh}, {gates, h},
              [sa = SavedTensor(a, op), sh = SavedTensor(hv, op), gates_shape = gates.shape(), state = h.shape(),
               flat](const std::vector<Tensor>& grads) {
                const Tensor a = sa.get(), hv = sh.get();
                if (!grads[0].defined()) return std::vector<Tensor>{Tensor(), Tensor()};
                const Tensor grad_a = output_tensor(a.shape(), a), grad_h = output_tensor(flat, hv);
                if (hv.numel() > 0)
                  FOVEA_ON_DEVICE(hv.device(), convgru_gates_backward, a, hv, grads[0].contiguous().reshape(flat),
                                  grad_a, grad_h);
                return std::vector<Tensor>{grad_a.view(gates_shape), grad_h.view(state)};
              });
  return rh;
}

// h' = h⊙(1−σ(gates_z)) + tanh(o)⊙σ(gates_z), a differentiable op in gates, o and h.
Tensor fused_mix(const Tensor& gates, const Tensor& o, const Tensor& h, const Geometry& g) {
  const char* op = "convgru";
  const Shape flat{g.samples, g.hidden, g.positions()}, flat_gates{g.samples, 2 * g.hidden, g.positions()};
  const Tensor a = gates.detach().contiguous().reshape(flat_gates);
  const Tensor ov = o.detach().contiguous().reshape(flat), hv = h.detach().contiguous().reshape(flat);
  Tensor out = output_tensor(h.shape(), h);
  if (h.numel() > 0) FOVEA_ON_DEVICE(h.device(), convgru_mix_forward, a, ov, hv, out.view(flat));
  if (needs_grad({&gates, &o, &h}))
    record_op("convgru_mix", {out}, {gates, o, h},
              [sa = SavedTensor(a, op), so = SavedTensor(ov, op), sh = SavedTensor(hv, op),
               gates_shape = gates.shape(), state = h.shape(), flat](const std::vector<Tensor>& grads) {
                const Tensor a = sa.get(), ov = so.get(), hv = sh.get();
                if (!grads[0].defined()) return std::vector<Tensor>{Tensor(), Tensor(), Tensor()};
                const Tensor grad_a = output_tensor(a.shape(), a), grad_o = output_tensor(flat, hv),
                             grad_h = output_tensor(flat, hv);
                if (hv.numel() > 0)
                  FOVEA_ON_DEVICE(hv.device(), convgru_mix_backward, a, ov, hv,
                                  grads[0].contiguous().reshape(flat), grad_a, grad_o, grad_h);
                return std::vector<Tensor>{grad_a.view(gates_shape), grad_o.view(state), grad_h.view(state)};
              });
  return out;
}

}  // namespace

ConvGRUWeights convgru_weights(int64_t in_channels, int64_t hidden, int64_t kernel_size, Generator& gen, DType dtype,
                               Device device, double gain) {
  FOVEA_CHECK(in_channels > 0 && hidden > 0 && kernel_size > 0 && kernel_size % 2 == 1, "convgru_weights",
              "needs positive channel counts and an odd kernel size, got in ", in_channels, ", hid ", hidden, ", k ",
              kernel_size);
  const Shape gate{hidden, in_channels + hidden, kernel_size, kernel_size};
  auto orthogonal = [&] {
    Tensor w = make_tensor(gate, dtype);
    nn::init::orthogonal_(w, gain, &gen);
    return w;
  };
  const Tensor update = orthogonal(), reset = orthogonal(), out = orthogonal();
  ConvGRUWeights w;
  w.gate_weight = cat({update, reset}, 0).to(device).requires_grad_();
  w.gate_bias = zeros({2 * hidden}, dtype, device).requires_grad_();
  w.out_weight = out.to(device).requires_grad_();
  w.out_bias = zeros({hidden}, dtype, device).requires_grad_();
  return w;
}

Tensor convgru_cell(const Tensor& x, const Tensor& h, const ConvGRUWeights& weights) {
  FOVEA_NVTX_RANGE("convgru_cell");
  const Geometry g = check_arguments(x, h, weights, "convgru_cell");
  const Tensor gates = same_conv(cat({x, h}, 1), weights.gate_weight, weights.gate_bias, g);
  const Tensor rh = fused_reset(gates, h, g);
  const Tensor o = same_conv(cat({x, rh}, 1), weights.out_weight, weights.out_bias, g);
  return fused_mix(gates, o, h, g);
}

Tensor convgru_cell_unfused(const Tensor& x, const Tensor& h, const ConvGRUWeights& weights) {
  FOVEA_NVTX_RANGE("convgru_cell_unfused");
  const Geometry g = check_arguments(x, h, weights, "convgru_cell_unfused");
  const Shape padding{g.kernel / 2};
  const Tensor& gw = weights.gate_weight;
  const Tensor& gb = weights.gate_bias;
  const Tensor xh = cat({x, h}, 1);
  const Tensor z = sigmoid(conv2d(xh, gw.narrow(0, 0, g.hidden), gb.defined() ? gb.narrow(0, 0, g.hidden) : Tensor(),
                                  {1}, padding));
  const Tensor r = sigmoid(conv2d(xh, gw.narrow(0, g.hidden, g.hidden),
                                  gb.defined() ? gb.narrow(0, g.hidden, g.hidden) : Tensor(), {1}, padding));
  const Tensor o = tanh(conv2d(cat({x, mul(r, h)}, 1), weights.out_weight, weights.out_bias, {1}, padding));
  return add(mul(h, rsub(z, 1.0)), mul(o, z));
}

ConvGRUOutput convgru(const Tensor& x, const ConvGRUWeights& weights, double dropout_p, bool training,
                      Generator* gen, bool fused, const Tensor& h0) {
  FOVEA_NVTX_RANGE("convgru");
  const char* op = "convgru";
  check_defined(x, op, "x");
  check_defined(weights.out_weight, op, "out_weight");
  FOVEA_CHECK(x.dim() == 5, op, "x must be [N, T, in, H, W], got shape ", shape_str(x.shape()));
  FOVEA_CHECK(x.size(1) > 0, op, "x must have at least one step, got shape ", shape_str(x.shape()));
  FOVEA_CHECK(dropout_p >= 0 && dropout_p < 1, op, "dropout_p must be in [0, 1), got ", dropout_p);
  Tensor h = h0.defined() ? h0
                          : zeros({x.size(0), weights.out_weight.size(0), x.size(3), x.size(4)}, x.dtype(), x.device());
  std::vector<Tensor> states;
  for (int64_t t = 0; t < x.size(1); ++t) {
    const Tensor xt = x.select(1, t);
    h = fused ? convgru_cell(xt, h, weights) : convgru_cell_unfused(xt, h, weights);
    if (dropout_p > 0) h = dropout(h, dropout_p, training, gen);
    states.push_back(h);
  }
  return {stack(states, 1), h};
}

}  // namespace fovea
