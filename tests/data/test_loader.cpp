// Loader and sampler tests: index samplers (DPC blocks, two clips, uniform clips, lag and
// still pairs), batches that do not depend on the worker count, position save/restore,
// skip-and-count of bad samples, error propagation, video samples end to end (clips, DPC
// blocks, lag and still pairs), and the frame cache under the loader.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <set>

#include "data/loader.h"
#include "data/synthetic.h"
#include "data/tensor_convert.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;

namespace {

// A sample whose values encode its index and its random stream.
Sample fake_sample(int64_t index, CounterRng rng) {
  Sample sample;
  FloatClip view(1, 1, 1, 2);
  view.data = {static_cast<float>(index), static_cast<float>(rng.uniform())};
  sample.views.push_back(view);
  sample.label = static_cast<int>(index % 3);
  return sample;
}

std::vector<float> values(const fovea::Tensor& t) {
  fovea::Tensor host = t.to(fovea::Device::cpu()).contiguous();
  return {host.data<float>(), host.data<float>() + host.numel()};
}

std::vector<Batch> one_epoch(Loader& loader) {
  std::vector<Batch> batches;
  while (auto batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("loader samplers dpc blocks two clips uniform clips and lag pairs") {
    CounterRng rng(1);
    CHECK(dpc_indices(120, rng).empty());  // the reference drops videos of <= 120 frames
    auto dpc = dpc_indices(121, rng);
    REQUIRE(dpc.size() == 40);
    CHECK(dpc[0] == 0);
    CHECK(dpc[39] == 117);
    for (size_t i = 1; i < dpc.size(); ++i) CHECK(dpc[i] - dpc[i - 1] == 3);  // blocks are contiguous
    std::set<int64_t> starts;
    for (int i = 0; i < 200; ++i) starts.insert(dpc_indices(130, rng)[0]);
    CHECK(*starts.rbegin() <= 9);
    CHECK(starts.size() == 10);

    auto clips = two_clip_indices(50, rng, 16, 2);
    for (const auto& clip : clips) {
      REQUIRE(clip.size() == 16);
      CHECK(clip[15] - clip[0] == 30);
      CHECK(clip[15] < 50);
    }
    auto short_clip = random_clip_indices(5, 8, 1, rng);
    CHECK(short_clip.back() == 4);

    auto uniform = uniform_clip_indices(100, 10, 16);
    REQUIRE(uniform.size() == 10);
    CHECK(uniform[0][0] == 0);
    CHECK(uniform[9][15] == 99);
    CHECK(uniform[5][0] == 47);

    for (int i = 0; i < 50; ++i) {
      auto pair = lag_pair_indices(30, 7, rng);
      CHECK(pair[1] - pair[0] == 7);
      CHECK(pair[1] < 30);
      auto stills = still_pair_indices(250, 25.0, 3, rng);
      CHECK(stills[1] - stills[0] == 75);
      CHECK(stills[0] % 25 == 0);
    }
  }

  TEST_CASE("loader batches do not depend on the worker count") {
    LoaderOptions options{.batch_size = 4, .workers = 1, .prefetch_batches = 2, .seed = 42};
    Loader single(22, fake_sample, options);
    options.workers = 3;
    Loader threaded(22, fake_sample, options);
    CHECK(single.batches_per_epoch() == 5);
    for (int epoch = 0; epoch < 2; ++epoch) {
      auto a = one_epoch(single), b = one_epoch(threaded);
      REQUIRE(a.size() == 5);
      REQUIRE(b.size() == 5);
      std::set<int64_t> seen;
      for (size_t i = 0; i < a.size(); ++i) {
        CHECK(values(a[i].data) == values(b[i].data));
        CHECK(a[i].indices == b[i].indices);
        CHECK(a[i].number == static_cast<int64_t>(i));
        CHECK(a[i].epoch == epoch);
        for (int64_t index : a[i].indices) seen.insert(index);
      }
      CHECK(seen.size() == 20);  // drop_last leaves 2 of the 22 out
    }
    CHECK(single.epoch_order(0) != single.epoch_order(1));
    LoaderStats stats = threaded.stats();
    CHECK(stats.batches == 10);
    CHECK(stats.samples == 40);
    CHECK(stats.samples_per_second() > 0);
    CHECK(stats.wait_fraction() >= 0);
    CHECK(stats.wait_fraction() <= 1);
  }

  TEST_CASE("loader position save and restore replays the same batches") {
    LoaderOptions options{.batch_size = 3, .workers = 2, .drop_last = false, .seed = 5};
    Loader loader(10, fake_sample, options);
    CHECK(loader.batches_per_epoch() == 4);
    one_epoch(loader);
    loader.next();
    LoaderPosition saved = loader.position();
    CHECK(saved.epoch == 1);
    CHECK(saved.batch == 1);
    std::vector<Batch> expected;
    for (int i = 0; i < 3; ++i) expected.push_back(*loader.next());
    CHECK(expected.back().size == 1);  // the last, partial batch

    Loader resumed(10, fake_sample, options);
    resumed.restore(saved);
    for (int i = 0; i < 3; ++i) {
      auto batch = resumed.next();
      REQUIRE(batch);
      CHECK(values(batch->data) == values(expected[i].data));
      CHECK(batch->number == expected[i].number);
    }
    CHECK(resumed.position().epoch == 1);
    CHECK(resumed.position().batch == 4);  // end of epoch 1, its marker not yet returned
    CHECK_FALSE(resumed.next());
    CHECK(resumed.position().epoch == 2);
    CHECK(resumed.position().batch == 0);
    CHECK(resumed.next()->epoch == 2);
  }

  TEST_CASE("loader video samples two clips and dpc blocks from synthetic videos") {
    TempDir dir;
    SynthOptions synth{.out_dir = dir.file("synth"), .seed = 4, .videos = 8, .frames = 30, .width = 48, .height = 48};
    write_synthetic_dataset(synth);
    Dataset ds = load_video_folders(synth.out_dir);
    REQUIRE(ds.items.size() == 8);

    VideoSampleOptions saccade;
    saccade.clip_frames = 8;
    saccade.augment = video_contrastive_augment(32);
    Loader loader(static_cast<int64_t>(ds.items.size()), video_sample_fn(ds, saccade),
                  {.batch_size = 4, .workers = 2, .seed = 1});
    auto batch = loader.next();
    REQUIRE(batch);
    CHECK(batch->views == 2);
    CHECK(batch->channels == 3);
    CHECK(batch->frames == 8);
    CHECK(batch->height == 32);
    CHECK(batch->data.shape() == fovea::Shape{4, 2, 3, 8, 32, 32});
    CHECK(batch->data.device() == fovea::Device::cpu());
    for (int64_t i = 0; i < 4; ++i) CHECK(batch->labels[i] == ds.items[batch->indices[i]].label);

    VideoSampleOptions dpc;
    dpc.sampling = ClipSampling::DpcBlocks;
    dpc.dpc = {.blocks = 4, .block_frames = 3, .stride = 2};
    dpc.augment = dpc_augment(24);
    Sample sample = video_sample_fn(ds, dpc)(3, CounterRng(9));
    REQUIRE(sample.views.size() == 4);
    CHECK(sample.views[0].frames == 3);
    CHECK(sample.views[0].height == 24);
  }

  TEST_CASE("loader lag pairs and still pairs from synthetic videos") {
    TempDir dir;
    SynthOptions synth{.out_dir = dir.file("synth"), .seed = 6, .videos = 3, .frames = 60, .width = 32, .height = 32};
    write_synthetic_dataset(synth);
    Dataset ds = load_video_folders(synth.out_dir);
    REQUIRE(ds.items.size() == 3);
    VideoReader reader(ds.items[1].path);
    REQUIRE(reader.info().fps == doctest::Approx(25.0));

    VideoSampleOptions options;
    options.augment = video_contrastive_augment(24);
    const CounterRng key(17);
    auto expect_pair = [&](const std::array<int64_t, 2>& pair, const Sample& sample, PairAugment mode) {
      REQUIRE(sample.views.size() == 2);
      CHECK(sample.label == ds.items[1].label);
      if (mode == PairAugment::Shared) {
        FloatClip both = augment_clip(reader.read_frames(pair), options.augment, key.fork(1));
        for (int64_t v = 0; v < 2; ++v) {
          REQUIRE(sample.views[v].frames == 1);
          for (int64_t c = 0; c < 3; ++c)
            CHECK(std::equal(both.plane(c, v), both.plane(c, v) + 24 * 24, sample.views[v].plane(c, 0)));
        }
        return;
      }
      for (int64_t v = 0; v < 2; ++v) {
        FloatClip expected = augment_clip(reader.read_range(pair[v], 1), options.augment,
                                          key.fork(static_cast<uint64_t>(1 + v)));
        CHECK(sample.views[v].data == expected.data);
      }
    };

    options.sampling = ClipSampling::LagPair;
    options.lag_frames = 7;
    for (PairAugment mode : {PairAugment::Independent, PairAugment::Shared}) {
      options.pair_augment = mode;
      CounterRng sampling = key.fork(0x53414D50);
      auto pair = lag_pair_indices(60, 7, sampling);
      CHECK(pair[1] - pair[0] == 7);
      expect_pair(pair, video_sample_fn(ds, options)(1, key), mode);
    }

    options.sampling = ClipSampling::StillPair;
    options.lag_seconds = 1;
    options.pair_augment = PairAugment::Independent;
    CounterRng sampling = key.fork(0x53414D50);
    auto stills = still_pair_indices(60, 25.0, 1, sampling);
    CHECK(stills[1] - stills[0] == 25);
    expect_pair(stills, video_sample_fn(ds, options)(1, key), PairAugment::Independent);

    Loader loader(3, video_sample_fn(ds, options), {.batch_size = 3, .workers = 2, .seed = 2});
    auto batch = loader.next();
    REQUIRE(batch);
    CHECK(batch->data.shape() == fovea::Shape{3, 2, 3, 1, 24, 24});
    CHECK(batch_images(*batch, 1).shape() == fovea::Shape{3, 3, 24, 24});
  }

  TEST_CASE("loader frame cache hits in the second epoch and leaves samples unchanged") {
    TempDir dir;
    SynthOptions synth{.out_dir = dir.file("synth"), .seed = 8, .videos = 4, .frames = 30, .width = 32, .height = 32};
    write_synthetic_dataset(synth);
    Dataset ds = load_video_folders(synth.out_dir);
    REQUIRE(ds.items.size() == 4);

    // Uniform clips read the same frames every epoch: 2 clips of 8 frames = 16 per video.
    VideoSampleOptions uniform;
    uniform.sampling = ClipSampling::UniformClips;
    uniform.uniform_clips = 2;
    uniform.clip_frames = 8;
    uniform.augment = eval_augment(24);
    LoaderOptions options{.batch_size = 2, .workers = 1, .prefetch_batches = 1, .seed = 3};
    Loader plain(4, video_sample_fn(ds, uniform), options);
    uniform.cache = std::make_shared<FrameCache>(64 << 20);
    Loader cached(4, video_sample_fn(ds, uniform), options);
    for (int epoch = 0; epoch < 2; ++epoch) {
      auto a = one_epoch(plain), b = one_epoch(cached);
      REQUIRE(a.size() == 2);
      REQUIRE(b.size() == 2);
      for (size_t i = 0; i < a.size(); ++i) CHECK(values(a[i].data) == values(b[i].data));
      if (epoch == 0) {
        // One batch of epoch 1 may be prefetched already: it only hits.
        FrameCacheStats first = uniform.cache->stats();
        CHECK(first.misses == 4 * 16);
        CHECK(first.hits <= 2 * 16);
      }
    }
    FrameCacheStats stats = uniform.cache->stats();
    CHECK(stats.misses == 4 * 16);  // the second epoch decoded nothing
    CHECK(stats.hits >= 4 * 16);
    CHECK(stats.frames == 4 * 16);
    CHECK(stats.bytes == 4 * 16 * 32 * 32 * 3);
    CHECK(stats.evictions == 0);

    // Random two-clip samples with three workers and a cache too small for the dataset.
    VideoSampleOptions saccade;
    saccade.clip_frames = 8;
    saccade.augment = video_contrastive_augment(24);
    LoaderOptions threaded{.batch_size = 2, .workers = 3, .seed = 4};
    Loader reference(4, video_sample_fn(ds, saccade), threaded);
    saccade.cache = std::make_shared<FrameCache>(20 * 32 * 32 * 3);
    Loader small(4, video_sample_fn(ds, saccade), threaded);
    for (int epoch = 0; epoch < 3; ++epoch) {
      auto a = one_epoch(reference), b = one_epoch(small);
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) CHECK(values(a[i].data) == values(b[i].data));
    }
    CHECK(saccade.cache->stats().evictions > 0);
    CHECK(saccade.cache->stats().bytes <= 20 * 32 * 32 * 3);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("loader skips and counts bad samples or rethrows their error") {
    auto flaky = [](int64_t index, CounterRng rng) {
      if (index == 2 || index == 5) FOVEA_FAIL("test", "sample ", index, " is broken");
      return fake_sample(index, rng);
    };
    Loader skipping(8, flaky, {.batch_size = 2, .workers = 2, .shuffle = false, .skip_bad = true});
    auto batches = one_epoch(skipping);
    REQUIRE(batches.size() == 4);
    CHECK(batches[1].indices == std::vector<int64_t>{3, 3});  // 2 is replaced by the next item
    LoaderStats stats = skipping.stats();
    CHECK(stats.bad_samples == 2);
    REQUIRE(stats.bad_reasons.size() == 2);
    CHECK(stats.bad_reasons[0].find("broken") != std::string::npos);

    Loader strict(8, flaky, {.batch_size = 2, .workers = 1, .shuffle = false});
    CHECK(strict.next());
    CHECK(error_text([&] { strict.next(); }).find("sample 2 is broken") != std::string::npos);

    CHECK(error_text([&] { Loader empty(0, flaky, {}); }).find("empty") != std::string::npos);
    CHECK(error_text([&] { Loader bad(8, flaky, {.pinned_buffers = -1}); }).find("pinned_buffers") !=
          std::string::npos);
  }

  TEST_CASE("loader pairs reject negative lags and videos shorter than the lag") {
    TempDir dir;
    SynthOptions synth{.out_dir = dir.file("synth"), .seed = 1, .videos = 1, .frames = 20, .width = 32, .height = 32};
    write_synthetic_dataset(synth);
    Dataset ds = load_video_folders(synth.out_dir);
    VideoSampleOptions options;
    options.augment = eval_augment(16);
    options.sampling = ClipSampling::LagPair;
    options.lag_frames = -1;
    CHECK(error_text([&] { video_sample_fn(ds, options); }).find("lag") != std::string::npos);
    options.lag_frames = 20;
    CHECK(error_text([&] { video_sample_fn(ds, options)(0, CounterRng(1)); }).find("20 frames") != std::string::npos);
    options.sampling = ClipSampling::StillPair;
    options.lag_seconds = 1;  // 20 frames at 25 fps hold a single still
    CHECK(error_text([&] { video_sample_fn(ds, options)(0, CounterRng(1)); }).find("1 stills") != std::string::npos);
    // A frame folder without an index has no fps to place stills by.
    Dataset folder;
    folder.items.push_back({.path = dir.file("frames"), .kind = MediaKind::FrameFolder, .frames = 50});
    CHECK(error_text([&] { video_sample_fn(folder, options)(0, CounterRng(1)); }).find("fps") != std::string::npos);
  }
}
