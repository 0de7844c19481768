// fovea::nn::Module, the base of every layer: parameters, buffers and child modules
// registered in order under PyTorch's names, so state_dict keys ("layer1.0.conv1.weight",
// "bn1.num_batches_tracked") match a torch model's and checkpoints load either way.
//
// Subclasses register in their constructor and keep the returned handles as members:
//   weight_ = register_parameter("weight", init_tensor);
//   register_buffer("running_mean", zeros({c}));
//   conv1_ = register_module("conv1", std::make_shared<Conv2d>(...));
// The handles stay valid for the module's life: to(device) and load_state_dict update the
// registered tensors in place (same TensorImpl), never replace them.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace fovea::nn {

using StateDict = std::map<std::string, Tensor>;
template <typename T>
using Named = std::vector<std::pair<std::string, T>>;

// What load_state_dict / check_state_dict found. `mismatched` holds one readable line per
// key present on both sides whose shape or dtype differs.
struct StateDictReport {
  std::vector<std::string> missing;     // in the module, not in the state dict
  std::vector<std::string> unexpected;  // in the state dict, not in the module
  std::vector<std::string> mismatched;
  bool ok(bool strict) const { return mismatched.empty() && (!strict || (missing.empty() && unexpected.empty())); }
  // One message naming every problem ("" when ok(strict)).
  std::string describe(bool strict) const;
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name used in messages ("Linear", "Sequential", ...).
  virtual std::string type_name() const { return "Module"; }
  // Throws unless overridden: container-only modules need not implement it.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // Recursive, in registration order, children after the module's own entries, with dotted
  // prefixes; a tensor shared by two modules is listed once (under its first name).
  Named<Tensor> named_parameters(bool recurse = true) const;
  Named<Tensor> named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  Named<std::shared_ptr<Module>> named_children() const { return children_; }
  // This module (name "") and every descendant, pre-order.
  Named<Module*> named_modules();

  // Parameters and buffers under their dotted names, detached (sharing storage), in
  // PyTorch's order: per module its parameters, then its buffers, then its children.
  StateDict state_dict() const;
  StateDictReport check_state_dict(const StateDict& state) const;
  // Copies every matching entry into the registered tensors (converting device, never
  // dtype). Throws one fovea::Error naming every problem, before copying anything, when a
  // shape or dtype differs, or, with strict, when keys are missing or unexpected.
  StateDictReport load_state_dict(const StateDict& state, bool strict = true);

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves parameters, their gradients and buffers in place; parameters stay leaves.
  void to(Device device);
  void zero_grad();

 protected:
  // The tensor must be a floating-point leaf; it is made to require grad when requires_grad.
  Tensor register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_state(const std::string& prefix, StateDict& out) const;

  Named<Tensor> parameters_;
  Named<Tensor> buffers_;
  Named<std::shared_ptr<Module>> children_;
  bool training_ = true;
};

}  // namespace fovea::nn
