// nn::Module and the non-convolutional layers: PyTorch state_dict names and order,
// load_state_dict's problem report, train/eval, device moves, Linear's default init,
// Dropout, Sequential, the seeded initialisers, gradients through modules, bad input, and
// (in CUDA builds) moving a module to the device.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/optim.h"
#include "fovea/build_config.h"
#include "tests/gradcheck.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

using namespace fovea;
using namespace fovea::nn;
using testing::gradcheck;
using testing::random_input;

namespace {

// A torchvision-style residual block stand-in: a Linear child and BN-like buffers.
class Block : public Module {
 public:
  explicit Block(int64_t width, Generator* gen) {
    fc_ = register_module("fc", std::make_shared<Linear>(width, width, true, DType::f32, gen));
    scale_ = register_parameter("scale", ones({width}));
    register_buffer("running_mean", zeros({width}));
    register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
  std::string type_name() const override { return "Block"; }
  Tensor forward(const Tensor& x) override { return relu(mul(fc_->forward(x), scale_)); }

 private:
  std::shared_ptr<Linear> fc_;
  Tensor scale_;
};

class Net : public Module {
 public:
  explicit Net(Generator* gen) {
    stem_ = register_module("stem", std::make_shared<Linear>(3, 4, true, DType::f32, gen));
    layer1_ = register_module("layer1", std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                                            std::make_shared<Block>(4, gen), std::make_shared<Block>(4, gen)}));
    head_ = register_module("head", std::make_shared<Linear>(4, 2, false, DType::f32, gen));
  }
  Tensor forward(const Tensor& x) override { return head_->forward(layer1_->forward(stem_->forward(x))); }

 private:
  std::shared_ptr<Linear> stem_, head_;
  std::shared_ptr<Sequential> layer1_;
};

// Exposes the protected registration calls to tests of their checks.
class Open : public Module {
 public:
  using Module::register_buffer;
  using Module::register_module;
  using Module::register_parameter;
};

std::vector<std::string> names_of(const Named<Tensor>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

double max_abs(const Tensor& t) { return max(abs(t)).item(); }

double sample_std(const std::vector<double>& v) {
  double mean = 0, sq = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("nn sequential of linear state_dict names") {
    Generator gen(1);
    Sequential seq({std::make_shared<Linear>(4, 3, true, DType::f32, &gen), std::make_shared<ReLU>(),
                    std::make_shared<Linear>(3, 2, false, DType::f32, &gen)});
    const StateDict state = seq.state_dict();
    std::vector<std::string> keys;
    for (const auto& [k, v] : state) keys.push_back(k);
    CHECK(keys == std::vector<std::string>{"0.bias", "0.weight", "2.weight"});
    CHECK(state.at("0.weight").shape() == Shape{3, 4});
    CHECK(state.at("2.weight").shape() == Shape{2, 3});
    CHECK(names_of(seq.named_parameters()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight"});
    CHECK(seq.size() == 3);
    CHECK(seq[1].type_name() == "ReLU");
  }

  TEST_CASE("nn nested module names follow pytorch order with buffers") {
    Generator gen(2);
    Net net(&gen);
    CHECK(names_of(net.named_parameters()) ==
          std::vector<std::string>{"stem.weight", "stem.bias", "layer1.0.scale", "layer1.0.fc.weight",
                                   "layer1.0.fc.bias", "layer1.1.scale", "layer1.1.fc.weight", "layer1.1.fc.bias",
                                   "head.weight"});
    CHECK(names_of(net.named_buffers()) ==
          std::vector<std::string>{"layer1.0.running_mean", "layer1.0.num_batches_tracked", "layer1.1.running_mean",
                                   "layer1.1.num_batches_tracked"});
    const StateDict state = net.state_dict();
    CHECK(state.size() == 13);
    CHECK(state.at("layer1.1.num_batches_tracked").dtype() == DType::i64);
    CHECK(state.at("layer1.1.num_batches_tracked").dim() == 0);
    CHECK_FALSE(state.at("stem.weight").requires_grad());  // detached, sharing storage
    CHECK(state.at("stem.weight").raw_data() == net.parameters()[0].raw_data());
    std::vector<std::string> modules;
    for (const auto& [name, m] : net.named_modules()) modules.push_back(name);
    CHECK(modules == std::vector<std::string>{"", "stem", "layer1", "layer1.0", "layer1.0.fc", "layer1.1",
                                              "layer1.1.fc", "head"});
    CHECK(net.parameters(false).empty());
  }

  TEST_CASE("nn shared parameter is listed once") {
    Open m;
    const Tensor w = m.register_parameter("w", zeros({2}));
    auto child = std::make_shared<Open>();
    child->register_parameter("tied", w);
    m.register_module("child", child);
    CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"w"});
    CHECK(m.state_dict().size() == 2);  // state_dict keeps both names, as torch does
  }

  TEST_CASE("nn load_state_dict copies values into the registered tensors") {
    Generator a(3), b(4);
    Net source(&a), target(&b);
    const Tensor handle = target.parameters()[0];
    StateDict state = source.state_dict();
    state.at("layer1.0.num_batches_tracked").fill_(7);
    const StateDictReport report = target.load_state_dict(state);
    CHECK(report.missing.empty());
    CHECK(report.unexpected.empty());
    CHECK(to_vector(handle) == to_vector(source.parameters()[0]));
    CHECK(handle.requires_grad());
    CHECK(handle.is_leaf());
    CHECK(target.state_dict().at("layer1.0.num_batches_tracked").item() == 7);
    const Tensor x = random_input({5, 3}, 9, -1, 1, false).to(DType::f32);
    CHECK(to_vector(target.forward(x)) == to_vector(source.forward(x)));
  }

  TEST_CASE("nn load_state_dict non-strict reports missing and unexpected keys") {
    Generator gen(5);
    Net net(&gen);
    StateDict state = net.state_dict();
    state.erase("head.weight");
    state["extra.thing"] = zeros({1});
    const StateDictReport report = net.load_state_dict(state, false);
    CHECK(report.missing == std::vector<std::string>{"head.weight"});
    CHECK(report.unexpected == std::vector<std::string>{"extra.thing"});
  }

  TEST_CASE("nn train and eval reach every module") {
    Generator gen(6);
    Net net(&gen);
    CHECK(net.is_training());
    net.eval();
    for (const auto& [name, m] : net.named_modules()) CHECK_FALSE(m->is_training());
    net.train();
    for (const auto& [name, m] : net.named_modules()) CHECK(m->is_training());
  }

  TEST_CASE("nn zero_grad and to cpu keep parameters as leaves") {
    Generator gen(7);
    Net net(&gen);
    sum(net.forward(ones({2, 3}))).backward();
    for (const Tensor& p : net.parameters()) CHECK(p.grad().defined());
    const void* before = net.parameters()[0].raw_data();
    net.to(Device::cpu());
    CHECK(net.parameters()[0].raw_data() == before);
    net.zero_grad();
    for (const Tensor& p : net.parameters()) {
      CHECK_FALSE(p.grad().defined());
      CHECK(p.is_leaf());
      CHECK(p.requires_grad());
    }
  }

  TEST_CASE("nn linear forward and pytorch default init bounds") {
    Generator gen(8);
    Linear fc(50, 30, true, DType::f64, &gen);
    const double bound = 1.0 / std::sqrt(50.0);
    const std::vector<double> w = to_vector(fc.weight()), b = to_vector(fc.bias());
    CHECK(max_abs(fc.weight()) <= bound);
    CHECK(max_abs(fc.weight()) > 0.9 * bound);
    CHECK(max_abs(fc.bias()) <= bound);
    // U(-bound, bound) has std bound/sqrt(3).
    CHECK(sample_std(w) == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.05));
    const Tensor x = random_input({4, 50}, 1, -1, 1, false);
    FOVEA_CHECK_CLOSE(fc.forward(x), add(matmul(x, fc.weight().t()), fc.bias()), 1e-12, 1e-12);
    Generator again(8);
    Linear same(50, 30, true, DType::f64, &again);
    CHECK(to_vector(same.weight()) == w);
    CHECK(to_vector(same.bias()) == b);
    Linear no_bias(3, 2, false);
    CHECK_FALSE(no_bias.bias().defined());
    CHECK(no_bias.state_dict().size() == 1);
  }

  TEST_CASE("nn dropout follows training flag and its generator") {
    Generator gen(11);
    Dropout drop(0.5, &gen);
    const Tensor x = ones({64});
    const Tensor trained = drop.forward(x);
    Generator replay(11);
    CHECK(to_vector(trained) == to_vector(dropout(x, 0.5, true, &replay)));
    CHECK(gen.offset() == 64);
    drop.eval();
    CHECK(to_vector(drop.forward(x)) == to_vector(x));
    CHECK(gen.offset() == 64);
  }

  TEST_CASE("nn flatten and identity") {
    const Tensor x = random_input({2, 3, 4, 5}, 3, -1, 1, false);
    CHECK(Flatten().forward(x).shape() == Shape{2, 60});
    CHECK(Flatten(0, 1).forward(x).shape() == Shape{6, 4, 5});
    CHECK(Identity().forward(x).raw_data() == x.raw_data());
    CHECK(Flatten().state_dict().empty());
  }

  TEST_CASE("nn init gains and fans") {
    using init::Nonlinearity;
    CHECK(init::calculate_gain(Nonlinearity::linear) == 1.0);
    CHECK(init::calculate_gain(Nonlinearity::tanh) == doctest::Approx(5.0 / 3.0));
    CHECK(init::calculate_gain(Nonlinearity::relu) == doctest::Approx(std::sqrt(2.0)));
    CHECK(init::calculate_gain(Nonlinearity::leaky_relu) == doctest::Approx(std::sqrt(2.0 / (1 + 0.01 * 0.01))));
    CHECK(init::calculate_gain(Nonlinearity::leaky_relu, std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));
    const auto [fan_in, fan_out] = init::fan_in_and_fan_out(empty({8, 4, 3, 3, 2}));
    CHECK(fan_in == 72);
    CHECK(fan_out == 144);
  }

  TEST_CASE("nn init kaiming xavier normal uniform statistics") {
    using init::FanMode;
    using init::Nonlinearity;
    Generator gen(21);
    const Tensor conv = empty({64, 32, 3, 3}, DType::f64);  // fan_in 288, fan_out 576
    init::kaiming_normal_(conv, 0.0, FanMode::fan_out, Nonlinearity::relu, &gen);
    CHECK(sample_std(to_vector(conv)) == doctest::Approx(std::sqrt(2.0 / 576)).epsilon(0.03));
    init::kaiming_normal_(conv, 0.0, FanMode::fan_in, Nonlinearity::relu, &gen);
    CHECK(sample_std(to_vector(conv)) == doctest::Approx(std::sqrt(2.0 / 288)).epsilon(0.03));
    init::kaiming_uniform_(conv, 0.0, FanMode::fan_in, Nonlinearity::relu, &gen);
    const double kaiming_bound = std::sqrt(3.0) * std::sqrt(2.0 / 288);
    CHECK(max_abs(conv) <= kaiming_bound);
    CHECK(sample_std(to_vector(conv)) == doctest::Approx(std::sqrt(2.0 / 288)).epsilon(0.03));

    const Tensor w = empty({200, 300}, DType::f32);
    init::xavier_uniform_(w, 2.0, &gen);
    const double xavier_std = 2.0 * std::sqrt(2.0 / 500);
    CHECK(max_abs(w) <= std::sqrt(3.0) * xavier_std * (1 + 1e-6));
    CHECK(sample_std(to_vector(w)) == doctest::Approx(xavier_std).epsilon(0.03));
    init::xavier_normal_(w, 1.0, &gen);
    CHECK(sample_std(to_vector(w)) == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.03));

    init::normal_(w, 3.0, 0.5, &gen);
    const std::vector<double> n = to_vector(w);
    double mean = 0;
    for (double v : n) mean += v;
    CHECK(mean / static_cast<double>(n.size()) == doctest::Approx(3.0).epsilon(0.01));
    CHECK(sample_std(n) == doctest::Approx(0.5).epsilon(0.03));
    init::uniform_(w, -0.2, 0.7, &gen);
    CHECK(max(w).item() < 0.7);
    CHECK(min(w).item() >= -0.2f);
    init::constant_(w, 0.25);
    CHECK(max(w).item() == 0.25);
    CHECK(min(w).item() == 0.25);
  }

  TEST_CASE("nn init draws are seeded and work on parameters that require grad") {
    const Tensor a = zeros({5, 7}).requires_grad_(), b = zeros({5, 7});
    Generator g1(99), g2(99);
    init::kaiming_normal_(a, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu, &g1);
    init::kaiming_normal_(b, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu, &g2);
    CHECK(to_vector(a) == to_vector(b));
    CHECK(a.is_leaf());
    CHECK(g1.offset() == 35);
  }

  TEST_CASE("nn init orthogonal tall wide and conv shaped") {
    Generator gen(31);
    for (const Shape& shape : {Shape{6, 4}, Shape{4, 9}, Shape{8, 2, 3, 3}, Shape{5, 5}}) {
      const Tensor w = empty(shape, DType::f64);
      init::orthogonal_(w, 1.5, &gen);
      const Tensor m = w.reshape({shape[0], -1});
      // The smaller Gram matrix is gain²·I.
      const Tensor gram = m.size(0) <= m.size(1) ? matmul(m, m.t()) : matmul(m.t(), m);
      const int64_t k = gram.size(0);
      std::vector<double> expected(k * k, 0.0);
      for (int64_t i = 0; i < k; ++i) expected[i * k + i] = 2.25;
      INFO("shape ", shape_str(shape));
      FOVEA_CHECK_CLOSE(gram, from_vector(expected, {k, k}, DType::f64), 1e-12, 0);
    }
    const Tensor f = empty({16, 16});
    init::orthogonal_(f, 1.0, &gen);
    std::vector<double> eye(256, 0.0);
    for (int i = 0; i < 16; ++i) eye[i * 17] = 1.0;
    FOVEA_CHECK_CLOSE(matmul(f, f.t()).to(DType::f64), from_vector(eye, {16, 16}, DType::f64), 1e-5, 0);
  }
}

TEST_SUITE("gradcheck") {
  TEST_CASE("nn linear module gradcheck input weight bias") {
    Generator gen(41);
    Linear fc(5, 3, true, DType::f64, &gen);
    const Tensor x = random_input({4, 5}, 2);
    FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>&) { return fc.forward(x); },
                                    {x, fc.weight(), fc.bias()}));
  }

  TEST_CASE("nn sequential mlp gradcheck") {
    Generator gen(42);
    Sequential mlp({std::make_shared<Linear>(6, 8, true, DType::f64, &gen), std::make_shared<ReLU>(),
                    std::make_shared<Flatten>(), std::make_shared<Linear>(8, 2, true, DType::f64, &gen)});
    const Tensor x = random_input({3, 6}, 3);
    std::vector<Tensor> inputs{x};
    for (const Tensor& p : mlp.parameters()) inputs.push_back(p);
    FOVEA_CHECK_GRADCHECK(gradcheck([&](const std::vector<Tensor>&) { return mlp.forward(x); }, inputs));
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("nn load_state_dict names every problem and changes nothing") {
    Generator gen(51);
    Net net(&gen);
    const std::vector<double> before = to_vector(net.parameters()[0]);
    StateDict state = net.state_dict();
    state.erase("head.weight");
    state.erase("layer1.1.running_mean");
    state["layer1.2.fc.weight"] = zeros({4, 4});
    state["stem.weight"] = zeros({3, 4});                             // transposed shape
    state["layer1.0.num_batches_tracked"] = zeros({}, DType::f32);  // wrong dtype
    state["stem.bias"] = zeros({4});
    try {
      net.load_state_dict(state);
      FAIL("load_state_dict accepted a broken state dict");
    } catch (const Error& e) {
      const std::string message = e.what();
      INFO(message);
      for (const char* expected : {"missing keys (2)", "head.weight", "layer1.1.running_mean", "unexpected keys (1)",
                                   "layer1.2.fc.weight", "mismatches (2)",
                                   "'stem.weight': given [3, 4] f32, module has [4, 3] f32",
                                   "'layer1.0.num_batches_tracked': given [] f32, module has [] i64"})
        CHECK(message.find(expected) != std::string::npos);
    }
    CHECK(to_vector(net.parameters()[0]) == before);
    CHECK(to_vector(net.parameters()[1]) != std::vector<double>(4, 0.0));
    // strict=false still refuses shape and dtype mismatches.
    CHECK_THROWS_WITH_AS(net.load_state_dict(state, false), doctest::Contains("mismatches (2)"), Error);
  }

  TEST_CASE("nn registration rejects bad names and tensors") {
    Open m;
    m.register_parameter("w", zeros({2}));
    CHECK_THROWS_WITH_AS(m.register_parameter("w", zeros({2})), doctest::Contains("already used"), Error);
    CHECK_THROWS_WITH_AS(m.register_buffer("w", zeros({2})), doctest::Contains("already used"), Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("a.b", zeros({2})), doctest::Contains("no '.'"), Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("", zeros({2})), doctest::Contains("non-empty"), Error);
    CHECK_THROWS_WITH_AS(m.register_parameter("i", zeros({2}, DType::i64)), doctest::Contains("f32 or f64"), Error);
    const Tensor leaf = ones({2}).requires_grad_();
    CHECK_THROWS_WITH_AS(m.register_parameter("n", mul(leaf, 2.0)), doctest::Contains("leaf"), Error);
    CHECK_THROWS_WITH_AS(m.register_buffer("u", Tensor()), doctest::Contains("undefined"), Error);
    CHECK_THROWS_WITH_AS(m.register_module("c", std::shared_ptr<Module>()), doctest::Contains("null"), Error);
    CHECK_THROWS_WITH_AS(m.forward(ones({1})), doctest::Contains("not implemented"), Error);
  }

  TEST_CASE("nn layers reject bad arguments") {
    CHECK_THROWS_WITH_AS(Linear(0, 3), doctest::Contains("in_features=0"), Error);
    CHECK_THROWS_WITH_AS(Dropout(1.5), doctest::Contains("[0, 1]"), Error);
    Sequential seq;
    CHECK_THROWS_WITH_AS(seq[0], doctest::Contains("out of range"), Error);
    Linear fc(3, 2);
    CHECK_THROWS_AS(fc.forward(ones({2, 4})), Error);
    CHECK_THROWS_WITH_AS(init::kaiming_normal_(zeros({5})), doctest::Contains("at least 2 dimensions"), Error);
    CHECK_THROWS_WITH_AS(init::orthogonal_(zeros({5})), doctest::Contains("at least 2 dimensions"), Error);
    CHECK_THROWS_WITH_AS(init::uniform_(zeros({2}, DType::i64), 0, 1), doctest::Contains("f32 or f64"), Error);
    CHECK_THROWS_WITH_AS(init::normal_(zeros({2}), 0, -1), doctest::Contains("std"), Error);
#if !FOVEA_HAS_CUDA
    CHECK_THROWS_WITH_AS(fc.to(Device::cuda()), doctest::Contains("no CUDA backend"), Error);
#endif
  }
}

#if FOVEA_HAS_CUDA
#if defined(FOVEA_HAS_EMU)
#define FOVEA_NN_DEVICE_SUITE "emu"
#else
#define FOVEA_NN_DEVICE_SUITE "gpu"
#endif
TEST_SUITE(FOVEA_NN_DEVICE_SUITE) {
  TEST_CASE("nn module to cuda moves parameters in place and trains there") {
    if (!cuda::available()) {
      MESSAGE("skipped: no GPU: " << cuda::unavailable_reason());
      return;
    }
    Generator gen(61);
    Sequential mlp({std::make_shared<Linear>(5, 4, true, DType::f64, &gen), std::make_shared<ReLU>(),
                    std::make_shared<Linear>(4, 2, true, DType::f64, &gen)});
    const Tensor x = random_input({3, 5}, 4, -1, 1, false);
    const Tensor expected = mlp.forward(x);
    const Tensor w = mlp.parameters()[0];
    mlp.to(Device::cuda());
    CHECK(w.device().is_cuda());
    CHECK(w.is_leaf());
    CHECK(w.requires_grad());
    const Tensor out = mlp.forward(x.to(Device::cuda()));
    FOVEA_CHECK_CLOSE(out.to(Device::cpu()), expected, 1e-12, 1e-12);
    sum(out).backward();
    CHECK(w.grad().device().is_cuda());
    SGD sgd(mlp.parameters(), {.lr = 0.1, .momentum = 0.9});
    sgd.step();
    mlp.to(Device::cpu());
    CHECK(w.device().is_cpu());
    CHECK(w.grad().device().is_cpu());
    CHECK(to_vector(mlp.forward(x)) != to_vector(expected));
  }
}
#endif
