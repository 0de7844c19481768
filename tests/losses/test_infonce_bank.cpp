// The rest of the memory-bank family on the CPU: memory_bank_update (momentum convention,
// renormalisation, duplicate indices, rejected input leaves the bank untouched), gather_scores and
// CMC's nce_scores / nce_loss (normaliser modes, gradients, PyTorch goldens).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "losses/infonce.h"
#include "losses/memory_bank.h"
#include "losses/nce.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::random_input;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

Tensor indices_of(const std::vector<double>& values, const Shape& shape, DType dtype = DType::i64) {
  return from_vector(values, shape, dtype);
}

// The row-by-row definition: each distinct index updated from its old row with its last value.
Tensor reference_update(const Tensor& bank, const std::vector<int64_t>& indices, const Tensor& values, double m,
                        bool renormalize) {
  Tensor out = bank.clone();
  for (size_t n = 0; n < indices.size(); ++n) {
    bool repeated = false;
    for (size_t later = n + 1; later < indices.size(); ++later) repeated = repeated || indices[later] == indices[n];
    if (repeated) continue;
    Tensor row = add(mul(bank.select(0, indices[n]), m), mul(values.select(0, static_cast<int64_t>(n)), 1 - m));
    if (renormalize) row = div(row, norm(row));
    out.select(0, indices[n]).copy_(row);
  }
  return out;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("memory_bank_update weights the old row by m with and without renormalisation") {
    for (bool renormalize : {false, true}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(renormalize);
        const Tensor bank0 = random_input({6, 5}, 1, -1, 1, false).to(dtype);
        const Tensor values = random_input({3, 5}, 2, -1, 1, false).to(dtype);
        const std::vector<int64_t> rows = {4, 0, 2};
        Tensor bank = bank0.clone();
        memory_bank_update(bank, indices_of({4, 0, 2}, {3}), values, 0.8, renormalize);
        const double tol = dtype == DType::f64 ? 1e-14 : 1e-6;
        FOVEA_CHECK_CLOSE(bank, reference_update(bank0, rows, values, 0.8, renormalize), tol, tol);
        FOVEA_CHECK_CLOSE(bank.select(0, 1), bank0.select(0, 1), 0.0, 0.0);
        if (renormalize) CHECK(norm(bank.select(0, 4)).item() == doctest::Approx(1.0).epsilon(1e-6));
      }
    }
  }

  TEST_CASE("memory_bank_update with duplicate indices applies the last occurrence once") {
    const Tensor bank0 = random_input({5, 4}, 3, -1, 1, false);
    const Tensor values = random_input({6, 4}, 4, -1, 1, false);
    const std::vector<int64_t> rows = {2, 1, 2, 4, 1, 2};
    for (bool renormalize : {false, true}) {
      Tensor bank = bank0.clone();
      memory_bank_update(bank, indices_of({2, 1, 2, 4, 1, 2}, {6}, DType::i32), values, 0.5, renormalize);
      FOVEA_CHECK_CLOSE(bank, reference_update(bank0, rows, values, 0.5, renormalize), 1e-14, 1e-14);
      const Tensor expected_row2 = add(mul(bank0.select(0, 2), 0.5), mul(values.select(0, 5), 0.5));
      if (!renormalize) FOVEA_CHECK_CLOSE(bank.select(0, 2), expected_row2, 1e-15, 1e-15);
    }
  }

  TEST_CASE("memory_bank_update golden matches the pytorch reference update") {
    const testing::GoldenFile golden = testing::GoldenFile::load("memory_bank");
    for (const std::string& c : golden.cases()) {
      CAPTURE(c);
      Tensor bank = golden.get(c + "/bank").clone();
      memory_bank_update(bank, golden.get(c + "/indices"), golden.get(c + "/values"),
                         golden.get(c + "/momentum").item(), golden.get_int(c + "/renormalize") != 0);
      FOVEA_CHECK_CLOSE(bank, golden.get(c + "/bank_after"), 1e-14, 1e-14);
    }
  }

  TEST_CASE("memory_bank_update after gather_scores makes its backward refuse the changed bank") {
    Tensor bank = random_input({5, 3}, 5, -1, 1, false);
    const Tensor q = random_input({2, 3}, 6);
    const Tensor scores = gather_scores(q, bank, indices_of({0, 1, 3, 4}, {2, 2}));
    memory_bank_update(bank, indices_of({1}, {1}), random_input({1, 3}, 7, -1, 1, false), 0.5, true);
    CHECK(error_of([&] { sum(scores).backward(); }) != "no error");
  }

  TEST_CASE("nce gather core gather_scores matches index_select and matmul with gradients for the queries") {
    const Tensor bank = random_input({7, 5}, 8, -1, 1, false);
    const Tensor idx = indices_of({0, 6, 6, 2, 1, 3, 3, 0}, {2, 4});
    Tensor q1 = random_input({2, 5}, 9), q2 = q1.detach().clone().requires_grad_();
    const Tensor fused = gather_scores(q1, bank, idx);
    const Tensor unfused = bmm(embedding(bank, idx), q2.unsqueeze(2)).squeeze(2);
    FOVEA_CHECK_CLOSE(fused, unfused, 1e-14, 1e-14);
    const Tensor w = random_input({2, 4}, 10, -1, 1, false);
    sum(mul(fused, w)).backward();
    sum(mul(unfused, w)).backward();
    FOVEA_CHECK_CLOSE(q1.grad(), q2.grad(), 1e-14, 1e-14);
  }

  TEST_CASE("nce_scores freezes Z after the first batch or keeps a moving average") {
    const Tensor bank = normalize(random_input({20, 6}, 11, -1, 1, false));
    const Tensor q = normalize(random_input({3, 6}, 12, -1, 1, false));
    const Tensor idx = indices_of({0, 5, 7, 9, 1, 2, 3, 4, 19, 18, 17, 16}, {3, 4});
    const double first_z = mean(exp(div(gather_scores(q, bank, idx), 0.07))).item() * 20;
    NceNormalizer frozen;
    nce_scores(q, bank, idx, 0.07, 20, frozen);
    CHECK(frozen.z == doctest::Approx(first_z).epsilon(1e-12));
    const Tensor other = mul(q, 0.5);
    const Tensor probs = nce_scores(other, bank, idx, 0.07, 20, frozen);
    CHECK(frozen.z == doctest::Approx(first_z).epsilon(1e-12));
    FOVEA_CHECK_CLOSE(probs, div(exp(div(gather_scores(other, bank, idx), 0.07)), first_z), 1e-14, 1e-12);

    NceNormalizer moving{.mode = NceNormalizer::Mode::moving_average, .momentum = 0.9};
    nce_scores(q, bank, idx, 0.07, 20, moving);
    nce_scores(other, bank, idx, 0.07, 20, moving);
    const double second_z = mean(exp(div(gather_scores(other, bank, idx), 0.07))).item() * 20;
    CHECK(moving.z == doctest::Approx(0.9 * first_z + 0.1 * second_z).epsilon(1e-12));
  }

  TEST_CASE("nce golden matches the pytorch scores and Z and loss and gradient") {
    const testing::GoldenFile golden = testing::GoldenFile::load("nce");
    for (const std::string& c : golden.cases()) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
        Tensor q = golden.get(c + "/queries").to(dtype).clone().requires_grad_();
        const Tensor bank = golden.get(c + "/bank").to(dtype), idx = golden.get(c + "/indices");
        const int64_t n_data = golden.get_int(c + "/n_data");
        NceNormalizer normalizer;
        const Tensor probs = nce_scores(q, bank, idx, golden.get(c + "/temperature").item(), n_data, normalizer);
        CHECK(normalizer.z == doctest::Approx(golden.get(c + "/z").item()).epsilon(tol));
        FOVEA_CHECK_CLOSE(probs, golden.get(c + "/probs").to(dtype), tol, tol);
        const Tensor loss = nce_loss(probs, n_data);
        FOVEA_CHECK_CLOSE(loss, golden.get(c + "/loss").to(dtype), tol, tol);
        loss.backward();
        FOVEA_CHECK_CLOSE(q.grad(), golden.get(c + "/grad_queries").to(dtype), tol, tol);
      }
    }
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("nce gather core gather_scores gradcheck of the queries in double") {
    const Tensor bank = random_input({6, 7}, 13, -1, 1, false);
    const Tensor idx = indices_of({0, 5, 5, 2, 1, 3, 3, 0, 4}, {3, 3}, DType::i32);
    const auto fn = [&](const std::vector<Tensor>& x) { return gather_scores(x[0], bank, idx); };
    FOVEA_CHECK_GRADCHECK(testing::gradcheck(fn, {random_input({3, 7}, 14)}));
  }

  TEST_CASE("nce_loss of nce_scores gradcheck with Z set") {
    const Tensor bank = normalize(random_input({30, 5}, 15, -1, 1, false));
    const Tensor idx = indices_of({0, 5, 7, 9, 1, 2, 3, 4}, {2, 4});
    NceNormalizer normalizer{.z = 3.5};
    const auto fn = [&](const std::vector<Tensor>& x) {
      return nce_loss(nce_scores(x[0], bank, idx, 0.5, 30, normalizer), 30);
    };
    FOVEA_CHECK_GRADCHECK(testing::gradcheck(fn, {random_input({2, 5}, 16)}));
    CHECK(normalizer.z == 3.5);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("memory_bank_update rejects bad indices and values and leaves the bank untouched") {
    const Tensor bank0 = random_input({4, 3}, 17, -1, 1, false);
    Tensor bank = bank0.clone();
    const Tensor values = random_input({2, 3}, 18, -1, 1, false);
    CHECK(error_of([&] { memory_bank_update(bank, indices_of({1, 4}, {2}), values, 0.5, true); })
              .find("index 4 at position 1") != std::string::npos);
    Tensor nan_values = values.clone();
    nan_values.select(0, 1).narrow(0, 2, 1).fill_(NAN);
    CHECK(error_of([&] { memory_bank_update(bank, indices_of({1, 2}, {2}), nan_values, 0.5, true); })
              .find("'values' of shape [2, 3] holds a non-finite value") != std::string::npos);
    CHECK(error_of([&] { memory_bank_update(bank, indices_of({1, 2}, {2}), values, 1.5, true); }).find("momentum") !=
          std::string::npos);
    CHECK(error_of([&] { memory_bank_update(bank, indices_of({1}, {1}), values, 0.5, true); })
              .find("do not match 1 indices") != std::string::npos);
    CHECK(error_of([&] { memory_bank_update(bank.t(), indices_of({1, 2}, {2}), values, 0.5, true); })
              .find("not contiguous") != std::string::npos);
    Tensor trainable = bank0.clone().requires_grad_();
    CHECK(error_of([&] { memory_bank_update(trainable, indices_of({1, 2}, {2}), values, 0.5, true); })
              .find("requires grad") != std::string::npos);
    FOVEA_CHECK_CLOSE(bank, bank0, 0.0, 0.0);
  }

  TEST_CASE("nce_scores and nce_loss reject bad arguments") {
    const Tensor bank = random_input({5, 3}, 19, -1, 1, false);
    const Tensor q = random_input({2, 3}, 20, -1, 1, false);
    NceNormalizer normalizer;
    CHECK(error_of([&] { nce_scores(q, bank, indices_of({0, 5}, {2, 1}), 0.07, 5, normalizer); }).find("outside the bank") !=
          std::string::npos);
    CHECK(error_of([&] { nce_scores(q, bank, indices_of({0, 1}, {2, 1}), 0.0, 5, normalizer); }).find("temperature") !=
          std::string::npos);
    CHECK(error_of([&] { nce_scores(q, bank, indices_of({0, 1}, {2, 1}), 0.07, 0, normalizer); }).find("n_data") !=
          std::string::npos);
    CHECK(normalizer.z < 0);
    CHECK(error_of([&] { nce_loss(ones({3}), 10); }).find("[B, K + 1]") != std::string::npos);
  }
}
