// Define-by-run autograd: graph nodes, saved tensors with version checks, grad mode, the
// helper op front-ends use to record a node, and the backward engine.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/tensor.h"

namespace fovea {

struct Edge {
  std::shared_ptr<Node> node;  // null: the input needs no gradient
  uint32_t input_nr = 0;       // which output of `node` this edge feeds
};

class Node {
 public:
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Gradients of the node's outputs in, one gradient per next edge out. An undefined
  // incoming gradient means zero.
  virtual std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs) = 0;
  // Frees what the node saved for backward; later apply() calls must throw.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  std::vector<Shape> input_shapes;  // shapes the gradients returned by apply() must have
  std::vector<DType> input_dtypes;
  uint32_t num_outputs = 1;
  uint64_t sequence_nr = 0;
};

// A tensor kept for backward, with the version it had when saved. get() throws when the
// tensor was modified in place since, or when the graph was already freed.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& tensor, const char* op);
  Tensor get() const;

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
  const char* op_ = "";
};

using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and some input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Records a backward node for `outputs` of op `name` computed from `inputs`. `backward`
// receives the output gradients (undefined = zero) and returns one gradient per input
// (undefined where an input needs none). Does nothing unless needs_grad(inputs).
void record_op(const char* name, const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
               BackwardFn backward);

// Runs backward from `roots` with the given gradients (same shapes as the roots).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

}  // namespace fovea
