// Frame cache tests: hits, misses and least-recently-used eviction within the byte budget,
// repeated and unordered indices, output sizes kept apart, concurrent readers, decode errors,
// and bad budgets and requests.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "data/frame_cache.h"
#include "data/random.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;

namespace {

// 2×2 RGB frames whose every byte is (frame index + size tag) mod 256.
struct FakeVideo {
  std::atomic<int64_t> decoded{0}, calls{0};
  int tag = 0;
  Clip operator()(std::span<const int64_t> frames) {
    ++calls;
    decoded += static_cast<int64_t>(frames.size());
    Clip clip(static_cast<int64_t>(frames.size()), 2, 2, 3);
    for (size_t i = 0; i < frames.size(); ++i)
      std::fill(clip.frame(static_cast<int64_t>(i)), clip.frame(static_cast<int64_t>(i)) + 12,
                static_cast<uint8_t>(frames[i] + tag));
    return clip;
  }
  FrameCache::DecodeFn fn() {
    return [this](std::span<const int64_t> frames) { return (*this)(frames); };
  }
};

constexpr int64_t kFrameBytes = 12;

bool holds(const Clip& clip, const std::vector<int64_t>& indices, int tag = 0) {
  if (clip.frames != static_cast<int64_t>(indices.size())) return false;
  for (size_t i = 0; i < indices.size(); ++i)
    for (int64_t b = 0; b < kFrameBytes; ++b)
      if (clip.frame(static_cast<int64_t>(i))[b] != static_cast<uint8_t>(indices[i] + tag)) return false;
  return true;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("video frame cache counts hits and misses and evicts the least recently used") {
    FrameCache cache(3 * kFrameBytes);
    FakeVideo video;
    DecodeOptions native;
    CHECK(holds(cache.read("a.mp4", native, std::vector<int64_t>{0, 1}, video.fn()), {0, 1}));
    CHECK(video.calls == 1);
    // Repeats and any order; frame 1 hits, frame 2 is decoded alone.
    CHECK(holds(cache.read("a.mp4", native, std::vector<int64_t>{2, 1, 2}, video.fn()), {2, 1, 2}));
    CHECK(video.decoded == 3);
    FrameCacheStats stats = cache.stats();
    CHECK(stats.hits == 1);
    CHECK(stats.misses == 3);
    CHECK(stats.frames == 3);
    CHECK(stats.bytes == 3 * kFrameBytes);
    CHECK(stats.budget_bytes == 3 * kFrameBytes);
    CHECK(stats.hit_rate() == doctest::Approx(0.25));

    // Recency is now 2, 1, 0: frame 3 evicts frame 0.
    cache.read("a.mp4", native, std::vector<int64_t>{3}, video.fn());
    CHECK(cache.stats().evictions == 1);
    int64_t before = video.decoded;
    CHECK(holds(cache.read("a.mp4", native, std::vector<int64_t>{1, 2, 3}, video.fn()), {1, 2, 3}));
    CHECK(video.decoded == before);
    cache.read("a.mp4", native, std::vector<int64_t>{0}, video.fn());
    CHECK(video.decoded == before + 1);
    CHECK(cache.stats().bytes <= 3 * kFrameBytes);

    // Another video, or the same one at another output size, is another key.
    FakeVideo resized;
    resized.tag = 100;
    CHECK(holds(cache.read("a.mp4", {.out_width = 2}, std::vector<int64_t>{0}, resized.fn()), {0}, 100));
    CHECK(holds(cache.read("b.mp4", native, std::vector<int64_t>{0}, resized.fn()), {0}, 100));
    CHECK(resized.calls == 2);

    cache.clear();
    CHECK(cache.stats().frames == 0);
    CHECK(cache.stats().bytes == 0);
    CHECK(cache.stats().misses > 0);  // counters survive clear()
  }

  TEST_CASE("video frame cache keeps frames larger than the budget out") {
    FrameCache cache(kFrameBytes - 1);
    FakeVideo video;
    CHECK(holds(cache.read("a.mp4", {}, std::vector<int64_t>{4}, video.fn()), {4}));
    CHECK(holds(cache.read("a.mp4", {}, std::vector<int64_t>{4}, video.fn()), {4}));
    CHECK(video.decoded == 2);
    CHECK(cache.stats().frames == 0);
  }

  TEST_CASE("video frame cache serves concurrent readers correct frames") {
    FrameCache cache(8 * kFrameBytes);
    FakeVideo video;
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        CounterRng rng({7, static_cast<uint64_t>(t)});
        for (int i = 0; i < 300; ++i) {
          std::vector<int64_t> indices{rng.below(20), rng.below(20), rng.below(20)};
          std::string name = rng.below(2) ? "a.mp4" : "b.mp4";
          if (!holds(cache.read(name, {}, indices, video.fn()), indices)) ++wrong;
        }
      });
    for (auto& thread : threads) thread.join();
    CHECK(wrong == 0);
    FrameCacheStats stats = cache.stats();
    CHECK(stats.hits > 0);
    CHECK(stats.evictions > 0);
    CHECK(stats.bytes <= 8 * kFrameBytes);
    CHECK(stats.frames <= 8);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("video frame cache rejects bad budgets requests and decodes") {
    CHECK(error_text([] { FrameCache cache(0); }).find("positive byte budget") != std::string::npos);
    CHECK(error_text([] { FrameCache cache(-5); }).find("positive byte budget") != std::string::npos);

    FrameCache cache(1 << 20);
    FakeVideo video;
    CHECK(error_text([&] { cache.read("a.mp4", {}, std::vector<int64_t>{}, video.fn()); }).find("no frames") !=
          std::string::npos);
    CHECK(error_text([&] { cache.read("a.mp4", {}, std::vector<int64_t>{-1}, video.fn()); }).find("negative") !=
          std::string::npos);

    // A failing decode propagates its error and caches nothing.
    auto broken = [](std::span<const int64_t>) -> Clip { FOVEA_FAIL("video_reader", "'a.mp4' is truncated"); };
    CHECK(error_text([&] { cache.read("a.mp4", {}, std::vector<int64_t>{3}, broken); }).find("truncated") !=
          std::string::npos);
    CHECK(cache.stats().frames == 0);
    auto short_decode = [](std::span<const int64_t>) { return Clip(1, 2, 2, 3); };
    CHECK(error_text([&] { cache.read("a.mp4", {}, std::vector<int64_t>{3, 4}, short_decode); })
              .find("gave 1 frames") != std::string::npos);
    CHECK(cache.stats().frames == 0);
  }
}
