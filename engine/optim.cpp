// Optimiser base (groups, flat state save/load with a full problem list), SGD, Adam/AdamW
// and global-norm gradient clipping. Updates are composed from engine ops, so they run on
// whatever device the parameters live on.
#include "engine/optim.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "profiling/nvtx.h"

namespace fovea {

namespace {

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

// A decimal index below `limit` without sign or leading zeros.
std::optional<size_t> parse_index(const std::string& text, size_t limit) {
  if (text.empty() || text.size() > 9 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  size_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  if (value >= limit) return std::nullopt;
  return value;
}

std::string describe(const Tensor& t) {
  return t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype()) : std::string("undefined");
}

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(const char* name, std::vector<std::vector<Tensor>> group_params)
    : name_(name), params_(std::move(group_params)) {
  std::set<const TensorImpl*> seen;
  size_t total = 0;
  for (const auto& group : params_) {
    for (const Tensor& p : group) {
      FOVEA_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), name_,
                  "every parameter must be a leaf tensor that requires grad");
      FOVEA_CHECK(seen.insert(p.impl()).second, name_,
                  "a parameter appears twice (in one group or in two groups); list each parameter once");
    }
    total += group.size();
    state_.emplace_back(group.size());
  }
  FOVEA_CHECK(total > 0, name_, "got no parameters to optimise");
  initial_lr_.resize(params_.size());
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  FOVEA_CHECK(group < params_.size(), name_, "group ", group, " does not exist (", params_.size(), " groups)");
  return params_[group];
}

void Optimizer::zero_grad() {
  for (const auto& group : params_)
    for (const Tensor& p : group) p.zero_grad();
}

std::optional<double> Optimizer::initial_lr(size_t group) const { return initial_lr_.at(group); }
void Optimizer::set_initial_lr(size_t group, double lr) { initial_lr_.at(group) = lr; }

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  for (size_t g = 0; g < params_.size(); ++g) {
    const std::string group = std::to_string(g) + ".";
    for (const auto& [name, value] : hyperparameters(g)) out.scalars[group + name] = value;
    if (initial_lr_[g]) out.scalars[group + "initial_lr"] = *initial_lr_[g];
    for (size_t i = 0; i < params_[g].size(); ++i) {
      const ParamState& s = state_[g][i];
      const std::string param = group + std::to_string(i) + ".";
      if (s.step > 0) out.scalars[param + "step"] = static_cast<double>(s.step);
      for (const auto& [name, buffer] : s.buffers)
        if (buffer.defined()) out.tensors[param + name] = buffer.detach();
    }
  }
  return out;
}

std::vector<std::string> Optimizer::check_state_dict(const OptimizerState& state) const {
  std::vector<std::string> problems;
  const std::vector<std::string> buffers = buffer_names();
  for (const auto& [key, value] : state.scalars) {
    const std::vector<std::string> parts = split_key(key);
    const auto g = parse_index(parts[0], params_.size());
    bool known = false;
    if (g && parts.size() == 2) {
      known = parts[1] == "initial_lr" || hyperparameters(*g).count(parts[1]) > 0;
    } else if (g && parts.size() == 3 && parts[2] == "step" && parse_index(parts[1], params_[*g].size())) {
      known = true;
      if (!(value >= 0 && value == std::floor(value) && value < 9.007199254740992e15))
        problems.push_back("'" + key + "': a step count must be a non-negative integer, got " + std::to_string(value));
    }
    if (!known) problems.push_back("unexpected key '" + key + "'");
  }
  for (const auto& [key, t] : state.tensors) {
    const std::vector<std::string> parts = split_key(key);
    const auto g = parse_index(parts[0], params_.size());
    const auto i = g && parts.size() == 3 ? parse_index(parts[1], params_[*g].size()) : std::nullopt;
    if (!i || std::find(buffers.begin(), buffers.end(), parts[2]) == buffers.end()) {
      problems.push_back("unexpected key '" + key + "'");
      continue;
    }
    const Tensor& p = params_[*g][*i];
    if (!t.defined() || t.shape() != p.shape() || t.dtype() != p.dtype())
      problems.push_back("'" + key + "': given " + describe(t) + ", parameter has " + describe(p));
  }
  for (size_t g = 0; g < params_.size(); ++g)
    for (const auto& [name, value] : hyperparameters(g)) {
      const std::string key = std::to_string(g) + "." + name;
      if (!state.scalars.count(key)) problems.push_back("missing key '" + key + "'");
    }
  return problems;
}

void Optimizer::load_state_dict(const OptimizerState& state) {
  const std::vector<std::string> problems = check_state_dict(state);
  if (!problems.empty()) {
    std::string all;
    for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
    FOVEA_FAIL(name_, "cannot load optimiser state (", problems.size(), " problems): ", all);
  }
  NoGradGuard no_grad;
  for (size_t g = 0; g < params_.size(); ++g) {
    const std::string group = std::to_string(g) + ".";
    std::map<std::string, double> values;
    for (const auto& [name, unused] : hyperparameters(g)) values[name] = state.scalars.at(group + name);
    set_hyperparameters(g, values);
    const auto initial = state.scalars.find(group + "initial_lr");
    initial_lr_[g] = initial == state.scalars.end() ? std::nullopt : std::optional<double>(initial->second);
    for (size_t i = 0; i < params_[g].size(); ++i) {
      ParamState fresh;
      const std::string param = group + std::to_string(i) + ".";
      const auto step = state.scalars.find(param + "step");
      if (step != state.scalars.end()) fresh.step = static_cast<int64_t>(step->second);
      for (const std::string& name : buffer_names()) {
        const auto it = state.tensors.find(param + name);
        if (it != state.tensors.end()) fresh.buffers[name] = it->second.to(params_[g][i].device()).clone();
      }
      state_[g][i] = std::move(fresh);
    }
  }
}

// ---- GroupedOptimizer ----

namespace {

template <typename Options>
std::vector<std::vector<Tensor>> params_of(const std::vector<ParamGroup<Options>>& groups) {
  std::vector<std::vector<Tensor>> out;
  for (const auto& group : groups) out.push_back(group.params);
  return out;
}

}  // namespace

template <typename Options>
GroupedOptimizer<Options>::GroupedOptimizer(const char* name, const std::vector<ParamGroup<Options>>& groups)
    : Optimizer(name, params_of(groups)) {
  for (const auto& group : groups) options_.push_back(group.options);
}

template <typename Options>
std::map<std::string, double> GroupedOptimizer<Options>::hyperparameters(size_t group) const {
  std::map<std::string, double> out;
  Options copy = options_.at(group);
  copy.for_each_field([&](const char* name, auto& field) { out[name] = static_cast<double>(field); });
  return out;
}

template <typename Options>
void GroupedOptimizer<Options>::set_hyperparameters(size_t group, const std::map<std::string, double>& values) {
  options_.at(group).for_each_field([&](const char* name, auto& field) {
    const double value = values.at(name);
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, bool>)
      field = value != 0.0;
    else
      field = value;
  });
}

template class GroupedOptimizer<SgdOptions>;
template class GroupedOptimizer<AdamOptions>;

// ---- SGD ----

namespace {

void check_sgd_options(const SgdOptions& o) {
  FOVEA_CHECK(o.lr >= 0, "SGD", "learning rate must be >= 0, got ", o.lr);
  FOVEA_CHECK(o.momentum >= 0, "SGD", "momentum must be >= 0, got ", o.momentum);
  FOVEA_CHECK(o.weight_decay >= 0, "SGD", "weight_decay must be >= 0, got ", o.weight_decay);
  FOVEA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD",
              "nesterov needs momentum > 0 and dampening 0");
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, SgdOptions options)
    : SGD(std::vector<ParamGroup<SgdOptions>>{{std::move(params), options}}) {}

SGD::SGD(const std::vector<ParamGroup<SgdOptions>>& groups) : GroupedOptimizer("SGD", groups) {
  for (const SgdOptions& o : options_) check_sgd_options(o);
}

void SGD::step() {
  FOVEA_NVTX_RANGE("SGD.step");
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_groups(); ++g) {
    const SgdOptions& o = options_[g];
    for (size_t i = 0; i < params(g).size(); ++i) {
      const Tensor& p = params(g)[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      Tensor d = o.weight_decay != 0 ? add(grad, p, o.weight_decay) : grad;
      if (o.momentum != 0) {
        Tensor& buf = state(g, i).buffers["momentum_buffer"];
        if (!buf.defined()) {
          buf = d.clone();
        } else {
          buf.mul_(o.momentum).add_(d, 1.0 - o.dampening);
        }
        d = o.nesterov ? add(d, buf, o.momentum) : buf;
      }
      p.detach().add_(d, -o.lr);
    }
  }
}

// ---- Adam / AdamW ----

namespace {

void check_adam_options(const AdamOptions& o, const char* name) {
  FOVEA_CHECK(o.lr >= 0, name, "learning rate must be >= 0, got ", o.lr);
  FOVEA_CHECK(o.eps >= 0, name, "eps must be >= 0, got ", o.eps);
  FOVEA_CHECK(o.beta1 >= 0 && o.beta1 < 1, name, "beta1 must be in [0, 1), got ", o.beta1);
  FOVEA_CHECK(o.beta2 >= 0 && o.beta2 < 1, name, "beta2 must be in [0, 1), got ", o.beta2);
  FOVEA_CHECK(o.weight_decay >= 0, name, "weight_decay must be >= 0, got ", o.weight_decay);
}

// m ← lerp(m, target, weight) with torch's two-sided formula.
void lerp_(Tensor& m, const Tensor& target, double weight) {
  if (std::abs(weight) < 0.5) {
    m.add_(sub(target, m), weight);
  } else {
    m.copy_(sub(target, mul(sub(target, m), 1.0 - weight)));
  }
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam("Adam", {{std::move(params), options}}, false) {}
Adam::Adam(const std::vector<ParamGroup<AdamOptions>>& groups) : Adam("Adam", groups, false) {}

Adam::Adam(const char* name, const std::vector<ParamGroup<AdamOptions>>& groups, bool decoupled_weight_decay)
    : GroupedOptimizer(name, groups), decoupled_weight_decay_(decoupled_weight_decay) {
  for (const AdamOptions& o : options_) check_adam_options(o, name);
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options)
    : Adam("AdamW", {{std::move(params), options}}, true) {}
AdamW::AdamW(const std::vector<ParamGroup<AdamOptions>>& groups) : Adam("AdamW", groups, true) {}

void Adam::step() {
  FOVEA_NVTX_RANGE("Adam.step");
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_groups(); ++g) {
    const AdamOptions& o = options_[g];
    for (size_t i = 0; i < params(g).size(); ++i) {
      Tensor p = params(g)[i].detach();
      Tensor grad = params(g)[i].grad();
      if (!grad.defined()) continue;
      ParamState& s = state(g, i);
      Tensor& exp_avg = s.buffers["exp_avg"];
      Tensor& exp_avg_sq = s.buffers["exp_avg_sq"];
      if (!exp_avg.defined()) exp_avg = zeros_like(p);
      if (!exp_avg_sq.defined()) exp_avg_sq = zeros_like(p);
      const int64_t t = ++s.step;

      if (o.weight_decay != 0) {
        if (decoupled_weight_decay_)
          p.mul_(1.0 - o.lr * o.weight_decay);
        else
          grad = add(grad, p, o.weight_decay);
      }
      lerp_(exp_avg, grad, 1.0 - o.beta1);
      exp_avg_sq.mul_(o.beta2).add_(mul(grad, grad), 1.0 - o.beta2);

      const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
      const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(t)));
      Tensor second = exp_avg_sq;
      if (o.amsgrad) {
        Tensor& max_sq = s.buffers["max_exp_avg_sq"];
        max_sq = max_sq.defined() ? maximum(max_sq, exp_avg_sq) : exp_avg_sq.clone();
        second = max_sq;
      }
      const Tensor denom = add(div(sqrt(second), bias_correction2_sqrt), o.eps);
      p.add_(div(exp_avg, denom), -o.lr / bias_correction1);
    }
  }
}

// ---- clipping ----

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  FOVEA_CHECK(norm_type > 0, "clip_grad_norm", "norm_type must be > 0 (or inf), got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  double total = 0.0;
  if (std::isinf(norm_type)) {
    for (const Tensor& g : grads)
      if (g.numel() > 0) total = std::max(total, max(abs(g)).item());
  } else {
    for (const Tensor& g : grads) total += std::pow(norm(g, norm_type).item(), norm_type);
    total = std::pow(total, 1.0 / norm_type);
  }
  FOVEA_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm", "the total norm of order ", norm_type,
              " of the gradients is ", total, "; pass error_if_nonfinite = false to clip anyway");
  const double coefficient = max_norm / (total + 1e-6);
  if (coefficient < 1.0) {
    for (const Tensor& p : params)
      if (p.defined() && p.grad().defined()) p.set_grad(mul(p.grad(), coefficient));
  }
  return total;
}

}  // namespace fovea
