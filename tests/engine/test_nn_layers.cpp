// The convolutional-network modules of engine/nn/conv.h: state_dict names and shapes,
// default initialisation, BatchNorm's running statistics and num_batches_tracked in train and
// eval (and without tracking), module forward against the ops, errors naming the module, and
// a small 3D CNN trained for 5 SGD steps on the CPU, deterministically.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/nn/conv.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "tests/gradcheck.h"

using namespace fovea;
using namespace fovea::nn;
using testing::random_input;

namespace {

std::vector<std::string> names_of(const Named<Tensor>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

double max_abs(const Tensor& t) { return max(abs(t)).item(); }

double population_std(const Tensor& t) {
  const std::vector<double> v = to_vector(t);
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size()));
}

Tensor input(const Shape& shape, uint64_t seed) { return random_input(shape, seed, -1, 1, false); }

// Per-channel mean and unbiased variance of x [N, C, ...], computed in double.
std::pair<std::vector<double>, std::vector<double>> channel_stats(const Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), inner = x.numel() / (n * c);
  const std::vector<double> v = to_vector(x);
  std::vector<double> mean(c, 0.0), var(c, 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < inner; ++i) mean[ch] += v[(b * c + ch) * inner + i];
    mean[ch] /= static_cast<double>(n * inner);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < inner; ++i) var[ch] += std::pow(v[(b * c + ch) * inner + i] - mean[ch], 2);
    var[ch] /= static_cast<double>(n * inner - 1);
  }
  return {mean, var};
}

// Conv3d 3→8 → BN → ReLU → MaxPool3d 2 → Conv3d 8→16 → BN → ReLU → AdaptiveAvgPool3d 1 →
// Flatten → Linear 16→4, trained for 5 SGD steps on one fixed batch; returns the losses.
std::vector<double> train_small_cnn(uint64_t seed, int64_t* num_batches_tracked = nullptr) {
  Generator gen(seed);
  Sequential net({std::make_shared<Conv3d>(3, 8, Shape{3}, ConvOptions{.padding = {1}}, &gen),
                  std::make_shared<BatchNorm3d>(8), std::make_shared<ReLU>(), std::make_shared<MaxPool3d>(Shape{2}),
                  std::make_shared<Conv3d>(8, 16, Shape{3}, ConvOptions{.padding = {1}}, &gen),
                  std::make_shared<BatchNorm3d>(16), std::make_shared<ReLU>(),
                  std::make_shared<AdaptiveAvgPool3d>(Shape{1}), std::make_shared<Flatten>(),
                  std::make_shared<Linear>(16, 4, true, DType::f32, &gen)});
  Generator data_gen(seed + 1000);
  const Tensor x = randn({4, 3, 4, 16, 16}, DType::f32, &data_gen);
  const Tensor labels = from_vector({0, 3, 1, 2}, {4}, DType::i64);
  SGD sgd(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  std::vector<double> losses;
  for (int step = 0; step < 5; ++step) {
    net.zero_grad();
    const Tensor loss = cross_entropy(net.forward(x), labels);
    loss.backward();
    sgd.step();
    losses.push_back(loss.item());
  }
  if (num_batches_tracked)
    *num_batches_tracked = static_cast<int64_t>(net.state_dict().at("1.num_batches_tracked").item());
  return losses;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("nn conv3d batch_norm3d sequential state_dict names and shapes") {
    Generator gen(1);
    Sequential seq({std::make_shared<Conv3d>(3, 8, Shape{3}, ConvOptions{.bias = false}, &gen),
                    std::make_shared<BatchNorm3d>(8), std::make_shared<ReLU>()});
    CHECK(names_of(seq.named_parameters()) == std::vector<std::string>{"0.weight", "1.weight", "1.bias"});
    CHECK(names_of(seq.named_buffers()) ==
          std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"});
    const StateDict state = seq.state_dict();
    CHECK(state.size() == 6);
    CHECK(state.at("0.weight").shape() == Shape{8, 3, 3, 3, 3});
    CHECK(state.at("1.weight").shape() == Shape{8});
    CHECK(state.at("1.bias").shape() == Shape{8});
    CHECK(state.at("1.running_mean").shape() == Shape{8});
    CHECK(state.at("1.running_var").shape() == Shape{8});
    CHECK(state.at("1.num_batches_tracked").dtype() == DType::i64);
    CHECK(state.at("1.num_batches_tracked").dim() == 0);
    CHECK(state.at("1.num_batches_tracked").item() == 0);
    CHECK(to_vector(state.at("1.weight")) == std::vector<double>(8, 1.0));
    CHECK(to_vector(state.at("1.bias")) == std::vector<double>(8, 0.0));
    CHECK(to_vector(state.at("1.running_mean")) == std::vector<double>(8, 0.0));
    CHECK(to_vector(state.at("1.running_var")) == std::vector<double>(8, 1.0));
    CHECK(seq[0].type_name() == "Conv3d");
    CHECK(seq[1].type_name() == "BatchNorm3d");
  }

  TEST_CASE("nn conv2d weight shape with groups and bias, forward equals the op") {
    Generator gen(2);
    Conv2d conv(4, 6, {3, 2}, {.stride = {2, 1}, .padding = {1}, .dilation = {1, 2}, .groups = 2, .dtype = DType::f64},
                &gen);
    CHECK(names_of(conv.named_parameters()) == std::vector<std::string>{"weight", "bias"});
    CHECK(conv.weight().shape() == Shape{6, 2, 3, 2});
    CHECK(conv.bias().shape() == Shape{6});
    CHECK(conv.weight().dtype() == DType::f64);
    const Tensor x = input({2, 4, 7, 6}, 3);
    const Tensor expected = conv2d(x, conv.weight(), conv.bias(), {2, 1}, {1}, {1, 2}, 2);
    CHECK(to_vector(conv.forward(x)) == to_vector(expected));
    CHECK(conv.forward(x).shape() == expected.shape());
  }

  TEST_CASE("nn conv3d forward equals the op and gradients reach the parameters") {
    Generator gen(3);
    Conv3d conv(2, 4, {3, 1, 2}, {.padding = {1, 0, 1}, .dtype = DType::f64}, &gen);
    CHECK(conv.weight().shape() == Shape{4, 2, 3, 1, 2});
    const Tensor x = input({2, 2, 3, 4, 5}, 4);
    const Tensor out = conv.forward(x);
    CHECK(to_vector(out) == to_vector(conv3d(x, conv.weight(), conv.bias(), {1}, {1, 0, 1})));
    sum(out).backward();
    CHECK(conv.weight().grad().shape() == conv.weight().shape());
    CHECK(conv.bias().grad().shape() == Shape{4});
    Conv3d no_bias(2, 4, {1}, {.bias = false}, &gen);
    CHECK_FALSE(no_bias.bias().defined());
    CHECK(names_of(no_bias.named_parameters()) == std::vector<std::string>{"weight"});
  }

  TEST_CASE("nn conv2d conv3d default init within kaiming_uniform bounds and seeded") {
    // kaiming_uniform(a = √5) gives U(±1/√fan_in), std bound/√3; the bias has the same bound.
    Generator gen(4);
    Conv3d conv(16, 32, {3}, {}, &gen);  // fan_in 16·27 = 432, 13824 weights
    const double bound = 1.0 / std::sqrt(432.0);
    CHECK(max_abs(conv.weight()) <= bound);
    CHECK(max_abs(conv.weight()) > 0.95 * bound);
    CHECK(population_std(conv.weight()) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.03));
    CHECK(std::abs(mean(conv.weight()).item()) < 0.05 * bound);
    CHECK(max_abs(conv.bias()) <= bound);
    CHECK(population_std(conv.bias()) > 0.3 * bound);

    Conv2d grouped(8, 16, {5, 3}, {.groups = 4}, &gen);  // fan_in 2·15 = 30
    CHECK(max_abs(grouped.weight()) <= 1.0 / std::sqrt(30.0));
    CHECK(max_abs(grouped.weight()) > 0.9 / std::sqrt(30.0));
    CHECK(max_abs(grouped.bias()) <= 1.0 / std::sqrt(30.0));

    Generator a(7), b(7), c(8);
    CHECK(to_vector(Conv2d(3, 4, {3}, {}, &a).weight()) == to_vector(Conv2d(3, 4, {3}, {}, &b).weight()));
    CHECK(to_vector(Conv2d(3, 4, {3}, {}, &a).weight()) != to_vector(Conv2d(3, 4, {3}, {}, &c).weight()));
  }

  TEST_CASE("nn batch_norm2d training updates running stats and num_batches_tracked, eval does not") {
    BatchNorm2d bn(3, {.dtype = DType::f64});
    const Tensor x = input({4, 3, 5, 6}, 5);
    const auto [batch_mean, batch_var] = channel_stats(x);
    const Tensor ref_mean = zeros({3}, DType::f64), ref_var = ones({3}, DType::f64);
    const Tensor expected = batch_norm(x, ref_mean, ref_var, bn.weight(), bn.bias(), true, 0.1, 1e-5);
    CHECK(to_vector(bn.forward(x)) == to_vector(expected));
    CHECK(bn.num_batches_tracked().item() == 1);
    for (int c = 0; c < 3; ++c) {
      CHECK(to_vector(bn.running_mean())[c] == doctest::Approx(0.1 * batch_mean[c]).epsilon(1e-12));
      CHECK(to_vector(bn.running_var())[c] == doctest::Approx(0.9 + 0.1 * batch_var[c]).epsilon(1e-12));
    }
    bn.forward(x);
    CHECK(bn.num_batches_tracked().item() == 2);
    const std::vector<double> mean_after_train = to_vector(bn.running_mean());
    bn.eval();
    bn.forward(x);
    bn.forward(x);
    CHECK(bn.num_batches_tracked().item() == 2);
    CHECK(to_vector(bn.running_mean()) == mean_after_train);
    bn.train();
    bn.forward(x);
    CHECK(bn.num_batches_tracked().item() == 3);
  }

  TEST_CASE("nn batch_norm3d eval normalises with the running stats") {
    BatchNorm3d bn(2, {.dtype = DType::f64});
    StateDict state = bn.state_dict();
    state.at("running_mean").copy_(from_vector({0.5, -1.0}, {2}, DType::f64));
    state.at("running_var").copy_(from_vector({4.0, 0.25}, {2}, DType::f64));
    state.at("weight").copy_(from_vector({2.0, 3.0}, {2}, DType::f64));
    state.at("bias").copy_(from_vector({0.1, -0.2}, {2}, DType::f64));
    bn.eval();
    const Tensor x = input({2, 2, 2, 3, 2}, 6);
    const std::vector<double> xs = to_vector(x), out = to_vector(bn.forward(x));
    const double m[2] = {0.5, -1.0}, v[2] = {4.0, 0.25}, w[2] = {2.0, 3.0}, b[2] = {0.1, -0.2};
    for (size_t i = 0; i < xs.size(); ++i) {
      const size_t c = (i / 12) % 2;
      CHECK(out[i] == doctest::Approx((xs[i] - m[c]) / std::sqrt(v[c] + 1e-5) * w[c] + b[c]).epsilon(1e-12));
    }
    CHECK(bn.num_batches_tracked().item() == 0);
  }

  TEST_CASE("nn batch_norm without track_running_stats has no buffers and uses batch stats in eval") {
    BatchNorm3d bn(4, {.track_running_stats = false, .dtype = DType::f64});
    CHECK(bn.named_buffers().empty());
    CHECK(names_of(bn.named_parameters()) == std::vector<std::string>{"weight", "bias"});
    CHECK(bn.state_dict().size() == 2);
    CHECK_FALSE(bn.running_mean().defined());
    const Tensor x = input({2, 4, 2, 3, 3}, 7);
    const std::vector<double> expected =
        to_vector(batch_norm(x, Tensor(), Tensor(), bn.weight(), bn.bias(), true, 0.1, 1e-5));
    CHECK(to_vector(bn.forward(x)) == expected);
    bn.eval();
    CHECK(to_vector(bn.forward(x)) == expected);
  }

  TEST_CASE("nn batch_norm1d takes 2-d and 3-d input and without affine has no parameters") {
    BatchNorm1d bn(3, {.affine = false, .dtype = DType::f64});
    CHECK(bn.named_parameters().empty());
    CHECK(names_of(bn.named_buffers()) ==
          std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
    const Tensor x2 = input({5, 3}, 8), x3 = input({2, 3, 4}, 9);
    CHECK(to_vector(bn.forward(x2)) ==
          to_vector(batch_norm(x2, zeros({3}, DType::f64), ones({3}, DType::f64), Tensor(), Tensor(), true)));
    CHECK(bn.forward(x3).shape() == Shape{2, 3, 4});
    CHECK(bn.num_batches_tracked().item() == 2);
  }

  TEST_CASE("nn batch_norm momentum none keeps a cumulative average") {
    BatchNorm2d bn(2, {.momentum = std::nullopt, .dtype = DType::f64});
    const Tensor a = input({3, 2, 2, 2}, 10), b = input({3, 2, 2, 2}, 11);
    bn.forward(a);
    bn.forward(b);
    const auto [mean_a, var_a] = channel_stats(a);
    const auto [mean_b, var_b] = channel_stats(b);
    for (int c = 0; c < 2; ++c) {
      CHECK(to_vector(bn.running_mean())[c] == doctest::Approx((mean_a[c] + mean_b[c]) / 2).epsilon(1e-12));
      CHECK(to_vector(bn.running_var())[c] == doctest::Approx((var_a[c] + var_b[c]) / 2).epsilon(1e-12));
    }
  }

  TEST_CASE("nn max_pool2d max_pool3d modules equal the ops") {
    const Tensor x2 = input({2, 3, 7, 8}, 12), x3 = input({2, 3, 5, 7, 6}, 13);
    MaxPool2d p2({3, 2}, {.stride = {2}, .padding = {1}, .ceil_mode = true});
    CHECK(to_vector(p2.forward(x2)) == to_vector(max_pool2d(x2, {3, 2}, {2}, {1}, {1}, true)));
    MaxPool3d p3({2}, {.dilation = {1, 2, 1}});
    CHECK(to_vector(p3.forward(x3)) == to_vector(max_pool3d(x3, {2}, {}, {0}, {1, 2, 1})));
    CHECK(p3.forward(x3).shape() == max_pool3d(x3, {2}, {}, {0}, {1, 2, 1}).shape());
    CHECK(p3.named_parameters().empty());
  }

  TEST_CASE("nn avg_pool2d avg_pool3d modules equal the ops") {
    const Tensor x2 = input({2, 3, 7, 8}, 14), x3 = input({1, 2, 5, 6, 7}, 15);
    AvgPool2d p2({3}, {.stride = {2}, .padding = {1}, .ceil_mode = true, .count_include_pad = false});
    CHECK(to_vector(p2.forward(x2)) == to_vector(avg_pool2d(x2, {3}, {2}, {1}, true, false)));
    AvgPool3d p3({2, 3, 3}, {.padding = {1}});
    CHECK(to_vector(p3.forward(x3)) == to_vector(avg_pool3d(x3, {2, 3, 3}, {}, {1})));
  }

  TEST_CASE("nn adaptive_avg_pool2d adaptive_avg_pool3d modules equal the ops") {
    const Tensor x2 = input({2, 3, 7, 5}, 16), x3 = input({2, 3, 5, 7, 6}, 17);
    CHECK(to_vector(AdaptiveAvgPool2d({3, 2}).forward(x2)) == to_vector(adaptive_avg_pool2d(x2, {3, 2})));
    AdaptiveAvgPool3d global({1});
    CHECK(global.forward(x3).shape() == Shape{2, 3, 1, 1, 1});
    CHECK(to_vector(global.forward(x3)) == to_vector(adaptive_avg_pool3d(x3, {1})));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("nn conv2d conv3d bad arguments and input name the module") {
    Conv3d conv(3, 8, {3});
    CHECK_THROWS_WITH_AS(conv.forward(zeros({1, 4, 5, 5, 5})), doctest::Contains("Conv3d: expected 3 input channels"),
                         Error);
    CHECK_THROWS_WITH_AS(conv.forward(zeros({3, 5, 5, 5})), doctest::Contains("Conv3d: expected a 5-D input"), Error);
    Conv2d conv2(2, 4, {3});
    CHECK_THROWS_WITH_AS(conv2.forward(zeros({1, 3, 5, 5})), doctest::Contains("Conv2d: expected 2 input channels"),
                         Error);
    CHECK_THROWS_WITH_AS(conv2.forward(Tensor()), doctest::Contains("Conv2d: input is undefined"), Error);
    CHECK_THROWS_WITH_AS(Conv2d(4, 6, {3}, {.groups = 4}), doctest::Contains("groups=4"), Error);
    CHECK_THROWS_WITH_AS(Conv2d(0, 6, {3}), doctest::Contains("in_channels=0"), Error);
    CHECK_THROWS_WITH_AS(Conv2d(2, 6, {3, 3, 3}), doctest::Contains("Conv2d: kernel_size needs 1 or 2 values"), Error);
    CHECK_THROWS_WITH_AS(Conv3d(2, 6, {3, 0, 3}), doctest::Contains("kernel_size must be positive"), Error);
  }

  TEST_CASE("nn batch_norm bad arguments and input name the module") {
    BatchNorm3d bn(8);
    CHECK_THROWS_WITH_AS(bn.forward(zeros({2, 4, 2, 2, 2})),
                         doctest::Contains("BatchNorm3d: expected 8 channels (num_features)"), Error);
    CHECK_THROWS_WITH_AS(bn.forward(zeros({2, 8, 2, 2})), doctest::Contains("BatchNorm3d: expected an input"), Error);
    CHECK(bn.num_batches_tracked().item() == 0);
    CHECK_THROWS_WITH_AS(BatchNorm1d(3).forward(zeros({2, 3, 4, 4})),
                         doctest::Contains("BatchNorm1d: expected an input [N, C] or [N, C, L]"), Error);
    CHECK_THROWS_WITH_AS(BatchNorm2d(0), doctest::Contains("num_features must be positive"), Error);
    CHECK_THROWS_WITH_AS(BatchNorm2d(2, {.momentum = 1.5}), doctest::Contains("momentum must be in [0, 1]"), Error);
    CHECK_THROWS_WITH_AS(BatchNorm2d(2, {.eps = 0}), doctest::Contains("eps must be positive"), Error);
  }

  TEST_CASE("nn max_pool avg_pool adaptive bad input names the module") {
    CHECK_THROWS_WITH_AS(MaxPool3d({2}).forward(zeros({1, 2, 4, 4})), doctest::Contains("MaxPool3d: expected a 5-D"),
                         Error);
    CHECK_THROWS_WITH_AS(MaxPool2d({2}).forward(zeros({2, 4, 4})), doctest::Contains("MaxPool2d: expected a 4-D"),
                         Error);
    CHECK_THROWS_WITH_AS(AvgPool2d({2}).forward(zeros({1, 1, 2, 4, 4})),
                         doctest::Contains("AvgPool2d: expected a 4-D"), Error);
    CHECK_THROWS_WITH_AS(AvgPool3d({2}).forward(zeros({1, 2, 4})), doctest::Contains("AvgPool3d"), Error);
    CHECK_THROWS_WITH_AS(AdaptiveAvgPool3d({1}).forward(zeros({1, 2, 4, 4})),
                         doctest::Contains("AdaptiveAvgPool3d: expected a 5-D"), Error);
    CHECK_THROWS_WITH_AS(AdaptiveAvgPool2d({1}).forward(Tensor()), doctest::Contains("AdaptiveAvgPool2d"), Error);
  }
}

TEST_SUITE("e2e") {
  TEST_CASE("nn conv3d batch_norm3d max_pool3d adaptive small 3d cnn trains 5 sgd steps deterministically") {
    int64_t tracked = 0;
    const std::vector<double> losses = train_small_cnn(42, &tracked);
    REQUIRE(losses.size() == 5);
    INFO("losses: " << losses[0] << " " << losses[1] << " " << losses[2] << " " << losses[3] << " " << losses[4]);
    for (double l : losses) CHECK(std::isfinite(l));
    CHECK(losses.back() < losses.front());
    CHECK(tracked == 5);
    CHECK(train_small_cnn(42) == losses);  // bit-identical on a rerun with the same seeds
    CHECK(train_small_cnn(43) != losses);
  }
}
