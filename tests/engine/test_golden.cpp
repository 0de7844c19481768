// Compares fovea with PyTorch on the golden files of tests/golden/ (tools/make_goldens.py):
// var, cross_entropy with ignore_index, log_softmax and broadcasting backward, values and
// gradients, in f64 (tight) and f32 (tolerance of f32 rounding).
#include <doctest/doctest.h>

#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::GoldenFile;

namespace {

constexpr double kF64Tol = 1e-12;
constexpr double kF32Tol = 2e-5;

Reduction reduction_from_code(int64_t code) {
  switch (code) {
    case 0: return Reduction::none;
    case 1: return Reduction::mean;
    case 2: return Reduction::sum;
  }
  FOVEA_FAIL("golden", "unknown reduction code ", code, " (tools/make_goldens.py writes 0 none, 1 mean, 2 sum)");
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("var golden dims correction keepdim") {
    const GoldenFile golden = GoldenFile::load("var");
    const Tensor x = golden.get("x");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 5);
    for (const std::string& c : cases) {
      CAPTURE(c);
      const Shape dims = [&] {
        Shape out;
        for (double d : to_vector(golden.get(c + "/dims"))) out.push_back(static_cast<int64_t>(d));
        return out;
      }();
      const Tensor out = var(x, dims, golden.get_int(c + "/correction"), golden.get_int(c + "/keepdim") != 0);
      FOVEA_CHECK_CLOSE(out, golden.get(c + "/out"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(var(x.to(DType::f32), dims, golden.get_int(c + "/correction"),
                            golden.get_int(c + "/keepdim") != 0),
                        golden.get(c + "/out").to(DType::f32), kF32Tol, kF32Tol);
    }
  }

  TEST_CASE("cross_entropy golden with ignore_index loss and input gradient") {
    const GoldenFile golden = GoldenFile::load("cross_entropy");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 3);
    for (const std::string& c : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? kF64Tol : kF32Tol;
        const Tensor input = golden.get_leaf(c + "/input", dtype);
        const Tensor loss = cross_entropy(input, golden.get(c + "/target"), golden.get_int(c + "/ignore_index"),
                                          reduction_from_code(golden.get_int(c + "/reduction")));
        FOVEA_CHECK_CLOSE(loss, golden.get(c + "/loss").to(dtype), tol, tol);
        loss.backward(golden.get(c + "/grad_output").to(dtype));
        FOVEA_CHECK_CLOSE(input.grad(), golden.get(c + "/grad_input").to(dtype), tol, tol);
      }
    }
  }

  TEST_CASE("log_softmax golden values and gradient") {
    const GoldenFile golden = GoldenFile::load("log_softmax");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 3);
    for (const std::string& c : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? kF64Tol : kF32Tol;
        const Tensor x = golden.get_leaf(c + "/x", dtype);
        const Tensor y = log_softmax(x, golden.get_int(c + "/dim"));
        FOVEA_CHECK_CLOSE(y, golden.get(c + "/out").to(dtype), tol, tol);
        y.backward(golden.get(c + "/grad_output").to(dtype));
        FOVEA_CHECK_CLOSE(x.grad(), golden.get(c + "/grad_x").to(dtype), tol, tol);
      }
    }
  }

  TEST_CASE("mul add div sub golden broadcasting backward") {
    const GoldenFile golden = GoldenFile::load("broadcast_backward");
    for (const std::string expression : {"mul_add", "div_sub"}) {
      CAPTURE(expression);
      const std::string p = expression + "/";
      const Tensor a = golden.get_leaf(p + "a", DType::f64);
      const Tensor b = golden.get_leaf(p + "b", DType::f64);
      const Tensor c = golden.get_leaf(p + "c", DType::f64);
      const Tensor out = expression == "mul_add" ? add(mul(a, b), c) : sub(div(a, b), c);
      FOVEA_CHECK_CLOSE(out, golden.get(p + "out"), kF64Tol, kF64Tol);
      out.backward(golden.get(p + "grad_output"));
      FOVEA_CHECK_CLOSE(a.grad(), golden.get(p + "grad_a"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(b.grad(), golden.get(p + "grad_b"), kF64Tol, kF64Tol);
      FOVEA_CHECK_CLOSE(c.grad(), golden.get(p + "grad_c"), kF64Tol, kF64Tol);
    }
  }
}
