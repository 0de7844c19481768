// Seeded parameter initialisers with torch.nn.init's formulas (fans, gains, bounds). They
// fill a tensor in place without recording autograd history and draw from the given
// Philox generator (the default generator when null), so a seed fixes every weight.
#pragma once
#include <optional>
#include <utility>

#include "engine/generator.h"
#include "engine/tensor.h"

namespace fovea::nn::init {

enum class Nonlinearity { linear, conv, sigmoid, tanh, relu, leaky_relu };
enum class FanMode { fan_in, fan_out };

// torch.nn.init.calculate_gain; `param` is leaky_relu's negative slope (0.01 when absent).
double calculate_gain(Nonlinearity nonlinearity, std::optional<double> param = std::nullopt);
// (fan_in, fan_out) of a weight of rank >= 2: size(1)·receptive field, size(0)·receptive field.
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& weight);

void constant_(const Tensor& t, double value);
void uniform_(const Tensor& t, double low, double high, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean, double std, Generator* gen = nullptr);
// std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a); uniform uses ±sqrt(3)·std.
void kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                      Nonlinearity nonlinearity = Nonlinearity::leaky_relu, Generator* gen = nullptr);
void kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                     Nonlinearity nonlinearity = Nonlinearity::leaky_relu, Generator* gen = nullptr);
// std = gain·sqrt(2 / (fan_in + fan_out)); uniform uses ±sqrt(3)·std.
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
// A (semi-)orthogonal matrix over [size(0), numel/size(0)], scaled by gain: the Q of a
// Gram-Schmidt QR (in double, on the CPU) of a standard normal draw, with R's diagonal
// positive, as torch's QR-and-sign-fix produces.
void orthogonal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace fovea::nn::init
