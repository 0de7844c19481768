// Optimiser base (groups, flat state save/load with a full problem list), SGD, Adam/AdamW
// and global-norm gradient clipping. A step gathers each group's parameters that have a
// gradient and updates them in one fused pass per parameter: the loops of fovea::cpu below on
// the CPU (the reference), fovea::cuda::sgd_update / adam_update (kernels/optim.cu) on CUDA
// devices, through FOVEA_ON_DEVICE.
#include "engine/optim.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/cpu/strided.h"
#include "engine/dispatch.h"
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

void Optimizer::check_gradients() const {
  for (size_t g = 0; g < params_.size(); ++g)
    for (size_t i = 0; i < params_[g].size(); ++i) {
      const Tensor& p = params_[g][i];
      const Tensor grad = p.grad();
      FOVEA_CHECK(!grad.defined() || (grad.dtype() == p.dtype() && grad.device() == p.device()), name_,
                  "the gradient of parameter ", i, " of group ", g, " is ", dtype_name(grad.dtype()), " on ",
                  grad.device().str(), " but the parameter is ", dtype_name(p.dtype()), " on ", p.device().str(),
                  "; set gradients of the parameter's dtype and device");
    }
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

// ---- fused updates: the CPU loops and the device dispatch ----

namespace cpu {
namespace {

// fn(begin, end) over [0, n), split across the OpenMP threads when n is large.
template <typename Fn>
void parallel_ranges(int64_t n, Fn&& fn) {
  const int threads = omp_get_max_threads();
  if (n < kParallelGrain || threads == 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (n + kParallelGrain - 1) / kParallelGrain);
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) fn(n * c / chunks, n * (c + 1) / chunks);
}

// torch.optim.SGD's formulas (engine/optim.h) over elements [begin, end), in T with the
// hyperparameters rounded to T as torch's scalar arguments are.
template <typename T>
void sgd_range(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ buffer, int64_t begin,
               int64_t end, const SgdOptions& o, bool first_step) {
  const T lr = static_cast<T>(o.lr), momentum = static_cast<T>(o.momentum),
          one_minus_dampening = static_cast<T>(1.0 - o.dampening), weight_decay = static_cast<T>(o.weight_decay);
  const bool decay = weight_decay != 0, nesterov = o.nesterov;
  for (int64_t i = begin; i < end; ++i) {
    T d = grad[i];
    if (decay) d = d + weight_decay * param[i];
    if (buffer) {
      const T buf = first_step ? d : momentum * buffer[i] + one_minus_dampening * d;
      buffer[i] = buf;
      d = nesterov ? d + momentum * buf : buf;
    }
    param[i] = param[i] - lr * d;
  }
}

// torch.optim.Adam / AdamW's formulas over elements [begin, end): decay, lerp (two-sided) for
// the first moment, addcmul for the second, the amsgrad maximum (NaN-propagating like
// torch.maximum), addcdiv. Amsgrad is a template argument, which keeps its branch out of the loop.
template <typename T, bool kAmsgrad>
void adam_range(T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ exp_avg,
                T* __restrict__ exp_avg_sq, T* __restrict__ max_exp_avg_sq, int64_t begin, int64_t end,
                const AdamOptions& o, bool decoupled_weight_decay, const AdamTensors& x) {
  const T weight_decay = static_cast<T>(o.weight_decay), decay_factor = static_cast<T>(1.0 - o.lr * o.weight_decay),
          w = static_cast<T>(1.0 - o.beta1), beta2 = static_cast<T>(o.beta2),
          one_minus_beta2 = static_cast<T>(1.0 - o.beta2), eps = static_cast<T>(o.eps),
          step_size = static_cast<T>(x.step_size), bias_correction2_sqrt = static_cast<T>(x.bias_correction2_sqrt);
  const bool decoupled = weight_decay != 0 && decoupled_weight_decay;
  const bool coupled = weight_decay != 0 && !decoupled_weight_decay, small_weight = w < T(0.5);
  for (int64_t i = begin; i < end; ++i) {
    const T p = decoupled ? param[i] * decay_factor : param[i];
    const T g = coupled ? grad[i] + weight_decay * param[i] : grad[i];
    const T m_old = exp_avg[i];
    const T m = small_weight ? m_old + w * (g - m_old) : g - (g - m_old) * (T(1) - w);
    const T v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    T second = v;
    if constexpr (kAmsgrad) {
      const T old_max = max_exp_avg_sq[i];
      second = old_max != old_max || old_max > v ? old_max : v;
      max_exp_avg_sq[i] = second;
    }
    param[i] = p + -step_size * m / (std::sqrt(second) / bias_correction2_sqrt + eps);
  }
}

template <typename T>
void sgd_loop(const SgdTensors& x, const SgdOptions& o) {
  T* param = x.param.data<T>();
  const T* grad = x.grad.data<T>();
  T* buffer = o.momentum != 0 ? x.momentum_buffer.data<T>() : nullptr;
  parallel_ranges(x.param.numel(), [&](int64_t begin, int64_t end) {
    sgd_range(param, grad, buffer, begin, end, o, x.first_step);
  });
}

template <typename T>
void adam_loop(const AdamTensors& x, const AdamOptions& o, bool decoupled_weight_decay) {
  T* param = x.param.data<T>();
  const T* grad = x.grad.data<T>();
  T* exp_avg = x.exp_avg.data<T>();
  T* exp_avg_sq = x.exp_avg_sq.data<T>();
  T* max_exp_avg_sq = o.amsgrad ? x.max_exp_avg_sq.data<T>() : nullptr;
  parallel_ranges(x.param.numel(), [&](int64_t begin, int64_t end) {
    if (o.amsgrad)
      adam_range<T, true>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, begin, end, o, decoupled_weight_decay, x);
    else
      adam_range<T, false>(param, grad, exp_avg, exp_avg_sq, nullptr, begin, end, o, decoupled_weight_decay, x);
  });
}

template <typename Operands, typename Loop>
void for_each_parameter(const std::vector<Operands>& tensors, const char* op, Loop&& loop) {
  for (const Operands& x : tensors) {
    switch (x.param.dtype()) {
      case DType::f32: loop(x, float{}); break;
      case DType::f64: loop(x, double{}); break;
      default: FOVEA_FAIL(op, "parameters must be f32 or f64, got ", dtype_name(x.param.dtype()));
    }
  }
}

void sgd_update(const std::vector<SgdTensors>& tensors, const SgdOptions& o) {
  for_each_parameter(tensors, "SGD", [&](const SgdTensors& x, auto tag) { sgd_loop<decltype(tag)>(x, o); });
}

void adam_update(const std::vector<AdamTensors>& tensors, const AdamOptions& o, bool decoupled_weight_decay) {
  for_each_parameter(tensors, "Adam", [&](const AdamTensors& x, auto tag) {
    adam_loop<decltype(tag)>(x, o, decoupled_weight_decay);
  });
}

}  // namespace
}  // namespace cpu

namespace {

// Hands `operands` to update(device, same_device_operands) once per device, with contiguous
// gradients, and updates a parameter that is not contiguous through a contiguous copy. Bumps
// every parameter's version, as in-place ops do, so that autograd sees the change.
template <typename Operands, typename Update>
void update_fused(std::vector<Operands> operands, Update&& update) {
  std::vector<std::pair<Tensor, Tensor>> copied;  // (parameter, the copy updated in its place)
  for (Operands& x : operands) {
    x.grad = x.grad.contiguous();
    if (!x.param.is_contiguous()) {
      copied.emplace_back(x.param, x.param.contiguous());
      x.param = copied.back().second;
    }
  }
  while (!operands.empty()) {
    const Device device = operands.front().param.device();
    std::vector<Operands> here, elsewhere;
    for (Operands& x : operands) (x.param.device() == device ? here : elsewhere).push_back(std::move(x));
    update(device, here);
    for (const Operands& x : here) x.param.storage().bump_version();
    operands = std::move(elsewhere);
  }
  for (auto& [param, copy] : copied) param.copy_(copy);
}

}  // namespace

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
  check_gradients();
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_groups(); ++g) {
    const SgdOptions& o = options_[g];
    std::vector<SgdTensors> operands;
    for (size_t i = 0; i < params(g).size(); ++i) {
      const Tensor& p = params(g)[i];
      if (!p.grad().defined()) continue;
      SgdTensors x{.param = p.detach(), .grad = p.grad()};
      if (o.momentum != 0) {
        Tensor& buf = state(g, i).buffers["momentum_buffer"];
        x.first_step = !buf.defined();
        if (x.first_step) buf = make_tensor(p.shape(), p.dtype(), p.device());
        x.momentum_buffer = buf;
      }
      operands.push_back(std::move(x));
    }
    update_fused(std::move(operands), [&](const Device& device, const std::vector<SgdTensors>& xs) {
      FOVEA_NVTX_RANGE("sgd_update");
      FOVEA_ON_DEVICE(device, sgd_update, xs, o);
    });
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
  FOVEA_NVTX_RANGE(decoupled_weight_decay_ ? "AdamW.step" : "Adam.step");
  check_gradients();
  NoGradGuard no_grad;
  for (size_t g = 0; g < num_groups(); ++g) {
    const AdamOptions& o = options_[g];
    std::vector<AdamTensors> operands;
    for (size_t i = 0; i < params(g).size(); ++i) {
      const Tensor& p = params(g)[i];
      if (!p.grad().defined()) continue;
      ParamState& s = state(g, i);
      const auto buffer = [&](const char* name) {
        Tensor& b = s.buffers[name];
        if (!b.defined()) b = zeros(p.shape(), p.dtype(), p.device());
        return b;
      };
      const double t = static_cast<double>(++s.step);
      AdamTensors x{.param = p.detach(),
                    .grad = p.grad(),
                    .exp_avg = buffer("exp_avg"),
                    .exp_avg_sq = buffer("exp_avg_sq"),
                    .step_size = o.lr / (1.0 - std::pow(o.beta1, t)),
                    .bias_correction2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, t))};
      if (o.amsgrad) x.max_exp_avg_sq = buffer("max_exp_avg_sq");
      operands.push_back(std::move(x));
    }
    update_fused(std::move(operands), [&](const Device& device, const std::vector<AdamTensors>& xs) {
      FOVEA_NVTX_RANGE("adam_update");
      FOVEA_ON_DEVICE(device, adam_update, xs, o, decoupled_weight_decay_);
    });
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
