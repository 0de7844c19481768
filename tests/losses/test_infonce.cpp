// infonce on the CPU: the fused op against its unfused twin (forward and backward, at the saccade
// paper's shape and at ragged ones), gradients in double, the PyTorch golden file, and bad input
// rejected before any kernel runs.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "engine/autograd.h"
#include "losses/infonce.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::random_input;

namespace {

// Unit-norm rows, as the encoders' L2-normalised embeddings.
Tensor unit_rows(const Shape& shape, uint64_t seed, DType dtype, bool requires_grad) {
  Tensor t = normalize(random_input(shape, seed, -1.0, 1.0, false)).to(dtype).contiguous();
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor bank_indices(int64_t batch, int64_t count, int64_t rows, uint64_t seed, DType dtype = DType::i64) {
  Generator gen(seed);
  return randint(0, rows, {batch, count}, &gen).to(dtype);
}

struct Problem {
  Tensor queries, positives, bank, indices;
};

Problem make_problem(int64_t batch, int64_t dim, int64_t count, int64_t rows, DType dtype, uint64_t seed,
                     DType index_dtype = DType::i64) {
  return {unit_rows({batch, dim}, seed, dtype, true), unit_rows({batch, dim}, seed + 1, dtype, true),
          unit_rows({rows, dim}, seed + 2, dtype, false), bank_indices(batch, count, rows, seed + 3, index_dtype)};
}

// Runs the loss, backpropagates `upstream` (a scalar 1 for reduced losses) and returns
// {loss, grad queries, grad positives}.
std::vector<Tensor> loss_and_grads(bool fused, const Problem& p, double temperature, Reduction reduction) {
  Tensor q = p.queries.detach().clone().requires_grad_(), pos = p.positives.detach().clone().requires_grad_();
  const Tensor loss = fused ? infonce(q, pos, p.bank, p.indices, temperature, reduction)
                            : infonce_unfused(q, pos, p.bank, p.indices, temperature, reduction);
  Generator gen(5);
  loss.backward(reduction == Reduction::none ? rand(loss.shape(), loss.dtype(), &gen) : Tensor());
  return {loss.detach(), q.grad(), pos.grad()};
}

// f32 logits reach 1/τ ≈ 14 and sum over up to 1025 candidates: a few ulps of 14 per term.
void check_fused_matches_unfused(const Problem& p, double temperature, Reduction reduction, double tol) {
  const std::vector<Tensor> fused = loss_and_grads(true, p, temperature, reduction);
  const std::vector<Tensor> unfused = loss_and_grads(false, p, temperature, reduction);
  const char* names[] = {"loss", "grad queries", "grad positives"};
  for (int i = 0; i < 3; ++i) {
    INFO(names[i]);
    FOVEA_CHECK_CLOSE(fused[i], unfused[i], tol, tol);
  }
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("infonce fused matches unfused forward and backward at the saccade paper shape") {
    // B = 16, D = 128, K = 1024 negatives, a bank of 9537 videos x 5 fixations, τ = 0.07.
    const Problem p = make_problem(16, 128, 1024, 9537 * 5, DType::f32, 10);
    check_fused_matches_unfused(p, 0.07, Reduction::mean, 2e-5);
  }

  TEST_CASE("infonce fused matches unfused at ragged shapes with every reduction and index type") {
    struct Shape4 {
      int64_t batch, dim, count, rows;
    };
    for (const Shape4 s : {Shape4{1, 1, 1, 1}, Shape4{3, 7, 1, 5}, Shape4{5, 37, 50, 200}, Shape4{2, 130, 17, 9},
                           Shape4{7, 9, 300, 3}}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        for (Reduction reduction : {Reduction::mean, Reduction::none, Reduction::sum}) {
          CAPTURE(s.batch);
          CAPTURE(s.dim);
          CAPTURE(s.count);
          CAPTURE(dtype_name(dtype));
          CAPTURE(static_cast<int>(reduction));
          const DType index_dtype = s.dim % 2 == 1 ? DType::i32 : DType::i64;
          const Problem p = make_problem(s.batch, s.dim, s.count, s.rows, dtype, 20 + s.dim, index_dtype);
          check_fused_matches_unfused(p, 0.1, reduction, dtype == DType::f64 ? 1e-12 : 2e-5);
        }
      }
    }
  }

  TEST_CASE("infonce without negatives is zero and with equal candidates is log(K + 1)") {
    const Problem none = make_problem(3, 4, 0, 2, DType::f64, 30);
    CHECK(infonce(none.queries, none.positives, none.bank, none.indices, 0.5).item() == doctest::Approx(0.0));
    // Every candidate equal to the positive: a uniform softmax over K + 1 = 6 entries.
    const Tensor q = unit_rows({2, 3}, 31, DType::f64, false);
    const Tensor bank = q.narrow(0, 0, 1).clone();
    const Tensor positives = q.narrow(0, 0, 1).expand({2, 3});
    const Tensor loss = infonce(q.narrow(0, 0, 1).expand({2, 3}), positives, bank, zeros({2, 5}, DType::i64), 0.2,
                                Reduction::none);
    FOVEA_CHECK_CLOSE(loss, full({2}, std::log(6.0), DType::f64), 1e-12, 1e-12);
  }

  TEST_CASE("infonce gives the bank no gradient and the same loss without grad mode") {
    Problem p = make_problem(4, 6, 9, 11, DType::f64, 40);
    p.bank.requires_grad_();
    const Tensor loss = infonce(p.queries, p.positives, p.bank, p.indices, 0.07);
    loss.backward();
    CHECK(p.queries.grad().defined());
    CHECK(p.positives.grad().defined());
    CHECK_FALSE(p.bank.grad().defined());
    NoGradGuard no_grad;
    const Tensor again = infonce(p.queries, p.positives, p.bank, p.indices, 0.07);
    CHECK_FALSE(again.requires_grad());
    CHECK(again.item() == loss.item());
  }

  TEST_CASE("infonce golden matches pytorch loss and gradients") {
    const testing::GoldenFile golden = testing::GoldenFile::load("infonce");
    const std::vector<std::string> cases = golden.cases();
    REQUIRE(cases.size() >= 3);
    const Reduction reductions[] = {Reduction::none, Reduction::mean, Reduction::sum};
    for (const std::string& c : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(c);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? 1e-12 : 2e-5;
        const Reduction reduction = reductions[golden.get_int(c + "/reduction")];
        for (bool fused : {true, false}) {
          CAPTURE(fused);
          Tensor q = golden.get(c + "/queries").to(dtype).clone().requires_grad_();
          Tensor pos = golden.get(c + "/positives").to(dtype).clone().requires_grad_();
          const Tensor bank = golden.get(c + "/bank").to(dtype), idx = golden.get(c + "/indices");
          const double tau = golden.get(c + "/temperature").item();
          const Tensor loss = fused ? infonce(q, pos, bank, idx, tau, reduction)
                                    : infonce_unfused(q, pos, bank, idx, tau, reduction);
          FOVEA_CHECK_CLOSE(loss, golden.get(c + "/loss").to(dtype), tol, tol);
          loss.backward(golden.get(c + "/grad_output").to(dtype));
          FOVEA_CHECK_CLOSE(q.grad(), golden.get(c + "/grad_queries").to(dtype), tol, tol);
          FOVEA_CHECK_CLOSE(pos.grad(), golden.get(c + "/grad_positives").to(dtype), tol, tol);
        }
      }
    }
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("infonce gradcheck of queries and positives in double") {
    for (Reduction reduction : {Reduction::mean, Reduction::none}) {
      // Few bank rows, so indices repeat within and across rows.
      const Problem p = make_problem(3, 5, 7, 4, DType::f64, 50);
      const auto fn = [&](const std::vector<Tensor>& x) {
        return infonce(x[0], x[1], p.bank, p.indices, 0.3, reduction);
      };
      FOVEA_CHECK_GRADCHECK(testing::gradcheck(fn, {p.queries, p.positives}));
    }
  }

  TEST_CASE("infonce gradcheck at a low temperature with unnormalised features") {
    const Tensor q = random_input({2, 9}, 60, -2.0, 2.0), pos = random_input({2, 9}, 61, -2.0, 2.0);
    const Tensor bank = random_input({6, 9}, 62, -2.0, 2.0, false);
    const Tensor idx = bank_indices(2, 13, 6, 63, DType::i32);
    const auto fn = [&](const std::vector<Tensor>& x) { return infonce(x[0], x[1], bank, idx, 0.9, Reduction::sum); };
    FOVEA_CHECK_GRADCHECK(testing::gradcheck(fn, {q, pos}));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("infonce fused and unfused reject indices outside the bank") {
    const Problem p = make_problem(2, 4, 3, 5, DType::f32, 70);
    for (double bad : {5.0, -1.0}) {
      Tensor idx = p.indices.clone();
      idx.select(0, 1).narrow(0, 2, 1).fill_(bad);
      const std::string message = error_of([&] { infonce(p.queries, p.positives, p.bank, idx, 0.07); });
      CHECK(message.find("outside the bank of 5 rows") != std::string::npos);
      CHECK(message.find("at [1, 2]") != std::string::npos);
      CHECK(error_of([&] { infonce_unfused(p.queries, p.positives, p.bank, idx, 0.07); }) != "no error");
    }
  }

  TEST_CASE("infonce rejects mismatched feature sizes and shapes") {
    const Problem p = make_problem(2, 4, 3, 5, DType::f32, 71);
    const Tensor wide_bank = unit_rows({5, 6}, 72, DType::f32, false);
    CHECK(error_of([&] { infonce(p.queries, p.positives, wide_bank, p.indices, 0.07); }).find("feature sizes differ") !=
          std::string::npos);
    CHECK(error_of([&] { infonce(p.queries, p.positives.narrow(1, 0, 3), p.bank, p.indices, 0.07); })
              .find("one positive per query") != std::string::npos);
    CHECK(error_of([&] { infonce(p.queries, p.positives, p.bank, p.indices.narrow(0, 0, 1), 0.07); })
              .find("a row of bank indices per query") != std::string::npos);
    CHECK(error_of([&] { infonce(p.queries.view({2, 2, 2}), p.positives, p.bank, p.indices, 0.07); })
              .find("queries must be [B, D]") != std::string::npos);
  }

  TEST_CASE("infonce rejects non-finite queries and positives") {
    const Problem p = make_problem(2, 4, 3, 5, DType::f32, 73);
    for (double bad : {NAN, INFINITY}) {
      Tensor q = p.queries.detach().clone();
      q.select(0, 1).narrow(0, 3, 1).fill_(bad);
      const std::string message = error_of([&] { infonce(q, p.positives, p.bank, p.indices, 0.07); });
      CHECK(message.find("'queries' of shape [2, 4] holds a non-finite value") != std::string::npos);
      CHECK(message.find("flat position 7") != std::string::npos);
      Tensor pos = p.positives.detach().clone();
      pos.select(0, 0).narrow(0, 0, 1).fill_(bad);
      CHECK(error_of([&] { infonce(p.queries, pos, p.bank, p.indices, 0.07); }).find("'positives'") !=
            std::string::npos);
    }
  }

  TEST_CASE("infonce rejects bad temperatures and dtypes and an empty mean") {
    const Problem p = make_problem(2, 4, 3, 5, DType::f32, 74);
    for (double tau : {0.0, -0.1, double(NAN), double(INFINITY)})
      CHECK(error_of([&] { infonce(p.queries, p.positives, p.bank, p.indices, tau); }).find("temperature") !=
            std::string::npos);
    CHECK(error_of([&] { infonce(p.queries, p.positives, p.bank.to(DType::f64), p.indices, 0.07); })
              .find("bank is f64 but queries are f32") != std::string::npos);
    CHECK(error_of([&] { infonce(p.queries, p.positives, p.bank, p.indices.to(DType::f32), 0.07); })
              .find("index tensor") != std::string::npos);
    const Problem empty = make_problem(0, 4, 3, 5, DType::f32, 75);
    CHECK(error_of([&] { infonce(empty.queries, empty.positives, empty.bank, empty.indices, 0.07); })
              .find("empty batch") != std::string::npos);
    CHECK(infonce(empty.queries, empty.positives, empty.bank, empty.indices, 0.07, Reduction::none).numel() == 0);
  }
}
