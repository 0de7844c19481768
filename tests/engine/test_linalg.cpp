// Tests of matmul, bmm and linear: values against hand-computed and naive products, every
// operand layout BLAS sees (contiguous, transposed, copied, broadcast), gradients by central
// differences, and the errors for bad operands.
#include <doctest/doctest.h>

#include "tests/gradcheck.h"

using namespace fovea;
using fovea::testing::gradcheck;
using fovea::testing::random_input;

namespace {

// Triple-loop product of 2-D tensors in double, the oracle for the BLAS path.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  const std::vector<double> x = to_vector(a), y = to_vector(b);
  std::vector<double> out(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) out[i * n + j] += x[i * k + p] * y[p * n + j];
  return from_vector(out, {m, n}, DType::f64);
}

Tensor random_f32(const Shape& shape, uint64_t seed) { return random_input(shape, seed, -1, 1, false).to(DType::f32); }

Tensor product_fn(const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("matmul values 2d") {
    const Tensor a = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor b = from_vector({7, 8, 9, 10, 11, 12}, {3, 2});
    const Tensor c = matmul(a, b);
    CHECK(c.dtype() == DType::f32);
    FOVEA_CHECK_CLOSE(c, from_vector({58, 64, 139, 154}, {2, 2}), 1e-12, 0);
  }

  TEST_CASE("matmul dot and matrix vector products") {
    const Tensor v = from_vector({1, 2, 3}, {3}, DType::f64);
    const Tensor m = from_vector({1, 0, 2, -1, 3, 1}, {3, 2}, DType::f64);
    const Tensor dot = matmul(v, v);
    CHECK(dot.dim() == 0);
    CHECK(dot.item() == 14.0);
    FOVEA_CHECK_CLOSE(matmul(v, m), from_vector({14, 1}, {2}, DType::f64), 1e-12, 0);
    FOVEA_CHECK_CLOSE(matmul(m.t(), v), from_vector({14, 1}, {2}, DType::f64), 1e-12, 0);
  }

  TEST_CASE("matmul transposed and strided operands match naive") {
    const Tensor a = random_input({40, 30}, 1, -1, 1, false);
    const Tensor b = random_input({50, 40}, 2, -1, 1, false);
    FOVEA_CHECK_CLOSE(matmul(a.t(), b.t()), naive_matmul(a.t().contiguous(), b.t().contiguous()), 1e-12, 1e-12);
    // Neither stride of a selected slice is 1: BLAS cannot read it and the engine copies.
    const Tensor cube = random_input({6, 5, 4}, 3, -1, 1, false);
    const Tensor slice = cube.select(2, 1);
    const Tensor right = random_input({5, 3}, 4, -1, 1, false);
    FOVEA_CHECK_CLOSE(matmul(slice, right), naive_matmul(slice.contiguous(), right), 1e-12, 1e-12);
    // A row vector taken from a column (stride != 1) and a narrowed block with a leading dim.
    const Tensor block = a.narrow(0, 3, 20).narrow(1, 5, 10);
    FOVEA_CHECK_CLOSE(matmul(block.t(), block), naive_matmul(block.t().contiguous(), block.contiguous()), 1e-12, 1e-12);
    const Tensor column = a.select(1, 2).unsqueeze(0);
    FOVEA_CHECK_CLOSE(matmul(column, a), naive_matmul(column.contiguous(), a), 1e-12, 1e-12);
  }

  TEST_CASE("matmul f32 larger than a block matches naive") {
    const Tensor a = random_f32({70, 130}, 5), b = random_f32({130, 90}, 6);
    FOVEA_CHECK_CLOSE(matmul(a, b), naive_matmul(a, b).to(DType::f32), 1e-4, 1e-4);
  }

  TEST_CASE("matmul broadcast batch dims") {
    const Tensor a = random_input({2, 1, 3, 4}, 7, -1, 1, false);
    const Tensor b = random_input({5, 4, 2}, 8, -1, 1, false);
    const Tensor c = matmul(a, b);
    REQUIRE(c.shape() == Shape{2, 5, 3, 2});
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 5; ++j)
        FOVEA_CHECK_CLOSE(c.select(0, i).select(0, j), naive_matmul(a.select(0, i).select(0, 0), b.select(0, j)),
                          1e-12, 1e-12);
  }

  TEST_CASE("matmul batched by a matrix folds rows") {
    const Tensor a = random_input({3, 4, 5}, 9, -1, 1, false);
    const Tensor b = random_input({5, 2}, 10, -1, 1, false);
    const Tensor c = matmul(a, b);
    REQUIRE(c.shape() == Shape{3, 4, 2});
    FOVEA_CHECK_CLOSE(c.reshape({12, 2}), naive_matmul(a.reshape({12, 5}), b), 1e-12, 1e-12);
    // A transposed batch cannot fold and goes through the batched path.
    const Tensor at = a.transpose(1, 2);
    const Tensor d = matmul(at, random_input({4, 2}, 11, -1, 1, false));
    CHECK(d.shape() == Shape{3, 5, 2});
  }

  TEST_CASE("matmul many small matrices in parallel") {
    const Tensor a = random_f32({64, 8, 6}, 12), b = random_f32({64, 6, 7}, 13);
    const Tensor c = matmul(a, b);
    for (int64_t i = 0; i < 64; i += 9)
      FOVEA_CHECK_CLOSE(c.select(0, i), naive_matmul(a.select(0, i), b.select(0, i)).to(DType::f32), 1e-5, 1e-5);
  }

  TEST_CASE("matmul empty inner dim gives zeros") {
    const Tensor c = matmul(empty({2, 0}, DType::f64), empty({0, 3}, DType::f64));
    FOVEA_CHECK_CLOSE(c, zeros({2, 3}, DType::f64), 1e-12, 0);
    CHECK(matmul(empty({0, 3}), ones({3, 4})).shape() == Shape{0, 4});
    FOVEA_CHECK_CLOSE(matmul(empty({2, 3, 0}), empty({0, 4})), zeros({2, 3, 4}), 1e-12, 0);
    CHECK(linear(empty({2, 0, 3}), ones({5, 3})).shape() == Shape{2, 0, 5});
  }

  TEST_CASE("matmul gradient of one operand only") {
    const Tensor a = random_input({3, 4}, 14, -1, 1, false);
    const Tensor b = random_input({4, 2}, 15);
    sum(matmul(a, b)).backward();
    CHECK_FALSE(a.grad().defined());
    FOVEA_CHECK_CLOSE(b.grad(), matmul(a.t(), ones({3, 2}, DType::f64)), 1e-12, 1e-12);
  }

  TEST_CASE("bmm values") {
    const Tensor a = from_vector({1, 2, 3, 4, 1, 0, 0, 1}, {2, 2, 2});
    const Tensor b = from_vector({5, 6, 7, 8, 2, 3, 4, 5}, {2, 2, 2});
    FOVEA_CHECK_CLOSE(bmm(a, b), from_vector({19, 22, 43, 50, 2, 3, 4, 5}, {2, 2, 2}), 1e-12, 0);
  }

  TEST_CASE("linear values with and without bias") {
    const Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    const Tensor w = from_vector({1, 0, -1, 2, 1, 0}, {2, 3});
    const Tensor bias = from_vector({10, 20}, {2});
    FOVEA_CHECK_CLOSE(linear(x, w), from_vector({-2, 4, -2, 13}, {2, 2}), 1e-12, 0);
    FOVEA_CHECK_CLOSE(linear(x, w, bias), from_vector({8, 24, 8, 33}, {2, 2}), 1e-12, 0);
    FOVEA_CHECK_CLOSE(linear(x.reshape({2, 1, 3}), w, bias), from_vector({8, 24, 8, 33}, {2, 1, 2}), 1e-12, 0);
    FOVEA_CHECK_CLOSE(linear(x.select(0, 0), w, bias), from_vector({8, 24}, {2}), 1e-12, 0);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("matmul gradcheck 2d") {
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({3, 4}, 20), random_input({4, 5}, 21)}));
  }

  TEST_CASE("matmul gradcheck transposed inputs") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0].t(), in[1].t()); },
                                    {random_input({4, 3}, 22), random_input({5, 4}, 23)}));
  }

  TEST_CASE("matmul gradcheck broadcast batch dims") {
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({2, 1, 3, 4}, 24), random_input({3, 4, 2}, 25)}));
  }

  TEST_CASE("matmul gradcheck matrix with batch") {
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({3, 4}, 26), random_input({2, 4, 5}, 27)}));
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({2, 3, 4}, 28), random_input({4, 5}, 29)}));
  }

  TEST_CASE("matmul gradcheck vectors") {
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({4}, 30), random_input({4}, 31)}));
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({4}, 32), random_input({2, 4, 3}, 33)}));
    FOVEA_CHECK_GRADCHECK(gradcheck(product_fn, {random_input({2, 3, 4}, 34), random_input({4}, 35)}));
  }

  TEST_CASE("bmm gradcheck") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return bmm(in[0], in[1].transpose(1, 2)); },
                                    {random_input({2, 3, 4}, 36), random_input({2, 5, 4}, 37)}));
  }

  TEST_CASE("linear gradcheck with bias") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                                    {random_input({2, 3, 4}, 38), random_input({5, 4}, 39), random_input({5}, 40)}));
  }

  TEST_CASE("linear gradcheck without bias on a transposed input") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return linear(in[0].t(), in[1]); },
                                    {random_input({4, 3}, 41), random_input({2, 4}, 42)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("matmul badinput mismatched inner dims") {
    CHECK_THROWS_WITH_AS(matmul(ones({2, 3}), ones({4, 5})), doctest::Contains("shapes [2, 3] and [4, 5]"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(matmul(ones({3}), ones({4})), doctest::Contains("shapes [3] and [4]"), fovea::Error);
  }

  TEST_CASE("matmul badinput batch dims do not broadcast") {
    CHECK_THROWS_WITH_AS(matmul(ones({2, 3, 4}), ones({3, 4, 5})),
                         doctest::Contains("batch dims of shapes [2, 3, 4] and [3, 4, 5] do not broadcast"),
                         fovea::Error);
  }

  TEST_CASE("matmul badinput integer and mixed dtypes") {
    CHECK_THROWS_WITH_AS(matmul(ones({2, 2}, DType::i64), ones({2, 2}, DType::i64)),
                         doctest::Contains("must be f32 or f64, got i64"), fovea::Error);
    CHECK_THROWS_WITH_AS(matmul(ones({2, 2}), ones({2, 2}, DType::f64)), doctest::Contains("same dtype"),
                         fovea::Error);
  }

  TEST_CASE("matmul badinput scalar and undefined operands") {
    CHECK_THROWS_WITH_AS(matmul(scalar_tensor(2.0), ones({2})), doctest::Contains("at least 1-D"), fovea::Error);
    CHECK_THROWS_WITH_AS(matmul(Tensor(), ones({2})), doctest::Contains("undefined"), fovea::Error);
  }

  TEST_CASE("bmm badinput ranks and batch sizes") {
    CHECK_THROWS_WITH_AS(bmm(ones({2, 3}), ones({3, 2})), doctest::Contains("expected 3-D operands"), fovea::Error);
    CHECK_THROWS_WITH_AS(bmm(ones({2, 3, 4}), ones({3, 4, 5})),
                         doctest::Contains("batch sizes differ: shapes [2, 3, 4] and [3, 4, 5]"), fovea::Error);
    CHECK_THROWS_WITH_AS(bmm(ones({2, 3, 4}), ones({2, 5, 5})), doctest::Contains("cannot be multiplied"),
                         fovea::Error);
  }

  TEST_CASE("linear badinput shapes") {
    CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({4, 5})),
                         doctest::Contains("input of shape [2, 3] has 3 features"), fovea::Error);
    CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({3})), doctest::Contains("weight must be 2-D"), fovea::Error);
    CHECK_THROWS_WITH_AS(linear(ones({2, 3}), ones({4, 3}), ones({3})), doctest::Contains("bias must have shape [4]"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(linear(ones({2, 3}, DType::i32), ones({4, 3})), doctest::Contains("must be f32 or f64"),
                         fovea::Error);
  }
}
