// The benchmark harness's validation helper: fovea::bench::compare accepts results within
// tolerance·(1 + |expected|), and otherwise names the worst element, NaNs and size mismatches.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "profiling/bench.h"

using namespace fovea;

TEST_CASE("bench compare accepts values within abs plus rel tolerance") {
  const Tensor expected = from_vector({1.0, -100.0, 0.0}, {3}, DType::f64);
  const Tensor actual = from_vector({1.0 + 1.9e-3, -100.0 - 0.1, 9e-4}, {3}, DType::f32);  // limits 2e-3, 0.101, 1e-3
  CHECK(bench::compare("out", actual, expected, 1e-3) == "");
}

TEST_CASE("bench compare names the worst element beyond tolerance") {
  const Tensor expected = from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2}, DType::f64);
  const Tensor actual = from_vector({1.01, 2.0, 3.5, 4.0}, {2, 2}, DType::f64);
  const std::string message = bench::compare("grad", actual, expected, 1e-3);
  CHECK(message.find("grad[2] = 3.5, expected 3") == 0);
  CHECK(message.find("tolerance 0.001") != std::string::npos);
}

TEST_CASE("bench compare reports nan and element count mismatches") {
  const Tensor expected = from_vector({1.0, 2.0}, {2}, DType::f64);
  CHECK(bench::compare("x", from_vector({1.0, std::nan("")}, {2}, DType::f64), expected, 1e-3).find("x[1] = nan") == 0);
  CHECK(bench::compare("x", from_vector({1.0, 2.0, 3.0}, {3}, DType::f64), expected, 1e-3) ==
        "x has 3 elements, expected 2");
}
