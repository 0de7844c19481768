// The fused optimiser kernels (kernels/optim.cu through SGD, Adam and AdamW on CUDA
// parameters) against the CPU loops of engine/optim.cpp, which the PyTorch goldens of
// tests/engine/test_optim.cpp pin down: several steps with the same gradients, f32 and f64,
// ragged sizes across chunk and launch boundaries, parameter groups, skipped parameters, a
// non-contiguous parameter, the grid-stride path of the launchers, and bad input.
//
// Tolerance: the emulated kernels evaluate the CPU loops' expressions in the same order and
// precision, so under the emulator parameters and state must be bit-identical (0). On a GPU
// nvcc contracts a·b + c into FMAs, so there the CUDA tests' f32 1e-5 / f64 1e-12 (abs) and
// 1e-5 / 1e-10 (rel) bounds apply.
#include <cmath>
#include <functional>
#include <memory>

#include "engine/autograd.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "engine/optim.h"
#include "kernels/optim.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using fovea::testing::cuda_device;

namespace {

using Groups = std::vector<std::vector<Tensor>>;
using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const Groups&)>;

#if defined(FOVEA_HAS_EMU)
double atol_of(DType) { return 0; }
double rtol_of(DType) { return 0; }
#else
double atol_of(DType t) { return fovea::testing::atol_for(t); }
double rtol_of(DType t) { return fovea::testing::rtol_for(t); }
#endif

// Ragged sizes: one element, a few, just over one 4096-element chunk, a few chunks (and on a
// GPU, a million and three).
std::vector<int64_t> ragged_sizes() {
  if (cuda::emulated()) return {1, 7, 4097, 9001};
  return {1, 7, 4097, 1000003};
}

Groups one_group(const std::vector<int64_t>& sizes, DType dtype, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> params;
  for (int64_t n : sizes) params.push_back(randn({n}, dtype, &gen).requires_grad_());
  return {params};
}

Groups to_cuda(const Groups& groups) {
  Groups out;
  for (const auto& group : groups) {
    out.emplace_back();
    for (const Tensor& p : group) {
      // A transposed matrix stays one on the device.
      Tensor c = p.is_contiguous() ? make_tensor(p.shape(), p.dtype(), cuda_device())
                                   : make_tensor({p.size(1), p.size(0)}, p.dtype(), cuda_device()).t();
      c.copy_(p.detach().to(cuda_device()));
      out.back().push_back(c.requires_grad_());
    }
  }
  return out;
}

// Runs `steps` steps of the optimiser on `cpu_groups` and on CUDA copies with the same
// gradients, comparing every parameter after each step and the whole state at the end. With
// skip_every = k, parameter i of a group gets no gradient on step s when (i + s) % k == k − 1.
void check_fused_matches_cpu(const MakeOptimizer& make, const Groups& cpu_groups, int steps, int skip_every = 0) {
  const Groups cuda_groups = to_cuda(cpu_groups);
  for (const auto& group : cuda_groups)
    for (const Tensor& p : group) REQUIRE(p.device() == cuda_device());
  const auto cpu_opt = make(cpu_groups), cuda_opt = make(cuda_groups);
  Generator gen(1234);
  for (int step = 0; step < steps; ++step) {
    CAPTURE(step);
    cpu_opt->zero_grad();
    cuda_opt->zero_grad();
    for (size_t g = 0; g < cpu_groups.size(); ++g)
      for (size_t i = 0; i < cpu_groups[g].size(); ++i) {
        if (skip_every > 0 && (static_cast<int>(i) + step) % skip_every == skip_every - 1) continue;
        const Tensor& p = cpu_groups[g][i];
        const Tensor grad = randn(p.shape(), p.dtype(), &gen);
        p.set_grad(grad);
        cuda_groups[g][i].set_grad(grad.to(cuda_device()));
      }
    cpu_opt->step();
    cuda_opt->step();
    for (size_t g = 0; g < cpu_groups.size(); ++g)
      for (size_t i = 0; i < cpu_groups[g].size(); ++i) {
        CAPTURE(g);
        CAPTURE(i);
        const Tensor& p = cpu_groups[g][i];
        FOVEA_CHECK_CLOSE(cuda_groups[g][i].detach().to(Device::cpu()), p.detach(), atol_of(p.dtype()),
                          rtol_of(p.dtype()));
      }
  }
  const OptimizerState cpu_state = cpu_opt->state_dict(), cuda_state = cuda_opt->state_dict();
  CHECK(cuda_state.scalars == cpu_state.scalars);
  REQUIRE(cuda_state.tensors.size() == cpu_state.tensors.size());
  for (const auto& [key, expected] : cpu_state.tensors) {
    CAPTURE(key);
    REQUIRE(cuda_state.tensors.count(key));
    const Tensor& got = cuda_state.tensors.at(key);
    CHECK(got.device() == cuda_device());
    FOVEA_CHECK_CLOSE(got.to(Device::cpu()), expected, atol_of(expected.dtype()), rtol_of(expected.dtype()));
  }
}

MakeOptimizer sgd_with(const std::vector<SgdOptions>& options) {
  return [options](const Groups& groups) {
    std::vector<ParamGroup<SgdOptions>> param_groups;
    for (size_t g = 0; g < groups.size(); ++g) param_groups.push_back({groups[g], options[g]});
    return std::make_unique<SGD>(param_groups);
  };
}

MakeOptimizer adam_with(const std::vector<AdamOptions>& options, bool decoupled) {
  return [options, decoupled](const Groups& groups) -> std::unique_ptr<Optimizer> {
    std::vector<ParamGroup<AdamOptions>> param_groups;
    for (size_t g = 0; g < groups.size(); ++g) param_groups.push_back({groups[g], options[g]});
    if (decoupled) return std::make_unique<AdamW>(param_groups);
    return std::make_unique<Adam>(param_groups);
  };
}

// Many parameters of ragged sizes and alternating dtypes (more than one launch's worth) in group
// 0; in group 1 a matrix, a non-contiguous (transposed) matrix and a vector.
Groups mixed_groups() {
  Generator gen(5);
  Groups groups(2);
  for (int64_t i = 0; i < kernels::kOptimMaxTensors + 9; ++i)
    groups[0].push_back(randn({(i * 617) % 5000 + 1}, i % 3 == 0 ? DType::f64 : DType::f32, &gen).requires_grad_());
  groups[1].push_back(randn({33, 65}, DType::f32, &gen).requires_grad_());
  groups[1].push_back(randn({70, 3}, DType::f32, &gen).t().requires_grad_());
  groups[1].push_back(randn({5}, DType::f64, &gen).requires_grad_());
  REQUIRE_FALSE(groups[1][1].is_contiguous());
  return groups;
}

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("sgd fused plain momentum nesterov dampening and weight decay match the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<SgdOptions> variants{
        {.lr = 0.1},
        {.lr = 0.05, .momentum = 0.9},
        {.lr = 0.1, .momentum = 0.8, .weight_decay = 1e-3, .nesterov = true},
        {.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
        {.lr = 0.1, .weight_decay = 0.5},
    };
    for (DType dtype : {DType::f32, DType::f64})
      for (size_t v = 0; v < variants.size(); ++v) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(v);
        check_fused_matches_cpu(sgd_with({variants[v]}), one_group(ragged_sizes(), dtype, 10 + v), 4);
      }
  }

  TEST_CASE("adam fused with weight decay and amsgrad matches the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<AdamOptions> variants{
        {.lr = 1e-2},
        {.lr = 3e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1, .amsgrad = true},
        {.lr = 1e-2, .beta1 = 0.3, .weight_decay = 0.05},  // 1 − β1 ≥ 0.5: lerp's other branch
    };
    for (DType dtype : {DType::f32, DType::f64})
      for (size_t v = 0; v < variants.size(); ++v) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(v);
        check_fused_matches_cpu(adam_with({variants[v]}, false), one_group(ragged_sizes(), dtype, 20 + v), 4);
      }
  }

  TEST_CASE("adamw fused with and without amsgrad matches the cpu") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<AdamOptions> variants{
        {.lr = 1e-2, .weight_decay = 0.05},
        {.lr = 2e-2, .beta1 = 0.7, .beta2 = 0.9, .weight_decay = 0.2, .amsgrad = true},
    };
    for (DType dtype : {DType::f32, DType::f64})
      for (size_t v = 0; v < variants.size(); ++v) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(v);
        check_fused_matches_cpu(adam_with({variants[v]}, true), one_group(ragged_sizes(), dtype, 30 + v), 4);
      }
  }

  TEST_CASE("sgd fused param groups with mixed dtypes skipped and non-contiguous parameters") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    check_fused_matches_cpu(sgd_with({{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01},
                                      {.lr = 0.2, .momentum = 0.5, .nesterov = true}}),
                            mixed_groups(), 4, 5);
  }

  TEST_CASE("adam and adamw fused param groups with mixed dtypes skipped and non-contiguous parameters") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const std::vector<AdamOptions> options{{.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true},
                                           {.lr = 3e-3, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-6}};
    // Parameters that skip steps have their own step counts within one launch.
    check_fused_matches_cpu(adam_with(options, false), mixed_groups(), 4, 3);
    check_fused_matches_cpu(adam_with(options, true), mixed_groups(), 4, 3);
  }

  TEST_CASE("adamw fused state moves between cuda and cpu and continues alike") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const AdamOptions options{.lr = 1e-2, .weight_decay = 0.05, .amsgrad = true};
    Generator gen(41);
    const Tensor cpu_p = randn({3, 7}, DType::f64, &gen).requires_grad_();
    const Tensor cuda_p = cpu_p.detach().to(cuda_device()).requires_grad_();
    AdamW on_cuda({cuda_p}, options);
    for (int s = 0; s < 2; ++s) {
      cuda_p.set_grad(randn({3, 7}, DType::f64, &gen).to(cuda_device()));
      on_cuda.step();
    }
    {
      NoGradGuard no_grad;
      cpu_p.detach().copy_(cuda_p.detach());
    }
    AdamW on_cpu({cpu_p}, options);
    on_cpu.load_state_dict(on_cuda.state_dict());
    for (int s = 0; s < 2; ++s) {
      const Tensor grad = randn({3, 7}, DType::f64, &gen);
      cpu_p.set_grad(grad);
      cuda_p.set_grad(grad.to(cuda_device()));
      on_cpu.step();
      on_cuda.step();
    }
    FOVEA_CHECK_CLOSE(cuda_p.detach().to(Device::cpu()), cpu_p.detach(), atol_of(DType::f64), rtol_of(DType::f64));
    CHECK(on_cpu.state_dict().scalars.at("0.0.step") == 4);
  }

  TEST_CASE("sgd and adamw fused steps count as in-place changes of the parameters for autograd") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (const Device device : {Device::cpu(), cuda_device()}) {
      CAPTURE(device.str());
      const Tensor a = ones({3}, DType::f32, device).requires_grad_(),
                   b = ones({2, 4}, DType::f32, device).t().requires_grad_();
      SGD sgd({a, b}, {.lr = 0.1, .momentum = 0.9});
      AdamW adamw({a, b}, {});
      for (Optimizer* opt : std::initializer_list<Optimizer*>{&sgd, &adamw}) {
        const Tensor loss_a = sum(mul(a, a)), loss_b = sum(mul(b, b));  // b is not contiguous
        a.set_grad(ones({3}, DType::f32, device));
        b.set_grad(ones({4, 2}, DType::f32, device));
        opt->step();
        CHECK_THROWS_WITH_AS(loss_a.backward(), doctest::Contains("modified in place"), Error);
        CHECK_THROWS_WITH_AS(loss_b.backward(), doctest::Contains("modified in place"), Error);
      }
    }
  }

  TEST_CASE("sgd and adam fused kernels with a small grid stride over the chunks of several tensors") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // Tensors of 1, 3, 2 and 1 chunks on a grid of 3 blocks: each block walks chunks of several
    // tensors. Two steps straight through the launchers against two steps of the CPU optimisers.
    const std::vector<int64_t> sizes{1, 9000, 5000, 7};
    const SgdOptions sgd_options{.lr = 0.1, .momentum = 0.9, .dampening = 0.2, .weight_decay = 0.01};
    const AdamOptions adam_options{.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true};
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dtype));
      const Groups sgd_cpu = one_group(sizes, dtype, 50), adam_cpu = one_group(sizes, dtype, 50);
      const Groups sgd_cuda = to_cuda(sgd_cpu), adam_cuda = to_cuda(adam_cpu);
      SGD sgd(sgd_cpu[0], sgd_options);
      AdamW adamw(adam_cpu[0], adam_options);
      kernels::SgdLaunch sgd_launch{.type = cuda::element_type(dtype),
                                    .count = static_cast<int>(sizes.size()),
                                    .lr = sgd_options.lr,
                                    .momentum = sgd_options.momentum,
                                    .dampening = sgd_options.dampening,
                                    .weight_decay = sgd_options.weight_decay,
                                    .max_blocks = 3};
      kernels::AdamLaunch adam_launch{.type = cuda::element_type(dtype),
                                      .count = static_cast<int>(sizes.size()),
                                      .lr = adam_options.lr,
                                      .beta1 = adam_options.beta1,
                                      .beta2 = adam_options.beta2,
                                      .eps = adam_options.eps,
                                      .weight_decay = adam_options.weight_decay,
                                      .decoupled_weight_decay = true,
                                      .amsgrad = true,
                                      .max_blocks = 3};
      std::vector<Tensor> momentum, exp_avg, exp_avg_sq, max_exp_avg_sq, grads(sizes.size());
      for (size_t i = 0; i < sizes.size(); ++i) {
        momentum.push_back(make_tensor({sizes[i]}, dtype, cuda_device()));
        exp_avg.push_back(zeros({sizes[i]}, dtype, cuda_device()));
        exp_avg_sq.push_back(zeros({sizes[i]}, dtype, cuda_device()));
        max_exp_avg_sq.push_back(zeros({sizes[i]}, dtype, cuda_device()));
        sgd_launch.param[i] = sgd_cuda[0][i].raw_data();
        sgd_launch.momentum_buffer[i] = momentum[i].raw_data();
        sgd_launch.numel[i] = adam_launch.numel[i] = sizes[i];
        adam_launch.param[i] = adam_cuda[0][i].raw_data();
        adam_launch.exp_avg[i] = exp_avg[i].raw_data();
        adam_launch.exp_avg_sq[i] = exp_avg_sq[i].raw_data();
        adam_launch.max_exp_avg_sq[i] = max_exp_avg_sq[i].raw_data();
      }
      Generator gen(51);
      for (int step = 1; step <= 2; ++step) {
        for (size_t i = 0; i < sizes.size(); ++i) {
          const Tensor grad = randn({sizes[i]}, dtype, &gen);
          sgd_cpu[0][i].set_grad(grad);
          adam_cpu[0][i].set_grad(grad);
          grads[i] = grad.to(cuda_device());
          sgd_launch.grad[i] = adam_launch.grad[i] = grads[i].raw_data();
          sgd_launch.first_step[i] = step == 1;
          adam_launch.step_size[i] = adam_options.lr / (1 - std::pow(adam_options.beta1, step));
          adam_launch.bias_correction2_sqrt[i] = std::sqrt(1 - std::pow(adam_options.beta2, step));
        }
        sgd.step();
        adamw.step();
        REQUIRE(kernels::launch_sgd_update(sgd_launch, cuda::current_stream()) == cudaSuccess);
        REQUIRE(kernels::launch_adam_update(adam_launch, cuda::current_stream()) == cudaSuccess);
      }
      const OptimizerState sgd_state = sgd.state_dict(), adam_state = adamw.state_dict();
      const double atol = atol_of(dtype), rtol = rtol_of(dtype);
      for (size_t i = 0; i < sizes.size(); ++i) {
        CAPTURE(i);
        const std::string key = "0." + std::to_string(i) + ".";
        FOVEA_CHECK_CLOSE(sgd_cuda[0][i].detach().to(Device::cpu()), sgd_cpu[0][i].detach(), atol, rtol);
        FOVEA_CHECK_CLOSE(momentum[i].to(Device::cpu()), sgd_state.tensors.at(key + "momentum_buffer"), atol, rtol);
        FOVEA_CHECK_CLOSE(adam_cuda[0][i].detach().to(Device::cpu()), adam_cpu[0][i].detach(), atol, rtol);
        FOVEA_CHECK_CLOSE(exp_avg[i].to(Device::cpu()), adam_state.tensors.at(key + "exp_avg"), atol, rtol);
        FOVEA_CHECK_CLOSE(exp_avg_sq[i].to(Device::cpu()), adam_state.tensors.at(key + "exp_avg_sq"), atol, rtol);
        FOVEA_CHECK_CLOSE(max_exp_avg_sq[i].to(Device::cpu()), adam_state.tensors.at(key + "max_exp_avg_sq"), atol,
                          rtol);
      }
    }
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("sgd and adamw fused reject a gradient of another dtype or device before changing any state") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor a = ones({4}, DType::f32, cuda_device()).requires_grad_(),
                 b = ones({3}, DType::f32, cuda_device()).requires_grad_();
    AdamW adamw({a, b}, {});
    SGD sgd({a, b}, {.lr = 0.1, .momentum = 0.9});
    a.set_grad(ones({4}, DType::f32, cuda_device()));
    b.set_grad(ones({3}, DType::f32));
    CHECK_THROWS_WITH_AS(adamw.step(),
                         doctest::Contains("gradient of parameter 1 of group 0 is f32 on cpu but the parameter is f32 "
                                           "on cuda:0; set gradients of the parameter's dtype and device"),
                         Error);
    CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("SGD"), Error);
    b.set_grad(ones({3}, DType::f64, cuda_device()));
    CHECK_THROWS_WITH_AS(adamw.step(), doctest::Contains("is f64 on cuda:0 but the parameter is f32"), Error);
    CHECK(adamw.state_dict().tensors.empty());
    CHECK(adamw.state_dict().scalars.count("0.0.step") == 0);
    CHECK(sgd.state_dict().tensors.empty());
    CHECK(to_vector(a) == std::vector<double>{1, 1, 1, 1});
    const Tensor on_cpu = ones({2}, DType::f64).requires_grad_();
    SGD cpu_sgd({on_cpu}, {});
    on_cpu.set_grad(ones({2}, DType::f64, cuda_device()));
    CHECK_THROWS_WITH_AS(cpu_sgd.step(), doctest::Contains("is f64 on cuda:0 but the parameter is f64 on cpu"), Error);
  }

  TEST_CASE("sgd and adam fused updates reject state of the wrong size dtype device or layout") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    const Tensor p = ones({6}, DType::f32, cuda_device()), g = ones({6}, DType::f32, cuda_device());
    const auto state = [&] { return zeros({6}, DType::f32, cuda_device()); };
    const AdamOptions amsgrad{.amsgrad = true};
    const auto adam = [&](AdamTensors x) { cuda::adam_update({x}, amsgrad, true); };
    CHECK_THROWS_WITH_AS(adam({p, g, zeros({5}, DType::f32, cuda_device()), state(), state()}),
                         doctest::Contains("exp_avg of parameter 0 is [5] f32 on cuda:0, parameter 0 is [6] f32"),
                         Error);
    CHECK_THROWS_WITH_AS(adam({p, g, state(), zeros({6}, DType::f64, cuda_device()), state()}),
                         doctest::Contains("exp_avg_sq of parameter 0 is [6] f64"), Error);
    CHECK_THROWS_WITH_AS(adam({p, g, state(), state(), zeros({6}, DType::f32)}),
                         doctest::Contains("max_exp_avg_sq of parameter 0 is [6] f32 on cpu"), Error);
    CHECK_THROWS_WITH_AS(adam({p, g, state(), state(), Tensor()}),
                         doctest::Contains("max_exp_avg_sq of parameter 0 is undefined"), Error);
    CHECK_THROWS_WITH_AS(
        adam({p, ones({12}, DType::f32, cuda_device()).view({6, 2}).select(1, 0), state(), state(), state()}),
        doctest::Contains("grad of parameter 0 is [6] f32 on cuda:0 (not contiguous)"), Error);
    const SgdOptions momentum{.momentum = 0.9};
    CHECK_THROWS_WITH_AS(cuda::sgd_update({{p, g, Tensor(), true}}, momentum),
                         doctest::Contains("momentum_buffer of parameter 0 is undefined"), Error);
    CHECK_THROWS_WITH_AS(cuda::sgd_update({{p, g, state(), false}, {ones({2}, DType::i64, cuda_device()), g}}, {}),
                         doctest::Contains("param of parameter 1 is [2] i64 on cuda:0"), Error);
    CHECK(to_vector(p) == std::vector<double>{1, 1, 1, 1, 1, 1});
  }

  TEST_CASE("sgd and adam fused launchers reject too many tensors an empty grid and integer types") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK(kernels::launch_sgd_update({.count = kernels::kOptimMaxTensors + 1}, cuda::current_stream()) ==
          cudaErrorInvalidValue);
    CHECK(kernels::launch_adam_update({.count = -1}, cuda::current_stream()) == cudaErrorInvalidValue);
    CHECK(kernels::launch_adam_update({.max_blocks = 0}, cuda::current_stream()) == cudaErrorInvalidValue);
    CHECK(kernels::launch_sgd_update({.type = kernels::ElementType::i32}, cuda::current_stream()) ==
          cudaErrorInvalidValue);
    CHECK(kernels::launch_sgd_update({}, cuda::current_stream()) == cudaSuccess);  // nothing to update
  }
}
