// SGD with momentum, dampening, weight decay and Nesterov.
#include "engine/optim.h"

#include "engine/autograd.h"
#include "engine/ops.h"
#include "profiling/nvtx.h"

namespace fovea {

SGD::SGD(std::vector<Tensor> params, SgdOptions options)
    : params_(std::move(params)), momentum_buffers_(params_.size()), options_(options) {
  FOVEA_CHECK(options.lr >= 0, "SGD", "learning rate must be >= 0, got ", options.lr);
  FOVEA_CHECK(options.momentum >= 0, "SGD", "momentum must be >= 0, got ", options.momentum);
  FOVEA_CHECK(options.weight_decay >= 0, "SGD", "weight_decay must be >= 0, got ", options.weight_decay);
  FOVEA_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "SGD",
              "nesterov needs momentum > 0 and dampening 0");
  for (const Tensor& p : params_)
    FOVEA_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), "SGD",
                "every parameter must be a leaf tensor that requires grad");
}

void SGD::step() {
  FOVEA_NVTX_RANGE("SGD.step");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    Tensor d = options_.weight_decay != 0 ? add(grad, p, options_.weight_decay) : grad;
    if (options_.momentum != 0) {
      Tensor& buf = momentum_buffers_[i];
      if (!buf.defined()) {
        buf = d.clone();
      } else {
        buf.mul_(options_.momentum).add_(d, 1.0 - options_.dampening);
      }
      d = options_.nesterov ? add(d, buf, options_.momentum) : buf;
    }
    p.add_(d, -options_.lr);
  }
}

void SGD::zero_grad() {
  for (const Tensor& p : params_) p.zero_grad();
}

}  // namespace fovea
