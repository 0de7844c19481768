// cosine_attention and the prediction-error loss on the CPU: gradcheck in double through the
// normalisation and the ReLU; the fused kernels against the unfused twin (engine ops) in forward
// and backward at the saccade predictor's shape and at ragged ones (tile edges, single
// positions, zero feature vectors); PyTorch goldens (tools/make_goldens.py); bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "models/cosine_attention.h"
#include "models/prediction_error.h"
#include "tests/golden.h"
#include "tests/gradcheck.h"

using namespace fovea;
using testing::GoldenFile;
using testing::gradcheck;
using testing::random_input;

namespace {

struct Inputs {
  Tensor c, weight, bias;
};

// c uniform in [-1, 1); g initialised in nn.Linear's range ±1/√C.
Inputs make_inputs(const Shape& c_shape, uint64_t seed, DType dtype, bool with_bias) {
  const int64_t channels = c_shape[1];
  const double bound = 1.0 / std::sqrt(static_cast<double>(channels));
  Inputs in{random_input(c_shape, seed, -1.0, 1.0, false).to(dtype),
            random_input({channels, channels}, seed + 1, -bound, bound, false).to(dtype),
            with_bias ? random_input({channels}, seed + 2, -bound, bound, false).to(dtype) : Tensor()};
  for (Tensor* t : {&in.c, &in.weight, &in.bias})
    if (t->defined()) t->requires_grad_();
  return in;
}

using Predictor = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, double);

struct Result {
  Tensor pred, grad_c, grad_weight, grad_bias;
};

// Runs the predictor on fresh leaves copied from `in` and backpropagates a fixed upstream gradient.
Result run(Predictor predictor, const Inputs& in) {
  Inputs leaves;
  for (auto [from, to] : {std::pair{&in.c, &leaves.c}, {&in.weight, &leaves.weight}, {&in.bias, &leaves.bias}})
    if (from->defined()) *to = from->detach().clone().requires_grad_();
  const Tensor pred = predictor(leaves.c, leaves.weight, leaves.bias, 1e-12);
  Generator gen(7);
  pred.backward(rand(pred.shape(), pred.dtype(), &gen));
  return {pred.detach(), leaves.c.grad(), leaves.weight.grad(), leaves.bias.defined() ? leaves.bias.grad() : Tensor()};
}

void check_fused_matches_unfused(const Inputs& in, double atol, double rtol) {
  const Result fused = run(cosine_attention, in), unfused = run(cosine_attention_unfused, in);
  REQUIRE(fused.pred.shape() == in.c.shape());
  FOVEA_CHECK_CLOSE(fused.pred, unfused.pred, atol, rtol);
  FOVEA_CHECK_CLOSE(fused.grad_c, unfused.grad_c, atol, rtol);
  FOVEA_CHECK_CLOSE(fused.grad_weight, unfused.grad_weight, atol, rtol);
  if (in.bias.defined()) FOVEA_CHECK_CLOSE(fused.grad_bias, unfused.grad_bias, atol, rtol);
}

Tensor predict(const std::vector<Tensor>& x) { return cosine_attention(x[0], x[1], x.size() > 2 ? x[2] : Tensor()); }

}  // namespace

TEST_SUITE("gradcheck") {
  TEST_CASE("cosine_attention gradcheck in double for c weight and bias at odd sizes") {
    for (const Shape& shape : {Shape{2, 5, 7}, Shape{2, 3, 1, 2, 3}, Shape{1, 4, 1}}) {
      for (bool with_bias : {true, false}) {
        CAPTURE(shape_str(shape));
        CAPTURE(with_bias);
        const Inputs in = make_inputs(shape, 31, DType::f64, with_bias);
        std::vector<Tensor> args{in.c, in.weight};
        if (with_bias) args.push_back(in.bias);
        FOVEA_CHECK_GRADCHECK(gradcheck(predict, args));
      }
    }
  }

  TEST_CASE("cosine_attention gradcheck with near-parallel and opposite feature vectors") {
    // Columns 1 and 2 are ±1.5 × column 0: cosines of ±1, far from the ReLU kink at 0.
    Inputs in = make_inputs({1, 4, 6}, 32, DType::f64, true);
    Tensor c = in.c.detach().clone();
    c.select(2, 1).copy_(mul(c.select(2, 0), 1.5));
    c.select(2, 2).copy_(mul(c.select(2, 0), -1.5));
    c.requires_grad_();
    FOVEA_CHECK_GRADCHECK(gradcheck(predict, {c, in.weight, in.bias}));
  }

  TEST_CASE("prediction_error gradcheck of the two-clip loss in g and of the one-way loss in pred") {
    const Inputs first = make_inputs({2, 5, 7}, 33, DType::f64, true);
    const Tensor second = random_input({2, 5, 7}, 36, -1.0, 1.0, false);
    // The target is detached, so c_first's finite differences would also see its role as a
    // target: only g is checked through fixation_prediction_error.
    FOVEA_CHECK_GRADCHECK(gradcheck(
        [&](const std::vector<Tensor>& g) { return fixation_prediction_error(first.c.detach(), second, g[0], g[1]); },
        {first.weight, first.bias}));
    FOVEA_CHECK_GRADCHECK(
        gradcheck([&](const std::vector<Tensor>& x) { return prediction_error_loss(x[0], second); }, {first.c}));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("cosine_attention fused matches unfused at the saccade predictor shape") {
    // N = 16 clips, C = 512 channels over 2×7×7 positions. f32 sums of up to 512 products;
    // gradients of the weight sum over N·P = 1568 positions.
    const Inputs f32 = make_inputs({16, 512, 2, 7, 7}, 41, DType::f32, true);
    check_fused_matches_unfused(f32, 2e-4, 1e-4);
    const Inputs f64 = make_inputs({16, 512, 2, 7, 7}, 41, DType::f64, true);
    check_fused_matches_unfused(f64, 1e-11, 1e-10);
  }

  TEST_CASE("cosine_attention fused matches unfused at ragged shapes") {
    // 129 and 300 positions cross the CPU kernel's 128-position tiles.
    for (const Shape& shape : {Shape{3, 1, 5}, Shape{2, 17, 1}, Shape{2, 9, 129}, Shape{1, 33, 300}, Shape{2, 7, 3, 1, 5}}) {
      for (bool with_bias : {true, false}) {
        CAPTURE(shape_str(shape));
        CAPTURE(with_bias);
        check_fused_matches_unfused(make_inputs(shape, 42, DType::f64, with_bias), 1e-11, 1e-10);
        check_fused_matches_unfused(make_inputs(shape, 42, DType::f32, with_bias), 1e-4, 1e-4);
      }
    }
  }

  TEST_CASE("cosine_attention zero feature vectors follow the eps of F.normalize") {
    // A zero column has ĉ = 0: cosine 0 with every position (ReLU closed), gradient 0 through
    // the normalisation (‖c‖ < eps), and it still receives the attention-weighted gradient.
    for (DType dtype : {DType::f64, DType::f32}) {
      Inputs in = make_inputs({2, 6, 9}, 43, dtype, true);
      Tensor c = in.c.detach().clone();
      c.select(2, 4).zero_();
      c.select(0, 1).select(1, 0).zero_();
      c.requires_grad_();
      in.c = c;
      const double tol = dtype == DType::f64 ? 1e-11 : 1e-5;
      check_fused_matches_unfused(in, tol, tol);
      const Result fused = run(cosine_attention, in);
      CHECK(std::isfinite(sum(abs(fused.grad_c)).item()));
    }
  }

  TEST_CASE("cosine_attention golden matches pytorch in f64 and f32") {
    const GoldenFile golden = GoldenFile::load("cosine_attention");
    std::vector<std::string> cases;
    for (const std::string& name : golden.cases())
      if (name.rfind("case", 0) == 0) cases.push_back(name);
    REQUIRE(cases.size() >= 3);
    for (const std::string& name : cases) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(name);
        CAPTURE(dtype_name(dtype));
        const double tol = dtype == DType::f64 ? 1e-11 : 1e-4;
        const bool with_bias = golden.has(name + "/g_bias");
        Inputs in{golden.get(name + "/c").to(dtype), golden.get(name + "/g_weight").to(dtype),
                  with_bias ? golden.get(name + "/g_bias").to(dtype) : Tensor()};
        for (Predictor predictor : {static_cast<Predictor>(cosine_attention), static_cast<Predictor>(cosine_attention_unfused)}) {
          Inputs leaves;
          leaves.c = in.c.clone().requires_grad_();
          leaves.weight = in.weight.clone().requires_grad_();
          if (with_bias) leaves.bias = in.bias.clone().requires_grad_();
          const Tensor pred = predictor(leaves.c, leaves.weight, leaves.bias, 1e-12);
          FOVEA_CHECK_CLOSE(pred, golden.get(name + "/pred").to(dtype), tol, tol);
          pred.backward(golden.get(name + "/grad_pred").to(dtype));
          FOVEA_CHECK_CLOSE(leaves.c.grad(), golden.get(name + "/grad_c").to(dtype), tol, tol);
          FOVEA_CHECK_CLOSE(leaves.weight.grad(), golden.get(name + "/grad_weight").to(dtype), tol, tol);
          if (with_bias) FOVEA_CHECK_CLOSE(leaves.bias.grad(), golden.get(name + "/grad_bias").to(dtype), tol, tol);
        }
      }
    }
  }

  TEST_CASE("prediction_error golden loss and gradients match pytorch") {
    const GoldenFile golden = GoldenFile::load("cosine_attention");
    REQUIRE(golden.has("fixation/c_first"));
    const Tensor first = golden.get("fixation/c_first").clone().requires_grad_();
    const Tensor second = golden.get("fixation/c_second").clone().requires_grad_();
    const Tensor weight = golden.get("fixation/g_weight").clone().requires_grad_();
    const Tensor bias = golden.get("fixation/g_bias").clone().requires_grad_();
    const Tensor loss = fixation_prediction_error(first, second, weight, bias);
    FOVEA_CHECK_CLOSE(loss, golden.get("fixation/loss"), 1e-12, 1e-11);
    loss.backward();
    FOVEA_CHECK_CLOSE(first.grad(), golden.get("fixation/grad_c_first"), 1e-12, 1e-11);
    FOVEA_CHECK_CLOSE(second.grad(), golden.get("fixation/grad_c_second"), 1e-12, 1e-11);
    FOVEA_CHECK_CLOSE(weight.grad(), golden.get("fixation/grad_weight"), 1e-12, 1e-11);
    FOVEA_CHECK_CLOSE(bias.grad(), golden.get("fixation/grad_bias"), 1e-12, 1e-11);
  }

  TEST_CASE("prediction_error_loss is the mean absolute error with the target detached") {
    const Tensor pred = from_vector({1.0, -2.0, 0.5, 4.0}, {1, 2, 2}).requires_grad_();
    const Tensor target = from_vector({0.0, 1.0, 0.5, 2.0}, {1, 2, 2}).requires_grad_();
    const Tensor loss = prediction_error_loss(pred, target);
    CHECK(loss.item() == doctest::Approx((1.0 + 3.0 + 0.0 + 2.0) / 4.0));
    loss.backward();
    FOVEA_CHECK_CLOSE(pred.grad(), from_vector({0.25, -0.25, 0.0, 0.25}, {1, 2, 2}), 1e-7, 0);
    CHECK_FALSE(target.grad().defined());
  }

  TEST_CASE("prediction_error of a fixation averages both prediction directions") {
    const Inputs first = make_inputs({2, 8, 1, 3, 3}, 44, DType::f64, true);
    const Tensor second = random_input({2, 8, 1, 3, 3}, 47, -1.0, 1.0, false);
    const Tensor both = fixation_prediction_error(first.c, second, first.weight, first.bias);
    const Tensor one = prediction_error_loss(cosine_attention(first.c, first.weight, first.bias), second);
    const Tensor other = prediction_error_loss(cosine_attention(second, first.weight, first.bias), first.c);
    CHECK(both.item() == doctest::Approx((one.item() + other.item()) / 2).epsilon(1e-12));
  }

  TEST_CASE("cosine_attention of an empty batch is empty with zero parameter gradients") {
    const Inputs in = make_inputs({0, 4, 3}, 48, DType::f32, true);
    const Tensor pred = cosine_attention(in.c, in.weight, in.bias);
    CHECK(pred.shape() == Shape{0, 4, 3});
    sum(pred).backward();
    CHECK(sum(abs(in.weight.grad())).item() == 0.0);
    CHECK(sum(abs(in.bias.grad())).item() == 0.0);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("cosine_attention rejects bad rank channel mismatch and dtype") {
    const Inputs in = make_inputs({2, 4, 5}, 49, DType::f32, true);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c.reshape({8, 5}), in.weight, in.bias),
                         doctest::Contains("c must be a feature map [N, C, T, H, W] or [N, C, P]"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c.unsqueeze(0), in.weight, in.bias),
                         doctest::Contains("got shape [1, 2, 4, 5]"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, zeros({5, 5}), in.bias), doctest::Contains("g_weight must be [C, C] = [4, 4]"),
                         Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, zeros({4, 3}), in.bias), doctest::Contains("got [4, 3]"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, in.weight, zeros({5})), doctest::Contains("g_bias must be [C] = [4]"),
                         Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, in.weight.to(DType::f64), in.bias),
                         doctest::Contains("g_weight is f64 but c is f32"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, in.weight, in.bias.to(DType::f64)),
                         doctest::Contains("g_bias is f64 but c is f32"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(zeros({2, 4, 5}, DType::i64), in.weight, in.bias),
                         doctest::Contains("argument 'c' must be f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention(in.c, in.weight, in.bias, -1.0), doctest::Contains("eps must be >= 0"), Error);
    CHECK_THROWS_WITH_AS(cosine_attention_unfused(in.c, zeros({5, 5}), in.bias),
                         doctest::Contains("cosine_attention_unfused"), Error);
  }

  TEST_CASE("prediction_error rejects mismatched feature maps") {
    const Inputs in = make_inputs({2, 4, 5}, 50, DType::f32, true);
    CHECK_THROWS_WITH_AS(prediction_error_loss(in.c, zeros({2, 4, 6})),
                         doctest::Contains("pred of shape [2, 4, 5] and target of shape [2, 4, 6]"), Error);
    CHECK_THROWS_WITH_AS(fixation_prediction_error(in.c, zeros({2, 4, 6}), in.weight, in.bias),
                         doctest::Contains("same encoder"), Error);
    CHECK_THROWS_WITH_AS(prediction_error_loss(zeros({0, 4, 5}), zeros({0, 4, 5})), doctest::Contains("empty"), Error);
  }
}
