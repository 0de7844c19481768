// The ConvGRU's fused gate kernels (kernels/convgru.cu, all four launched here through the
// cell's forward and backward) against the CPU at small shapes, k = 1 and k = 3, f64 and f32;
// the fused sequence against the unfused twin on the device.
#include "models/convgru.h"
#include "tests/cuda/cuda_test.h"

using namespace fovea;
using testing::check_cuda_matches_cpu;
using testing::random_input;
using testing::cuda_device;

namespace {

std::vector<Tensor> inputs(int64_t in, int64_t hid, int64_t k, uint64_t seed, DType dtype) {
  std::vector<Tensor> v{random_input({2, in, 3, 5}, seed, -1, 1, false),
                        random_input({2, hid, 3, 5}, seed + 1, -1, 1, false),
                        random_input({2 * hid, in + hid, k, k}, seed + 2, -0.4, 0.4, false),
                        random_input({2 * hid}, seed + 3, -0.5, 0.5, false),
                        random_input({hid, in + hid, k, k}, seed + 4, -0.4, 0.4, false),
                        random_input({hid}, seed + 5, -0.5, 0.5, false)};
  for (Tensor& t : v) t = t.to(dtype).requires_grad_();
  return v;
}

Tensor cell(const std::vector<Tensor>& a) { return convgru_cell(a[0], a[1], ConvGRUWeights{a[2], a[3], a[4], a[5]}); }

double tolerance(DType dtype) { return dtype == DType::f64 ? 1e-11 : 2e-5; }

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("convgru cuda fused cell forward and backward match cpu at k 1 and k 3") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    for (int64_t k : {1, 3}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        CAPTURE(k);
        CAPTURE(dtype_name(dtype));
        check_cuda_matches_cpu(cell, inputs(3, 5, k, 61, dtype), tolerance(dtype), tolerance(dtype));
      }
    }
  }

  TEST_CASE("convgru cuda fused sequence matches the unfused twin on the device") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    std::vector<Tensor> leaves[2];
    Tensor states[2];
    for (int variant = 0; variant < 2; ++variant) {
      const std::vector<Tensor> in = inputs(3, 4, 1, 71, DType::f64);
      for (const Tensor& t : in) leaves[variant].push_back(t.detach().to(cuda_device()).requires_grad_());
      const Tensor x = stack({leaves[variant][0], leaves[variant][0]}, 1);
      Generator gen(3);
      const ConvGRUWeights w{leaves[variant][2], leaves[variant][3], leaves[variant][4], leaves[variant][5]};
      states[variant] = convgru(x, w, 0.1, true, &gen, variant == 0, leaves[variant][1]).states;
      sum(mul(states[variant], states[variant])).backward();
    }
    FOVEA_CHECK_CLOSE(states[0].to(Device::cpu()), states[1].to(Device::cpu()), 1e-11, 1e-11);
    for (size_t i = 0; i < leaves[0].size(); ++i)
      FOVEA_CHECK_CLOSE(leaves[0][i].grad().to(Device::cpu()), leaves[1][i].grad().to(Device::cpu()), 1e-11, 1e-11);
  }
}
