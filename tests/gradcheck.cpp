// The gradient checker and tensor comparison used by the test suites.
#include "tests/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/autograd.h"

namespace fovea::testing {
namespace {

double objective(const TensorFn& fn, const std::vector<Tensor>& inputs, const Tensor& weights) {
  NoGradGuard no_grad;
  const Tensor out = fn(inputs);
  return sum(mul(out.to(DType::f64), weights)).item();
}

}  // namespace

Tensor random_input(const Shape& shape, uint64_t seed, double lo, double hi, bool requires_grad) {
  Generator gen(seed);
  Tensor t = add(mul(rand(shape, DType::f64, &gen), hi - lo), lo);
  t = t.detach();
  if (requires_grad) t.requires_grad_();
  return t;
}

GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  GradcheckResult result;
  std::ostringstream report;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad() && t.dtype() != DType::f64) {
      result.ok = false;
      result.report = "gradcheck needs f64 inputs, got " + std::string(dtype_name(t.dtype()));
      return result;
    }
  }
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) t.zero_grad();

  const Tensor out = fn(inputs);
  Generator gen(1234);
  const Tensor weights = add(rand(out.shape(), DType::f64, &gen), 0.5);
  sum(mul(out.to(DType::f64), weights)).backward();

  double worst_excess = -1;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& input = inputs[k];
    if (!input.defined() || !input.requires_grad()) continue;
    const Tensor grad = input.grad();
    const int64_t n = input.numel();
    const int64_t step = std::max<int64_t>(1, n / options.max_elements_per_input);
    const Tensor flat = input.detach().view({-1});  // inputs are fresh contiguous tensors
    double* values = flat.data<double>();
    for (int64_t i = 0; i < n; i += step) {
      const double saved = values[i];
      values[i] = saved + options.eps;
      const double plus = objective(fn, inputs, weights);
      values[i] = saved - options.eps;
      const double minus = objective(fn, inputs, weights);
      values[i] = saved;
      const double center = objective(fn, inputs, weights);
      const double numeric = (plus - minus) / (2 * options.eps);
      if (options.skip_kinks) {
        const double right = (plus - center) / options.eps, left = (center - minus) / options.eps;
        if (std::abs(right - left) > 1e-3 * (1 + std::abs(numeric))) {
          result.skipped_kinks++;
          continue;
        }
      }
      const double analytic = grad.defined() ? to_vector(grad.reshape({-1}).narrow(0, i, 1))[0] : 0.0;
      const double tolerance = options.atol + options.rtol * std::abs(numeric);
      const double error = std::abs(analytic - numeric);
      result.checked++;
      if (error - tolerance > worst_excess) {
        worst_excess = error - tolerance;
        report.str("");
        report << "input " << k << " element " << i << ": analytic " << analytic << " numeric " << numeric
               << " |diff| " << error << " tolerance " << tolerance << " (" << (error / tolerance) * 100
               << "% of it)";
      }
      if (error > tolerance) result.ok = false;
    }
  }
  if (result.checked == 0) report << "no element was checked (" << result.skipped_kinks << " kinks skipped)";
  result.report = report.str();
  return result;
}

CloseResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  CloseResult r;
  if (actual.shape() != expected.shape()) {
    r.ok = false;
    r.report = "shape " + shape_str(actual.shape()) + " vs expected " + shape_str(expected.shape());
    return r;
  }
  const std::vector<double> a = to_vector(actual), e = to_vector(expected);
  double worst_ratio = 0;
  size_t worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double tolerance = atol + rtol * std::abs(e[i]);
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    const double ratio = both_nan || a[i] == e[i] ? 0 : std::abs(a[i] - e[i]) / tolerance;
    if (!(ratio <= worst_ratio)) {
      worst_ratio = std::isnan(ratio) ? INFINITY : ratio;
      worst = i;
    }
  }
  r.ok = worst_ratio <= 1.0;
  std::ostringstream out;
  if (!a.empty())
    out << "worst element " << worst << ": actual " << a[worst] << " expected " << e[worst] << " ("
        << worst_ratio * 100 << "% of tolerance atol " << atol << " rtol " << rtol << ")";
  r.report = out.str();
  return r;
}

}  // namespace fovea::testing
