// Optimisers that update parameters in place from their .grad, with PyTorch's semantics.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace fovea {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// torch.optim.SGD: d = grad + wd·p; buf = momentum·buf + (1 − dampening)·d (buf = d on the
// first step); d = d + momentum·buf (nesterov) or buf; p −= lr·d.
class SGD {
 public:
  SGD(std::vector<Tensor> params, SgdOptions options);
  void step();
  void zero_grad();
  SgdOptions& options() { return options_; }

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> momentum_buffers_;
  SgdOptions options_;
};

}  // namespace fovea
