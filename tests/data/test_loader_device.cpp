// Loader delivering to a CUDA device (pinned buffers, asynchronous copies on the loader's copy
// stream): batches equal the CPU loader's across epochs, buffer sizes and restores; a single
// pinned buffer is recycled safely; copies of prefetched batches are enqueued ahead; worker
// errors give their buffer back; a trainer on its own non-blocking stream sees every batch
// whether it reads it at once or enqueues its work and synchronises later. In the emu build the
// copies run through the emulated runtime, which defers stream work until something
// synchronises with it, so a missing event wait or synchronisation in the loader gives wrong
// batches there. Builds without a CUDA backend refuse a CUDA device.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/loader.h"
#include "data/tensor_convert.h"
#include "fovea/build_config.h"
#include "tests/data/data_test_util.h"
#if FOVEA_HAS_CUDA
#include "tests/cuda/cuda_test.h"
#endif

using namespace fovea::data;
using namespace fovea::data::testing;
using fovea::Device;
using fovea::Tensor;

namespace {

std::vector<float> values(const Tensor& t) {
  Tensor host = t.to(Device::cpu()).contiguous();
  return {host.data<float>(), host.data<float>() + host.numel()};
}

// Two views of [2, 3, 5, width] whose values depend on the index and the random stream.
Sample sized_sample(int64_t index, CounterRng rng, int64_t width) {
  Sample sample;
  for (int v = 0; v < 2; ++v) {
    FloatClip view(2, 3, 5, width);
    for (float& x : view.data) x = static_cast<float>(index) + static_cast<float>(rng.uniform());
    sample.views.push_back(std::move(view));
  }
  sample.label = static_cast<int>(index % 5);
  return sample;
}

Sample varying_sample(int64_t index, CounterRng rng) { return sized_sample(index, rng, 4); }

std::vector<Batch> take(Loader& loader, int count) {
  std::vector<Batch> batches;
  for (int i = 0; i < count; ++i)
    if (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

}  // namespace

#if FOVEA_HAS_CUDA
namespace {

std::vector<float> doubled(std::vector<float> v) {
  for (float& x : v) x *= 2.0f;
  return v;
}

// Holds the first sample of batch j back until the trainer has checked j batches, so a worker
// cannot reuse the single pinned buffer, and thereby run the previous copy, before the trainer
// has read that batch.
struct Gate {
  std::mutex mutex;
  std::condition_variable opened;
  int64_t checked = 0;

  void wait_for(int64_t batches) {
    std::unique_lock lock(mutex);
    opened.wait_for(lock, std::chrono::seconds(20), [&] { return checked >= batches; });
  }
  void check_done() {
    std::lock_guard lock(mutex);
    ++checked;
    opened.notify_all();
  }
};

}  // namespace

TEST_SUITE(FOVEA_CUDA_SUITE) {
  TEST_CASE("loader cuda device batches equal the cpu loader") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    LoaderOptions options{.batch_size = 4, .workers = 3, .prefetch_batches = 3, .drop_last = false, .seed = 11};
    Loader host(19, varying_sample, options);
    options.device = fovea::testing::cuda_device();
    Loader device(19, varying_sample, options);
    auto expected = take(host, 18), got = take(device, 18);  // 3 epochs of 5 batches, the last partial
    REQUIRE(expected.size() == 15);
    REQUIRE(got.size() == 15);
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].data.device() == options.device);
      CHECK(got[i].data.shape() == expected[i].data.shape());
      CHECK(values(got[i].data) == values(expected[i].data));
      CHECK(got[i].indices == expected[i].indices);
      CHECK(got[i].labels == expected[i].labels);
    }
    // Views split on the device equal those split on the host.
    CHECK(values(batch_view(got[2], 1)) == values(batch_view(expected[2], 1)));
    LoaderStats stats = device.stats();
    CHECK(stats.pinned_buffers >= 1);
    CHECK(stats.pinned_buffers <= options.prefetch_batches + 2);
    CHECK(stats.pinned_bytes >= 4 * 2 * 2 * 3 * 5 * 4 * 4);

    // Restoring mid-epoch replays the same batches on the device.
    LoaderPosition position{.epoch = 1, .batch = 2};
    host.restore(position);
    device.restore(position);
    for (int i = 0; i < 3; ++i) CHECK(values(device.next()->data) == values(host.next()->data));
  }

  TEST_CASE("loader cuda device recycles a single pinned buffer safely") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // Unshuffled batches of 3 whose width cycles 2, 5, 8: the one buffer is reused and regrown.
    auto growing = [](int64_t index, CounterRng rng) { return sized_sample(index, rng, 2 + 3 * (index / 3 % 3)); };
    LoaderOptions options{.batch_size = 3, .workers = 3, .prefetch_batches = 4, .shuffle = false, .drop_last = false};
    Loader host(17, growing, options);
    options.device = fovea::testing::cuda_device();
    options.pinned_buffers = 1;
    Loader device(17, growing, options);
    auto expected = take(host, 42), got = take(device, 42);  // 6 epochs of 6 batches and an end marker
    REQUIRE(got.size() == expected.size());
    REQUIRE(got.size() == 36);
    int mismatched = 0;
    for (size_t i = 0; i < got.size(); ++i) mismatched += values(got[i].data) != values(expected[i].data);
    CHECK(mismatched == 0);
    CHECK(device.stats().pinned_buffers == 1);
    CHECK(device.stats().pinned_bytes == 3 * 2 * 2 * 3 * 5 * 8 * 4);  // grown to the widest batch
  }

  TEST_CASE("loader cuda device batches reach a trainer on its own non-blocking stream that synchronises late") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // The trainer enqueues its use of each batch on its stream and frees the batch before
    // taking the next, so the caching allocator hands the same device memory to the next copy;
    // it synchronises only at the end. Wrong without the copy stream waiting for the trainer's
    // stream (the next copy overwrites the batch first) or without the worker waiting for the
    // copy out of the one pinned buffer (the next batch overwrites it first).
    LoaderOptions options{.batch_size = 3, .workers = 3, .prefetch_batches = 4, .shuffle = false, .drop_last = true};
    Loader host(60, varying_sample, options);
    options.device = fovea::testing::cuda_device();
    options.pinned_buffers = 1;
    Loader device(60, varying_sample, options);
    const std::vector<Batch> expected = take(host, 20);
    REQUIRE(expected.size() == 20);
    fovea::cuda::Stream trainer;
    fovea::cuda::StreamGuard on_trainer_stream(trainer.get());
    std::vector<Tensor> results;
    for (int i = 0; i < 20; ++i) {
      std::optional<Batch> batch = device.next();
      REQUIRE(batch);
      results.push_back(fovea::mul(batch->data, 2.0));
    }
    trainer.synchronize();
    int mismatched = 0;
    for (size_t i = 0; i < results.size(); ++i) mismatched += values(results[i]) != doubled(values(expected[i].data));
    CHECK(mismatched == 0);
  }

  TEST_CASE("loader cuda device makes a trainer on its own non-blocking stream wait for each copy") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    // The trainer reads each batch on its stream at once; the gate keeps the workers from
    // running the copy first. Wrong without the trainer's stream waiting for the copy's event.
    auto gate = std::make_shared<Gate>();
    const int64_t batch_size = 2;
    auto gated = [gate, batch_size](int64_t index, CounterRng rng) {
      if (index % batch_size == 0) gate->wait_for(index / batch_size);
      return varying_sample(index, rng);
    };
    LoaderOptions options{.batch_size = batch_size, .workers = 2, .prefetch_batches = 3, .shuffle = false};
    Loader host(24, varying_sample, options);
    const std::vector<Batch> expected = take(host, 12);
    REQUIRE(expected.size() == 12);
    options.device = fovea::testing::cuda_device();
    options.pinned_buffers = 1;
    Loader device(24, gated, options);
    fovea::cuda::Stream trainer;
    fovea::cuda::StreamGuard on_trainer_stream(trainer.get());
    int mismatched = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      std::optional<Batch> batch = device.next();
      REQUIRE(batch);
      mismatched += values(batch->data) != values(expected[i].data);
      gate->check_done();
    }
    CHECK(mismatched == 0);
  }

  TEST_CASE("loader cuda device copies prefetched batches ahead") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    Loader device(40, varying_sample,
                  {.batch_size = 2, .workers = 2, .prefetch_batches = 4, .seed = 3, .device = fovea::testing::cuda_device()});
    // While the trainer sleeps the workers build the following batches, so taking one batch
    // enqueues the copy of the next; retried in case a loaded machine starves the workers.
    for (int i = 0; i < 20 && device.stats().copies_ahead == 0; ++i) {
      REQUIRE(device.next());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(device.stats().copies_ahead >= 1);
  }

  TEST_CASE("loader cuda device gives the pinned buffer of a failed batch back") {
    FOVEA_REQUIRE_CUDA_DEVICE();
    auto flaky = [](int64_t index, CounterRng rng) {
      if (index == 2) FOVEA_FAIL("test", "sample ", index, " is broken");
      return varying_sample(index, rng);
    };
    Loader device(6, flaky,
                  {.batch_size = 1, .workers = 2, .shuffle = false, .device = fovea::testing::cuda_device(),
                   .pinned_buffers = 1});
    CHECK(device.next()->indices == std::vector<int64_t>{0});
    CHECK(device.next()->indices == std::vector<int64_t>{1});
    CHECK(error_text([&] { device.next(); }).find("sample 2 is broken") != std::string::npos);
    for (int64_t i = 3; i < 6; ++i) CHECK(device.next()->indices == std::vector<int64_t>{i});
  }
}
#endif

TEST_SUITE("badinput") {
  TEST_CASE("loader refuses a cuda device it cannot reach") {
#if FOVEA_HAS_CUDA
    // The emulator and real GPUs have a device 0 but no device 99.
    std::string text = error_text([] { Loader bad(4, varying_sample, {.batch_size = 2, .device = Device::cuda(99)}); });
    CHECK(text.find("cuda:99") != std::string::npos);
#else
    std::string text = error_text([] { Loader bad(4, varying_sample, {.batch_size = 2, .device = Device::cuda(0)}); });
    CHECK(text.find("no CUDA backend") != std::string::npos);
#endif
  }
}
