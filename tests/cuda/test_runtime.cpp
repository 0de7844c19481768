// The CUDA backend's host side: caching allocator statistics, streams and the stream guard,
// events, pinned memory with asynchronous copies, and the error macro.
#include "tests/cuda/cuda_test.h"

using namespace fovea;

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("cuda allocator caches freed blocks and tracks current and peak bytes") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::empty_cache();
    const AllocatorStats before = cuda::allocator_stats(0);
    {
      Tensor a = empty({1 << 18}, DType::f32, testing::cuda_device());  // 1 MiB
      CHECK(cuda::allocator_stats(0).current_bytes >= before.current_bytes + (1 << 20));
    }
    const AllocatorStats freed = cuda::allocator_stats(0);
    CHECK(freed.current_bytes == before.current_bytes);
    CHECK(freed.cached_bytes >= (1 << 20));
    Tensor again = empty({1 << 18}, DType::f32, testing::cuda_device());
    CHECK(cuda::allocator_stats(0).cache_hits == freed.cache_hits + 1);
    CHECK(cuda::allocator_stats(0).peak_bytes >= before.current_bytes + (1 << 20));
  }

  TEST_CASE("cuda stream guard event and async copies from pinned memory") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::Stream stream;
    const int64_t n = 1000;
    auto* pinned = static_cast<float*>(cuda::allocate_pinned(n * sizeof(float)));
    for (int64_t i = 0; i < n; ++i) pinned[i] = static_cast<float>(i) * 0.5f;
    Tensor device = empty({n}, DType::f32, testing::cuda_device());
    {
      cuda::StreamGuard guard(stream.get());
      CHECK(cuda::current_stream() == stream.get());
      cuda::Event start, stop;
      start.record();
      cuda::copy_bytes_async(device.raw_data(), pinned, n * sizeof(float), cudaMemcpyHostToDevice);
      Tensor doubled = mul(device, 2.0);
      stop.record();
      stop.synchronize();
      CHECK(stop.elapsed_ms_since(start) >= 0.0f);
      const std::vector<double> values = to_vector(doubled);
      CHECK(values[0] == 0.0);
      CHECK(values[999] == 999.0);
    }
    CHECK(cuda::current_stream() != stream.get());
    cuda::release_pinned(pinned);
  }

  TEST_CASE("cuda device name and discovery") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK(cuda::device_count() >= 1);
    CHECK_FALSE(cuda::device_name(0).empty());
  }

  TEST_CASE("cuda peak bandwidth from memory clock and bus width") {
    // Datasheet figures: A100 40GB 1555 GB/s (1215 MHz, 5120 bits), H100 SXM 3352 GB/s
    // (2619 MHz, 5120 bits), RTX 4090 1008 GB/s (10501 MHz, 384 bits).
    CHECK(cuda::peak_bandwidth_gbps(1215000, 5120) == doctest::Approx(1555.2));
    CHECK(cuda::peak_bandwidth_gbps(2619000, 5120) == doctest::Approx(3352.32));
    CHECK(cuda::peak_bandwidth_gbps(10501000, 384) == doctest::Approx(1008.1).epsilon(1e-4));
    FOVEA_REQUIRE_CUDA_DEVICE();
    const double device_peak = cuda::device_peak_bandwidth_gbps(0);
    if (cuda::emulated())
      CHECK(device_peak == 0.0);
    else
      CHECK(device_peak > 100.0);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("cuda error macro names the call and the cuda error") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    CHECK_THROWS_WITH_AS(FOVEA_CUDA_CHECK(cudaSetDevice(97)), doctest::Contains("cudaSetDevice(97) failed with cudaErrorInvalidDevice"),
                         Error);
    cudaGetLastError();
    CHECK_THROWS_WITH_AS(cuda::device_name(5), doctest::Contains("does not exist"), Error);
    CHECK_THROWS_WITH_AS(cuda::device_peak_bandwidth_gbps(5), doctest::Contains("does not exist"), Error);
  }
}
