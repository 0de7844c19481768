// Reductions on the CUDA device against the CPU, forward and backward: single-element, ragged,
// long (split across blocks) and many short rows, reduced dims first or last, f32 and f64,
// integer sums, NaN and tie rules of max/min/argmax, and run-to-run determinism.
//
// Tolerances: both devices sum in double (f32 included), in different orders; f64 results agree
// to rounding (atol 1e-12, rtol 1e-10) and f32 results to one rounding of the f32 result (1e-6).
#include <cmath>
#include <tuple>

#if defined(FOVEA_HAS_EMU)
#include "emu/emu.h"
#endif
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;

namespace {

struct Case {
  Shape shape;
  Shape dims;  // reduced dims; {} reduces all
};

// Rows of length 1; ragged rows (one warp each); many short rows; rows reduced over a leading
// dim; rows longer than a warp's share (a block each); one and three long rows split into
// pieces across blocks.
const std::vector<Case> kCases = {{{1, 1}, {1}},    {{3, 257}, {1}}, {{1000, 3}, {1}}, {{37, 5}, {0}},
                                  {{2, 3000}, {1}}, {{5000}, {}},    {{3, 9000}, {1}}};

double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-12 : 1e-6; }
double relative_tolerance(DType dtype) { return dtype == DType::f64 ? 1e-10 : 1e-6; }

// Runs fn over every case in f32 and f64, forward and backward.
void check_cases(const std::function<Tensor(const Tensor&, const Shape&)>& fn, uint64_t seed) {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Case& c : kCases) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(shape_str(c.shape));
      CAPTURE(shape_str(c.dims));
      check_cuda_matches_cpu([&](const std::vector<Tensor>& x) { return fn(x[0], c.dims); },
                             {random_input(c.shape, seed).to(dtype)}, tolerance(dtype), relative_tolerance(dtype));
    }
  }
}

// A [2, 5000] f64 tensor: row 0 is zero but for the max 7 at 4500 and 100 and the min -3 at
// 4999 and 2; row 1 has NaNs at 4200 and 3000. The rows are split across blocks.
Tensor long_rows_with_ties_and_nans() {
  std::vector<double> v(2 * 5000, 0.0);
  v[4500] = v[100] = 7;
  v[4999] = v[2] = -3;
  v[5000 + 4200] = v[5000 + 3000] = NAN;
  v[5000 + 10] = 9;
  return from_vector(v, {2, 5000}, DType::f64);
}

// Short rows: ties in row 0, a NaN in row 1, two NaNs in row 3, a NaN first in row 2.
Tensor short_rows_with_ties_and_nans() {
  std::vector<double> v(4 * 40);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<double>(i));
  v[5] = v[31] = 2;
  v[0] = v[39] = -2;
  v[40 + 17] = NAN;
  v[80] = NAN;
  v[120 + 33] = v[120 + 8] = NAN;
  return from_vector(v, {4, 40}, DType::f32);
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("sum cuda matches cpu on single-element ragged long and many short rows") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_cases([](const Tensor& x, const Shape& dims) { return sum(x, dims); }, 1);
  }

  TEST_CASE("mean cuda matches cpu keeping dims") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_cases([](const Tensor& x, const Shape& dims) { return mean(x, dims, true); }, 2);
  }

  TEST_CASE("var cuda matches cpu with corrections 0 and 1") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_cases([](const Tensor& x, const Shape& dims) { return var(x, dims, 0); }, 3);
    check_cases([](const Tensor& x, const Shape& dims) { return var(x, dims, 1); }, 4);
  }

  TEST_CASE("var cuda of rows no longer than the correction is nan like the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = random_input({3, 1}, 5);
    check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return var(in[0], {1}, 1); }, {x}, 0, 0);
    check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return var(in[0], {1}, 2); }, {x}, 0, 0);
  }

  TEST_CASE("norm cuda matches cpu for p 1 2 and 3") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (double p : {1.0, 2.0, 3.0}) {
      CAPTURE(p);
      check_cases([p](const Tensor& x, const Shape& dims) { return norm(x, p, dims); }, 6);
    }
  }

  TEST_CASE("sum cuda of integer tensors accumulates and wraps like the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::u8, DType::i32, DType::i64}) {
      for (const Case& c : kCases) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(shape_str(c.shape));
        const Tensor x = mul(random_input(c.shape, 7, 0, 1, false), 255.0).to(dtype);
        check_cuda_matches_cpu([&](const std::vector<Tensor>& in) { return sum(in[0], c.dims); }, {x}, 0, 0);
      }
    }
  }

  TEST_CASE("sum cuda over an empty dimension is zero") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor s = sum(zeros({0, 3}, DType::f32, cuda_device()), {0});
    CHECK(to_vector(s) == std::vector<double>{0, 0, 0});
  }

  TEST_CASE("max min cuda values and gradients match cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f32, DType::f64}) {
      for (const Case& c : kCases) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(shape_str(c.shape));
        const int64_t dim = c.dims.empty() ? 0 : c.dims[0];
        const std::vector<Tensor> in = {random_input(c.shape, 8).to(dtype)};
        check_cuda_matches_cpu([dim](const std::vector<Tensor>& x) { return std::get<0>(max(x[0], dim)); }, in, 0, 0);
        check_cuda_matches_cpu([dim](const std::vector<Tensor>& x) { return std::get<0>(min(x[0], dim, true)); }, in,
                               0, 0);
        check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return max(x[0]); }, in, 0, 0);
      }
    }
  }

  TEST_CASE("argmax max min cuda give the first nan and the first of tied extremes also in split rows") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Tensor& x : {short_rows_with_ties_and_nans(), long_rows_with_ties_and_nans()}) {
      CAPTURE(shape_str(x.shape()));
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return argmax(in[0], 1); }, {x}, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return std::get<1>(min(in[0], 1)); }, {x}, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return std::get<0>(max(in[0], 1)); }, {x}, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return min(in[0]); }, {x}, 0, 0);
    }
    const Tensor expected = from_vector({100, 3000}, {2}, DType::i64);
    CHECK(to_vector(argmax(long_rows_with_ties_and_nans().to(cuda_device()), 1)) == to_vector(expected));
  }

  TEST_CASE("argmax max cuda of integer tensors match cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::u8, DType::i32, DType::i64}) {
      CAPTURE(dtype_name(dtype));
      const Tensor x = mul(random_input({6, 1500}, 9, 0, 1, false), 100.0).to(dtype);
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return argmax(in[0], 1); }, {x}, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& in) { return std::get<0>(min(in[0], 0)); }, {x}, 0, 0);
    }
  }

#if defined(FOVEA_HAS_EMU)
  TEST_CASE("sum var argmax cuda give the same bits under every emulator schedule") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = random_input({3, 9000}, 10, -1, 1, false).to(DType::f32).to(cuda_device());
    const auto run = [&x] { return std::vector<Tensor>{sum(x, {1}), var(x, {1}, 1), argmax(x, 1)}; };
    emu::set_seed(1);
    const std::vector<Tensor> first = run();
    emu::set_seed(2);
    const std::vector<Tensor> second = run();
    for (size_t i = 0; i < first.size(); ++i) CHECK(to_vector(first[i]) == to_vector(second[i]));
  }
#endif
}

TEST_SUITE("badinput") {
  TEST_CASE("max argmax cuda of an empty dimension is an error") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = zeros({3, 0}, DType::f32, cuda_device());
    CHECK_THROWS_WITH_AS(max(x, 1), doctest::Contains("empty dimension"), Error);
    CHECK_THROWS_WITH_AS(argmax(x, 1), doctest::Contains("empty dimension"), Error);
    CHECK_THROWS_WITH_AS(min(x), doctest::Contains("empty tensor"), Error);
  }

  TEST_CASE("var cuda with a negative correction or an integer tensor is an error") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK_THROWS_WITH_AS(var(ones({4}, DType::f32, cuda_device()), {0}, -1), doctest::Contains("correction"), Error);
    CHECK_THROWS_WITH_AS(var(ones({4}, DType::i64, cuda_device()), {0}, 1), doctest::Contains("var"), Error);
  }
}
