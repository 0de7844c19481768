// Joining, splitting and indexing ops (cat, stack, split, chunk, index_select, gather,
// scatter_add, embedding): values against hand-computed results, gradchecks, bad input.
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::gradcheck;
using testing::random_input;

namespace {

using Values = std::vector<double>;

Tensor f64(const Values& values, const Shape& shape) { return from_vector(values, shape, DType::f64); }
Tensor i64(const Values& values, const Shape& shape) { return from_vector(values, shape, DType::i64); }

// 0..n-1 as f64 in the given shape.
Tensor counting(const Shape& shape) { return arange(0.0, static_cast<double>(shape_numel(shape)), 1.0, DType::f64).view(shape); }

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("cat along dim 0 and a negative dim") {
    Tensor a = f64({1, 2, 3, 4}, {2, 2});
    Tensor b = f64({5, 6}, {1, 2});
    Tensor rows = cat({a, b}, 0);
    CHECK(rows.shape() == Shape{3, 2});
    CHECK(to_vector(rows) == Values{1, 2, 3, 4, 5, 6});
    Tensor c = f64({7, 8}, {2, 1});
    Tensor cols = cat({a, c}, -1);
    CHECK(cols.shape() == Shape{2, 3});
    CHECK(to_vector(cols) == Values{1, 2, 7, 3, 4, 8});
  }
  TEST_CASE("cat of non-contiguous inputs") {
    Tensor a = counting({3, 2}).t();                    // [[0, 2, 4], [1, 3, 5]]
    Tensor b = counting({2, 4}).narrow(1, 1, 2);        // [[1, 2], [5, 6]]
    Tensor out = cat({a, b}, 1);
    CHECK(out.shape() == Shape{2, 5});
    CHECK(to_vector(out) == Values{0, 2, 4, 1, 2, 1, 3, 5, 5, 6});
  }
  TEST_CASE("cat promotes dtypes across inputs") {
    Tensor ints = from_vector({1, 2}, {2}, DType::i64);
    Tensor floats = from_vector({0.5}, {1}, DType::f32);
    Tensor out = cat({ints, floats});
    CHECK(out.dtype() == DType::f32);
    CHECK(to_vector(out) == Values{1, 2, 0.5});
    CHECK(cat({floats, f64({0.25}, {1})}).dtype() == DType::f64);
  }
  TEST_CASE("cat skips 1-d empty tensors and keeps their gradient shape") {
    Tensor none = zeros({0}, DType::f64).requires_grad_();
    Tensor x = random_input({2, 3}, 3);
    Tensor out = cat({none, x, none}, 1);
    CHECK(out.shape() == Shape{2, 3});
    CHECK(to_vector(out) == to_vector(x));
    sum(out).backward();
    CHECK(none.grad().shape() == Shape{0});
    CHECK(to_vector(x.grad()) == Values(6, 1.0));
    CHECK(cat({zeros({0}), zeros({0})}).shape() == Shape{0});
    CHECK(cat({zeros({2, 0}), zeros({3, 0})}).shape() == Shape{5, 0});
  }
  TEST_CASE("cat gradient keeps each input dtype") {
    Tensor a = ones({2}, DType::f32).requires_grad_();
    Tensor b = ones({1}, DType::f64).requires_grad_();
    Tensor out = cat({a, b});
    CHECK(out.dtype() == DType::f64);
    sum(mul(out, f64({1, 2, 3}, {3}))).backward();
    CHECK(a.grad().dtype() == DType::f32);
    CHECK(to_vector(a.grad()) == Values{1, 2});
    CHECK(to_vector(b.grad()) == Values{3});
  }
  TEST_CASE("stack along a new first and last dim") {
    Tensor a = f64({1, 2, 3}, {3});
    Tensor b = f64({4, 5, 6}, {3});
    Tensor first = stack({a, b});
    CHECK(first.shape() == Shape{2, 3});
    CHECK(to_vector(first) == Values{1, 2, 3, 4, 5, 6});
    Tensor last = stack({a, b}, -1);
    CHECK(last.shape() == Shape{3, 2});
    CHECK(to_vector(last) == Values{1, 4, 2, 5, 3, 6});
  }
  TEST_CASE("split gives views with a smaller last part") {
    Tensor a = counting({5, 2});
    std::vector<Tensor> parts = split(a, 2);
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].shape() == Shape{2, 2});
    CHECK(parts[2].shape() == Shape{1, 2});
    CHECK(to_vector(parts[1]) == Values{4, 5, 6, 7});
    CHECK(to_vector(parts[2]) == Values{8, 9});
    CHECK(&parts[1].storage() == &a.storage());
    CHECK(parts[1].offset() == 4);
    std::vector<Tensor> columns = split(a, 1, -1);
    REQUIRE(columns.size() == 2);
    CHECK(to_vector(columns[1]) == Values{1, 3, 5, 7, 9});
  }
  TEST_CASE("split size larger than the dim or an empty dim gives one part") {
    CHECK(split(counting({3}), 10).size() == 1);
    std::vector<Tensor> empty_parts = split(zeros({0, 4}), 3);
    REQUIRE(empty_parts.size() == 1);
    CHECK(empty_parts[0].shape() == Shape{0, 4});
    CHECK(split(zeros({0}), 0).size() == 1);
  }
  TEST_CASE("chunk uses parts of ceil size n over chunks") {
    auto sizes = [](const std::vector<Tensor>& parts) {
      Shape out;
      for (const Tensor& p : parts) out.push_back(p.size(-1));
      return out;
    };
    CHECK(sizes(chunk(counting({5}), 3)) == Shape{2, 2, 1});
    CHECK(sizes(chunk(counting({5}), 4)) == Shape{2, 2, 1});  // fewer parts than asked, as in PyTorch
    CHECK(sizes(chunk(counting({6}), 4)) == Shape{2, 2, 2});
    CHECK(sizes(chunk(counting({2, 7}), 2, -1)) == Shape{4, 3});
    CHECK(sizes(chunk(zeros({0}), 3)) == Shape{0, 0, 0});
    CHECK(to_vector(chunk(counting({2, 4}), 2, 1)[1]) == Values{2, 3, 6, 7});
  }
  TEST_CASE("index_select along dims 0 and -1 with repeated i32 indices") {
    Tensor a = counting({3, 4});
    Tensor rows = index_select(a, 0, from_vector({2, 0, 2}, {3}, DType::i32));
    CHECK(rows.shape() == Shape{3, 4});
    CHECK(to_vector(rows) == Values{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
    Tensor cols = index_select(a, -1, i64({3, 1}, {2}));
    CHECK(cols.shape() == Shape{3, 2});
    CHECK(to_vector(cols) == Values{3, 1, 7, 5, 11, 9});
  }
  TEST_CASE("index_select of a non-contiguous input and an empty index") {
    Tensor a = counting({3, 4}).t();  // a[i][j] = 4j + i
    CHECK(to_vector(index_select(a, 1, i64({2}, {1}))) == Values{8, 9, 10, 11});
    CHECK(index_select(a, 0, zeros({0}, DType::i64)).shape() == Shape{0, 3});
  }
  TEST_CASE("index_select backward accumulates repeated indices") {
    Tensor a = random_input({3, 2}, 5);
    sum(index_select(a, 0, i64({0, 2, 0}, {3}))).backward();
    CHECK(to_vector(a.grad()) == Values{2, 2, 0, 0, 1, 1});
  }
  TEST_CASE("index_select large input matches direct indexing") {
    const int64_t rows = 3000, width = 40;
    Tensor a = counting({rows, width});
    Generator gen(11);
    Tensor index = randint(0, rows, {5000}, &gen);
    const Values picked = to_vector(index_select(a, 0, index));
    const Values idx = to_vector(index);
    bool all_match = true;
    for (size_t j = 0; j < idx.size(); ++j)
      for (int64_t c = 0; c < width; ++c) all_match = all_match && picked[j * width + c] == idx[j] * width + c;
    CHECK(all_match);
  }
  TEST_CASE("gather along dim 1 and dim 0") {
    Tensor t = f64({1, 2, 3, 4}, {2, 2});
    CHECK(to_vector(gather(t, 1, i64({0, 0, 1, 0}, {2, 2}))) == Values{1, 1, 4, 3});
    Tensor a = counting({3, 4});
    Tensor picked = gather(a, 0, i64({2, 1, 0}, {1, 3}));  // index smaller than a in dim 1
    CHECK(picked.shape() == Shape{1, 3});
    CHECK(to_vector(picked) == Values{8, 5, 2});
  }
  TEST_CASE("gather of non-contiguous input and index with a negative dim") {
    Tensor a = counting({3, 2}).t();                                 // [[0, 2, 4], [1, 3, 5]]
    Tensor index = from_vector({2, 1, 0, 0}, {2, 2}, DType::i32).t();  // [[2, 0], [1, 0]]
    CHECK(to_vector(gather(a, -1, index)) == Values{4, 0, 3, 1});
    CHECK(gather(a, 1, zeros({2, 0}, DType::i64)).shape() == Shape{2, 0});
  }
  TEST_CASE("gather backward scatters into the picked positions") {
    Tensor a = random_input({2, 3}, 6);
    sum(gather(a, 1, i64({2, 2, 0, 1}, {2, 2}))).backward();
    CHECK(to_vector(a.grad()) == Values{0, 0, 2, 1, 1, 0});
  }
  TEST_CASE("scatter_add is out of place and adds repeated targets") {
    Tensor base = zeros({3, 5}, DType::f64);
    Tensor index = i64({0, 1, 2, 0, 0, 2, 0, 0, 1, 2}, {2, 5});
    Tensor src = add(counting({2, 5}), 1.0);  // 1..10
    Tensor out = scatter_add(base, 0, index, src);
    CHECK(to_vector(out) == Values{1, 7, 8, 4, 5, 0, 2, 0, 9, 0, 6, 0, 3, 0, 10});
    CHECK(to_vector(base) == Values(15, 0.0));
    Tensor along_columns = scatter_add(ones({2, 3}, DType::f64), -1, i64({1, 1, 0, 2}, {2, 2}), f64({1, 2, 3, 4}, {2, 2}));
    CHECK(to_vector(along_columns) == Values{1, 4, 1, 4, 1, 5});
  }
  TEST_CASE("scatter_add with a non-contiguous src larger than the index") {
    Tensor src = counting({3, 2}).t();  // [[0, 2, 4], [1, 3, 5]]
    Tensor out = scatter_add(zeros({2, 2}, DType::f64), 1, i64({1, 1}, {1, 2}), src);
    CHECK(to_vector(out) == Values{0, 2, 0, 0});
  }
  TEST_CASE("scatter_add keeps max backward working") {
    Tensor a = f64({1, 9, 3, 7, 2, 5}, {2, 3}).requires_grad_();
    sum(std::get<0>(max(a, 1))).backward();
    CHECK(to_vector(a.grad()) == Values{0, 1, 0, 1, 0, 0});
  }
  TEST_CASE("scatter_add and gather on large inputs match serial loops bit for bit") {
    // Large enough for the parallel paths; f32 sums in the reference run in increasing
    // position along dim, the order the kernel promises, so results must be identical.
    const int64_t rows = 300, cols = 200;
    Generator gen(3);
    Tensor src = rand({rows, cols}, DType::f32, &gen);
    const std::vector<double> source = to_vector(src);
    for (int64_t dim : {0, 1}) {
      const int64_t extent = dim == 0 ? rows : cols;
      Tensor index = randint(0, extent, {rows, cols}, &gen);
      const std::vector<double> idx = to_vector(index);
      std::vector<float> summed(rows * cols, 0.0f);
      std::vector<double> picked(rows * cols);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t k = r * cols + c, target = static_cast<int64_t>(idx[k]);
          const int64_t into = dim == 0 ? target * cols + c : r * cols + target;
          summed[into] += static_cast<float>(source[k]);
          picked[k] = source[into];
        }
      const std::vector<double> out = to_vector(scatter_add(zeros({rows, cols}), dim, index, src));
      CHECK(out == std::vector<double>(summed.begin(), summed.end()));
      CHECK(to_vector(gather(src, dim, index)) == picked);
    }
  }
  TEST_CASE("embedding picks rows for any index shape") {
    Tensor table = counting({4, 3});
    Tensor out = embedding(table, i64({3, 0, 0, 2}, {2, 2}));
    CHECK(out.shape() == Shape{2, 2, 3});
    CHECK(to_vector(out) == Values{9, 10, 11, 0, 1, 2, 0, 1, 2, 6, 7, 8});
    Tensor single = embedding(table, from_vector({1}, {}, DType::i32));
    CHECK(single.shape() == Shape{3});
    CHECK(to_vector(single) == Values{3, 4, 5});
    CHECK(embedding(table, zeros({0, 5}, DType::i64)).shape() == Shape{0, 5, 3});
  }
  TEST_CASE("embedding backward accumulates repeated rows") {
    Tensor table = random_input({4, 2}, 7);
    Tensor out = embedding(table, i64({1, 3, 1, 1}, {2, 2}));
    sum(mul(out, f64({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2}))).backward();
    CHECK(to_vector(table.grad()) == Values{0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0, 3, 4});
  }
  TEST_CASE("embedding backward on a large table is deterministic") {
    Generator gen(21);
    Tensor indices = randint(0, 50, {20000}, &gen);
    Tensor weights = rand({20000, 96}, DType::f32, &gen);
    auto table_grad = [&] {
      Tensor table = zeros({50, 96}).requires_grad_();
      sum(mul(embedding(table, indices), weights)).backward();
      return to_vector(table.grad());
    };
    const Values first = table_grad();
    CHECK(first == table_grad());
    Tensor counts = scatter_add(zeros({50}, DType::i64), 0, indices, ones({20000}, DType::i64));
    Tensor ones_grad_table = zeros({50, 96}, DType::f64).requires_grad_();
    sum(embedding(ones_grad_table, indices)).backward();
    CHECK(to_vector(ones_grad_table.grad().narrow(1, 5, 1).reshape({-1})) == to_vector(counts));
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("cat gradcheck dim 1 with a non-contiguous input") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return cat({in[0], in[1].t(), in[2]}, 1); },
        {random_input({2, 3}, 10), random_input({4, 2}, 11), random_input({2, 1}, 12)}));
  }
  TEST_CASE("cat gradcheck negative dim") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, -3); },
                                    {random_input({1, 2, 3}, 13), random_input({2, 2, 3}, 14)}));
  }
  TEST_CASE("stack gradcheck dim 1") {
    FOVEA_CHECK_GRADCHECK(gradcheck([](const std::vector<Tensor>& in) { return stack({in[0], in[1], in[0]}, 1); },
                                    {random_input({2, 3}, 15), random_input({2, 3}, 16)}));
  }
  TEST_CASE("split gradcheck uneven parts") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) {
          std::vector<Tensor> parts = split(in[0], 2, 1);
          return cat({mul(parts[2], 3.0), parts[0], mul(parts[1], -2.0)}, 1);
        },
        {random_input({3, 5}, 17)}));
  }
  TEST_CASE("chunk gradcheck dim 0") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) {
          std::vector<Tensor> parts = chunk(in[0], 3, 0);
          return mul(parts[0], parts[1]);
        },
        {random_input({6, 2}, 18)}));
  }
  TEST_CASE("index_select gradcheck dim 1 repeated indices") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return index_select(in[0], 1, i64({3, 0, 3, 1, 3}, {5})); },
        {random_input({2, 4, 3}, 19)}));
  }
  TEST_CASE("index_select gradcheck non-contiguous input dim 0") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return index_select(in[0].t(), 0, from_vector({2, 2, 0}, {3}, DType::i32)); },
        {random_input({4, 3}, 20)}));
  }
  TEST_CASE("gather gradcheck dim 1") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return gather(in[0], 1, i64({0, 2, 2, 1, 1, 1, 0, 2}, {2, 4})); },
        {random_input({2, 3}, 21)}));
  }
  TEST_CASE("gather gradcheck dim 0 index smaller than input") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return gather(in[0], 0, i64({3, 0, 3, 1}, {2, 2})); },
        {random_input({4, 3}, 22)}));
  }
  TEST_CASE("scatter_add gradcheck input and src") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, i64({0, 0, 2, 1, 2, 2}, {2, 3}), in[1]); },
        {random_input({2, 3}, 23), random_input({2, 3}, 24)}));
  }
  TEST_CASE("scatter_add gradcheck src larger than index") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return scatter_add(in[0], 0, i64({2, 0, 2, 2}, {2, 2}), in[1].t()); },
        {random_input({3, 3}, 25), random_input({4, 3}, 26)}));
  }
  TEST_CASE("embedding gradcheck repeated indices") {
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [](const std::vector<Tensor>& in) { return embedding(in[0], i64({4, 1, 1, 0, 4, 4}, {3, 2})); },
        {random_input({5, 3}, 27)}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("cat of mismatched shapes") {
    CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 4})}, 0), doctest::Contains("all shapes must match except"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 3, 1})}, 0), doctest::Contains("tensor 1 has shape [2, 3, 1]"),
                         fovea::Error);
  }
  TEST_CASE("cat of an empty list a 0-d tensor or a bad dim") {
    CHECK_THROWS_WITH_AS(cat({}), doctest::Contains("non-empty list"), fovea::Error);
    CHECK_THROWS_WITH_AS(cat({scalar_tensor(1.0)}), doctest::Contains("0-d"), fovea::Error);
    CHECK_THROWS_WITH_AS(cat({zeros({2}), zeros({2})}, 1), doctest::Contains("out of range"), fovea::Error);
  }
  TEST_CASE("stack of different shapes") {
    CHECK_THROWS_WITH_AS(stack({zeros({2, 3}), zeros({3, 2})}), doctest::Contains("tensor 1 has [3, 2]"), fovea::Error);
    CHECK_THROWS_WITH_AS(stack({zeros({2})}, 2), doctest::Contains("out of range"), fovea::Error);
  }
  TEST_CASE("split size 0 or negative") {
    CHECK_THROWS_WITH_AS(split(zeros({4}), 0), doctest::Contains("split_size must be positive, got 0"), fovea::Error);
    CHECK_THROWS_WITH_AS(split(zeros({4}), -2), doctest::Contains("got -2"), fovea::Error);
    CHECK_THROWS_WITH_AS(split(scalar_tensor(1.0), 1), doctest::Contains("0-d"), fovea::Error);
  }
  TEST_CASE("chunk count 0") {
    CHECK_THROWS_WITH_AS(chunk(zeros({4}), 0), doctest::Contains("chunks must be positive, got 0"), fovea::Error);
  }
  TEST_CASE("index_select index out of range on both sides") {
    Tensor a = zeros({2, 3});
    CHECK_THROWS_WITH_AS(index_select(a, 1, i64({0, 3}, {2})),
                         doctest::Contains("index value 3 at position 1 of the index is out of range for dimension 1 (size 3)"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(index_select(a, 1, i64({-1}, {1})), doctest::Contains("expected a value in [0, 3); negative"),
                         fovea::Error);
  }
  TEST_CASE("index_select wrong index dtype or rank") {
    CHECK_THROWS_WITH_AS(index_select(zeros({3}), 0, zeros({1})), doctest::Contains("must be an i64 or i32 index tensor, got f32"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(index_select(zeros({3}), 0, zeros({1, 1}, DType::i64)), doctest::Contains("index must be 1-D"),
                         fovea::Error);
  }
  TEST_CASE("index_select on an empty dimension") {
    CHECK_THROWS_WITH_AS(index_select(zeros({0, 2}), 0, i64({0}, {1})), doctest::Contains("expected a value in [0, 0)"),
                         fovea::Error);
  }
  TEST_CASE("gather rank mismatch and oversized index") {
    CHECK_THROWS_WITH_AS(gather(zeros({2, 3}), 1, zeros({2}, DType::i64)), doctest::Contains("same rank"), fovea::Error);
    CHECK_THROWS_WITH_AS(gather(zeros({2, 3}), 1, zeros({3, 1}, DType::i64)),
                         doctest::Contains("larger than the input of shape [2, 3] in dimension 0"), fovea::Error);
  }
  TEST_CASE("gather index out of range") {
    CHECK_THROWS_WITH_AS(gather(zeros({2, 3}), 0, i64({0, 1, 2}, {1, 3})),
                         doctest::Contains("index value 2 at position 2"), fovea::Error);
    CHECK_THROWS_WITH_AS(gather(zeros({2, 3}), 0, from_vector({-5}, {1, 1}, DType::i32)),
                         doctest::Contains("index value -5"), fovea::Error);
  }
  TEST_CASE("scatter_add bad index src dtype and shapes") {
    Tensor a = zeros({2, 3}, DType::f64);
    CHECK_THROWS_WITH_AS(scatter_add(a, 0, i64({2}, {1, 1}), ones({1, 1}, DType::f64)),
                         doctest::Contains("expected a value in [0, 2)"), fovea::Error);
    CHECK_THROWS_WITH_AS(scatter_add(a, 0, i64({0}, {1, 1}), ones({1, 1})), doctest::Contains("src has dtype f32"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(scatter_add(a, 0, zeros({2, 2}, DType::i64), ones({1, 2}, DType::f64)),
                         doctest::Contains("larger than src"), fovea::Error);
    CHECK_THROWS_WITH_AS(scatter_add(a, 0, zeros({2}, DType::i64), ones({2}, DType::f64)),
                         doctest::Contains("same rank"), fovea::Error);
    CHECK_THROWS_WITH_AS(scatter_add(a, 0, zeros({1, 1}), ones({1, 1}, DType::f64)),
                         doctest::Contains("i64 or i32"), fovea::Error);
  }
  TEST_CASE("embedding index out of range and bad table") {
    Tensor table = zeros({4, 2});
    CHECK_THROWS_WITH_AS(embedding(table, i64({1, 4}, {2})),
                         doctest::Contains("index value 4 at position 1 of the index is out of range for a table of 4 rows"),
                         fovea::Error);
    CHECK_THROWS_WITH_AS(embedding(table, i64({-1}, {1})), doctest::Contains("[0, 4)"), fovea::Error);
    CHECK_THROWS_WITH_AS(embedding(zeros({4}), i64({0}, {1})), doctest::Contains("table must be 2-D"), fovea::Error);
    CHECK_THROWS_WITH_AS(embedding(table, zeros({1}, DType::u8)), doctest::Contains("got u8"), fovea::Error);
  }
  TEST_CASE("index_select gather on 0-d inputs") {
    CHECK_THROWS_WITH_AS(index_select(scalar_tensor(1.0), 0, i64({0}, {1})), doctest::Contains("0-d"), fovea::Error);
    CHECK_THROWS_WITH_AS(gather(scalar_tensor(1.0), 0, from_vector({0}, {}, DType::i64)), doctest::Contains("0-d"),
                         fovea::Error);
  }
}
