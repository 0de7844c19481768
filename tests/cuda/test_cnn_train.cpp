// The small 3D CNN of tests/engine/test_nn_layers.cpp (conv3d, batch_norm3d, max_pool3d,
// adaptive average pooling, linear) trained for 5 SGD steps with momentum on the CPU and on the
// CUDA device from identical initial weights: the losses agree within 1e-4 (f32 sums run in
// different orders on the two devices and the differences grow over the steps), and so do the
// trained weights of the first convolution.
#include <cmath>

#include "engine/nn/conv.h"
#include "engine/nn/layers.h"
#include "engine/optim.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using namespace fovea::nn;
using testing::cuda_device;

namespace {

std::shared_ptr<Sequential> small_cnn(uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Conv3d>(3, 8, Shape{3}, ConvOptions{.padding = {1}}, &gen), std::make_shared<BatchNorm3d>(8),
      std::make_shared<ReLU>(), std::make_shared<MaxPool3d>(Shape{2}),
      std::make_shared<Conv3d>(8, 16, Shape{3}, ConvOptions{.padding = {1}}, &gen), std::make_shared<BatchNorm3d>(16),
      std::make_shared<ReLU>(), std::make_shared<AdaptiveAvgPool3d>(Shape{1}), std::make_shared<Flatten>(),
      std::make_shared<Linear>(16, 4, true, DType::f32, &gen)});
}

std::vector<double> train(Sequential& net, Device device) {
  Generator data_gen(1042);
  const Tensor x = randn({4, 3, 4, 16, 16}, DType::f32, &data_gen).to(device);
  const Tensor labels = from_vector({0, 3, 1, 2}, {4}, DType::i64).to(device);
  SGD sgd(net.parameters(), {.lr = 0.05, .momentum = 0.9});
  std::vector<double> losses;
  for (int step = 0; step < 5; ++step) {
    net.zero_grad();
    const Tensor loss = cross_entropy(net.forward(x), labels);
    loss.backward();
    sgd.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("conv3d cuda small 3d cnn trains 5 sgd steps like the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const auto cpu_net = small_cnn(42), cuda_net = small_cnn(42);
    cuda_net->to(cuda_device());
    const std::vector<double> cpu_losses = train(*cpu_net, Device::cpu());
    const std::vector<double> cuda_losses = train(*cuda_net, cuda_device());
    REQUIRE(cuda_losses.size() == 5);
    for (int step = 0; step < 5; ++step) {
      CAPTURE(step);
      CHECK(std::isfinite(cuda_losses[step]));
      CHECK(cuda_losses[step] == doctest::Approx(cpu_losses[step]).epsilon(1e-4));
    }
    CHECK(cuda_losses.back() < cuda_losses.front());
    FOVEA_CHECK_CLOSE(cuda_net->state_dict().at("0.weight").to(Device::cpu()), cpu_net->state_dict().at("0.weight"),
                      1e-4, 1e-4);
  }
}
