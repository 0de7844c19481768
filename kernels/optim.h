// Launchers of the fused optimiser updates (kernels/optim.cu): torch.optim's SGD and Adam/AdamW
// formulas (see engine/optim.h) applied to up to kOptimMaxTensors parameters in one launch, each
// element's parameter, gradient and state read once and written once. Every tensor is
// contiguous; all of one launch share the element type (f32 or f64) and the hyperparameters.
#pragma once
#include "kernels/kernel_args.h"

namespace fovea::kernels {

// Parameters one launch takes (their addresses travel in the kernel's arguments, < 4 KiB).
constexpr int kOptimMaxTensors = 32;
// The default grid: about one wave of 256-thread blocks on an H100; blocks beyond it would
// only add scheduling, the grid-stride loop over chunks covers the rest.
constexpr unsigned kOptimMaxBlocks = 1024;

struct SgdLaunch {
  ElementType type = ElementType::f32;
  int count = 0;
  void* param[kOptimMaxTensors] = {};
  const void* grad[kOptimMaxTensors] = {};
  void* momentum_buffer[kOptimMaxTensors] = {};  // unused when momentum == 0
  int64_t numel[kOptimMaxTensors] = {};
  // The buffer holds nothing yet and is set to the (decayed) gradient, as torch's first step.
  bool first_step[kOptimMaxTensors] = {};
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  unsigned max_blocks = kOptimMaxBlocks;
};

struct AdamLaunch {
  ElementType type = ElementType::f32;
  int count = 0;
  void* param[kOptimMaxTensors] = {};
  const void* grad[kOptimMaxTensors] = {};
  void* exp_avg[kOptimMaxTensors] = {};
  void* exp_avg_sq[kOptimMaxTensors] = {};
  void* max_exp_avg_sq[kOptimMaxTensors] = {};  // used when amsgrad
  int64_t numel[kOptimMaxTensors] = {};
  // lr / (1 − β1ᵗ) and sqrt(1 − β2ᵗ) for the parameter's step t.
  double step_size[kOptimMaxTensors] = {};
  double bias_correction2_sqrt[kOptimMaxTensors] = {};
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  bool decoupled_weight_decay = false;  // AdamW
  bool amsgrad = false;
  unsigned max_blocks = kOptimMaxBlocks;
};

cudaError_t launch_sgd_update(const SgdLaunch& launch, cudaStream_t stream);
cudaError_t launch_adam_update(const AdamLaunch& launch, cudaStream_t stream);

}  // namespace fovea::kernels
