// Tensor conversion tests: u8 clips to [C,T,H,W] u8 and normalised f32 (equal to augment's
// normalize), stacks to [N,C,T,H,W], float clips, the views, images and labels of loader
// batches, and bad shapes, dtypes and views.
#include <doctest/doctest.h>

#include <vector>

#include "data/augment.h"
#include "data/tensor_convert.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;
using fovea::DType;
using fovea::Shape;
using fovea::Tensor;

namespace {

template <typename T>
std::vector<T> values(const Tensor& t) {
  Tensor host = t.to(fovea::Device::cpu()).contiguous();
  return {host.data<T>(), host.data<T>() + host.numel()};
}

// Sample `index` with two views of [1, frames, 2, 3] whose values encode (index, view, position).
SampleFn numbered_sample(int64_t frames) {
  return [frames](int64_t index, CounterRng) {
    Sample sample;
    for (int v = 0; v < 2; ++v) {
      FloatClip view(1, frames, 2, 3);
      for (size_t p = 0; p < view.data.size(); ++p) view.data[p] = static_cast<float>(index * 100 + v * 10 + p);
      sample.views.push_back(std::move(view));
    }
    sample.label = static_cast<int>(index);
    return sample;
  };
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("loader clip tensor conversion u8 and normalised f32") {
    Clip clip = make_test_clip(3, 4, 5);
    Tensor raw = clip_tensor(clip, {.dtype = DType::u8});
    CHECK(raw.shape() == Shape{3, 3, 4, 5});
    CHECK(raw.dtype() == DType::u8);
    const uint8_t* u = raw.data<uint8_t>();
    int mismatches = 0;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t t = 0; t < 3; ++t)
        for (int64_t p = 0; p < 20; ++p)
          mismatches += u[(c * 3 + t) * 20 + p] != clip.frame(t)[p * 3 + c];
    CHECK(mismatches == 0);

    // f32 is exactly augment's normalize(); spot values within 1e-6 of (x/255 - mean) / std.
    Tensor normalized = clip_tensor(clip, {.mean = kImageNetMean, .std = kImageNetStd});
    CHECK(normalized.shape() == Shape{3, 3, 4, 5});
    CHECK(values<float>(normalized) == normalize(clip, kImageNetMean, kImageNetStd).data);
    float x = clip.frame(2)[7 * 3 + 1] / 255.0f;
    CHECK(normalized.data<float>()[(1 * 3 + 2) * 20 + 7] ==
          doctest::Approx((x - kImageNetMean[1]) / kImageNetStd[1]).epsilon(1e-6));
    Tensor unit = clip_tensor(clip);
    CHECK(unit.data<float>()[0] == doctest::Approx(clip.data[0] / 255.0f).epsilon(1e-6));

    // One-channel clips convert to u8.
    Clip gray(2, 3, 3, 1);
    for (size_t i = 0; i < gray.data.size(); ++i) gray.data[i] = static_cast<uint8_t>(i);
    CHECK(values<uint8_t>(clip_tensor(gray, {.dtype = DType::u8})) == gray.data);

    std::vector<Clip> clips{clip, make_test_clip(3, 4, 5, 7)};
    Tensor stack = clips_tensor(clips, {.dtype = DType::u8});
    CHECK(stack.shape() == Shape{2, 3, 3, 4, 5});
    CHECK(values<uint8_t>(stack.select(0, 1)) == values<uint8_t>(clip_tensor(clips[1], {.dtype = DType::u8})));
    Tensor stack_f = clips_tensor(clips, {.mean = kImageNetMean, .std = kImageNetStd});
    CHECK(values<float>(stack_f.select(0, 0)) == values<float>(normalized));

    FloatClip floats(2, 1, 2, 2);
    for (size_t i = 0; i < floats.data.size(); ++i) floats.data[i] = 0.5f * static_cast<float>(i);
    Tensor one = float_clip_tensor(floats);
    CHECK(one.shape() == Shape{2, 1, 2, 2});
    CHECK(values<float>(one) == floats.data);
    std::vector<FloatClip> float_stack{floats, floats};
    Tensor many = float_clips_tensor(float_stack);
    CHECK(many.shape() == Shape{2, 2, 1, 2, 2});
    CHECK(values<float>(many.select(0, 1)) == floats.data);
  }

  TEST_CASE("loader batch views images and labels as tensors") {
    Loader loader(6, numbered_sample(1), {.batch_size = 3, .workers = 2, .shuffle = false});
    auto batch = loader.next();
    REQUIRE(batch);
    CHECK(batch->data.shape() == Shape{3, 2, 1, 1, 2, 3});
    Tensor second = batch_view(*batch, 1);
    CHECK(second.shape() == Shape{3, 1, 1, 2, 3});
    CHECK(second.is_contiguous());
    std::vector<float> v = values<float>(second);
    CHECK(v[0] == 10.0f);         // sample 0, view 1, position 0
    CHECK(v[6 * 2 + 5] == 215.0f);  // sample 2, view 1, position 5
    Tensor images = batch_images(*batch, 0);
    CHECK(images.shape() == Shape{3, 1, 2, 3});
    CHECK(values<float>(images)[6 + 4] == 104.0f);
    Tensor labels = batch_labels(*batch);
    CHECK(labels.dtype() == DType::i64);
    CHECK(values<int64_t>(labels) == std::vector<int64_t>{0, 1, 2});
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("loader tensor conversion rejects bad clips dtypes and views") {
    Clip clip = make_test_clip(2, 3, 3);
    Clip gray(1, 2, 2, 1);
    CHECK(error_text([&] { clip_tensor(gray); }).find("RGB") != std::string::npos);
    CHECK(error_text([&] { clip_tensor(clip, {.dtype = DType::i64}); }).find("u8 or f32") != std::string::npos);
    CHECK(error_text([&] { clip_tensor(Clip()); }).find("positive sizes") != std::string::npos);
    Clip truncated = clip;
    truncated.data.resize(5);
    CHECK(error_text([&] { clip_tensor(truncated); }).find("holds 5 bytes") != std::string::npos);
    std::vector<Clip> mixed{clip, make_test_clip(3, 3, 3)};
    CHECK(error_text([&] { clips_tensor(mixed); }).find("clip 1 has shape [3,3,3,3]") != std::string::npos);
    CHECK(error_text([&] { clips_tensor(std::vector<Clip>{}); }).find("no clips") != std::string::npos);

    std::vector<FloatClip> floats{FloatClip(1, 1, 2, 2), FloatClip(1, 1, 2, 3)};
    CHECK(error_text([&] { float_clips_tensor(floats); }).find("float clip 1") != std::string::npos);
    CHECK(error_text([&] { float_clips_tensor(std::vector<FloatClip>{}); }).find("no float clips") !=
          std::string::npos);
    FloatClip empty;
    CHECK(error_text([&] { float_clip_tensor(empty); }).find("positive sizes") != std::string::npos);

    Loader loader(4, numbered_sample(2), {.batch_size = 2, .workers = 1});
    Batch batch = *loader.next();
    CHECK(error_text([&] { batch_view(batch, 2); }).find("has 2 view(s)") != std::string::npos);
    CHECK(error_text([&] { batch_view(batch, -1); }).find("does not exist") != std::string::npos);
    CHECK(error_text([&] { batch_images(batch, 0); }).find("one-frame views") != std::string::npos);
    CHECK(error_text([&] { batch_view(Batch{}, 0); }).find("Loader::next") != std::string::npos);
    batch.labels.pop_back();
    CHECK(error_text([&] { batch_labels(batch); }).find("1 labels") != std::string::npos);
  }
}
