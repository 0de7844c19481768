// Optimisers that update parameters in place from their .grad with torch.optim's formulas
// (SGD, Adam, AdamW), parameter groups with their own hyperparameters, gradient clipping
// by global norm, and a flat form of the optimiser's state for checkpoints. Each step is one
// fused pass per parameter: a loop on the CPU, a multi-tensor kernel on CUDA devices.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace fovea {

// The optimiser's state in flat, checkpointable form. Keys:
//   tensors: "<group>.<index>.<buffer>", e.g. "0.3.momentum_buffer", "1.0.exp_avg_sq"
//   scalars: "<group>.<hyperparameter>", e.g. "0.lr", "0.initial_lr", "1.nesterov" (0/1),
//            and "<group>.<index>.step" for parameters that have taken steps.
// <index> is the parameter's position within its group.
struct OptimizerState {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, double> scalars;
};

template <typename Options>
struct ParamGroup {
  std::vector<Tensor> params;
  Options options;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;  // parameters without a gradient are skipped
  void zero_grad();

  size_t num_groups() const { return params_.size(); }
  const std::vector<Tensor>& params(size_t group) const;
  virtual double lr(size_t group) const = 0;
  virtual void set_lr(size_t group, double lr) = 0;
  // torch's group["initial_lr"]: recorded by the first LR scheduler attached, the base its
  // factors apply to.
  std::optional<double> initial_lr(size_t group) const;
  void set_initial_lr(size_t group, double lr);

  OptimizerState state_dict() const;
  // Every problem with `state` for this optimiser (unknown, missing or malformed keys,
  // buffers whose shape or dtype differs from their parameter's), one line each.
  std::vector<std::string> check_state_dict(const OptimizerState& state) const;
  // Replaces hyperparameters and buffers (moved to each parameter's device, copied) after
  // check_state_dict found nothing; throws one fovea::Error listing every problem otherwise.
  void load_state_dict(const OptimizerState& state);

 protected:
  struct ParamState {
    std::map<std::string, Tensor> buffers;
    int64_t step = 0;
  };
  Optimizer(const char* name, std::vector<std::vector<Tensor>> group_params);
  ParamState& state(size_t group, size_t index) { return state_[group][index]; }
  virtual std::map<std::string, double> hyperparameters(size_t group) const = 0;
  virtual void set_hyperparameters(size_t group, const std::map<std::string, double>& values) = 0;
  virtual std::vector<std::string> buffer_names() const = 0;
  // Throws unless every gradient has its parameter's dtype and device (run before a step
  // changes any state).
  void check_gradients() const;

  const char* name_;

 private:
  std::vector<std::vector<Tensor>> params_;
  std::vector<std::vector<ParamState>> state_;
  std::vector<std::optional<double>> initial_lr_;
};

// An optimiser whose groups each hold an Options struct; Options lists its fields through
// for_each_field(f), calling f(name, field) with double& or bool& fields.
template <typename Options>
class GroupedOptimizer : public Optimizer {
 public:
  Options& options(size_t group = 0) { return options_.at(group); }
  const Options& options(size_t group = 0) const { return options_.at(group); }
  double lr(size_t group) const override { return options_.at(group).lr; }
  void set_lr(size_t group, double lr) override { options_.at(group).lr = lr; }

 protected:
  GroupedOptimizer(const char* name, const std::vector<ParamGroup<Options>>& groups);
  std::map<std::string, double> hyperparameters(size_t group) const override;
  void set_hyperparameters(size_t group, const std::map<std::string, double>& values) override;

  std::vector<Options> options_;
};

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;

  template <typename F>
  void for_each_field(F&& f) {
    f("lr", lr), f("momentum", momentum), f("dampening", dampening), f("weight_decay", weight_decay),
        f("nesterov", nesterov);
  }
};

// The operands of one parameter's fused update: contiguous tensors of the parameter's shape,
// dtype (f32 or f64) and device. engine/optim.cpp updates them on the CPU and hands those on
// CUDA devices to fovea::cuda::sgd_update / adam_update (kernels/optim.cu).
struct SgdTensors {
  Tensor param, grad;
  Tensor momentum_buffer;   // undefined when momentum is 0
  bool first_step = false;  // momentum_buffer holds nothing yet: it becomes d, as in torch
};

// torch.optim.SGD: d = grad + wd·p; buf = momentum·buf + (1 − dampening)·d (buf = d on the
// first step); d = d + momentum·buf (nesterov) or buf; p −= lr·d.
class SGD : public GroupedOptimizer<SgdOptions> {
 public:
  SGD(std::vector<Tensor> params, SgdOptions options);
  explicit SGD(const std::vector<ParamGroup<SgdOptions>>& groups);
  void step() override;

 protected:
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // AdamW users usually want torch's 1e-2
  bool amsgrad = false;

  template <typename F>
  void for_each_field(F&& f) {
    f("lr", lr), f("beta1", beta1), f("beta2", beta2), f("eps", eps), f("weight_decay", weight_decay),
        f("amsgrad", amsgrad);
  }
};

struct AdamTensors {
  Tensor param, grad, exp_avg, exp_avg_sq;
  Tensor max_exp_avg_sq;  // amsgrad only
  // For the parameter's step t (counted from 1): lr / (1 − β1ᵗ) and sqrt(1 − β2ᵗ).
  double step_size = 0, bias_correction2_sqrt = 1;
};

// torch.optim.Adam, per parameter with step t:
//   g = grad + wd·p (Adam) | p *= 1 − lr·wd (AdamW, decoupled)
//   m = lerp(m, g, 1 − β1); v = β2·v + (1 − β2)·g²; v̂max = max(v̂max, v) (amsgrad)
//   p −= lr / (1 − β1ᵗ) · m / (sqrt(v or v̂max) / sqrt(1 − β2ᵗ) + eps)
class Adam : public GroupedOptimizer<AdamOptions> {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
  explicit Adam(const std::vector<ParamGroup<AdamOptions>>& groups);
  void step() override;

 protected:
  Adam(const char* name, const std::vector<ParamGroup<AdamOptions>>& groups, bool decoupled_weight_decay);
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}; }

 private:
  bool decoupled_weight_decay_;
};

// torch.optim.AdamW: Adam with decoupled weight decay (see Adam).
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options);
  explicit AdamW(const std::vector<ParamGroup<AdamOptions>>& groups);
};

// torch.nn.utils.clip_grad_norm_: total = p-norm of the gradients' p-norms (p = inf: the
// largest |g|); when total > max_norm every gradient is scaled by max_norm / (total + 1e-6).
// Returns the total norm before clipping. Parameters without a gradient are ignored.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                      bool error_if_nonfinite = false);

}  // namespace fovea
