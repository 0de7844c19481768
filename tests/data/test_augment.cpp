// Augmentation tests: resize/crop arithmetic, torchvision crop ranges, per-clip versus
// per-frame consistency, determinism by key, colour ops, Lab values and float layout.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/augment.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;

namespace {

Clip repeated_frames(int64_t frames, int64_t height, int64_t width) {
  Clip one = make_test_clip(1, height, width, 5);
  Clip clip(frames, height, width, 3);
  for (int64_t t = 0; t < frames; ++t) std::copy(one.data.begin(), one.data.end(), clip.frame(t));
  return clip;
}

bool frames_equal(const FloatClip& clip, int64_t a, int64_t b) {
  for (int64_t c = 0; c < clip.channels; ++c)
    if (!std::equal(clip.plane(c, a), clip.plane(c, a) + clip.height * clip.width, clip.plane(c, b)))
      return false;
  return true;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("augment resize bilinear and nearest sample at pixel centres") {
    Clip ramp(1, 1, 4, 3);
    for (int x = 0; x < 4; ++x) std::fill_n(ramp.data.begin() + 3 * x, 3, static_cast<uint8_t>(60 * x));
    Clip up = resize(ramp, 1, 8, Interpolation::Bilinear);
    std::vector<int> expected = {0, 15, 45, 75, 105, 135, 165, 180};
    for (int x = 0; x < 8; ++x) CHECK(int(up.data[3 * x]) == expected[x]);
    Clip nearest = resize(ramp, 2, 8, Interpolation::Nearest);
    for (int x = 0; x < 8; ++x) CHECK(int(nearest.data[3 * (8 + x)]) == 60 * (x / 2));
    Clip down = resize(ramp, 1, 2, Interpolation::Bilinear);
    CHECK(int(down.data[0]) == 30);
    CHECK(int(down.data[3]) == 150);

    Clip clip = make_test_clip(2, 10, 12);
    Clip centre = center_crop(clip, 4, 6);
    CHECK(centre.frame(1)[0] == clip.frame(1)[(3 * 12 + 3) * 3]);
    Clip flipped = clip;
    horizontal_flip(flipped);
    CHECK(flipped.frame(1)[(2 * 12 + 0) * 3 + 1] == clip.frame(1)[(2 * 12 + 11) * 3 + 1]);
    horizontal_flip(flipped);
    CHECK(flipped.data == clip.data);
  }

  TEST_CASE("augment random resized crop stays in torchvision ranges") {
    for (uint64_t i = 0; i < 500; ++i) {
      CounterRng rng({3, i});
      CropBox box = random_resized_crop_box(120, 160, rng, 0.2, 1.0, 3.0 / 4.0, 4.0 / 3.0);
      REQUIRE(box.top >= 0);
      REQUIRE(box.left >= 0);
      REQUIRE(box.top + box.height <= 120);
      REQUIRE(box.left + box.width <= 160);
      double area = static_cast<double>(box.height * box.width) / (120.0 * 160.0);
      CHECK(area > 0.18);
      CHECK(area <= 1.0);
      double ratio = static_cast<double>(box.width) / static_cast<double>(box.height);
      CHECK(ratio > 0.7);
      CHECK(ratio < 1.45);
    }
    CounterRng a({9, 1}), b({9, 1});
    CropBox first = random_resized_crop_box(100, 100, a), second = random_resized_crop_box(100, 100, b);
    CHECK(first.top == second.top);
    CHECK(first.width == second.width);
  }

  TEST_CASE("augment per-clip crop and jitter are consistent and per-frame jitter is not") {
    Clip clip = repeated_frames(6, 40, 40);
    AugmentConfig per_clip = video_contrastive_augment(24);
    per_clip.jitter_p = 1.0;
    per_clip.gray_p = 0.0;
    per_clip.blur_p = 1.0;
    FloatClip out = augment_clip(clip, per_clip, CounterRng({1, 0, 7}));
    CHECK(out.channels == 3);
    CHECK(out.frames == 6);
    CHECK(out.height == 24);
    for (int64_t t = 1; t < 6; ++t) CHECK(frames_equal(out, 0, t));

    AugmentConfig per_frame = dpc_augment(24);
    per_frame.gray_p = 0.0;
    FloatClip varied = augment_clip(clip, per_frame, CounterRng({1, 0, 7}));
    int differing = 0;
    for (int64_t t = 1; t < 6; ++t) differing += frames_equal(varied, 0, t) ? 0 : 1;
    CHECK(differing == 5);

    // Same key, same result; another epoch, another result.
    FloatClip again = augment_clip(clip, per_frame, CounterRng({1, 0, 7}));
    CHECK(again.data == varied.data);
    FloatClip next_epoch = augment_clip(clip, per_frame, CounterRng({1, 1, 7}));
    CHECK(next_epoch.data != varied.data);
  }

  TEST_CASE("augment colour jitter grayscale channel copy and blur") {
    Clip clip = make_test_clip(1, 16, 16);
    Clip untouched = clip;
    CounterRng rng(5);
    color_jitter_frame(untouched.frame(0), 256, ColorJitter{}, rng);
    CHECK(untouched.data == clip.data);

    Clip brighter = clip;
    CounterRng rng2(6);
    color_jitter_frame(brighter.frame(0), 256, ColorJitter{.brightness = 0.5}, rng2);
    CounterRng replay(6);
    double factor = replay.uniform(0.5, 1.5);
    for (int i = 0; i < 30; ++i)
      CHECK(std::abs(brighter.data[i] - std::min(255.0, clip.data[i] * factor)) <= 1.0);

    Clip hue = clip;
    CounterRng rng3(8);
    color_jitter_frame(hue.frame(0), 256, ColorJitter{.hue = 0.5}, rng3);
    CHECK(hue.data != clip.data);

    Clip gray = clip;
    grayscale_frame(gray.frame(0), 256);
    for (int p = 0; p < 256; ++p) {
      CHECK(gray.data[3 * p] == gray.data[3 * p + 1]);
      CHECK(gray.data[3 * p] == gray.data[3 * p + 2]);
    }
    Clip copied = clip;
    channel_copy_frame(copied.frame(0), 256, 1);
    for (int p = 0; p < 256; ++p) CHECK(copied.data[3 * p] == clip.data[3 * p + 1]);

    Clip flat(1, 9, 9, 3);
    std::fill(flat.data.begin(), flat.data.end(), uint8_t{77});
    gaussian_blur_frame(flat.frame(0), 9, 9, 1.5);
    CHECK(std::all_of(flat.data.begin(), flat.data.end(), [](uint8_t v) { return v == 77; }));
    Clip impulse(1, 9, 9, 3);
    std::fill_n(impulse.data.begin() + (4 * 9 + 4) * 3, 3, uint8_t{255});
    gaussian_blur_frame(impulse.frame(0), 9, 9, 1.0);
    CHECK(impulse.data[(4 * 9 + 4) * 3] < 255);
    CHECK(impulse.data[(4 * 9 + 3) * 3] == impulse.data[(4 * 9 + 5) * 3]);
    CHECK(impulse.data[(3 * 9 + 4) * 3] == impulse.data[(4 * 9 + 3) * 3]);
  }

  TEST_CASE("augment lab conversion and normalisation layout") {
    auto white = rgb_to_lab(255, 255, 255);
    CHECK(white[0] == doctest::Approx(100.0).epsilon(1e-3));
    CHECK(std::abs(white[1]) < 0.01);
    CHECK(std::abs(white[2]) < 0.01);
    auto red = rgb_to_lab(255, 0, 0);  // skimage.color.rgb2lab: 53.2408, 80.0925, 67.2032
    CHECK(red[0] == doctest::Approx(53.2408).epsilon(1e-3));
    CHECK(red[1] == doctest::Approx(80.0925).epsilon(1e-3));
    CHECK(red[2] == doctest::Approx(67.2032).epsilon(1e-3));

    Clip clip(2, 1, 2, 3);
    clip.data = {255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0};
    FloatClip lab = to_lab_normalized(clip);
    CHECK(lab.plane(0, 0)[0] == doctest::Approx((100.0 - 50.0) / 50.0).epsilon(1e-3));
    CHECK(lab.plane(1, 0)[1] == doctest::Approx((80.0925 - 6.025) / 92.208).epsilon(1e-3));
    CHECK(lab.plane(2, 0)[1] == doctest::Approx((67.2032 + 6.6895) / 101.1675).epsilon(1e-3));
    CHECK(lab.plane(0, 1)[0] == doctest::Approx(-1.0));

    FloatClip norm = normalize(clip, kImageNetMean, kImageNetStd);
    CHECK(norm.plane(0, 0)[1] == doctest::Approx((1.0 - 0.485) / 0.229));
    CHECK(norm.plane(1, 0)[1] == doctest::Approx((0.0 - 0.456) / 0.224));
    CHECK(norm.plane(2, 1)[0] == doctest::Approx((0.0 - 0.406) / 0.225));
  }
}

TEST_SUITE("unit") {
  TEST_CASE("augment presets for evaluation and cmc lab") {
    Clip clip = make_test_clip(3, 48, 64);
    AugmentConfig eval = eval_augment(32);
    FloatClip a = augment_clip(clip, eval, CounterRng(1));
    FloatClip b = augment_clip(clip, eval, CounterRng(2));
    CHECK(a.data == b.data);  // no randomness in evaluation
    CHECK(a.height == 32);
    CHECK(a.width == 32);
    // Centre crop of the largest square: the output's centre pixel is the input's centre.
    CounterRng rng(1);
    Clip u8 = augment_clip_u8(clip, eval, rng);
    CHECK(std::abs(int(u8.frame(0)[(16 * 32 + 16) * 3]) - int(clip.frame(0)[(24 * 64 + 32) * 3])) <= 12);

    FloatClip lab = augment_clip(clip, cmc_lab_augment(40), CounterRng(3));
    CHECK(lab.channels == 3);
    CHECK(lab.height == 40);
    for (float v : lab.data) {
      CHECK(v >= -2.0f);
      CHECK(v <= 2.0f);
    }
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("augment rejects crops outside the frame") {
    Clip clip = make_test_clip(1, 10, 10);
    CHECK(error_text([&] { crop_resize(clip, {5, 5, 6, 6}, 4, 4); }).find("outside") != std::string::npos);
    CHECK(error_text([&] { center_crop(clip, 12, 4); }).find("does not fit") != std::string::npos);
  }
}
