// rand, randn, randint and dropout on the CUDA device against the CPU: the same generator state
// must give the same bits (atol 0), at sizes that are not multiples of the block size, with
// seeds and offsets that use every bit of the Philox key and counter.
#include <cstdint>
#include <limits>

#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;

namespace {

const std::vector<Shape> kShapes = {{1}, {257}, {3, 1000}, {5000}};
constexpr uint64_t kSeed = 0x9E3779B97F4A7C15ull;

// A generator keyed by a seed with both halves set, advanced so counters start above 2^32.
Generator advanced_generator() {
  Generator gen(kSeed);
  gen.advance(uint64_t{1} << 32 | 12345);
  return gen;
}

// Draws with draw(shape, generator, device) on the CPU and on the CUDA device from equal
// generator states, compares within (atol, rtol), and checks both generators moved alike.
template <typename Draw>
void check_draw_matches_cpu(Draw draw, double atol, double rtol) {
  for (const Shape& shape : kShapes) {
    CAPTURE(shape_str(shape));
    Generator cpu_gen = advanced_generator(), cuda_gen = advanced_generator();
    const Tensor expected = draw(shape, cpu_gen, Device::cpu());
    const Tensor actual = draw(shape, cuda_gen, cuda_device());
    REQUIRE(actual.device() == cuda_device());
    FOVEA_CHECK_CLOSE(actual.to(Device::cpu()), expected, atol, rtol);
    CHECK(cuda_gen.offset() == cpu_gen.offset());
  }
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("rand cuda is bit-identical to cpu in f32 and f64") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
      check_draw_matches_cpu([dtype](const Shape& s, Generator& g, Device d) { return rand(s, dtype, &g, d); }, 0, 0);
    }
  }

  TEST_CASE("randn cuda matches cpu in f32 and f64") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
#if defined(FOVEA_HAS_EMU)
      const double rtol = 0;  // the emulator evaluates log and cos with the C library, as the CPU does
#else
      // A GPU's double log and cos are within 2 ulp, not always the C library's bits.
      const double rtol = dtype == DType::f32 ? 0x1.0p-23 : 0x1.0p-50;
#endif
      check_draw_matches_cpu([dtype](const Shape& s, Generator& g, Device d) { return randn(s, dtype, &g, d); }, 0,
                             rtol);
    }
  }

  TEST_CASE("randint cuda is bit-identical to cpu for small negative and 63-bit ranges") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    constexpr int64_t kHuge = std::numeric_limits<int64_t>::max() / 2;
    for (const auto& [low, high] : {std::pair<int64_t, int64_t>{0, 10}, {-5, 3}, {7, 8}, {-kHuge, kHuge}}) {
      CAPTURE(low);
      CAPTURE(high);
      check_draw_matches_cpu(
          [low = low, high = high](const Shape& s, Generator& g, Device d) { return randint(low, high, s, &g, d); },
          0, 0);
    }
  }

  TEST_CASE("dropout cuda mask and gradient are bit-identical to cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f32, DType::f64}) {
      for (const Shape& shape : kShapes) {
        for (double p : {0.3, 0.999, 1.0}) {
          CAPTURE(dtype_name(dtype));
          CAPTURE(shape_str(shape));
          CAPTURE(p);
          const Tensor x = random_input(shape, 11).to(dtype);
          check_cuda_matches_cpu(
              [p](const std::vector<Tensor>& in) {
                Generator gen = advanced_generator();
                return dropout(in[0], p, true, &gen);
              },
              {x}, 0, 0);
        }
      }
    }
  }

  TEST_CASE("dropout cuda of a transposed input follows row-major positions like the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_cuda_matches_cpu(
        [](const std::vector<Tensor>& in) {
          Generator gen = advanced_generator();
          return dropout(in[0].t(), 0.5, true, &gen);
        },
        {random_input({33, 7}, 12)}, 0, 0);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("rand randn cuda reject integer dtypes and randint cuda an empty range") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK_THROWS_WITH_AS(rand({3}, DType::i64, nullptr, cuda_device()), doctest::Contains("rand"), Error);
    CHECK_THROWS_WITH_AS(randn({3}, DType::i32, nullptr, cuda_device()), doctest::Contains("randn"), Error);
    CHECK_THROWS_WITH_AS(randint(4, 4, {3}, nullptr, cuda_device()), doctest::Contains("empty range"), Error);
  }

  TEST_CASE("dropout cuda with p outside 0 to 1 is an error") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor x = ones({4}, DType::f32, cuda_device());
    CHECK_THROWS_WITH_AS(dropout(x, 1.5, true), doctest::Contains("[0, 1]"), Error);
    CHECK_THROWS_WITH_AS(dropout(x, -0.1, true), doctest::Contains("[0, 1]"), Error);
  }
}
