// `fovea train mlp`: the end-to-end demo until the video models land. Fits a 2-layer MLP
// with the engine's autograd and SGD to a generated non-linear problem (three interleaved
// spirals), printing the falling loss and the held-out accuracy.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "apps/command.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim.h"

namespace {

using namespace fovea;

struct Spirals {
  Tensor points;  // [n, 2] f32
  Tensor labels;  // [n] i64
};

// Three spiral arms with angular noise; points of one arm share a label.
Spirals make_spirals(int64_t n, uint64_t seed) {
  Generator gen(seed);
  const std::vector<double> u = to_vector(rand({n, 2}, DType::f64, &gen));
  std::vector<double> xy(2 * n), label(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t arm = i % 3;
    const double r = u[2 * i];
    const double theta = 4.0 * r + 2.0 * M_PI * arm / 3.0 + 0.3 * (u[2 * i + 1] - 0.5);
    xy[2 * i] = r * std::cos(theta);
    xy[2 * i + 1] = r * std::sin(theta);
    label[i] = static_cast<double>(arm);
  }
  return {from_vector(xy, {n, 2}), from_vector(label, {n}, DType::i64)};
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  return mean(eq(argmax(logits, 1), labels).to(DType::f32)).item();
}

int train_mlp(int argc, char** argv) {
  int64_t steps = 300, hidden = 64;
  uint64_t seed = 0;
  double lr = 0.2;
  Device device = Device::cpu();
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: fovea train mlp [--steps N] [--hidden N] [--lr X] [--seed N] [--device cpu|cuda|cuda:N]\n");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "fovea train mlp: %s needs a value\n", arg.c_str());
      return 2;
    }
    const char* value = argv[++i];
    if (arg == "--steps") steps = std::atoll(value);
    else if (arg == "--hidden") hidden = std::atoll(value);
    else if (arg == "--lr") lr = std::atof(value);
    else if (arg == "--seed") seed = std::strtoull(value, nullptr, 10);
    else if (arg == "--device") device = Device::parse(value);
    else {
      std::fprintf(stderr, "fovea train mlp: unknown option '%s'\n", arg.c_str());
      return 2;
    }
  }
  if (steps <= 0 || hidden <= 0 || !(lr > 0)) {
    std::fprintf(stderr, "fovea train mlp: --steps, --hidden and --lr must be positive\n");
    return 2;
  }

  Spirals train = make_spirals(1536, seed), test = make_spirals(768, seed + 1);
  for (Spirals* s : {&train, &test}) {
    s->points = s->points.to(device);
    s->labels = s->labels.to(device);
  }
  Generator init(seed + 2);
  auto param = [&](const Shape& shape, double scale) {
    return mul(randn(shape, DType::f32, &init, device), scale).detach().requires_grad_();
  };
  Tensor w1 = param({hidden, 2}, std::sqrt(2.0 / 2)), b1 = zeros({hidden}, DType::f32, device).requires_grad_();
  Tensor w2 = param({3, hidden}, std::sqrt(1.0 / hidden)), b2 = zeros({3}, DType::f32, device).requires_grad_();
  auto forward = [&](const Tensor& x) { return linear(relu(linear(x, w1, b1)), w2, b2); };
  SGD sgd({w1, b1, w2, b2}, {.lr = lr, .momentum = 0.9});

  std::printf("training a 2-layer MLP (hidden %lld) on 3 spirals: %lld train / %lld test points, device %s\n",
              static_cast<long long>(hidden), static_cast<long long>(train.points.size(0)),
              static_cast<long long>(test.points.size(0)), device.str().c_str());
  for (int64_t step = 1; step <= steps; ++step) {
    const Tensor loss = cross_entropy(forward(train.points), train.labels);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    if (step == 1 || step % 50 == 0 || step == steps) std::printf("step %4lld  loss %.4f\n", static_cast<long long>(step), loss.item());
  }
  NoGradGuard no_grad;
  const double train_acc = accuracy(forward(train.points), train.labels);
  const double test_acc = accuracy(forward(test.points), test.labels);
  std::printf("final accuracy: train %.1f%%, test %.1f%% (chance 33.3%%)\n", 100 * train_acc, 100 * test_acc);
  return 0;
}

int run_train(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::printf("usage: fovea train <model> [options]\n\nmodels:\n  mlp   2-layer MLP on generated spirals (the demo)\n");
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "mlp")) return train_mlp(argc, argv);
  std::fprintf(stderr, "fovea train: unknown model '%s' (available: mlp)\n", argv[1]);
  return 2;
}

}  // namespace

FOVEA_COMMAND("train", "train a model (mlp: the end-to-end demo)", run_train);
