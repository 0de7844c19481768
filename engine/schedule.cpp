// The learning-rate schedules: torch's chainable formulas and the plateau detector, with
// their state in checkpointable form.
#include "engine/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace fovea {

LRScheduler::LRScheduler(const char* name, Optimizer& optimizer) : name_(name), optimizer_(optimizer) {
  for (size_t g = 0; g < optimizer_.num_groups(); ++g) {
    if (!optimizer_.initial_lr(g)) optimizer_.set_initial_lr(g, optimizer_.lr(g));
    base_lrs_.push_back(*optimizer_.initial_lr(g));
  }
  record_last_lr();
}

void LRScheduler::record_last_lr() {
  last_lr_.clear();
  for (size_t g = 0; g < optimizer_.num_groups(); ++g) last_lr_.push_back(optimizer_.lr(g));
}

ScheduleState LRScheduler::state_dict() const {
  ScheduleState out = extra_state();
  out["last_epoch"] = static_cast<double>(last_epoch_);
  for (size_t g = 0; g < base_lrs_.size(); ++g) out["base_lr." + std::to_string(g)] = base_lrs_[g];
  return out;
}

std::vector<std::string> LRScheduler::check_state_dict(const ScheduleState& state) const {
  std::vector<std::string> problems;
  const ScheduleState expected = state_dict();
  for (const auto& [key, value] : expected)
    if (!state.count(key)) problems.push_back(std::string(name_) + ": missing key '" + key + "'");
  for (const auto& [key, value] : state)
    if (!expected.count(key)) problems.push_back(std::string(name_) + ": unexpected key '" + key + "'");
  const auto epoch = state.find("last_epoch");
  if (epoch != state.end() && !(epoch->second == std::floor(epoch->second) && std::abs(epoch->second) < 9e15))
    problems.push_back(std::string(name_) + ": last_epoch must be an integer, got " + std::to_string(epoch->second));
  return problems;
}

void LRScheduler::load_state_dict(const ScheduleState& state) {
  const std::vector<std::string> problems = check_state_dict(state);
  if (!problems.empty()) {
    std::string all;
    for (const std::string& p : problems) all += (all.empty() ? "" : "; ") + p;
    FOVEA_FAIL(name_, "cannot load schedule state (", problems.size(), " problems): ", all);
  }
  last_epoch_ = static_cast<int64_t>(state.at("last_epoch"));
  for (size_t g = 0; g < base_lrs_.size(); ++g) base_lrs_[g] = state.at("base_lr." + std::to_string(g));
  std::map<std::string, double> extra;
  for (const auto& [key, value] : extra_state()) extra[key] = state.at(key);
  set_extra_state(extra);
  record_last_lr();
}

void EpochScheduler::step() {
  ++last_epoch_;
  for (size_t g = 0; g < optimizer_.num_groups(); ++g) optimizer_.set_lr(g, compute_lr(g, optimizer_.lr(g)));
  record_last_lr();
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma)
    : EpochScheduler("MultiStepLR", optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  FOVEA_CHECK(gamma > 0, name_, "gamma must be > 0, got ", gamma);
  last_epoch_ = -1;
  step();
}

double MultiStepLR::compute_lr(size_t, double current_lr) const {
  const auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  return hits == 0 ? current_lr : current_lr * std::pow(gamma_, static_cast<double>(hits));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : EpochScheduler("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min) {
  FOVEA_CHECK(t_max > 0, name_, "T_max must be > 0, got ", t_max);
  last_epoch_ = -1;
  step();
}

double CosineAnnealingLR::compute_lr(size_t group, double current_lr) const {
  constexpr double pi = std::numbers::pi;
  const double t = static_cast<double>(last_epoch_), period = static_cast<double>(t_max_);
  if (last_epoch_ == 0) return current_lr;
  if ((last_epoch_ - 1 - t_max_) % (2 * t_max_) == 0)
    return current_lr + (base_lrs_[group] - eta_min_) * (1 - std::cos(pi / period)) / 2;
  return (1 + std::cos(pi * t / period)) / (1 + std::cos(pi * (t - 1) / period)) * (current_lr - eta_min_) + eta_min_;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : EpochScheduler("LinearLR", optimizer),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
  FOVEA_CHECK(start_factor > 0 && start_factor <= 1, name_, "start_factor must be in (0, 1], got ", start_factor);
  FOVEA_CHECK(end_factor >= 0 && end_factor <= 1, name_, "end_factor must be in [0, 1], got ", end_factor);
  FOVEA_CHECK(total_iters > 0, name_, "total_iters must be > 0, got ", total_iters);
  last_epoch_ = -1;
  step();
}

double LinearLR::compute_lr(size_t, double current_lr) const {
  if (last_epoch_ == 0) return current_lr * start_factor_;
  if (last_epoch_ > total_iters_) return current_lr;
  const double slope = end_factor_ - start_factor_;
  const double denominator =
      static_cast<double>(total_iters_) * start_factor_ + static_cast<double>(last_epoch_ - 1) * slope;
  return current_lr * (1.0 + slope / denominator);
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options)
    : LRScheduler("ReduceLROnPlateau", optimizer), options_(std::move(options)) {
  FOVEA_CHECK(options_.factor < 1.0 && options_.factor >= 0, name_, "factor must be in [0, 1), got ", options_.factor);
  FOVEA_CHECK(options_.patience >= 0 && options_.cooldown >= 0, name_, "patience and cooldown must be >= 0, got ",
              options_.patience, " and ", options_.cooldown);
  if (options_.min_lrs.empty()) options_.min_lrs.assign(optimizer.num_groups(), options_.min_lr);
  FOVEA_CHECK(options_.min_lrs.size() == optimizer.num_groups(), name_, "got ", options_.min_lrs.size(),
              " min_lrs for ", optimizer.num_groups(), " parameter groups; give one per group");
  best_ = options_.mode == PlateauOptions::Mode::min ? std::numeric_limits<double>::infinity()
                                                     : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double a) const {
  const bool rel = options_.threshold_mode == PlateauOptions::Threshold::rel;
  if (options_.mode == PlateauOptions::Mode::min)
    return rel ? a < best_ * (1.0 - options_.threshold) : a < best_ - options_.threshold;
  return rel ? a > best_ * (options_.threshold + 1.0) : a > best_ + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience) {
    for (size_t g = 0; g < optimizer_.num_groups(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lrs[g]);
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  record_last_lr();
}

std::map<std::string, double> ReduceLROnPlateau::extra_state() const {
  return {{"best", best_},
          {"num_bad_epochs", static_cast<double>(num_bad_epochs_)},
          {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
}

void ReduceLROnPlateau::set_extra_state(const std::map<std::string, double>& state) {
  best_ = state.at("best");
  num_bad_epochs_ = static_cast<int64_t>(state.at("num_bad_epochs"));
  cooldown_counter_ = static_cast<int64_t>(state.at("cooldown_counter"));
}

}  // namespace fovea
