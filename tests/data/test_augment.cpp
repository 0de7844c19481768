// Augmentation tests: resize/crop arithmetic, torchvision crop and colour jitter sampling,
// per-clip versus per-frame consistency, determinism by key, colour ops, Lab values and float
// layout. Comparisons with the reference implementations are in test_augment_golden.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
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
    // Shrinking widens the triangle filter by the scale (Pillow's antialiasing): taps 0.75,
    // 0.75, 0.25 over 1.75, so (45 + 30) / 1.75 and (15 + 90 + 135) / 1.75.
    Clip down = resize(ramp, 1, 2, Interpolation::Bilinear);
    CHECK(int(down.data[0]) == 43);
    CHECK(int(down.data[3]) == 137);

    Clip clip = make_test_clip(2, 10, 12);
    Clip centre = center_crop(clip, 4, 6);
    CHECK(centre.frame(1)[0] == clip.frame(1)[(3 * 12 + 3) * 3]);
    Clip flipped = clip;
    horizontal_flip(flipped);
    CHECK(flipped.frame(1)[(2 * 12 + 0) * 3 + 1] == clip.frame(1)[(2 * 12 + 11) * 3 + 1]);
    horizontal_flip(flipped);
    CHECK(flipped.data == clip.data);
  }

  TEST_CASE("augment resize of inputs narrower than the filter window") {
    // 2 -> 1 has a 5-tap support over 2 inputs: weights 0.75 and 0.75, so (60 + 121) / 2
    // rounded up from 90.5 in Pillow's fixed point; 1 -> 3 copies the one input.
    Clip pair(1, 1, 2, 3);
    for (int c = 0; c < 3; ++c) pair.data[c] = 60, pair.data[3 + c] = 121;
    Clip down = resize(pair, 1, 1, Interpolation::Bilinear);
    for (int c = 0; c < 3; ++c) CHECK(int(down.data[c]) == 91);
    Clip one(1, 1, 1, 3);
    one.data = {7, 130, 255};
    Clip up = resize(one, 3, 3, Interpolation::Bilinear);
    for (int64_t p = 0; p < 9; ++p)
      for (int c = 0; c < 3; ++c) CHECK(up.data[3 * p + c] == one.data[c]);
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

  TEST_CASE("augment random resized crop boxes meet the sampled bounds or are the fallback") {
    // Sides are round(sqrt(area·ratio)) and round(sqrt(area/ratio)), so a box (h, w) drawn with
    // area A and ratio r has A in [(w-½)(h-½), (w+½)(h+½)] and r in [(w-½)/(h+½), (w+½)/(h-½)];
    // when the 10 tries fail, torchvision's centre fallback is returned.
    struct Frame {
      int64_t height, width;
      double scale_min, scale_max, ratio_min, ratio_max;
    };
    for (Frame f : {Frame{120, 160, 0.2, 1.0, 3.0 / 4.0, 4.0 / 3.0}, Frame{7, 300, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0},
                    Frame{64, 64, 0.9, 1.0, 0.5, 2.0}, Frame{5, 9, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0}}) {
      const double area = static_cast<double>(f.height * f.width);
      const double aspect = static_cast<double>(f.width) / static_cast<double>(f.height);
      CropBox fallback{0, 0, f.height, f.width};
      if (aspect < f.ratio_min) fallback.height = std::lround(f.width / f.ratio_min);
      if (aspect > f.ratio_max) fallback.width = std::lround(f.height * f.ratio_max);
      fallback.top = (f.height - fallback.height) / 2;
      fallback.left = (f.width - fallback.width) / 2;
      int fallbacks = 0, below_one = 0, above_one = 0;
      for (uint64_t i = 0; i < 2000; ++i) {
        CounterRng rng({4, i});
        CropBox box =
            random_resized_crop_box(f.height, f.width, rng, f.scale_min, f.scale_max, f.ratio_min, f.ratio_max);
        REQUIRE(box.top >= 0);
        REQUIRE(box.left >= 0);
        REQUIRE(box.top + box.height <= f.height);
        REQUIRE(box.left + box.width <= f.width);
        if (box.top == fallback.top && box.left == fallback.left && box.height == fallback.height &&
            box.width == fallback.width) {
          ++fallbacks;
          continue;
        }
        const double h = static_cast<double>(box.height), w = static_cast<double>(box.width);
        CHECK((w + 0.5) * (h + 0.5) >= f.scale_min * area);
        CHECK((w - 0.5) * (h - 0.5) <= f.scale_max * area);
        CHECK((w + 0.5) / (h - 0.5) >= f.ratio_min);
        CHECK((w - 0.5) / (h + 0.5) <= f.ratio_max);
        below_one += w < h;
        above_one += w > h;
      }
      INFO(f.height, "x", f.width);
      if (f.height == 7) CHECK(fallbacks > 0);  // tall boxes cannot fit 7 rows
      if (f.height == 64) {  // log-uniform ratio on a square frame: as many tall boxes as wide ones
        CHECK(below_one > 400);
        CHECK(std::abs(below_one - above_one) < 150);  // binomial sd about 33
      }
    }
  }

  TEST_CASE("augment colour jitter sampling follows torchvision ranges and a uniform order") {
    ColorJitter jitter{.brightness = 0.4, .contrast = 1.5, .saturation = 0.0, .hue = 0.1};
    std::map<std::array<int, 4>, int> orders;
    for (uint64_t i = 0; i < 24000; ++i) {
      CounterRng rng({6, i});
      ColorJitterParams params = sample_color_jitter(jitter, rng);
      REQUIRE(params.brightness.has_value());
      REQUIRE(params.contrast.has_value());
      REQUIRE(params.hue.has_value());
      CHECK_FALSE(params.saturation.has_value());  // an amount of 0 skips the op
      CHECK(*params.brightness >= 0.6);
      CHECK(*params.brightness <= 1.4);
      CHECK(*params.contrast >= 0.0);  // max(0, 1 - 1.5)
      CHECK(*params.contrast <= 2.5);
      CHECK(std::abs(*params.hue) <= 0.1);
      std::array<int, 4> sorted = params.order;
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == std::array<int, 4>{0, 1, 2, 3});
      ++orders[params.order];
    }
    // randperm(4): each of the 24 orders about 1000 times (binomial sd about 31).
    CHECK(orders.size() == 24);
    for (const auto& [order, count] : orders) {
      CHECK(count > 850);
      CHECK(count < 1150);
    }
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
  TEST_CASE("augment dpc preset copies a channel before the colour jitter") {
    // DPC's pipeline runs RandomGray then ColorJitter; contrast blends towards the frame's mean
    // luma, so the order shows in the values. The per-frame draws are replayed from the forks.
    Clip clip = make_test_clip(3, 8, 8);
    AugmentConfig config = dpc_augment(8);
    config.crop = CropMode::None;
    config.flip_p = 0;
    config.jitter = ColorJitter{.contrast = 0.5};
    config.gray_p = 1.0;
    CounterRng rng({2, 5});
    Clip out = augment_clip_u8(clip, config, rng);
    CounterRng base({2, 5});
    for (int64_t t = 0; t < 3; ++t) {
      CounterRng gray_rng = base.fork(2).fork(100 + t), jitter_rng = base.fork(1).fork(100 + t);
      gray_rng.bernoulli(1.0);
      jitter_rng.bernoulli(1.0);
      Clip expected(1, 8, 8, 3);
      std::copy_n(clip.frame(t), 8 * 8 * 3, expected.frame(0));
      channel_copy_frame(expected.frame(0), 64, static_cast<int>(gray_rng.below(3)));
      color_jitter_frame(expected.frame(0), 64, config.jitter, jitter_rng);
      CHECK(std::equal(expected.data.begin(), expected.data.end(), out.frame(t)));
    }
  }

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

  TEST_CASE("augment rejects colour jitter amounts and factors outside torchvision ranges") {
    Clip clip = make_test_clip(1, 4, 4);
    CounterRng rng(1);
    CHECK(error_text([&] { sample_color_jitter(ColorJitter{.hue = 0.6}, rng); }).find("hue at most 0.5") !=
          std::string::npos);
    CHECK(error_text([&] { sample_color_jitter(ColorJitter{.brightness = -0.1}, rng); }).find("non-negative") !=
          std::string::npos);
    CHECK(error_text([&] { adjust_hue_frame(clip.frame(0), 16, 0.7); }).find("[-0.5, 0.5]") != std::string::npos);
    CHECK(error_text([&] { adjust_contrast_frame(clip.frame(0), 16, -1.0); }).find("non-negative") !=
          std::string::npos);
    CHECK(error_text([&] { gaussian_blur_frame(clip.frame(0), 4, 4, 0.0); }).find("positive") != std::string::npos);
    CHECK(error_text([&] { random_resized_crop_box(0, 4, rng); }).find("non-empty") != std::string::npos);
  }
}
