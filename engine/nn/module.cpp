// Module registration, recursive naming, state_dict loading with a full problem report,
// train/eval and in-place device moves.
#include "engine/nn/module.h"

#include <set>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace fovea::nn {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string describe_tensor(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return shape_str(t.shape()) + " " + dtype_name(t.dtype());
}

// Points t's own TensorImpl at a copy of its data on `device`, so every handle to the
// tensor (a module member, an optimiser's list) sees the move.
void move_in_place(const Tensor& t, Device device) {
  if (t.device() == device) return;
  const Tensor moved = t.detach().to(device).contiguous();
  TensorImpl* impl = t.impl();
  impl->storage = moved.impl()->storage;
  impl->strides = moved.strides();
  impl->offset = moved.offset();
  if (impl->grad) impl->grad = Tensor(impl->grad).detach().to(device).impl_ptr();
}

template <typename Getter>
Named<Tensor> collect_named(const Module& root, bool recurse, Getter own) {
  Named<Tensor> out;
  std::set<const TensorImpl*> seen;
  auto visit = [&](auto& self, const Module& m, const std::string& prefix) -> void {
    for (const auto& [name, t] : own(m)) {
      if (seen.insert(t.impl()).second) out.emplace_back(prefix + name, t);
    }
    if (!recurse) return;
    for (const auto& [name, child] : m.named_children()) self(self, *child, prefix + name + ".");
  };
  visit(visit, root, "");
  return out;
}

}  // namespace

std::string StateDictReport::describe(bool strict) const {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : "; ") + part; };
  if (strict && !missing.empty())
    add("missing keys (" + std::to_string(missing.size()) + "): " + join(missing));
  if (strict && !unexpected.empty())
    add("unexpected keys (" + std::to_string(unexpected.size()) + "): " + join(unexpected));
  if (!mismatched.empty())
    add("shape/dtype mismatches (" + std::to_string(mismatched.size()) + "): " + join(mismatched));
  return out;
}

Tensor Module::forward(const Tensor&) {
  FOVEA_FAIL(type_name(), "forward is not implemented for this module; call its children directly "
             "or override forward");
}

void Module::check_new_name(const std::string& name, const char* what) const {
  FOVEA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), "invalid ", what, " name '",
              name, "': names must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  FOVEA_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), type_name(), "cannot register ", what,
              " '", name, "': the name is already used by a parameter, buffer or child of this module");
}

Tensor Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name, "parameter");
  FOVEA_CHECK(value.defined(), type_name(), "parameter '", name, "' is an undefined tensor");
  FOVEA_CHECK(value.is_leaf(), type_name(), "parameter '", name,
              "' must be a leaf tensor; create it under NoGradGuard or pass t.detach()");
  FOVEA_CHECK(is_floating(value.dtype()), type_name(), "parameter '", name, "' must be f32 or f64, got ",
              dtype_name(value.dtype()));
  value.requires_grad_(requires_grad);
  parameters_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name, "buffer");
  FOVEA_CHECK(value.defined(), type_name(), "buffer '", name, "' is an undefined tensor");
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "child module");
  FOVEA_CHECK(module != nullptr, type_name(), "child module '", name, "' is null");
  children_.emplace_back(name, std::move(module));
}

Named<Tensor> Module::named_parameters(bool recurse) const {
  return collect_named(*this, recurse, [](const Module& m) -> const Named<Tensor>& { return m.parameters_; });
}

Named<Tensor> Module::named_buffers(bool recurse) const {
  return collect_named(*this, recurse, [](const Module& m) -> const Named<Tensor>& { return m.buffers_; });
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

Named<Module*> Module::named_modules() {
  Named<Module*> out{{"", this}};
  for (auto& [name, child] : children_)
    for (auto& [sub, m] : child->named_modules()) out.emplace_back(sub.empty() ? name : name + "." + sub, m);
  return out;
}

void Module::collect_state(const std::string& prefix, StateDict& out) const {
  for (const auto& [name, t] : parameters_) out.emplace(prefix + name, t.detach());
  for (const auto& [name, t] : buffers_) out.emplace(prefix + name, t.detach());
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

StateDict Module::state_dict() const {
  StateDict out;
  collect_state("", out);
  return out;
}

StateDictReport Module::check_state_dict(const StateDict& state) const {
  StateDictReport report;
  const StateDict own = state_dict();
  for (const auto& [key, t] : own) {
    const auto it = state.find(key);
    if (it == state.end()) {
      report.missing.push_back(key);
    } else if (!it->second.defined() || it->second.shape() != t.shape() || it->second.dtype() != t.dtype()) {
      report.mismatched.push_back("'" + key + "': given " + describe_tensor(it->second) + ", module has " +
                                  describe_tensor(t));
    }
  }
  for (const auto& [key, t] : state)
    if (!own.count(key)) report.unexpected.push_back(key);
  return report;
}

StateDictReport Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDictReport report = check_state_dict(state);
  FOVEA_CHECK(report.ok(strict), "load_state_dict", "cannot load into ", type_name(), ": ", report.describe(strict),
              strict ? "" : " (strict=false ignores only missing and unexpected keys)");
  NoGradGuard no_grad;
  for (auto& [key, target] : state_dict()) {
    const auto it = state.find(key);
    if (it != state.end()) target.copy_(it->second);
  }
  return report;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (auto& [name, t] : named_parameters()) move_in_place(t, device);
  for (auto& [name, t] : named_buffers()) move_in_place(t, device);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

}  // namespace fovea::nn
