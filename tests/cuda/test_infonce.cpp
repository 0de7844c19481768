// The memory-bank kernels on the CUDA device against the CPU at reduced shapes: infonce forward
// and backward (one and several splits per row, i32 and i64 indices, f32 and f64, without grad
// mode), gather_scores and nce_scores, memory_bank_update with duplicate indices, and bad input
// rejected with the CPU's messages before any kernel writes.
#include <cmath>
#include <functional>
#include <string>

#include "engine/autograd.h"
#include "losses/infonce.h"
#include "losses/memory_bank.h"
#include "losses/nce.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::atol_for;
using testing::check_cuda_matches_cpu;
using testing::cuda_device;
using testing::random_input;
using testing::rtol_for;

namespace {

Tensor unit_rows(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad) {
  Tensor t = normalize(random_input(shape, seed, -1.0, 1.0, false)).to(dtype).contiguous();
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor bank_indices(const Shape& shape, int64_t rows, uint64_t seed, DType dtype) {
  Generator gen(seed);
  return randint(0, rows, shape, &gen).to(dtype);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "no error";
}

// f32 logits reach 1/τ = 10 here: a few ulps of it per summed candidate.
double infonce_tol(DType dtype) { return dtype == DType::f64 ? 1e-11 : 2e-5; }

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("infonce cuda forward and backward match the cpu with one and several splits per row") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    struct Case {
      int64_t batch, dim, count, rows;
      DType index_dtype;
    };
    // 51 candidates fit one split of 64; 131 take three, the last one ragged; 300 negatives over 3
    // rows repeat every row many times.
    for (const Case c : {Case{5, 37, 50, 200, DType::i64}, Case{3, 37, 130, 200, DType::i32},
                         Case{2, 5, 300, 3, DType::i64}, Case{2, 1, 0, 1, DType::i32}}) {
      for (DType dtype : {DType::f32, DType::f64}) {
        CAPTURE(c.count);
        CAPTURE(dtype_name(dtype));
        const Tensor bank = unit_rows({c.rows, c.dim}, 1, dtype, false);
        const Tensor idx = bank_indices({c.batch, c.count}, c.rows, 2, c.index_dtype);
        for (Reduction reduction : {Reduction::none, Reduction::mean}) {
          check_cuda_matches_cpu(
              [&](const std::vector<Tensor>& x) {
                return infonce(x[0], x[1], x[2], x[3], 0.1, reduction);
              },
              {unit_rows({c.batch, c.dim}, 3, dtype, true), unit_rows({c.batch, c.dim}, 4, dtype, true), bank, idx},
              infonce_tol(dtype), infonce_tol(dtype));
        }
      }
    }
  }

  TEST_CASE("infonce cuda without grad mode and against the unfused twin on the device") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor q = unit_rows({4, 19}, 5, DType::f32, false), pos = unit_rows({4, 19}, 6, DType::f32, false);
    const Tensor bank = unit_rows({40, 19}, 7, DType::f32, false);
    const Tensor idx = bank_indices({4, 70}, 40, 8, DType::i64);
    const Device gpu = cuda_device();
    const Tensor cpu_loss = infonce(q, pos, bank, idx, 0.07, Reduction::none);
    {
      NoGradGuard no_grad;
      FOVEA_CHECK_CLOSE(infonce(q.to(gpu), pos.to(gpu), bank.to(gpu), idx.to(gpu), 0.07, Reduction::none).to(Device::cpu()),
                        cpu_loss, 2e-5, 2e-5);
    }
    Tensor gq = q.to(gpu).requires_grad_(), uq = q.to(gpu).requires_grad_();
    const Tensor fused = infonce(gq, pos.to(gpu), bank.to(gpu), idx.to(gpu), 0.07);
    const Tensor unfused = infonce_unfused(uq, pos.to(gpu), bank.to(gpu), idx.to(gpu), 0.07);
    FOVEA_CHECK_CLOSE(fused.to(Device::cpu()), unfused.to(Device::cpu()), 2e-5, 2e-5);
    fused.backward();
    unfused.backward();
    FOVEA_CHECK_CLOSE(gq.grad().to(Device::cpu()), uq.grad().to(Device::cpu()), 2e-5, 2e-5);
  }

  TEST_CASE("nce cuda gather_scores and nce_scores match the cpu forward and backward") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
      const Tensor bank = unit_rows({60, 37}, 9, dtype, false);
      const Tensor idx = bank_indices({5, 51}, 60, 10, DType::i32);
      check_cuda_matches_cpu([](const std::vector<Tensor>& x) { return gather_scores(x[0], x[1], x[2]); },
                             {unit_rows({5, 37}, 11, dtype, true), bank, idx}, atol_for(dtype), rtol_for(dtype));
      check_cuda_matches_cpu(
          [](const std::vector<Tensor>& x) {
            NceNormalizer normalizer{.z = 2.5};
            return nce_loss(nce_scores(x[0], x[1], x[2], 0.07, 60, normalizer), 60).reshape({1});
          },
          {unit_rows({5, 37}, 12, dtype, true), bank, idx}, atol_for(dtype), 1e-4);
    }
  }

  TEST_CASE("memory_bank_update cuda matches the cpu with duplicates and renormalisation") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (bool renormalize : {false, true}) {
      for (DType dtype : {DType::f32, DType::f64}) {
        CAPTURE(renormalize);
        CAPTURE(dtype_name(dtype));
        const Tensor bank = unit_rows({30, 37}, 13, dtype, false);
        const Tensor idx = bank_indices({200}, 30, 14, DType::i64);  // every row many times
        const Tensor values = unit_rows({200, 37}, 15, dtype, false);
        Tensor cpu_bank = bank.clone(), gpu_bank = bank.to(cuda_device());
        memory_bank_update(cpu_bank, idx, values, 0.5, renormalize);
        memory_bank_update(gpu_bank, idx.to(cuda_device()), values.to(cuda_device()), 0.5, renormalize);
        FOVEA_CHECK_CLOSE(gpu_bank.to(Device::cpu()), cpu_bank, atol_for(dtype), rtol_for(dtype));
      }
    }
  }

  TEST_CASE("infonce and memory_bank_update cuda reject bad input with the cpu messages") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Device gpu = cuda_device();
    const Tensor q = unit_rows({3, 8}, 16, DType::f32, false), pos = unit_rows({3, 8}, 17, DType::f32, false);
    const Tensor bank = unit_rows({10, 8}, 18, DType::f32, false);
    Tensor idx = bank_indices({3, 20}, 10, 19, DType::i64);
    idx.select(0, 2).narrow(0, 7, 1).fill_(10.0);
    const auto run = [&](const Tensor& qq, const Tensor& pp, const Tensor& ii, const Device& d) {
      return error_of([&] { infonce(qq.to(d), pp.to(d), bank.to(d), ii.to(d), 0.07); });
    };
    CHECK(run(q, pos, idx, gpu).find("index 10 at [2, 7]") != std::string::npos);
    CHECK(run(q, pos, idx, gpu) == run(q, pos, idx, Device::cpu()));
    Tensor nan_pos = pos.clone();
    nan_pos.select(0, 1).narrow(0, 4, 1).fill_(NAN);
    const Tensor good_idx = bank_indices({3, 20}, 10, 20, DType::i64);
    CHECK(run(q, nan_pos, good_idx, gpu).find("'positives' of shape [3, 8] holds a non-finite value") !=
          std::string::npos);
    CHECK(run(q, nan_pos, good_idx, gpu) == run(q, nan_pos, good_idx, Device::cpu()));

    Tensor gpu_bank = bank.to(gpu);
    const std::string message = error_of([&] {
      memory_bank_update(gpu_bank, from_vector({3, -2}, {2}, DType::i32).to(gpu), q.narrow(0, 0, 2).to(gpu), 0.5, true);
    });
    CHECK(message.find("index -2 at position 1") != std::string::npos);
    FOVEA_CHECK_CLOSE(gpu_bank.to(Device::cpu()), bank, 0.0, 0.0);
  }
}
