// Clip augmentations on u8 RGB clips (T×H×W×3) and the final conversion to normalised float
// [C,T,H,W]. Geometric ops (crops, resize, flip) apply one box to every frame; colour ops
// (jitter, grayscale, blur) run per frame with parameters drawn either once per clip or per
// frame (Consistency), as each method needs (see MODELS.md, "Data protocols"). All
// randomness comes from a CounterRng, so results depend only on its key, never on threads.
// Each op reproduces the reference the papers' PyTorch pipelines used on PIL images
// (torchvision's functional ops, Pillow's resampling and enhancers, MoCo-v2's blur, CMC's
// Lab): tests/data/test_augment_golden.cpp compares them with tools/make_augment_goldens.py.
#pragma once
#include <array>
#include <cstdint>
#include <optional>

#include "data/clip.h"
#include "data/random.h"

namespace fovea::data {

enum class Interpolation { Bilinear, Nearest };
enum class Consistency { PerClip, PerFrame };

struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// torchvision resized_crop on PIL images: crop `box`, then Pillow's resize. Bilinear is
// Pillow's separable triangle filter, widened by the scale when shrinking (antialiased,
// unlike torch's tensor interpolate), in 22-bit fixed point, horizontal pass first with u8
// rounding between passes (Pillow ≤ 12; 13 may run the vertical pass first); an axis whose
// size is unchanged is copied. Nearest takes source index floor((i + 0.5)·in/out) (Pillow's
// scale-affine path).
Clip crop_resize(const Clip& clip, const CropBox& box, int64_t out_height, int64_t out_width,
                 Interpolation interpolation = Interpolation::Bilinear);
Clip resize(const Clip& clip, int64_t out_height, int64_t out_width,
            Interpolation interpolation = Interpolation::Bilinear);
// torchvision center_crop: margins round((H - h) / 2) with Python's half-to-even rounding.
CropBox center_crop_box(int64_t height, int64_t width, int64_t crop_height, int64_t crop_width);
Clip center_crop(const Clip& clip, int64_t crop_height, int64_t crop_width);
// torchvision RandomResizedCrop.get_params: 10 tries of area scale × log-uniform aspect
// (sides rounded half to even, kept if they fit), then a centre crop clamped to the ratio
// range. The draws come from rng, so the boxes follow torchvision's distribution, not its
// exact sequence.
CropBox random_resized_crop_box(int64_t height, int64_t width, CounterRng& rng,
                                double scale_min = 0.08, double scale_max = 1.0,
                                double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
void horizontal_flip(Clip& clip);

struct ColorJitter {
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;  // torchvision meanings
};
// One draw of torchvision ColorJitter.get_params: factors uniform in [max(0, 1 - a), 1 + a]
// (hue in [-a, a]); an amount of 0 leaves that adjustment unset (skipped), and `order` is a
// uniform permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue.
struct ColorJitterParams {
  std::optional<double> brightness, contrast, saturation, hue;
  std::array<int, 4> order = {0, 1, 2, 3};
};
ColorJitterParams sample_color_jitter(const ColorJitter& jitter, CounterRng& rng);
// The set adjustments in params.order, each rounding to u8 like the PIL ops it reproduces.
void apply_color_jitter_frame(uint8_t* rgb, int64_t pixels, const ColorJitterParams& params);
// sample_color_jitter then apply_color_jitter_frame.
void color_jitter_frame(uint8_t* rgb, int64_t pixels, const ColorJitter& jitter, CounterRng& rng);
// torchvision adjust_* on PIL images. Brightness, contrast and saturation are Pillow's
// ImageEnhance blends (float maths, truncated to u8) towards black, the rounded mean luma and
// each pixel's luma; hue shifts Pillow's u8 HSV hue by int(factor·255) mod 256, factor in
// [-0.5, 0.5].
void adjust_brightness_frame(uint8_t* rgb, int64_t pixels, double factor);
void adjust_contrast_frame(uint8_t* rgb, int64_t pixels, double factor);
void adjust_saturation_frame(uint8_t* rgb, int64_t pixels, double factor);
void adjust_hue_frame(uint8_t* rgb, int64_t pixels, double factor);
// ITU-R 601 luma copied to the three channels: PIL convert("L"), (19595 R + 38470 G + 7471 B
// + 2^15) >> 16, as torchvision rgb_to_grayscale(num_output_channels=3) on PIL images.
void grayscale_frame(uint8_t* rgb, int64_t pixels);
// DPC's "grayscale": one of the three channels copied to all three.
void channel_copy_frame(uint8_t* rgb, int64_t pixels, int channel);
// MoCo-v2's blur, PIL ImageFilter.GaussianBlur(radius=sigma): three passes per axis of
// Pillow's extended box blur (fractional radius matching the variance), edges clamped.
void gaussian_blur_frame(uint8_t* rgb, int64_t height, int64_t width, double sigma);

// x/255 then (x - mean)/std per channel, into [C,T,H,W] (ToTensor then Normalize).
FloatClip normalize(const Clip& clip, const std::array<float, 3>& mean, const std::array<float, 3>& std);
// sRGB (D65) to CIE Lab like skimage.color.rgb2lab (computed in double), then CMC's
// normalisation (x - mean) / std with kCmcLabMean / kCmcLabStd.
FloatClip to_lab_normalized(const Clip& clip);
std::array<float, 3> rgb_to_lab(uint8_t r, uint8_t g, uint8_t b);

inline constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};
inline constexpr std::array<float, 3> kCmcLabMean = {50.0f, 6.025f, -6.6895f};
inline constexpr std::array<float, 3> kCmcLabStd = {50.0f, 92.208f, 101.1675f};

enum class GrayMode { Luma, ChannelCopy };
enum class CropMode { None, Center, RandomResized };
enum class OutputMode { MeanStd, Lab, Unit };  // Unit: x/255 only

struct AugmentConfig {
  int64_t out_height = 112, out_width = 112;
  CropMode crop = CropMode::RandomResized;
  double scale_min = 0.2, scale_max = 1.0, ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  Interpolation interpolation = Interpolation::Bilinear;
  double flip_p = 0.5;  // always per clip
  ColorJitter jitter;
  double jitter_p = 0.0;
  Consistency jitter_consistency = Consistency::PerClip;
  double gray_p = 0.0;
  GrayMode gray_mode = GrayMode::Luma;
  Consistency gray_consistency = Consistency::PerClip;
  bool gray_before_jitter = false;  // DPC: RandomGray, then ColorJitter; MoCo: the reverse
  double blur_p = 0.0, blur_sigma_min = 0.1, blur_sigma_max = 2.0;
  Consistency blur_consistency = Consistency::PerClip;
  OutputMode output = OutputMode::MeanStd;
  std::array<float, 3> mean = kImageNetMean, std = kImageNetStd;
};

// Saccade / MoCo-style video clips: crop (0.2-1) and flip per clip, jitter 0.8 and gray 0.2.
AugmentConfig video_contrastive_augment(int64_t size = 112);
// DPC: crop and flip per clip, then channel-copy gray and jitter per frame, 128×128 output.
AugmentConfig dpc_augment(int64_t size = 128);
// CMC: crop (0.08-1), flip, Lab output.
AugmentConfig cmc_lab_augment(int64_t size = 224);
// Evaluation: centre crop, no randomness.
AugmentConfig eval_augment(int64_t size = 112);

// Runs the configured pipeline; rng is the sample's stream (e.g. keyed by seed, epoch,
// sample index, view).
FloatClip augment_clip(const Clip& clip, const AugmentConfig& config, CounterRng rng);
// The u8 part of the pipeline (everything except the final float conversion).
Clip augment_clip_u8(const Clip& clip, const AugmentConfig& config, CounterRng& rng);

}  // namespace fovea::data
