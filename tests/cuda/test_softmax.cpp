// Softmax, log_softmax, nll_loss, cross_entropy and normalize on the CUDA device against the CPU,
// forward and backward: rows of length 1 to 3000 (warp- and block-per-row kernels), [N, C, d]
// layouts (column kernel), ignore_index, i32 and i64 targets, f32 and f64, and out-of-range
// targets rejected with the CPU's message.
#include <cmath>

#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::atol_for;
using testing::check_cuda_matches_cpu;
using testing::random_input;
using testing::rtol_for;

namespace {

Tensor logits(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad) {
  Tensor x = random_input(shape, seed, -3.0, 3.0, false).to(dtype);
  if (requires_grad) x.requires_grad_();
  return x;
}

// Class indices in [0, classes) with every third position set to ignore_index.
Tensor targets(const Shape& shape, int64_t classes, uint64_t seed, DType dtype, int64_t ignore_index) {
  Generator gen(seed);
  Tensor t = randint(0, classes, shape, &gen);
  const Tensor flat = t.view({-1});
  for (int64_t i = 0; i < flat.numel(); i += 3) flat.narrow(0, i, 1).fill_(static_cast<double>(ignore_index));
  return t.to(dtype);
}

const auto softmax_last = [](const std::vector<Tensor>& x) { return softmax(x[0], -1); };
const auto log_softmax_last = [](const std::vector<Tensor>& x) { return log_softmax(x[0], -1); };

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("softmax and log_softmax cuda forward at ragged row lengths") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // Rows up to 1024 take a warp each (9 rows: a ragged last block of 8); longer ones a block.
    for (const Shape& shape : {Shape{5, 1}, Shape{3, 7}, Shape{9, 33}, Shape{2, 1025}, Shape{2, 3000}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        const std::vector<Tensor> in = {logits(shape, 11, dtype, false)};
        check_cuda_matches_cpu(softmax_last, in, atol_for(dtype), rtol_for(dtype));
        check_cuda_matches_cpu(log_softmax_last, in, atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("softmax and log_softmax cuda forward over a middle dim of N C d layouts") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const auto& [shape, dim] :
         {std::pair<Shape, int64_t>{{2, 5, 3}, 1}, {{3, 40, 7}, 1}, {{2, 1, 4}, 1}, {{6, 35}, 0}, {{2, 3, 4, 5}, 2}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dim);
        const std::vector<Tensor> in = {logits(shape, 12, dtype, false)};
        check_cuda_matches_cpu([dim = dim](const std::vector<Tensor>& x) { return softmax(x[0], dim); }, in,
                               atol_for(dtype), rtol_for(dtype));
        check_cuda_matches_cpu([dim = dim](const std::vector<Tensor>& x) { return log_softmax(x[0], dim); }, in,
                               atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("softmax cuda gives -inf entries zero weight in rows and columns") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    Tensor x = logits({4, 37}, 13, DType::f32, false);
    x.narrow(0, 0, 3).narrow(1, 0, 5).fill_(-INFINITY);  // a thread's first elements are -inf
    x.select(0, 2).narrow(0, 20, 17).fill_(-INFINITY);
    check_cuda_matches_cpu(softmax_last, {x}, 1e-6, 1e-5);
    check_cuda_matches_cpu([](const std::vector<Tensor>& t) { return softmax(t[0], 0); }, {x}, 1e-6, 1e-5);
  }

  TEST_CASE("softmax and log_softmax cuda backward") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const auto& [shape, dim] :
         {std::pair<Shape, int64_t>{{3, 1}, 1}, {{4, 45}, 1}, {{2, 1500}, 1}, {{2, 9, 5}, 1}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        const std::vector<Tensor> in = {logits(shape, 14, dtype, true)};
        check_cuda_matches_cpu([dim = dim](const std::vector<Tensor>& x) { return softmax(x[0], dim); }, in,
                               atol_for(dtype), rtol_for(dtype));
        check_cuda_matches_cpu([dim = dim](const std::vector<Tensor>& x) { return log_softmax(x[0], dim); }, in,
                               atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("nll_loss cuda with ignore_index and i32 or i64 targets and reduction none") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : {Shape{7, 5}, Shape{3, 4, 6}, Shape{300, 3}}) {
      for (DType target_dtype : {DType::i64, DType::i32}) {
        for (int64_t ignore_index : {-100, 2}) {
          CAPTURE(shape_str(shape));
          CAPTURE(ignore_index);
          Shape target_shape = shape;
          target_shape.erase(target_shape.begin() + 1);
          const std::vector<Tensor> in = {logits(shape, 15, DType::f64, true),
                                          targets(target_shape, shape[1], 16, target_dtype, ignore_index)};
          check_cuda_matches_cpu(
              [ignore_index](const std::vector<Tensor>& x) {
                return nll_loss(x[0], x[1], ignore_index, Reduction::none);
              },
              in, 0, 0);
        }
      }
    }
  }

  TEST_CASE("nll_loss cuda sum and mean reductions in f32 and f64") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      const std::vector<Tensor> in = {logits({6, 4, 3}, 17, dtype, true), targets({6, 3}, 4, 18, DType::i64, -100)};
      for (Reduction reduction : {Reduction::sum, Reduction::mean}) {
        check_cuda_matches_cpu(
            [reduction](const std::vector<Tensor>& x) { return nll_loss(x[0], x[1], -100, reduction); }, in,
            atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("cross_entropy cuda matches cpu on N C and N C d logits") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Shape& shape : {Shape{9, 10}, Shape{2, 5, 7}, Shape{3, 1100}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(dtype));
        Shape target_shape = shape;
        target_shape.erase(target_shape.begin() + 1);
        const std::vector<Tensor> in = {logits(shape, 19, dtype, true),
                                        targets(target_shape, shape[1], 20, DType::i64, -100)};
        check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return cross_entropy(x[0], x[1]); }, in,
                               atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("normalize cuda matches cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(dtype_name(dtype));
      const std::vector<Tensor> in = {logits({5, 33}, 21, dtype, true)};
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return normalize(x[0], 1); }, in, atol_for(dtype),
                             rtol_for(dtype));
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return normalize(x[0], 0); }, in, atol_for(dtype),
                             rtol_for(dtype));
    }
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("nll_loss and cross_entropy cuda reject out-of-range targets with the cpu message") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor log_probs = logits({4, 3, 2}, 22, DType::f32, false);
    for (const std::vector<double>& values :
         {std::vector<double>{0, 2, -100, 1, 3, 0, 1, 5}, std::vector<double>{-100, -100, -1, 0, 1, 2, 0, 0}}) {
      for (DType target_dtype : {DType::i64, DType::i32}) {
        const Tensor target = from_vector(values, {4, 2}, target_dtype);
        std::string cpu_message;
        try {
          nll_loss(log_probs, target);
        } catch (const Error& e) {
          cpu_message = e.message();
        }
        REQUIRE(cpu_message.find("out of range for 3 classes") != std::string::npos);
        const Device cuda = testing::cuda_device();
        CHECK_THROWS_WITH_AS(nll_loss(log_probs.to(cuda), target.to(cuda)), doctest::Contains(cpu_message.c_str()),
                             Error);
        CHECK_THROWS_WITH_AS(cross_entropy(log_probs.to(cuda), target.to(cuda)), doctest::Contains(cpu_message.c_str()),
                             Error);
      }
    }
  }
}
