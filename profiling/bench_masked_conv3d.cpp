// Benchmarks of the saccade model's masked 3-D convolution (models/masked_conv3d.h), fused
// (masked vol2col over the active output positions + GEMM) against the unfused twin
// (index_select → mul → conv3d), forward + backward for x, weight and bias, at the R3D-18 stem
// (N = 8 clips 3×16×112×112 → 64 channels, kernel 3×7×7, stride 1×2×2, padding 1×3×3) with the
// 5 fixation masks (sample n uses mask n mod 5) on the CPU. Validated against the unfused
// composition in f64 on the CPU before timing.
#include <sstream>
#include <string>

#include "engine/ops.h"
#include "models/masked_conv3d.h"
#include "profiling/bench.h"

namespace {

using fovea::Device;
using fovea::DType;
using fovea::Shape;
using fovea::Tensor;

constexpr double kElement = 4;
constexpr double kTolerance = 1e-3;

struct Problem {
  int64_t n = 8, c = 3, t = 16, h = 112, w = 112, cout = 64;
  Shape kernel{3, 7, 7}, stride{1, 2, 2}, padding{1, 3, 3};
  int64_t ot() const { return t; }
  int64_t oh() const { return h / 2; }
  int64_t ow() const { return w / 2; }
  double x_elems() const { return double(n) * c * t * h * w; }
  double out_elems() const { return double(n) * cout * ot() * oh() * ow(); }
  double k() const { return double(c) * kernel[0] * kernel[1] * kernel[2]; }  // GEMM depth C·kT·kH·kW
  double w_elems() const { return double(cout) * k(); }
};

// Forward + backward, f32 (e = 4 bytes), A = active output positions (fused) or all N·P
// (unfused), K = C·kT·kH·kW, X = N·C·T·H·W, Y = N·Cout·P, Wt = Cout·K:
//   fused    read x, masks (once per sample, H·W), W, b, grad_out; write out, grad_x, grad_W, grad_b
//            bytes e·(2·X + 2·Y + 2·Wt + 2·Cout) + N·H·W
//            flops 6·Cout·K·A (forward GEMM, grad_W GEMM, grad_cols GEMM over the active columns)
//   unfused  as fused plus the materialised masked input x⊙m (written, read by conv forward
//            and by its backward) and grad of x⊙m (written, read by mul's backward):
//            bytes e·(6·X + 2·Y + 2·Wt + 2·Cout) + N·H·W, flops 6·Cout·K·N·P + 2·X
double bytes(const Problem& p, bool fused) {
  return kElement * ((fused ? 2 : 6) * p.x_elems() + 2 * p.out_elems() + 2 * p.w_elems() + 2 * p.cout) +
         double(p.n) * p.h * p.w;
}
double flops(const Problem& p, double active, bool fused) {
  const double all = double(p.n) * p.ot() * p.oh() * p.ow();
  return fused ? 6 * p.cout * p.k() * active : 6 * p.cout * p.k() * all + 2 * p.x_elems();
}


struct Grads {
  Tensor out, x, w, b;
};

}  // namespace

FOVEA_BENCH(masked_conv3d) {
  if (!runner.wants("masked_conv3d", {"fused", "unfused"})) return;
  const Problem p;
  fovea::Generator gen(17);
  const Tensor x = fovea::randn({p.n, p.c, p.t, p.h, p.w}, DType::f32, &gen);
  const Tensor w = fovea::mul(fovea::randn({p.cout, p.c, p.kernel[0], p.kernel[1], p.kernel[2]}, DType::f32, &gen), 0.05);
  const Tensor b = fovea::mul(fovea::randn({p.cout}, DType::f32, &gen), 0.1);
  const Tensor masks = fovea::fixation_masks(p.h, p.w, 2, 0.25);
  Tensor index = fovea::make_tensor({p.n}, DType::i64);
  for (int64_t i = 0; i < p.n; ++i) index.data<int64_t>()[i] = i % masks.size(0);
  const Tensor upstream = fovea::rand({p.n, p.cout, p.ot(), p.oh(), p.ow()}, DType::f32, &gen);
  const fovea::MaskedConvStats stats = fovea::masked_conv3d_stats(x, masks, index, w, p.stride, p.padding, {1});
  const double active = double(stats.total_positions - stats.skipped_positions);

  // f64 reference through the unfused composition.
  const auto ref = std::make_shared<Grads>();
  {
    const Tensor xd = x.to(DType::f64).requires_grad_(), wd = w.to(DType::f64).requires_grad_();
    const Tensor bd = b.to(DType::f64).requires_grad_();
    const Tensor out = fovea::masked_conv3d_unfused(xd, masks, index, wd, bd, p.stride, p.padding, {1});
    out.backward(upstream.to(DType::f64));
    *ref = {out.detach(), xd.grad(), wd.grad(), bd.grad()};
  }
  std::ostringstream shape;
  shape << "N" << p.n << "_C" << p.c << "_T" << p.t << "_" << p.h << "x" << p.w << "_Cout" << p.cout
        << "_k3x7x7_s1x2x2_Np5_skip" << static_cast<int>(100 * stats.skipped_fraction() + 0.5) << "pct";
  fovea::bench::Case c{.kernel = "masked_conv3d", .shape = shape.str(), .device = "cpu"};
  c.min_repeats = 3;
  for (const bool fused : {true, false}) {
    const auto grads = std::make_shared<Grads>();
    c.variants.push_back({fused ? "fused" : "unfused", bytes(p, fused), flops(p, active, fused),
                          [=] {
                            const Tensor xv = x.detach().requires_grad_(), wv = w.detach().requires_grad_();
                            const Tensor bv = b.detach().requires_grad_();
                            const Tensor out =
                                fused ? fovea::masked_conv3d(xv, masks, index, wv, bv, p.stride, p.padding, {1})
                                      : fovea::masked_conv3d_unfused(xv, masks, index, wv, bv, p.stride, p.padding, {1});
                            out.backward(upstream);
                            *grads = {out.detach(), xv.grad(), wv.grad(), bv.grad()};
                          },
                          [=] {
                            for (const auto& [a, e, what] :
                                 {std::tuple{grads->out, ref->out, "out"}, {grads->x, ref->x, "grad_x"},
                                  {grads->w, ref->w, "grad_weight"}, {grads->b, ref->b, "grad_bias"}})
                              if (std::string m = fovea::bench::compare(what, a, e, kTolerance); !m.empty()) return m;
                            return std::string();
                          }});
  }
  runner.run(std::move(c));
}
