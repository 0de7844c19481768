// Learning-rate schedules with torch.optim.lr_scheduler's semantics: MultiStepLR,
// CosineAnnealingLR, LinearLR (linear warm-up) and ReduceLROnPlateau.
//
// As in PyTorch, a schedule rewrites the optimiser's group learning rates by the chainable
// (recursive) formulas, so schedules compose by attaching several to one optimiser and
// stepping each every epoch, which is torch's ChainedScheduler: a LinearLR warm-up with a
// MultiStepLR or CosineAnnealingLR (eta_min 0) gives base·warm-up factor·schedule factor,
// and ReduceLROnPlateau scales whatever rate the others set. The first schedule attached
// records each group's initial_lr (the base the factors apply to); constructing a schedule
// performs torch's initial step (epoch 0). The formulas are evaluated in double in torch's
// order, so the rates equal PyTorch's.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/optim.h"

namespace fovea {

// "last_epoch", "base_lr.<group>" and each schedule's own counters ("best", ...).
using ScheduleState = std::map<std::string, double>;

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& last_lr() const { return last_lr_; }

  // The schedule's position and counters; its configuration comes from its constructor.
  ScheduleState state_dict() const;
  std::vector<std::string> check_state_dict(const ScheduleState& state) const;  // one line per problem
  void load_state_dict(const ScheduleState& state);  // throws listing every problem

 protected:
  LRScheduler(const char* name, Optimizer& optimizer);
  virtual std::map<std::string, double> extra_state() const { return {}; }
  virtual void set_extra_state(const std::map<std::string, double>&) {}
  void record_last_lr();

  const char* name_;
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
};

// A schedule driven by the epoch count alone.
class EpochScheduler : public LRScheduler {
 public:
  void step();

 protected:
  using LRScheduler::LRScheduler;
  // torch's get_lr(): the new rate of `group` from its current one at last_epoch_.
  virtual double compute_lr(size_t group, double current_lr) const = 0;
};

// lr ← lr·gamma^(times last_epoch appears in milestones).
class MultiStepLR : public EpochScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  double compute_lr(size_t group, double current_lr) const override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

// eta_min + (base − eta_min)·(1 + cos(π·epoch/T_max))/2, by torch's recursive form.
class CosineAnnealingLR : public EpochScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0.0);

 protected:
  double compute_lr(size_t group, double current_lr) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// Linear warm-up: factor start_factor at epoch 0 rising to end_factor at total_iters.
class LinearLR : public EpochScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0, int64_t total_iters = 5);

 protected:
  double compute_lr(size_t group, double current_lr) const override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

struct PlateauOptions {
  enum class Mode { min, max };
  enum class Threshold { rel, abs };
  Mode mode = Mode::min;
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  Threshold threshold_mode = Threshold::rel;
  int64_t cooldown = 0;
  double min_lr = 0.0;
  std::vector<double> min_lrs;  // per group; overrides min_lr when given
  double eps = 1e-8;
};

// Scales every group's rate by factor (not below its min_lr, and only when the change
// exceeds eps) once the metric has not improved for more than `patience` epochs; then
// waits `cooldown` epochs. Improvement: rel min: a < best·(1 − threshold); rel max:
// a > best·(1 + threshold); abs: a < best − threshold / a > best + threshold.
class ReduceLROnPlateau : public LRScheduler {
 public:
  ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options = {});
  void step(double metric);
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }

 protected:
  std::map<std::string, double> extra_state() const override;
  void set_extra_state(const std::map<std::string, double>& state) override;

 private:
  bool is_better(double a) const;

  PlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace fovea
