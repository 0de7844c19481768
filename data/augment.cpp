// Augmentation kernels (plain C++ loops over u8 frames, float maths per pixel) and the
// configurable clip pipeline built from them.
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/error.h"

namespace fovea::data {

namespace {

constexpr const char* kOp = "augment";

uint8_t to_u8(float v) { return static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f) + 0.5f); }

struct Taps {
  std::vector<int64_t> lo, hi;
  std::vector<float> w;  // weight of hi
};

// Source sample positions for `out` outputs over [start, start + length).
Taps make_taps(int64_t start, int64_t length, int64_t out, Interpolation interpolation) {
  Taps taps{std::vector<int64_t>(out), std::vector<int64_t>(out), std::vector<float>(out)};
  double scale = static_cast<double>(length) / static_cast<double>(out);
  for (int64_t i = 0; i < out; ++i) {
    if (interpolation == Interpolation::Nearest) {
      int64_t s = std::min<int64_t>(static_cast<int64_t>(std::floor((i + 0.5) * scale)), length - 1);
      taps.lo[i] = taps.hi[i] = start + s;
      taps.w[i] = 0;
      continue;
    }
    double s = std::clamp((i + 0.5) * scale - 0.5, 0.0, static_cast<double>(length - 1));
    int64_t lo = static_cast<int64_t>(std::floor(s));
    int64_t hi = std::min(lo + 1, length - 1);
    taps.lo[i] = start + lo;
    taps.hi[i] = start + hi;
    taps.w[i] = static_cast<float>(s - lo);
  }
  return taps;
}

float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

void rgb_to_hsv(float r, float g, float b, float& h, float& s, float& v) {
  float max = std::max({r, g, b}), min = std::min({r, g, b}), delta = max - min;
  v = max;
  s = max > 0 ? delta / max : 0;
  if (delta <= 0) {
    h = 0;
    return;
  }
  if (max == r) h = (g - b) / delta;
  else if (max == g) h = 2.0f + (b - r) / delta;
  else h = 4.0f + (r - g) / delta;
  h /= 6.0f;
  if (h < 0) h += 1.0f;
}

void hsv_to_rgb(float h, float s, float v, float& r, float& g, float& b) {
  float scaled = h * 6.0f;
  int sector = static_cast<int>(std::floor(scaled)) % 6;
  float f = scaled - std::floor(scaled);
  float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (sector) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
}

float srgb_to_linear(float c) {
  return c > 0.04045f ? std::pow((c + 0.055f) / 1.055f, 2.4f) : c / 12.92f;
}

float lab_f(float t) { return t > 0.008856f ? std::cbrt(t) : 7.787f * t + 16.0f / 116.0f; }

const std::array<float, 256>& linear_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = srgb_to_linear(i / 255.0f);
    return t;
  }();
  return table;
}

}  // namespace

Clip crop_resize(const Clip& clip, const CropBox& box, int64_t out_height, int64_t out_width,
                 Interpolation interpolation) {
  FOVEA_CHECK(clip.channels == 3, kOp, "crop_resize needs RGB clips, got ", clip.channels, " channels");
  FOVEA_CHECK(box.height > 0 && box.width > 0 && box.top >= 0 && box.left >= 0 &&
                  box.top + box.height <= clip.height && box.left + box.width <= clip.width,
              kOp, "crop box (top ", box.top, ", left ", box.left, ", ", box.height, "x", box.width,
              ") is outside the ", clip.height, "x", clip.width, " frame");
  FOVEA_CHECK(out_height > 0 && out_width > 0, kOp, "output size must be positive, got ",
              out_height, "x", out_width);
  Taps ys = make_taps(box.top, box.height, out_height, interpolation);
  Taps xs = make_taps(box.left, box.width, out_width, interpolation);
  Clip out(clip.frames, out_height, out_width, 3);
  for (int64_t t = 0; t < clip.frames; ++t) {
    const uint8_t* src = clip.frame(t);
    uint8_t* dst = out.frame(t);
    for (int64_t y = 0; y < out_height; ++y) {
      const uint8_t* row0 = src + ys.lo[y] * clip.width * 3;
      const uint8_t* row1 = src + ys.hi[y] * clip.width * 3;
      float wy = ys.w[y];
      for (int64_t x = 0; x < out_width; ++x) {
        const int64_t x0 = xs.lo[x] * 3, x1 = xs.hi[x] * 3;
        float wx = xs.w[x];
        for (int c = 0; c < 3; ++c) {
          float top = row0[x0 + c] + (row0[x1 + c] - row0[x0 + c]) * wx;
          float bottom = row1[x0 + c] + (row1[x1 + c] - row1[x0 + c]) * wx;
          *dst++ = to_u8(top + (bottom - top) * wy);
        }
      }
    }
  }
  return out;
}

Clip resize(const Clip& clip, int64_t out_height, int64_t out_width, Interpolation interpolation) {
  return crop_resize(clip, {0, 0, clip.height, clip.width}, out_height, out_width, interpolation);
}

CropBox center_crop_box(int64_t height, int64_t width, int64_t crop_height, int64_t crop_width) {
  FOVEA_CHECK(crop_height > 0 && crop_width > 0 && crop_height <= height && crop_width <= width,
              kOp, "centre crop ", crop_height, "x", crop_width, " does not fit a ", height, "x",
              width, " frame; resize first");
  return {(height - crop_height) / 2, (width - crop_width) / 2, crop_height, crop_width};
}

Clip center_crop(const Clip& clip, int64_t crop_height, int64_t crop_width) {
  CropBox box = center_crop_box(clip.height, clip.width, crop_height, crop_width);
  return crop_resize(clip, box, crop_height, crop_width, Interpolation::Nearest);
}

CropBox random_resized_crop_box(int64_t height, int64_t width, CounterRng& rng, double scale_min,
                                double scale_max, double ratio_min, double ratio_max) {
  FOVEA_CHECK(0 < scale_min && scale_min <= scale_max && 0 < ratio_min && ratio_min <= ratio_max,
              kOp, "bad random resized crop ranges: scale [", scale_min, ", ", scale_max,
              "], ratio [", ratio_min, ", ", ratio_max, "]");
  double area = static_cast<double>(height * width);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * rng.uniform(scale_min, scale_max);
    double ratio = std::exp(rng.uniform(std::log(ratio_min), std::log(ratio_max)));
    auto w = static_cast<int64_t>(std::lround(std::sqrt(target * ratio)));
    auto h = static_cast<int64_t>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      int64_t top = rng.below(height - h + 1);
      int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  double ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (ratio < ratio_min) h = std::lround(w / ratio_min);
  else if (ratio > ratio_max) w = std::lround(h * ratio_max);
  return {(height - h) / 2, (width - w) / 2, h, w};
}

void horizontal_flip(Clip& clip) {
  for (int64_t t = 0; t < clip.frames; ++t)
    for (int64_t y = 0; y < clip.height; ++y) {
      uint8_t* row = clip.frame(t) + y * clip.width * clip.channels;
      for (int64_t l = 0, r = clip.width - 1; l < r; ++l, --r)
        std::swap_ranges(row + l * clip.channels, row + (l + 1) * clip.channels, row + r * clip.channels);
    }
}

void color_jitter_frame(uint8_t* rgb, int64_t pixels, const ColorJitter& jitter, CounterRng& rng) {
  auto factor = [&](double amount) { return rng.uniform(std::max(0.0, 1.0 - amount), 1.0 + amount); };
  float brightness = static_cast<float>(factor(jitter.brightness));
  float contrast = static_cast<float>(factor(jitter.contrast));
  float saturation = static_cast<float>(factor(jitter.saturation));
  float hue = static_cast<float>(rng.uniform(-jitter.hue, jitter.hue));
  std::array<int, 4> order = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);

  std::vector<float> px(static_cast<size_t>(pixels * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = rgb[i] / 255.0f;
  auto clamp01 = [](float v) { return std::clamp(v, 0.0f, 1.0f); };
  for (int op : order) {
    if (op == 0 && jitter.brightness > 0) {
      for (float& v : px) v = clamp01(v * brightness);
    } else if (op == 1 && jitter.contrast > 0) {
      double sum = 0;
      for (int64_t p = 0; p < pixels; ++p) sum += luma(px[3 * p], px[3 * p + 1], px[3 * p + 2]);
      float mean = static_cast<float>(sum / static_cast<double>(pixels));
      for (float& v : px) v = clamp01(contrast * v + (1 - contrast) * mean);
    } else if (op == 2 && jitter.saturation > 0) {
      for (int64_t p = 0; p < pixels; ++p) {
        float* c = &px[3 * p];
        float gray = luma(c[0], c[1], c[2]);
        for (int k = 0; k < 3; ++k) c[k] = clamp01(saturation * c[k] + (1 - saturation) * gray);
      }
    } else if (op == 3 && jitter.hue > 0) {
      for (int64_t p = 0; p < pixels; ++p) {
        float* c = &px[3 * p];
        float h, s, v;
        rgb_to_hsv(c[0], c[1], c[2], h, s, v);
        h += hue;
        h -= std::floor(h);
        hsv_to_rgb(h, s, v, c[0], c[1], c[2]);
      }
    }
  }
  for (size_t i = 0; i < px.size(); ++i) rgb[i] = to_u8(px[i] * 255.0f);
}

void grayscale_frame(uint8_t* rgb, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) {
    uint8_t gray = to_u8(luma(rgb[0], rgb[1], rgb[2]));
    rgb[0] = rgb[1] = rgb[2] = gray;
  }
}

void channel_copy_frame(uint8_t* rgb, int64_t pixels, int channel) {
  FOVEA_CHECK(channel >= 0 && channel < 3, kOp, "channel must be 0, 1 or 2, got ", channel);
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) rgb[0] = rgb[1] = rgb[2] = rgb[channel];
}

void gaussian_blur_frame(uint8_t* rgb, int64_t height, int64_t width, double sigma) {
  FOVEA_CHECK(sigma > 0, kOp, "blur sigma must be positive, got ", sigma);
  int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  std::vector<float> kernel(static_cast<size_t>(2 * radius + 1));
  for (int64_t i = -radius; i <= radius; ++i) kernel[i + radius] = static_cast<float>(std::exp(-0.5 * i * i / (sigma * sigma)));
  float total = std::accumulate(kernel.begin(), kernel.end(), 0.0f);
  for (float& k : kernel) k /= total;
  auto reflect = [](int64_t i, int64_t n) {
    if (n == 1) return int64_t{0};
    int64_t period = 2 * (n - 1);
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
  };
  std::vector<float> rows(static_cast<size_t>(height * width * 3));
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float acc = 0;
        for (int64_t k = -radius; k <= radius; ++k)
          acc += kernel[k + radius] * rgb[(y * width + reflect(x + k, width)) * 3 + c];
        rows[(y * width + x) * 3 + c] = acc;
      }
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        float acc = 0;
        for (int64_t k = -radius; k <= radius; ++k)
          acc += kernel[k + radius] * rows[(reflect(y + k, height) * width + x) * 3 + c];
        rgb[(y * width + x) * 3 + c] = to_u8(acc);
      }
}

FloatClip normalize(const Clip& clip, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  FOVEA_CHECK(clip.channels == 3, kOp, "normalize needs RGB clips, got ", clip.channels, " channels");
  FloatClip out(3, clip.frames, clip.height, clip.width);
  int64_t pixels = clip.height * clip.width;
  for (int c = 0; c < 3; ++c) {
    float scale = 1.0f / (255.0f * std[c]), shift = -mean[c] / std[c];
    for (int64_t t = 0; t < clip.frames; ++t) {
      const uint8_t* src = clip.frame(t) + c;
      float* dst = out.plane(c, t);
      for (int64_t p = 0; p < pixels; ++p) dst[p] = src[3 * p] * scale + shift;
    }
  }
  return out;
}

std::array<float, 3> rgb_to_lab(uint8_t r, uint8_t g, uint8_t b) {
  const auto& lin = linear_table();
  float lr = lin[r], lg = lin[g], lb = lin[b];
  float x = (0.412453f * lr + 0.357580f * lg + 0.180423f * lb) / 0.95047f;
  float y = 0.212671f * lr + 0.715160f * lg + 0.072169f * lb;
  float z = (0.019334f * lr + 0.119193f * lg + 0.950227f * lb) / 1.08883f;
  float fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
  return {116.0f * fy - 16.0f, 500.0f * (fx - fy), 200.0f * (fy - fz)};
}

FloatClip to_lab_normalized(const Clip& clip) {
  FOVEA_CHECK(clip.channels == 3, kOp, "Lab conversion needs RGB clips, got ", clip.channels, " channels");
  FloatClip out(3, clip.frames, clip.height, clip.width);
  int64_t pixels = clip.height * clip.width;
  for (int64_t t = 0; t < clip.frames; ++t) {
    const uint8_t* src = clip.frame(t);
    float* planes[3] = {out.plane(0, t), out.plane(1, t), out.plane(2, t)};
    for (int64_t p = 0; p < pixels; ++p) {
      auto lab = rgb_to_lab(src[3 * p], src[3 * p + 1], src[3 * p + 2]);
      for (int c = 0; c < 3; ++c) planes[c][p] = (lab[c] - kCmcLabMean[c]) / kCmcLabStd[c];
    }
  }
  return out;
}

AugmentConfig video_contrastive_augment(int64_t size) {
  AugmentConfig config;
  config.out_height = config.out_width = size;
  config.jitter = {0.4, 0.4, 0.4, 0.1};
  config.jitter_p = 0.8;
  config.gray_p = 0.2;
  return config;
}

AugmentConfig dpc_augment(int64_t size) {
  AugmentConfig config;
  config.out_height = config.out_width = size;
  config.scale_min = 0.2;
  config.jitter = {0.5, 0.5, 0.5, 0.25};
  config.jitter_p = 1.0;
  config.jitter_consistency = Consistency::PerFrame;
  config.gray_p = 0.5;
  config.gray_mode = GrayMode::ChannelCopy;
  config.gray_consistency = Consistency::PerFrame;
  return config;
}

AugmentConfig cmc_lab_augment(int64_t size) {
  AugmentConfig config;
  config.out_height = config.out_width = size;
  config.scale_min = 0.08;
  config.output = OutputMode::Lab;
  return config;
}

AugmentConfig eval_augment(int64_t size) {
  AugmentConfig config;
  config.out_height = config.out_width = size;
  config.crop = CropMode::Center;
  config.flip_p = 0;
  return config;
}

Clip augment_clip_u8(const Clip& clip, const AugmentConfig& config, CounterRng& rng) {
  FOVEA_CHECK(clip.frames > 0 && clip.channels == 3, kOp, "augment needs a non-empty RGB clip, got ",
              clip.frames, " frames of ", clip.channels, " channels");
  CropBox box{0, 0, clip.height, clip.width};
  if (config.crop == CropMode::RandomResized)
    box = random_resized_crop_box(clip.height, clip.width, rng, config.scale_min, config.scale_max,
                                  config.ratio_min, config.ratio_max);
  else if (config.crop == CropMode::Center) {
    // Largest centred square-ish box with the output's aspect ratio.
    double aspect = static_cast<double>(config.out_width) / static_cast<double>(config.out_height);
    int64_t h = std::min<int64_t>(clip.height, std::lround(clip.width / aspect));
    int64_t w = std::min<int64_t>(clip.width, std::lround(h * aspect));
    box = center_crop_box(clip.height, clip.width, h, w);
  }
  Clip out = crop_resize(clip, box, config.out_height, config.out_width, config.interpolation);
  if (rng.bernoulli(config.flip_p)) horizontal_flip(out);

  int64_t pixels = out.height * out.width;
  // One stream per op; per-frame ops fork it by frame index so frames are independent.
  CounterRng jitter_rng = rng.fork(1), gray_rng = rng.fork(2), blur_rng = rng.fork(3);
  bool jitter_clip = jitter_rng.bernoulli(config.jitter_p);
  bool gray_clip = gray_rng.bernoulli(config.gray_p);
  int gray_channel = static_cast<int>(gray_rng.below(3));
  bool blur_clip = blur_rng.bernoulli(config.blur_p);
  double sigma_clip = blur_rng.uniform(config.blur_sigma_min, config.blur_sigma_max);
  for (int64_t t = 0; t < out.frames; ++t) {
    uint8_t* frame = out.frame(t);
    if (config.jitter_p > 0) {
      bool per_frame = config.jitter_consistency == Consistency::PerFrame;
      CounterRng frame_rng = per_frame ? jitter_rng.fork(100 + t) : jitter_rng.fork(99);
      if (per_frame ? frame_rng.bernoulli(config.jitter_p) : jitter_clip)
        color_jitter_frame(frame, pixels, config.jitter, frame_rng);
    }
    if (config.gray_p > 0) {
      bool per_frame = config.gray_consistency == Consistency::PerFrame;
      CounterRng frame_rng = gray_rng.fork(100 + t);
      bool apply = per_frame ? frame_rng.bernoulli(config.gray_p) : gray_clip;
      int channel = per_frame ? static_cast<int>(frame_rng.below(3)) : gray_channel;
      if (apply) {
        if (config.gray_mode == GrayMode::Luma) grayscale_frame(frame, pixels);
        else channel_copy_frame(frame, pixels, channel);
      }
    }
    if (config.blur_p > 0) {
      bool per_frame = config.blur_consistency == Consistency::PerFrame;
      CounterRng frame_rng = blur_rng.fork(100 + t);
      bool apply = per_frame ? frame_rng.bernoulli(config.blur_p) : blur_clip;
      double sigma = per_frame ? frame_rng.uniform(config.blur_sigma_min, config.blur_sigma_max) : sigma_clip;
      if (apply) gaussian_blur_frame(frame, out.height, out.width, sigma);
    }
  }
  return out;
}

FloatClip augment_clip(const Clip& clip, const AugmentConfig& config, CounterRng rng) {
  Clip out = augment_clip_u8(clip, config, rng);
  switch (config.output) {
    case OutputMode::Lab: return to_lab_normalized(out);
    case OutputMode::Unit: return normalize(out, {0, 0, 0}, {1, 1, 1});
    default: return normalize(out, config.mean, config.std);
  }
}

}  // namespace fovea::data
