// Linear, ReLU, Dropout, Flatten and Sequential.
#include "engine/nn/layers.h"

#include <cmath>

#include "engine/nn/init.h"
#include "engine/ops.h"

namespace fovea::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, DType dtype, Generator* gen) {
  FOVEA_CHECK(in_features > 0 && out_features > 0, "Linear", "feature counts must be positive, got in_features=",
              in_features, ", out_features=", out_features);
  weight_ = register_parameter("weight", empty({out_features, in_features}, dtype));
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, gen);
  if (bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    bias_ = register_parameter("bias", empty({out_features}, dtype));
    init::uniform_(bias_, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& input) { return linear(input, weight_, bias_); }

Tensor ReLU::forward(const Tensor& input) { return relu(input); }

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  FOVEA_CHECK(p >= 0.0 && p <= 1.0, "Dropout", "probability p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& input) { return dropout(input, p_, is_training(), gen_); }

Tensor Flatten::forward(const Tensor& input) { return input.flatten(start_dim_, end_dim_); }

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(module)));
}

Module& Sequential::operator[](size_t index) const {
  FOVEA_CHECK(index < modules_.size(), "Sequential", "index ", index, " is out of range for ", modules_.size(),
              " modules");
  return *modules_[index];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& m : modules_) x = m->forward(x);
  return x;
}

}  // namespace fovea::nn
