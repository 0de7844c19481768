// The CUDA backend's host side: caching allocator statistics and its stream awareness
// (stream pools, record_stream, empty_cache with queued work), streams and the stream guard,
// events, pinned memory with asynchronous copies, and the error macro.
#include <algorithm>
#include <vector>

#include "tests/cuda/cuda_test.h"

using namespace fovea;

namespace {

constexpr int64_t kBlockFloats = 4096;

bool all_equal(const std::vector<double>& values, double expected) {
  return std::all_of(values.begin(), values.end(), [expected](double v) { return v == expected; });
}

bool all_equal(const float* values, int64_t n, float expected) {
  return std::all_of(values, values + n, [expected](float v) { return v == expected; });
}

// Frees on stream `a` a block that `a`'s queued fill (7) writes and a queued copy on `b` reads
// into `pinned`, after `b` waited for the fill; the block is recorded as used on `b`.
void free_block_read_on_other_stream(const cuda::Stream& a, const cuda::Stream& b, float* pinned, void** freed) {
  cuda::StreamGuard on_a(a.get());
  Tensor x = full({kBlockFloats}, 7.0, DType::f32, testing::cuda_device());
  cuda::Event written(cuda::Event::Timing::off);
  written.record();
  written.make_wait(b.get());
  cuda::record_stream(x.raw_data(), b.get());
  FOVEA_CUDA_CHECK(
      cudaMemcpyAsync(pinned, x.raw_data(), kBlockFloats * sizeof(float), cudaMemcpyDeviceToHost, b.get()));
  *freed = x.raw_data();
}

}  // namespace

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

  // Exact values throughout: fills and a multiplication by 2 are exact in f32.
  TEST_CASE("cuda allocator keeps a block freed with queued work on its stream from another stream") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::empty_cache();
    cuda::Stream a, b;
    Tensor doubled;
    void* freed = nullptr;
    {
      cuda::StreamGuard on_a(a.get());
      Tensor x = full({kBlockFloats}, 7.0, DType::f32, testing::cuda_device());
      doubled = mul(x, 2.0);
      freed = x.raw_data();
    }
    Tensor y;
    {
      cuda::StreamGuard on_b(b.get());
      y = full({kBlockFloats}, 3.0, DType::f32, testing::cuda_device());
    }
    CHECK(y.raw_data() != freed);
    // b's fill runs first, then a's fill and multiplication, which would overwrite y had it
    // received x's block.
    b.synchronize();
    a.synchronize();
    CHECK(all_equal(to_vector(y), 3.0));
    CHECK(all_equal(to_vector(doubled), 14.0));
  }

  TEST_CASE("cuda allocator reuses a freed block on the same stream") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::empty_cache();
    cuda::Stream a;
    cuda::StreamGuard on_a(a.get());
    void* freed = nullptr;
    {
      Tensor x = full({kBlockFloats}, 7.0, DType::f32, testing::cuda_device());
      freed = x.raw_data();
    }
    const AllocatorStats before = cuda::allocator_stats(0);
    Tensor y = full({kBlockFloats}, 3.0, DType::f32, testing::cuda_device());
    CHECK(y.raw_data() == freed);
    CHECK(cuda::allocator_stats(0).cache_hits == before.cache_hits + 1);
    a.synchronize();
    CHECK(all_equal(to_vector(y), 3.0));
  }

  TEST_CASE("cuda allocator record_stream delays reuse until the other stream's work ran") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::empty_cache();
    cuda::Stream a, b;
    auto* pinned = static_cast<float*>(cuda::allocate_pinned(kBlockFloats * sizeof(float)));
    std::fill(pinned, pinned + kBlockFloats, -1.0f);
    void* freed = nullptr;
    free_block_read_on_other_stream(a, b, pinned, &freed);
    CHECK(cuda::allocator_stats(0).cached_bytes >= kBlockFloats * static_cast<int64_t>(sizeof(float)));
    Tensor y;
    {
      cuda::StreamGuard on_a(a.get());
      y = full({kBlockFloats}, 3.0, DType::f32, testing::cuda_device());
    }
    // The block comes back only once b's copy has run: the emulator runs b's queue when the
    // allocator queries the event, a GPU may not have finished it yet.
    if (y.raw_data() == freed) CHECK(all_equal(pinned, kBlockFloats, 7.0f));
    if (cuda::emulated()) CHECK(y.raw_data() == freed);
    // Under the emulator a's queue runs first here: were b's copy still queued, it would read 3.
    a.synchronize();
    b.synchronize();
    CHECK(all_equal(pinned, kBlockFloats, 7.0f));
    CHECK(all_equal(to_vector(y), 3.0));
    cuda::release_pinned(pinned);
  }

  TEST_CASE("cuda allocator empty_cache with queued stream work is safe") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::Stream a, b;
    auto* pinned = static_cast<float*>(cuda::allocate_pinned(kBlockFloats * sizeof(float)));
    std::fill(pinned, pinned + kBlockFloats, -1.0f);
    void* freed = nullptr;
    free_block_read_on_other_stream(a, b, pinned, &freed);
    Tensor doubled;
    {
      cuda::StreamGuard on_a(a.get());
      Tensor x = full({kBlockFloats}, 5.0, DType::f32, testing::cuda_device());
      doubled = mul(x, 2.0);
    }
    cuda::empty_cache();
    CHECK(cuda::allocator_stats(0).cached_bytes == 0);
    CHECK(all_equal(pinned, kBlockFloats, 7.0f));
    a.synchronize();
    CHECK(all_equal(to_vector(doubled), 10.0));
    cuda::release_pinned(pinned);
  }

  TEST_CASE("cuda allocator forgets a recorded stream destroyed before the block is freed") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::empty_cache();
    auto* pinned = static_cast<float*>(cuda::allocate_pinned(kBlockFloats * sizeof(float)));
    std::fill(pinned, pinned + kBlockFloats, -1.0f);
    Tensor x = full({kBlockFloats}, 7.0, DType::f32, testing::cuda_device());
    void* block = x.raw_data();
    {
      cuda::Stream b;
      cuda::record_stream(x.narrow(0, 1, 10).raw_data(), b.get());
      FOVEA_CUDA_CHECK(cudaMemcpyAsync(pinned, block, kBlockFloats * sizeof(float), cudaMemcpyDeviceToHost, b.get()));
    }
    CHECK(all_equal(pinned, kBlockFloats, 7.0f));
    x = Tensor();
    CHECK(cudaGetLastError() == cudaSuccess);
    Tensor y = full({kBlockFloats}, 3.0, DType::f32, testing::cuda_device());
    CHECK(y.raw_data() == block);
    CHECK(all_equal(to_vector(y), 3.0));
    cuda::release_pinned(pinned);
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

  TEST_CASE("cuda allocator record_stream rejects a pointer outside live blocks") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    cuda::Stream b;
    std::vector<float> host(16);
    const auto outside = doctest::Contains("not inside a live CUDA allocation");
    CHECK_THROWS_WITH_AS(cuda::record_stream(host.data(), b.get()), outside, Error);
    CHECK_THROWS_WITH_AS(cuda::record_stream(nullptr, b.get()), outside, Error);
  }
}
