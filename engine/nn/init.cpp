// torch.nn.init's formulas over the engine's Philox draws; orthogonal_ by modified
// Gram-Schmidt in double.
#include "engine/nn/init.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace fovea::nn::init {

namespace {

void check_floating_target(const Tensor& t, const char* op) {
  FOVEA_CHECK(t.defined(), op, "the tensor to initialise is undefined");
  FOVEA_CHECK(is_floating(t.dtype()), op, "can only initialise f32 or f64 tensors, got ", dtype_name(t.dtype()));
}

void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.detach().copy_(values);
}

int64_t chosen_fan(const Tensor& t, FanMode mode) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  return mode == FanMode::fan_in ? fan_in : fan_out;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::conv:
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: {
      const double slope = param.value_or(0.01);
      return std::sqrt(2.0 / (1.0 + slope * slope));
    }
  }
  return 1.0;
}

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& weight) {
  FOVEA_CHECK(weight.defined() && weight.dim() >= 2, "fan_in_and_fan_out",
              "fans need a weight with at least 2 dimensions, got shape ",
              weight.defined() ? shape_str(weight.shape()) : std::string("undefined"));
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

void constant_(const Tensor& t, double value) {
  check_floating_target(t, "constant_");
  NoGradGuard no_grad;
  t.detach().fill_(value);
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  check_floating_target(t, "uniform_");
  FOVEA_CHECK(low <= high, "uniform_", "low must be <= high, got [", low, ", ", high, ")");
  assign(t, add(mul(rand(t.shape(), t.dtype(), gen, t.device()), high - low), low));
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  check_floating_target(t, "normal_");
  FOVEA_CHECK(std >= 0, "normal_", "std must be >= 0, got ", std);
  assign(t, add(mul(randn(t.shape(), t.dtype(), gen, t.device()), std), mean));
}

void kaiming_uniform_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating_target(t, "kaiming_uniform_");
  if (t.numel() == 0) return;
  const double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(double(chosen_fan(t, mode)));
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating_target(t, "kaiming_normal_");
  if (t.numel() == 0) return;
  normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(double(chosen_fan(t, mode))), gen);
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  check_floating_target(t, "xavier_uniform_");
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  const double bound = std::sqrt(3.0) * gain * std::sqrt(2.0 / double(fan_in + fan_out));
  uniform_(t, -bound, bound, gen);
}

void xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  check_floating_target(t, "xavier_normal_");
  const auto [fan_in, fan_out] = fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / double(fan_in + fan_out)), gen);
}

void orthogonal_(const Tensor& t, double gain, Generator* gen) {
  check_floating_target(t, "orthogonal_");
  FOVEA_CHECK(t.dim() >= 2, "orthogonal_", "needs a tensor with at least 2 dimensions, got shape ",
              shape_str(t.shape()));
  if (t.numel() == 0) return;
  const int64_t rows = t.size(0), cols = t.numel() / rows;
  // Orthonormalise the columns of a tall m x n matrix (the draw, transposed when wide).
  const bool wide = rows < cols;
  const int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  const std::vector<double> draw = to_vector(randn({rows, cols}, DType::f64, gen));
  std::vector<double> q(m * n);  // column-major: column j at q[j*m ...]
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = wide ? c : r, j = wide ? r : c;
      q[j * m + i] = draw[r * cols + c];
    }
  for (int64_t j = 0; j < n; ++j) {
    double* v = &q[j * m];
    for (int64_t k = 0; k < j; ++k) {
      const double* u = &q[k * m];
      double dot = 0;
      for (int64_t i = 0; i < m; ++i) dot += u[i] * v[i];
      for (int64_t i = 0; i < m; ++i) v[i] -= dot * u[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += v[i] * v[i];
    norm = std::sqrt(norm);
    FOVEA_CHECK(norm > 0, "orthogonal_", "the normal draw was rank-deficient; draw again with another seed");
    for (int64_t i = 0; i < m; ++i) v[i] /= norm;
  }
  std::vector<double> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = wide ? c : r, j = wide ? r : c;
      out[r * cols + c] = gain * q[j * m + i];
    }
  assign(t, from_vector(out, t.shape(), DType::f64).to(t.device()));
}

}  // namespace fovea::nn::init
