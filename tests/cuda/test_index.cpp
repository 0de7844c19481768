// cat, stack, index_select, embedding, gather and scatter_add on the CUDA device against the CPU,
// forward and backward: strided inputs, i32 and i64 indices, duplicate indices (the
// deterministic scatter kernel must match the CPU bit for bit), and out-of-range indices
// rejected with the CPU's message.
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;

namespace {

Tensor indices(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return from_vector(values, shape, dtype);
}

// Random indices in [0, high): with more indices than values, many repeat.
Tensor random_indices(int64_t high, const Shape& shape, uint64_t seed, DType dtype) {
  Generator gen(seed);
  return randint(0, high, shape, &gen).to(dtype);
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("cat and stack cuda match cpu with strided inputs and skipped empties and dtype promotion") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> in = {random_input({2, 3}, 1), random_input({5, 2}, 2), random_input({7, 2}, 3)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return cat({x[0], x[1].t(), x[2].t()}, 1); }, in, 0, 0);
    check_cuda_matches_cpu(
        [](const std::vector<Tensor>& x) {
          return cat({x[0].t(), empty({0}, DType::f64, x[0].device()), x[1], x[2]}, 0);
        },
        in, 0, 0);
    check_cuda_matches_cpu(
        [](const std::vector<Tensor>& x) {
          return stack({x[0], neg(x[0]), x[1].t().narrow(1, 1, 3)}, 1);
        },
        {in[0], in[1]}, 0, 0);
    const std::vector<Tensor> mixed = {random_input({3, 4}, 4).to(DType::f32).detach(), random_input({2, 4}, 5)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return cat({x[0], x[1]}, 0); }, mixed, 0, 0);
  }

  TEST_CASE("index_select cuda forward and backward with duplicate indices along every dim") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType index_dtype : {DType::i64, DType::i32}) {
      for (int64_t dim : {0, 1, 2}) {
        CAPTURE(dim);
        const std::vector<Tensor> in = {random_input({5, 7, 3}, 6), random_indices(3, {11}, 7, index_dtype)};
        check_cuda_matches_cpu([dim](const std::vector<Tensor>& x) { return index_select(x[0], dim, x[1]); }, in, 0, 0);
      }
    }
    const std::vector<Tensor> f32 = {random_input({40, 33}, 8).to(DType::f32).detach().requires_grad_(),
                                     random_indices(40, {300}, 9, DType::i64)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return index_select(x[0], 0, x[1]); }, f32, 0, 0);
    const std::vector<Tensor> ints = {random_indices(100, {6, 4}, 10, DType::i32), indices({3, 0, 3}, {3}, DType::i64)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return index_select(x[0], 0, x[1]); }, ints, 0, 0);
  }

  TEST_CASE("embedding cuda forward and backward with repeated tokens") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<Tensor> small = {random_input({11, 6}, 11), indices({1, 4, 4, 10, 1, 4}, {2, 3}, DType::i64)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); }, small, 0, 0);
    // 70 table columns spread over 32 buckets per column.
    const std::vector<Tensor> wide = {random_input({50, 70}, 12).to(DType::f32).detach().requires_grad_(),
                                      random_indices(50, {4, 75}, 13, DType::i32)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return embedding(x[0], x[1]); }, wide, 0, 0);
  }

  TEST_CASE("gather cuda on strided inputs with backward through scatter_add with duplicates") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType index_dtype : {DType::i64, DType::i32}) {
      const std::vector<Tensor> in = {random_input({6, 5}, 14), random_indices(5, {4, 9}, 15, index_dtype),
                                      random_indices(6, {3, 5}, 16, index_dtype)};
      // x[0].t() is [5, 6]: a strided input; the transposed output gives a strided gradient.
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return gather(x[0].t(), 1, x[1]).t(); }, in, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return gather(x[0], 0, x[2]); }, in, 0, 0);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return gather(x[0].t(), 0, x[1].narrow(1, 0, 6)); }, in,
                             0, 0);
    }
    const std::vector<Tensor> f32 = {random_input({3, 37, 2}, 17).to(DType::f32).detach().requires_grad_(),
                                     random_indices(37, {3, 50, 2}, 18, DType::i64)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return gather(x[0], 1, x[1]); }, f32, 0, 0);
  }

  TEST_CASE("scatter_add cuda with duplicate indices and strided or larger src") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType index_dtype : {DType::i64, DType::i32}) {
      for (int64_t dim : {0, 1}) {
        CAPTURE(dim);
        const std::vector<Tensor> in = {random_input({4, 6}, 19),
                                        random_indices(dim == 0 ? 4 : 6, {7, 5}, 20, index_dtype),
                                        random_input({8, 9}, 21)};
        check_cuda_matches_cpu(
            [dim](const std::vector<Tensor>& x) {
              return scatter_add(x[0], dim, dim == 0 ? x[1] : x[1].narrow(0, 0, 4), x[2]);
            },
            in, 0, 0);
        check_cuda_matches_cpu(
            [dim](const std::vector<Tensor>& x) {
              return scatter_add(x[0], dim, dim == 0 ? x[1].narrow(1, 0, 4) : x[1].narrow(0, 0, 4), x[2].t());
            },
            in, 0, 0);
      }
    }
    const std::vector<Tensor> ints = {random_indices(9, {3, 4}, 22, DType::i32),
                                      indices({1, 1, 0, 1}, {1, 4}, DType::i64),
                                      random_indices(9, {2, 4}, 23, DType::i32)};
    check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return scatter_add(x[0], 0, x[1], x[2]); }, ints, 0, 0);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("index_select gather scatter_add and embedding cuda reject out-of-range indices") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Device cuda = testing::cuda_device();
    const Tensor a = random_input({3, 4}, 24, -1.0, 1.0, false).to(cuda);
    for (DType dtype : {DType::i64, DType::i32}) {
      const Tensor bad = indices({1, 9, 0}, {3}, dtype).to(cuda);
      CHECK_THROWS_WITH_AS(
          index_select(a, 0, bad),
          doctest::Contains("index value 9 at position 1 of the index is out of range for dimension 0 (size 3)"),
          Error);
      CHECK_THROWS_WITH_AS(embedding(a, bad.view({1, 3})), doctest::Contains("index value 9 at position 1"), Error);
      const Tensor negative = indices({0, 1, -1, 2}, {1, 4}, dtype).to(cuda);
      CHECK_THROWS_WITH_AS(gather(a, 1, negative), doctest::Contains("negative indices are not wrapped"), Error);
      CHECK_THROWS_WITH_AS(scatter_add(a, 1, negative, a), doctest::Contains("index value -1 at position 2"), Error);
    }
  }
}
