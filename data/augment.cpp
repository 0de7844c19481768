// Augmentation kernels (plain C++ loops over u8 frames, ported from the Pillow, torchvision
// and scikit-image code the papers' pipelines ran, down to their rounding) and the
// configurable clip pipeline built from them. Where a result depends on few inputs it comes
// from a table filled by the ported formula (per-value enhancer maps, the HSV hue and
// saturation), and resampling runs fixed-length integer loops; all of it bit-identical to
// the direct port.
#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/error.h"

namespace fovea::data {

namespace {

constexpr const char* kOp = "augment";

// Python's round(): half to even (the default floating-point rounding mode).
int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

// Pillow's separable resampling (Resample.c) for one axis: per output index, the bilinear
// (triangle) filter's 22-bit fixed-point weights. Every output reads a window of `window`
// consecutive inputs from `first` (Pillow's taps, moved inside the input and zero-padded), so
// the loops have a fixed trip count; the sums are exact integers, so the padding and the order
// of accumulation change nothing.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

struct Taps {
  int64_t window = 0;
  std::vector<int64_t> first;
  std::vector<int32_t> weights;  // window per output
};

Taps bilinear_taps(int64_t in_size, int64_t out_size) {
  double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  double filterscale = std::max(scale, 1.0);
  double support = filterscale, ss = 1.0 / filterscale;
  Taps taps;
  taps.window = std::min(static_cast<int64_t>(std::ceil(support)) * 2 + 1, in_size);
  taps.first.resize(out_size);
  taps.weights.assign(static_cast<size_t>(out_size * taps.window), 0);
  std::vector<double> k(static_cast<size_t>(std::ceil(support)) * 2 + 1);
  for (int64_t xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale;
    auto xmin = std::max<int64_t>(0, static_cast<int>(center - support + 0.5));
    auto xmax = std::min<int64_t>(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double total = 0;
    for (int64_t x = 0; x < xmax; ++x) {
      double w = std::max(0.0, 1.0 - std::abs((x + xmin - center + 0.5) * ss));
      k[x] = w;
      total += w;
    }
    const int64_t first = std::min(xmin, in_size - taps.window);
    int32_t* weights = &taps.weights[xx * taps.window + (xmin - first)];
    for (int64_t x = 0; x < xmax; ++x) {
      double w = total != 0.0 ? k[x] / total : k[x];
      weights[x] = static_cast<int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[xx] = first;
  }
  return taps;
}

uint8_t clip8(int32_t v) { return static_cast<uint8_t>(std::clamp(v >> kPrecisionBits, 0, 255)); }

// Horizontal pass over `lines` interleaved RGB lines (strides in bytes) into lines of
// taps.first.size() pixels; Window > 0 fixes taps.window at compile time.
template <int Window>
void resample_rows(const uint8_t* in, int64_t lines, int64_t in_stride, uint8_t* out, int64_t out_stride,
                   const Taps& taps) {
  const auto out_len = static_cast<int64_t>(taps.first.size());
  const int64_t window = Window > 0 ? Window : taps.window;
  for (int64_t line = 0; line < lines; ++line) {
    const uint8_t* src = in + line * in_stride;
    uint8_t* dst = out + line * out_stride;
    const int32_t* k = taps.weights.data();
    for (int64_t xx = 0; xx < out_len; ++xx, dst += 3, k += window) {
      const uint8_t* px = src + 3 * taps.first[xx];
      int32_t r = kHalf, g = kHalf, b = kHalf;
      for (int64_t x = 0; x < window; ++x, px += 3) {
        r += px[0] * k[x];
        g += px[1] * k[x];
        b += px[2] * k[x];
      }
      dst[0] = clip8(r);
      dst[1] = clip8(g);
      dst[2] = clip8(b);
    }
  }
}

void resample_rows(const uint8_t* in, int64_t lines, int64_t in_stride, uint8_t* out, int64_t out_stride,
                   const Taps& taps) {
  switch (taps.window) {
    case 3: return resample_rows<3>(in, lines, in_stride, out, out_stride, taps);
    case 5: return resample_rows<5>(in, lines, in_stride, out, out_stride, taps);
    case 7: return resample_rows<7>(in, lines, in_stride, out, out_stride, taps);
    default: return resample_rows<0>(in, lines, in_stride, out, out_stride, taps);
  }
}

// Vertical pass: each output row (row_bytes bytes) is the weighted sum of whole input rows.
void resample_columns(const uint8_t* in, int64_t in_stride, uint8_t* out, int64_t row_bytes, const Taps& taps,
                      std::vector<int32_t>& acc) {
  acc.resize(static_cast<size_t>(row_bytes));
  int32_t* a = acc.data();
  const auto out_len = static_cast<int64_t>(taps.first.size());
  for (int64_t yy = 0; yy < out_len; ++yy, out += row_bytes) {
    std::fill_n(a, row_bytes, kHalf);
    const int32_t* k = &taps.weights[yy * taps.window];
    for (int64_t y = 0; y < taps.window; ++y) {
      if (k[y] == 0) continue;
      const uint8_t* row = in + (taps.first[yy] + y) * in_stride;
      const int32_t w = k[y];
      for (int64_t j = 0; j < row_bytes; ++j) a[j] += row[j] * w;
    }
    for (int64_t j = 0; j < row_bytes; ++j) out[j] = clip8(a[j]);
  }
}

// Pillow nearest resize (Geometry.c ImagingScaleAffine): the source position advances by
// in/out per output pixel from in/(2·out), truncated.
std::vector<int64_t> nearest_index(int64_t in_size, int64_t out_size) {
  std::vector<int64_t> index(static_cast<size_t>(out_size));
  double step = static_cast<double>(in_size) / static_cast<double>(out_size);
  double pos = step * 0.5;
  for (int64_t i = 0; i < out_size; ++i, pos += step)
    index[i] = std::min<int64_t>(static_cast<int>(pos), in_size - 1);
  return index;
}

// PIL convert("L").
uint8_t pil_luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// Pillow's ImagingBlend of a degenerate value towards the pixel: float maths, truncated to
// u8. The product is rounded to float before the sum so a fused multiply-add cannot change it.
uint8_t pil_blend(int degenerate, int pixel, float alpha) {
  auto product = static_cast<float>(static_cast<double>(alpha) * (pixel - degenerate));
  auto value = static_cast<float>(static_cast<double>(degenerate) + product);
  if (value <= 0.0f) return 0;
  if (value >= 255.0f) return 255;
  return static_cast<uint8_t>(value);
}

// ImageEnhance: Image.blend(degenerate, image, factor), a copy of the degenerate at 0.
uint8_t pil_enhance(int degenerate, int pixel, float alpha) {
  return alpha == 0.0f ? static_cast<uint8_t>(degenerate) : pil_blend(degenerate, pixel, alpha);
}

// A blend towards one value for the whole frame maps each u8 value through a 256-entry table.
void enhance_towards(uint8_t* rgb, int64_t pixels, int degenerate, double factor) {
  auto alpha = static_cast<float>(factor);
  if (alpha == 1.0f) return;
  std::array<uint8_t, 256> table;
  for (int v = 0; v < 256; ++v) table[v] = pil_enhance(degenerate, v, alpha);
  for (int64_t i = 0; i < pixels * 3; ++i) rgb[i] = table[rgb[i]];
}

uint8_t clip_u8(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// Pillow Convert.c rgb2hsv_row, with its mix of float and double maths.
void pil_rgb_to_hsv(const uint8_t* rgb, uint8_t* hsv) {
  uint8_t r = rgb[0], g = rgb[1], b = rgb[2];
  uint8_t maxc = std::max({r, g, b}), minc = std::min({r, g, b});
  hsv[2] = maxc;
  if (maxc == minc) {
    hsv[0] = hsv[1] = 0;
    return;
  }
  auto cr = static_cast<float>(maxc - minc);
  float s = cr / static_cast<float>(maxc);
  float rc = static_cast<float>(maxc - r) / cr, gc = static_cast<float>(maxc - g) / cr,
        bc = static_cast<float>(maxc - b) / cr;
  float h;
  if (r == maxc) h = bc - gc;
  else if (g == maxc) h = static_cast<float>(2.0 + rc - bc);
  else h = static_cast<float>(4.0 + gc - rc);
  h = static_cast<float>(std::fmod(h / 6.0 + 1.0, 1.0));
  hsv[0] = clip_u8(static_cast<int>(h * 255.0));
  hsv[1] = clip_u8(static_cast<int>(s * 255.0));
}

// Pillow's round() of a non-negative double (half away from zero), without a libm call.
int round_non_negative(double x) {
  auto i = static_cast<int>(x);
  return i + (x - i >= 0.5 ? 1 : 0);
}

// Tables for Pillow's u8 HSV round trip. Forward, the hue depends only on which channel is
// the maximum (r, then g, then b on ties), the range max - min and the distance n of one other
// channel from the maximum: [max channel][range][n] when the channel after the maximum's
// successor is the minimum, [max channel][n][range] otherwise (the diagonal n = range, two
// equal minima, is the same value either way); the saturation depends on (max, min). Both are
// filled from pil_rgb_to_hsv. Backward (Convert.c hsv2rgb), per u8 hue the sector i and the
// fraction f, per u8 saturation s/255, computed as Pillow does.
struct HsvTables {
  std::vector<uint8_t> hue = std::vector<uint8_t>(3 << 16), saturation = std::vector<uint8_t>(1 << 16);
  std::array<uint8_t, 256> sector{};
  std::array<float, 256> fraction{}, fs{};
};

constexpr int kNext[3] = {1, 2, 0}, kAfterNext[3] = {2, 0, 1};

const HsvTables& hsv_tables() {
  static const HsvTables tables = [] {
    HsvTables t;
    uint8_t rgb[3], hsv[3];
    for (int m = 0; m < 3; ++m)
      for (int range = 0; range < 256; ++range)
        for (int n = 0; n <= range; ++n) {
          rgb[m] = 255;
          rgb[kNext[m]] = static_cast<uint8_t>(255 - n);
          rgb[kAfterNext[m]] = static_cast<uint8_t>(255 - range);
          pil_rgb_to_hsv(rgb, hsv);
          t.hue[(m << 16) | (range << 8) | n] = hsv[0];
          rgb[kNext[m]] = static_cast<uint8_t>(255 - range);
          rgb[kAfterNext[m]] = static_cast<uint8_t>(255 - n);
          pil_rgb_to_hsv(rgb, hsv);
          t.hue[(m << 16) | (n << 8) | range] = hsv[0];
        }
    for (int maxc = 0; maxc < 256; ++maxc)
      for (int minc = 0; minc <= maxc; ++minc) {
        rgb[0] = static_cast<uint8_t>(maxc);
        rgb[1] = rgb[2] = static_cast<uint8_t>(minc);
        pil_rgb_to_hsv(rgb, hsv);
        t.saturation[(maxc << 8) | minc] = hsv[1];
      }
    for (int h = 0; h < 256; ++h) {
      auto i = static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
      t.fraction[h] = static_cast<float>(static_cast<float>(h) * 6.0 / 255.0 - static_cast<float>(i));
      t.sector[h] = static_cast<uint8_t>(i % 6);
      t.fs[h] = static_cast<float>(static_cast<float>(h) / 255.0);
    }
    return t;
  }();
  return tables;
}

// Convert.c hsv2rgb: the channels take v, p = v(1 - s) and, by sector, q = v(1 - s·f) or
// t = v(1 - s(1 - f)); p, q, t rounded. With s = 0 all three are v, Pillow's grey case.
void pil_hsv_to_rgb(const HsvTables& tables, int h, int s, int v, uint8_t* rgb) {
  // Positions of v, the sector's q or t, and p in (r, g, b).
  static constexpr uint8_t kPlace[6][3] = {{0, 1, 2}, {1, 0, 2}, {1, 2, 0}, {2, 1, 0}, {2, 0, 1}, {0, 2, 1}};
  const int sector = tables.sector[h];
  const float fs = tables.fs[s], f = tables.fraction[h];
  const auto fv = static_cast<float>(v);
  int p = round_non_negative(fv * (1.0 - fs));
  int mid = sector & 1 ? round_non_negative(fv * (1.0 - fs * f)) : round_non_negative(fv * (1.0 - fs * (1.0 - f)));
  rgb[kPlace[sector][0]] = static_cast<uint8_t>(v);
  rgb[kPlace[sector][1]] = clip_u8(mid);
  rgb[kPlace[sector][2]] = clip_u8(p);
}

// Pillow BoxBlur.c _gaussian_blur_radius: the fractional box radius whose `passes` box
// passes have variance radius² (float maths as in Pillow, products rounded explicitly).
float box_radius_for_gaussian(float radius, int passes) {
  float sigma2 = radius * radius / static_cast<float>(passes);
  auto length = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
  auto l = static_cast<float>(std::floor((length - 1.0) / 2.0));
  auto three_sigma2 = static_cast<float>(3.0 * static_cast<double>(sigma2));
  float a = (2 * l + 1) * (l * (l + 1) - three_sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

// Pillow BoxBlur.c ImagingLineBoxBlur8 on one channel of a line of n values (stride in
// bytes): a box of 2r+1 taps plus the two next taps weighted by the fractional part,
// 8.24 fixed point, edge values repeated.
void box_blur_line(uint8_t* line, int64_t n, int64_t stride, int radius, uint32_t ww, uint32_t fw,
                   std::vector<uint8_t>& out) {
  auto in = [&](int64_t i) -> uint32_t { return line[i * stride]; };
  const int64_t lastx = n - 1;
  const int64_t edge_a = std::min<int64_t>(radius + 1, n), edge_b = std::max<int64_t>(n - radius - 1, 0);
  uint32_t acc = in(0) * static_cast<uint32_t>(radius + 1);
  for (int64_t x = 0; x < edge_a - 1; ++x) acc += in(x);
  acc += in(lastx) * static_cast<uint32_t>(radius - edge_a + 1);
  auto step = [&](int64_t x, int64_t subtract, int64_t add, int64_t left, int64_t right) {
    acc += in(add) - in(subtract);
    uint32_t bulk = acc * ww + (in(left) + in(right)) * fw;
    out[x] = static_cast<uint8_t>((bulk + (1u << 23)) >> 24);
  };
  if (edge_a <= edge_b) {
    for (int64_t x = 0; x < edge_a; ++x) step(x, 0, x + radius, 0, x + radius + 1);
    for (int64_t x = edge_a; x < edge_b; ++x) step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
    for (int64_t x = edge_b; x <= lastx; ++x) step(x, x - radius - 1, lastx, x - radius - 1, lastx);
  } else {
    for (int64_t x = 0; x < edge_b; ++x) step(x, 0, x + radius, 0, x + radius + 1);
    for (int64_t x = edge_b; x < edge_a; ++x) step(x, 0, lastx, 0, lastx);
    for (int64_t x = edge_a; x <= lastx; ++x) step(x, x - radius - 1, lastx, x - radius - 1, lastx);
  }
  for (int64_t x = 0; x < n; ++x) line[x * stride] = out[x];
}

double srgb_to_linear(double c) { return c > 0.04045 ? std::pow((c + 0.055) / 1.055, 2.4) : c / 12.92; }

double lab_f(double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; }

const std::array<double, 256>& linear_table() {
  static const std::array<double, 256> table = [] {
    std::array<double, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = srgb_to_linear(i / 255.0);
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
  Clip out(clip.frames, out_height, out_width, 3);
  const int64_t row = clip.width * 3;
  if (interpolation == Interpolation::Nearest) {
    std::vector<int64_t> ys = nearest_index(box.height, out_height), xs = nearest_index(box.width, out_width);
    for (int64_t t = 0; t < clip.frames; ++t) {
      const uint8_t* src = clip.frame(t) + box.top * row + box.left * 3;
      uint8_t* dst = out.frame(t);
      for (int64_t y = 0; y < out_height; ++y)
        for (int64_t x = 0; x < out_width; ++x, dst += 3) std::copy_n(src + ys[y] * row + xs[x] * 3, 3, dst);
    }
    return out;
  }
  const bool horizontal = out_width != box.width, vertical = out_height != box.height;
  Taps xs = bilinear_taps(box.width, out_width), ys = bilinear_taps(box.height, out_height);
  const int64_t out_row = out_width * 3;
  std::vector<uint8_t> mid(static_cast<size_t>(horizontal ? box.height * out_row : 0));
  std::vector<int32_t> acc;
  for (int64_t t = 0; t < clip.frames; ++t) {
    const uint8_t* src = clip.frame(t) + box.top * row + box.left * 3;
    uint8_t* dst = out.frame(t);
    const uint8_t* rows = src;
    int64_t rows_stride = row;
    if (horizontal) {
      resample_rows(src, box.height, row, mid.data(), out_row, xs);
      rows = mid.data();
      rows_stride = out_row;
    }
    if (vertical) {
      resample_columns(rows, rows_stride, dst, out_row, ys, acc);
    } else {
      for (int64_t y = 0; y < out_height; ++y) std::copy_n(rows + y * rows_stride, out_row, dst + y * out_row);
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
  return {round_half_even((height - crop_height) / 2.0), round_half_even((width - crop_width) / 2.0),
          crop_height, crop_width};
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
  FOVEA_CHECK(height > 0 && width > 0, kOp, "random resized crop needs a non-empty frame, got ",
              height, "x", width);
  double area = static_cast<double>(height * width);
  for (int attempt = 0; attempt < 10; ++attempt) {
    double target = area * rng.uniform(scale_min, scale_max);
    double ratio = std::exp(rng.uniform(std::log(ratio_min), std::log(ratio_max)));
    int64_t w = round_half_even(std::sqrt(target * ratio));
    int64_t h = round_half_even(std::sqrt(target / ratio));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      int64_t top = rng.below(height - h + 1);
      int64_t left = rng.below(width - w + 1);
      return {top, left, h, w};
    }
  }
  double ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (ratio < ratio_min) h = round_half_even(static_cast<double>(w) / ratio_min);
  else if (ratio > ratio_max) w = round_half_even(static_cast<double>(h) * ratio_max);
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

ColorJitterParams sample_color_jitter(const ColorJitter& jitter, CounterRng& rng) {
  FOVEA_CHECK(jitter.brightness >= 0 && jitter.contrast >= 0 && jitter.saturation >= 0 && jitter.hue >= 0 &&
                  jitter.hue <= 0.5,
              kOp, "colour jitter amounts must be non-negative and hue at most 0.5 (torchvision), got brightness ",
              jitter.brightness, ", contrast ", jitter.contrast, ", saturation ", jitter.saturation, ", hue ",
              jitter.hue);
  ColorJitterParams params;
  auto factor = [&](double amount) -> std::optional<double> {
    double value = rng.uniform(std::max(0.0, 1.0 - amount), 1.0 + amount);
    return amount > 0 ? std::optional<double>(value) : std::nullopt;
  };
  params.brightness = factor(jitter.brightness);
  params.contrast = factor(jitter.contrast);
  params.saturation = factor(jitter.saturation);
  double hue = rng.uniform(-jitter.hue, jitter.hue);
  if (jitter.hue > 0) params.hue = hue;
  for (int i = 3; i > 0; --i) std::swap(params.order[i], params.order[rng.below(i + 1)]);
  return params;
}

void adjust_brightness_frame(uint8_t* rgb, int64_t pixels, double factor) {
  FOVEA_CHECK(factor >= 0, kOp, "brightness factor must be non-negative, got ", factor);
  enhance_towards(rgb, pixels, 0, factor);
}

void adjust_contrast_frame(uint8_t* rgb, int64_t pixels, double factor) {
  FOVEA_CHECK(factor >= 0, kOp, "contrast factor must be non-negative, got ", factor);
  if (pixels <= 0) return;
  int64_t sum = 0;
  for (int64_t p = 0; p < pixels; ++p) sum += pil_luma(rgb + 3 * p);
  auto mean = static_cast<int>(static_cast<double>(sum) / static_cast<double>(pixels) + 0.5);
  enhance_towards(rgb, pixels, mean, factor);
}

void adjust_saturation_frame(uint8_t* rgb, int64_t pixels, double factor) {
  FOVEA_CHECK(factor >= 0, kOp, "saturation factor must be non-negative, got ", factor);
  auto alpha = static_cast<float>(factor);
  if (alpha == 1.0f) return;
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) {
    int luma = pil_luma(rgb);
    for (int c = 0; c < 3; ++c) rgb[c] = pil_enhance(luma, rgb[c], alpha);
  }
}

void adjust_hue_frame(uint8_t* rgb, int64_t pixels, double factor) {
  FOVEA_CHECK(factor >= -0.5 && factor <= 0.5, kOp, "hue factor must be in [-0.5, 0.5], got ", factor);
  auto shift = static_cast<uint8_t>(static_cast<int32_t>(factor * 255));
  const HsvTables& tables = hsv_tables();
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) {
    const int maxc = std::max({rgb[0], rgb[1], rgb[2]}), minc = std::min({rgb[0], rgb[1], rgb[2]});
    if (maxc == minc) continue;  // grey: h = s = 0 and back to the same grey
    const int m = rgb[0] == maxc ? 0 : rgb[1] == maxc ? 1 : 2, range = maxc - minc;
    const int index = rgb[kAfterNext[m]] == minc ? (range << 8) | (maxc - rgb[kNext[m]])
                                                  : ((maxc - rgb[kAfterNext[m]]) << 8) | range;
    const auto h = static_cast<uint8_t>(tables.hue[(m << 16) | index] + shift);
    pil_hsv_to_rgb(tables, h, tables.saturation[(maxc << 8) | minc], maxc, rgb);
  }
}

void apply_color_jitter_frame(uint8_t* rgb, int64_t pixels, const ColorJitterParams& params) {
  for (int op : params.order) {
    if (op == 0 && params.brightness) adjust_brightness_frame(rgb, pixels, *params.brightness);
    else if (op == 1 && params.contrast) adjust_contrast_frame(rgb, pixels, *params.contrast);
    else if (op == 2 && params.saturation) adjust_saturation_frame(rgb, pixels, *params.saturation);
    else if (op == 3 && params.hue) adjust_hue_frame(rgb, pixels, *params.hue);
  }
}

void color_jitter_frame(uint8_t* rgb, int64_t pixels, const ColorJitter& jitter, CounterRng& rng) {
  apply_color_jitter_frame(rgb, pixels, sample_color_jitter(jitter, rng));
}

void grayscale_frame(uint8_t* rgb, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) rgb[0] = rgb[1] = rgb[2] = pil_luma(rgb);
}

void channel_copy_frame(uint8_t* rgb, int64_t pixels, int channel) {
  FOVEA_CHECK(channel >= 0 && channel < 3, kOp, "channel must be 0, 1 or 2, got ", channel);
  for (int64_t p = 0; p < pixels; ++p, rgb += 3) rgb[0] = rgb[1] = rgb[2] = rgb[channel];
}

void gaussian_blur_frame(uint8_t* rgb, int64_t height, int64_t width, double sigma) {
  FOVEA_CHECK(sigma > 0, kOp, "blur sigma must be positive, got ", sigma);
  FOVEA_CHECK(height > 0 && width > 0, kOp, "blur needs a non-empty frame, got ", height, "x", width);
  constexpr int kPasses = 3;
  float box_radius = box_radius_for_gaussian(static_cast<float>(sigma), kPasses);
  auto radius = static_cast<int>(box_radius);
  auto ww = static_cast<uint32_t>(16777216.0f / (box_radius * 2 + 1));
  uint32_t fw = ((1u << 24) - static_cast<uint32_t>(radius * 2 + 1) * ww) / 2;
  std::vector<uint8_t> line(static_cast<size_t>(std::max(height, width)));
  for (int64_t y = 0; y < height; ++y)
    for (int c = 0; c < 3; ++c)
      for (int pass = 0; pass < kPasses; ++pass)
        box_blur_line(rgb + y * width * 3 + c, width, 3, radius, ww, fw, line);
  for (int64_t x = 0; x < width; ++x)
    for (int c = 0; c < 3; ++c)
      for (int pass = 0; pass < kPasses; ++pass)
        box_blur_line(rgb + x * 3 + c, height, width * 3, radius, ww, fw, line);
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
  double lr = lin[r], lg = lin[g], lb = lin[b];
  double x = (0.412453 * lr + 0.357580 * lg + 0.180423 * lb) / 0.95047;
  double y = 0.212671 * lr + 0.715160 * lg + 0.072169 * lb;
  double z = (0.019334 * lr + 0.119193 * lg + 0.950227 * lb) / 1.08883;
  double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
  return {static_cast<float>(116.0 * fy - 16.0), static_cast<float>(500.0 * (fx - fy)),
          static_cast<float>(200.0 * (fy - fz))};
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
  config.gray_before_jitter = true;
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
    auto jitter = [&] {
      if (config.jitter_p <= 0) return;
      bool per_frame = config.jitter_consistency == Consistency::PerFrame;
      CounterRng frame_rng = per_frame ? jitter_rng.fork(100 + t) : jitter_rng.fork(99);
      if (per_frame ? frame_rng.bernoulli(config.jitter_p) : jitter_clip)
        color_jitter_frame(frame, pixels, config.jitter, frame_rng);
    };
    auto gray = [&] {
      if (config.gray_p <= 0) return;
      bool per_frame = config.gray_consistency == Consistency::PerFrame;
      CounterRng frame_rng = gray_rng.fork(100 + t);
      bool apply = per_frame ? frame_rng.bernoulli(config.gray_p) : gray_clip;
      int channel = per_frame ? static_cast<int>(frame_rng.below(3)) : gray_channel;
      if (!apply) return;
      if (config.gray_mode == GrayMode::Luma) grayscale_frame(frame, pixels);
      else channel_copy_frame(frame, pixels, channel);
    };
    if (config.gray_before_jitter) {
      gray();
      jitter();
    } else {
      jitter();
      gray();
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
