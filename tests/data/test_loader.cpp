// Loader and sampler tests: index samplers (DPC blocks, two clips, uniform clips, lag and
// still pairs), batches that do not depend on the worker count, position save/restore,
// skip-and-count of bad samples, error propagation, and video samples end to end.
#include <doctest/doctest.h>

#include <set>

#include "data/loader.h"
#include "data/synthetic.h"
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
        CHECK(a[i].data == b[i].data);
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
      CHECK(batch->data == expected[i].data);
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
    CHECK(batch->data.size() == static_cast<size_t>(4 * 2 * 3 * 8 * 32 * 32));
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
  }
}
