// The non-convolutional layers: Linear, ReLU, Dropout, Flatten, Identity and the Sequential
// container, with PyTorch's parameter names, shapes and default initialisation.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/generator.h"
#include "engine/nn/module.h"

namespace fovea::nn {

// y = x·weightᵀ + bias, weight [out, in]. Default init as torch: kaiming_uniform(a = √5)
// on the weight (bound 1/√in) and bias U(±1/√in), drawn from gen (default generator if null).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::f32,
         Generator* gen = nullptr);
  std::string type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& input) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  Tensor weight_, bias_;
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  Tensor forward(const Tensor& input) override;
};

// Active only in training mode; the mask comes from gen (default generator if null), which
// must outlive the module.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  std::string type_name() const override { return "Dropout"; }
  Tensor forward(const Tensor& input) override;

 private:
  double p_;
  Generator* gen_;
};

class Identity : public Module {
 public:
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& input) override { return input; }
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim_(start_dim), end_dim_(end_dim) {}
  std::string type_name() const override { return "Flatten"; }
  Tensor forward(const Tensor& input) override;

 private:
  int64_t start_dim_, end_dim_;
};

// Runs its children in order; they are named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);
  std::string type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& input) override;
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return modules_.size(); }
  Module& operator[](size_t index) const;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace fovea::nn
