// Test helpers: the double-precision central-difference gradient checker, and a tensor
// comparison that reports the worst element and how much of the tolerance it used.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace fovea::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
  int64_t max_elements_per_input = 48;  // larger inputs are sampled evenly
  // Skip elements where the one-sided derivatives disagree (a kink such as relu at 0, or
  // a tie in max), instead of failing on them.
  bool skip_kinks = true;
};

struct GradcheckResult {
  bool ok = true;
  int64_t checked = 0;
  int64_t skipped_kinks = 0;
  std::string report;  // the worst mismatch, or what went wrong
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d(sum(fn(inputs) * w))/d(inputs) for a fixed random w against central differences.
// Inputs must be f64; those with requires_grad are checked.
GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

struct CloseResult {
  bool ok = true;
  std::string report;
};
// |actual - expected| <= atol + rtol·|expected| element-wise; shapes must match.
CloseResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol);

// Random f64 tensor in [lo, hi) that requires grad (seeded Philox).
Tensor random_input(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0, bool requires_grad = true);

}  // namespace fovea::testing

// CHECK that a gradcheck passed and actually checked something.
#define FOVEA_CHECK_GRADCHECK(result)          \
  do {                                         \
    const auto& fovea_gc = (result);           \
    INFO(fovea_gc.report);                     \
    CHECK(fovea_gc.ok);                        \
    CHECK(fovea_gc.checked > 0);               \
  } while (0)

#define FOVEA_CHECK_CLOSE(actual, expected, atol, rtol)                         \
  do {                                                                          \
    const auto fovea_cr = ::fovea::testing::all_close((actual), (expected), (atol), (rtol)); \
    INFO(fovea_cr.report);                                                      \
    CHECK(fovea_cr.ok);                                                         \
  } while (0)
