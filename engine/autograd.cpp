// The autograd tape: recording nodes from op front-ends, gradient accumulation into
// leaves, and the backward engine (dependency counting, newest node first).
#include "engine/autograd.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "engine/ops.h"

namespace fovea {
namespace {

thread_local bool grad_mode = true;
std::atomic<uint64_t> next_sequence_nr{0};

class FunctionNode final : public Node {
 public:
  FunctionNode(const char* name, BackwardFn fn) : name_(name), fn_(std::move(fn)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs) override {
    FOVEA_CHECK(fn_ != nullptr, name_,
                "backward through a graph that was already freed; call backward(grad, /*retain_graph=*/true) "
                "the first time to backpropagate twice");
    return fn_(grad_outputs);
  }
  void release_saved() override { fn_ = nullptr; }

 private:
  const char* name_;
  BackwardFn fn_;
};

// Adds incoming gradients into a leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  const char* name() const override { return "accumulate_grad"; }
  std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs) override {
    const Tensor& incoming = grad_outputs[0];
    if (!incoming.defined()) return {};
    Tensor leaf(leaf_);
    if (!leaf_->grad) {
      leaf_->grad = incoming.detach().clone().impl_ptr();
    } else {
      Tensor(leaf_->grad).add_(incoming);
    }
    return {};
  }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  TensorImpl* impl = leaf.impl();
  if (auto existing = impl->grad_accumulator.lock()) return existing;
  auto acc = std::make_shared<AccumulateGrad>(leaf.impl_ptr());
  acc->input_shapes = {leaf.shape()};
  acc->input_dtypes = {leaf.dtype()};
  impl->grad_accumulator = acc;
  return acc;
}

Edge edge_of(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (t.grad_fn()) return {t.grad_fn(), t.impl()->output_nr};
  return {grad_accumulator(t), 0};
}

}  // namespace

SavedTensor::SavedTensor(const Tensor& tensor, const char* op)
    : tensor_(tensor), version_(tensor.defined() ? tensor.version() : 0), op_(op) {}

Tensor SavedTensor::get() const {
  if (tensor_.defined())
    FOVEA_CHECK(tensor_.version() == version_, op_,
                "a tensor saved for backward was modified in place (its version is ", tensor_.version(),
                ", it was saved at version ", version_, "); clone() it before the in-place op");
  return tensor_;
}

bool grad_mode_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_mode) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record_op(const char* name, const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
               BackwardFn backward) {
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->sequence_nr = next_sequence_nr++;
  node->num_outputs = static_cast<uint32_t>(outputs.size());
  for (const Tensor& input : inputs) {
    node->next_edges.push_back(edge_of(input));
    node->input_shapes.push_back(input.defined() ? input.shape() : Shape{});
    node->input_dtypes.push_back(input.defined() ? input.dtype() : DType::f32);
  }
  for (uint32_t i = 0; i < outputs.size(); ++i) {
    TensorImpl* impl = outputs[i].impl();
    if (!is_floating(impl->dtype)) continue;
    impl->requires_grad = true;
    impl->grad_fn = node;
    impl->output_nr = i;
  }
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  NoGradGuard no_grad;
  // Count, for every node reachable from the roots, how many edges lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  std::vector<Edge> root_edges;
  for (const Tensor& root : roots) {
    root_edges.push_back(edge_of(root));
    Node* n = root_edges.back().node.get();
    if (n && !dependencies.count(n)) {
      dependencies[n] = 0;
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.node) continue;
      auto [it, inserted] = dependencies.try_emplace(e.node.get(), 0);
      it->second++;
      if (inserted) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<Node*, std::vector<Tensor>> pending;
  auto deliver = [&](const Edge& e, const Tensor& g) {
    std::vector<Tensor>& slots = pending[e.node.get()];
    if (slots.empty()) slots.resize(e.node->num_outputs);
    Tensor& slot = slots[e.input_nr];
    slot = slot.defined() ? add(slot, g) : g;
  };
  auto newest_first = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(newest_first)> ready(newest_first);
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Edge& e = root_edges[i];
    if (!e.node) continue;
    keep_alive[e.node.get()] = e.node;
    deliver(e, grads[i]);
  }
  for (auto& [node, count] : dependencies)
    if (count == 0) ready.push(node);

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    std::vector<Tensor> incoming = std::move(pending[node]);
    pending.erase(node);
    if (incoming.empty()) incoming.resize(node->num_outputs);
    std::vector<Tensor> outgoing = node->apply(incoming);
    if (!retain_graph) node->release_saved();
    FOVEA_CHECK(outgoing.size() == node->next_edges.size() || node->next_edges.empty(), node->name(),
                "backward returned ", outgoing.size(), " gradients for ", node->next_edges.size(), " inputs");
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.node) continue;
      if (outgoing[i].defined()) {
        FOVEA_CHECK(outgoing[i].shape() == node->input_shapes[i], node->name(), "backward produced a gradient of shape ",
                    shape_str(outgoing[i].shape()), " for input ", i, " of shape ", shape_str(node->input_shapes[i]));
        deliver(e, outgoing[i].to(node->input_dtypes[i]));
      }
      keep_alive[e.node.get()] = e.node;
      if (--dependencies[e.node.get()] == 0) ready.push(e.node.get());
    }
  }
}

}  // namespace fovea
