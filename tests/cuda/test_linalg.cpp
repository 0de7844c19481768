// matmul, bmm and linear on the CUDA device (cuBLAS; its emulation under FOVEA_CUDA=emu)
// against the CPU (OpenBLAS), forward and backward: 2-D and 1-D operands, transposed and
// sliced operands read in place, broadcast batch dims (strided-batched calls with stride 0, and
// the loop over batch dims that do not merge), ragged sizes, f32 and f64.
// Tolerance: f64 1e-12; f32 1e-5 absolute and relative, a few roundings of the f32 sums at
// K <= 65 with inputs in [-1, 1] (both sides round each product sum differently; the worst
// f32 error seen is 1.4e-6, the worst f64 one 3.6e-15).
#include "engine/cpu/linalg.h"
#include "engine/cuda/ops.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor input(const Shape& shape, uint64_t seed, DType dtype) {
  return random_input(shape, seed).to(dtype).detach().requires_grad_();
}

void check_both_dtypes(const Fn& fn, const std::vector<Shape>& shapes) {
  for (DType dtype : {DType::f64, DType::f32}) {
    CAPTURE(std::string(dtype_name(dtype)));
    std::vector<Tensor> in;
    for (const Shape& s : shapes) in.push_back(input(s, 10 + in.size(), dtype));
    check_cuda_matches_cpu(fn, in, testing::atol_for(dtype), testing::rtol_for(dtype));
  }
}

Tensor product(const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("matmul cuda 2-d at ragged sizes") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const auto& [m, k, n] : {std::tuple{1, 1, 1}, {5, 7, 3}, {17, 33, 9}, {1, 64, 65}, {40, 1, 2}}) {
      CAPTURE(m);
      CAPTURE(k);
      CAPTURE(n);
      check_both_dtypes(product, {{m, k}, {k, n}});
    }
  }

  TEST_CASE("matmul cuda transposed and sliced operands are read in place") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Fn at_b = [](const std::vector<Tensor>& x) { return matmul(x[0].t(), x[1]); };
    const Fn a_bt = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1].t()); };
    const Fn at_bt = [](const std::vector<Tensor>& x) { return matmul(x[0].t(), x[1].t()); };
    check_both_dtypes(at_b, {{7, 5}, {7, 3}});
    check_both_dtypes(a_bt, {{5, 7}, {3, 7}});
    check_both_dtypes(at_bt, {{7, 5}, {3, 7}});
    // Column slices: leading dimension larger than the row, and a transposed slice.
    const Fn slices = [](const std::vector<Tensor>& x) {
      return matmul(x[0].narrow(1, 2, 6), x[1].narrow(0, 1, 4).t());
    };
    check_both_dtypes(slices, {{5, 9}, {6, 6}});
    const Tensor a = random_input({6, 8}, 3).detach();
    for (const Tensor& view : {a, a.t(), a.narrow(1, 1, 5), a.narrow(1, 1, 5).t()})
      CHECK(cuda::blas_compatible(view.to(testing::cuda_device())) == cpu::blas_compatible(view));
    CHECK_FALSE(cuda::blas_compatible(a.narrow(0, 0, 1).expand({4, 8})));
    // A single row or column is read in place whatever the stride of its size-1 dim.
    CHECK(cuda::blas_compatible(a.select(0, 0).expand({1, 8})));
    CHECK(cuda::blas_compatible(a.select(1, 0).unsqueeze(1).expand({6, 1})));
  }

  TEST_CASE("matmul cuda broadcast batch dims") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // b broadcast over a's batch: one strided-batched call with stride 0 for b (a is transposed
    // so that its rows cannot merge into a single matrix).
    const Fn shared_b = [](const std::vector<Tensor>& x) { return matmul(x[0].transpose(-1, -2), x[1]); };
    check_both_dtypes(shared_b, {{4, 6, 5}, {6, 3}});
    // a broadcast over b's batch (stride 0 for a).
    check_both_dtypes(product, {{5, 6}, {4, 6, 3}});
    // Batch dims [2, 3] with a over dim 1 and b over dim 0: no single stride, looped.
    check_both_dtypes(product, {{2, 1, 4, 5}, {3, 5, 6}});
    // Two batch dims that merge into one strided-batched call.
    check_both_dtypes(product, {{2, 3, 4, 5}, {2, 3, 5, 6}});
  }

  TEST_CASE("matmul cuda 1-d operands") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_both_dtypes(product, {{9}, {9}});
    check_both_dtypes(product, {{9}, {9, 4}});
    check_both_dtypes(product, {{4, 9}, {9}});
    check_both_dtypes(product, {{3, 4, 9}, {9}});
    check_both_dtypes(product, {{9}, {2, 9, 4}});
    // Strided vectors (a column of a matrix) on either side.
    check_both_dtypes([](const std::vector<Tensor>& x) { return matmul(x[0].select(1, 1), x[1]); }, {{9, 3}, {9, 4}});
    check_both_dtypes([](const std::vector<Tensor>& x) { return matmul(x[1].t(), x[0].select(1, 2)); }, {{9, 3}, {9, 4}});
  }

  TEST_CASE("matmul cuda with an empty inner or outer dim") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Device gpu = testing::cuda_device();
    const Tensor zero_inner = matmul(ones({3, 0}, DType::f32, gpu), ones({0, 4}, DType::f32, gpu));
    CHECK(zero_inner.shape() == Shape{3, 4});
    CHECK(to_vector(zero_inner) == std::vector<double>(12, 0.0));
    CHECK(matmul(ones({0, 5}, DType::f64, gpu), ones({5, 2}, DType::f64, gpu)).shape() == Shape{0, 2});
  }

  TEST_CASE("bmm cuda with transposed and permuted batches") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_both_dtypes([](const std::vector<Tensor>& x) { return bmm(x[0], x[1]); }, {{3, 5, 7}, {3, 7, 4}});
    check_both_dtypes([](const std::vector<Tensor>& x) { return bmm(x[0], x[1].transpose(1, 2)); },
                      {{3, 5, 7}, {3, 4, 7}});
    // Batch as the middle dim of a: batch stride smaller than the matrix rows' stride.
    check_both_dtypes([](const std::vector<Tensor>& x) { return bmm(x[0].permute({1, 0, 2}), x[1]); },
                      {{5, 3, 7}, {3, 7, 4}});
  }

  TEST_CASE("linear cuda with bias on 1-d, 2-d and 3-d inputs") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Fn layer = [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); };
    check_both_dtypes(layer, {{10}, {6, 10}, {6}});
    check_both_dtypes(layer, {{13, 10}, {6, 10}, {6}});
    check_both_dtypes(layer, {{2, 5, 10}, {6, 10}, {6}});
  }
}
