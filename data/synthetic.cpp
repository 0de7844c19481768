// Synthetic motion-class videos: per-video random appearance, class-specific motion,
// rendered with anti-aliased shapes on a toroidal frame and encoded with VideoWriter.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/random.h"
#include "data/video_writer.h"
#include "engine/error.h"

namespace fovea::data {

namespace {

constexpr const char* kOp = "synthetic";
constexpr double kTwoPi = 6.283185307179586;

enum class Motion { Left, Right, Up, Down, RotateCw, RotateCcw, ZoomPulse, Oscillate };

struct Rgb {
  double r, g, b;
};

Rgb random_colour(CounterRng& rng) { return {rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)}; }

Rgb mix(const Rgb& a, const Rgb& b, double w) {
  return {a.r + (b.r - a.r) * w, a.g + (b.g - a.g) * w, a.b + (b.b - a.b) * w};
}

// Everything about one video that is not its motion class.
struct Appearance {
  Rgb background_a, background_b, object_a, object_b;
  double gradient_angle;
  double wave_freq[3], wave_angle[3], wave_phase[3], wave_amp;
  int shape;             // 0 disk, 1 square, 2 ellipse
  double radius;         // pixels
  double aspect;         // ellipse axis ratio
  double stripe_period;  // pixels
  double stripe_angle;
  double start_x, start_y;
  double speed;       // pixels per frame (translation) or radians per frame (rotation)
  double period;      // frames (zoom pulse, oscillation)
  double phase;
  double amplitude;   // pixels (oscillation)
};

Appearance draw_appearance(CounterRng& rng, double height, double width) {
  Appearance a;
  double size = std::min(height, width);
  a.background_a = random_colour(rng);
  a.background_b = random_colour(rng);
  a.object_a = random_colour(rng);
  a.object_b = random_colour(rng);
  a.gradient_angle = rng.uniform(0, kTwoPi);
  for (int i = 0; i < 3; ++i) {
    a.wave_freq[i] = rng.uniform(1.0, 4.0) / size;
    a.wave_angle[i] = rng.uniform(0, kTwoPi);
    a.wave_phase[i] = rng.uniform(0, kTwoPi);
  }
  a.wave_amp = rng.uniform(5, 30);
  a.shape = static_cast<int>(rng.below(3));
  a.radius = rng.uniform(0.12, 0.2) * size;
  a.aspect = rng.uniform(0.55, 0.8);
  a.stripe_period = rng.uniform(0.06, 0.14) * size;
  a.stripe_angle = rng.uniform(0, kTwoPi);
  a.start_x = rng.uniform(0, width);
  a.start_y = rng.uniform(0, height);
  a.speed = rng.uniform(0.008, 0.016) * size;
  a.period = rng.uniform(20, 44);
  a.phase = rng.uniform(0, kTwoPi);
  a.amplitude = rng.uniform(0.15, 0.25) * width;
  return a;
}

struct Pose {
  double x, y, angle, scale;
};

Pose pose_at(Motion motion, const Appearance& a, double t) {
  Pose p{a.start_x, a.start_y, a.stripe_angle, 1.0};
  double angular_speed = a.speed / a.radius;  // rim moves at the translation speed
  switch (motion) {
    case Motion::Left: p.x -= a.speed * t; break;
    case Motion::Right: p.x += a.speed * t; break;
    case Motion::Up: p.y -= a.speed * t; break;
    case Motion::Down: p.y += a.speed * t; break;
    case Motion::RotateCw: p.angle += 2.5 * angular_speed * t; break;
    case Motion::RotateCcw: p.angle -= 2.5 * angular_speed * t; break;
    case Motion::ZoomPulse: p.scale = 1.0 + 0.45 * std::sin(kTwoPi * t / a.period + a.phase); break;
    case Motion::Oscillate: p.x += a.amplitude * std::sin(kTwoPi * t / a.period + a.phase); break;
  }
  return p;
}

// Signed distance-like value: positive inside the shape, in pixels.
double inside_distance(const Appearance& a, double u, double v) {
  switch (a.shape) {
    case 0: return a.radius - std::hypot(u, v);
    case 1: return 0.85 * a.radius - std::max(std::abs(u), std::abs(v));
    default: {
      double rx = a.radius, ry = a.radius * a.aspect;
      double k = std::hypot(u / rx, v / ry);
      return (1.0 - k) * ry;
    }
  }
}

double wrap(double d, double extent) { return d - extent * std::floor(d / extent + 0.5); }

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

const std::vector<std::string>& synthetic_class_names() {
  static const std::vector<std::string> names = {
      "MoveLeft",        "MoveRight",              "MoveUp",    "MoveDown",
      "RotateClockwise", "RotateCounterclockwise", "ZoomPulse", "Oscillate"};
  return names;
}

Clip render_synthetic_video(int class_index, uint64_t seed, int64_t video_index, int64_t frames,
                            int64_t height, int64_t width) {
  FOVEA_CHECK(class_index >= 0 && class_index < static_cast<int>(synthetic_class_names().size()),
              kOp, "class index ", class_index, " outside 0..", synthetic_class_names().size() - 1);
  FOVEA_CHECK(frames > 0 && height > 0 && width > 0, kOp, "bad synthetic video size ", frames,
              "x", height, "x", width);
  CounterRng rng({seed, static_cast<uint64_t>(video_index), 0x5F4E7Du});
  Appearance a = draw_appearance(rng, static_cast<double>(height), static_cast<double>(width));
  auto motion = static_cast<Motion>(class_index);

  Clip background(1, height, width, 3);
  double gx = std::cos(a.gradient_angle) / width, gy = std::sin(a.gradient_angle) / height;
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      double w = std::clamp(0.5 + (x - width / 2.0) * gx + (y - height / 2.0) * gy, 0.0, 1.0);
      double wave = 0;
      for (int i = 0; i < 3; ++i)
        wave += std::sin(kTwoPi * a.wave_freq[i] *
                             (x * std::cos(a.wave_angle[i]) + y * std::sin(a.wave_angle[i])) +
                         a.wave_phase[i]);
      Rgb c = mix(a.background_a, a.background_b, w);
      uint8_t* px = background.data.data() + (y * width + x) * 3;
      px[0] = to_byte(c.r + a.wave_amp * wave);
      px[1] = to_byte(c.g + a.wave_amp * wave);
      px[2] = to_byte(c.b + a.wave_amp * wave);
    }

  Clip clip(frames, height, width, 3);
  for (int64_t t = 0; t < frames; ++t) {
    Pose p = pose_at(motion, a, static_cast<double>(t));
    double cos_a = std::cos(p.angle), sin_a = std::sin(p.angle);
    uint8_t* out = clip.frame(t);
    std::copy(background.data.begin(), background.data.end(), out);
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        double dx = wrap(x - p.x, static_cast<double>(width));
        double dy = wrap(y - p.y, static_cast<double>(height));
        double u = (dx * cos_a + dy * sin_a) / p.scale;
        double v = (-dx * sin_a + dy * cos_a) / p.scale;
        double coverage = std::clamp(0.5 + inside_distance(a, u, v) * p.scale, 0.0, 1.0);
        if (coverage <= 0) continue;
        double stripe = 0.5 + 0.5 * std::tanh(3.0 * std::sin(kTwoPi * u / a.stripe_period));
        // A dot off the centre makes rotation visible whatever the stripe orientation.
        double dot = std::hypot(u - 0.5 * a.radius, v) < 0.2 * a.radius ? 1.0 : 0.0;
        Rgb c = mix(mix(a.object_a, a.object_b, stripe), Rgb{255 - a.object_a.r, 255 - a.object_a.g, 255 - a.object_a.b}, dot);
        uint8_t* px = out + (y * width + x) * 3;
        px[0] = to_byte(px[0] + (c.r - px[0]) * coverage);
        px[1] = to_byte(px[1] + (c.g - px[1]) * coverage);
        px[2] = to_byte(px[2] + (c.b - px[2]) * coverage);
      }
  }
  return clip;
}

SynthResult write_synthetic_dataset(const SynthOptions& options) {
  FOVEA_CHECK(!options.out_dir.empty(), kOp, "no output folder given");
  FOVEA_CHECK(options.videos > 0 && options.frames > 0, kOp, "need at least one video of one frame, got ",
              options.videos, " videos of ", options.frames, " frames");
  FOVEA_CHECK(options.width >= 16 && options.height >= 16 && options.width % 2 == 0 &&
                  options.height % 2 == 0,
              kOp, "video size must be even and at least 16x16, got ", options.width, "x",
              options.height);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  FOVEA_CHECK(!ec, kOp, "cannot create output folder '", options.out_dir, "': ", ec.message());

  SynthResult result;
  result.codec = options.codec.empty() ? default_video_codec() : options.codec;
  int class_count = std::min<int>(options.videos, static_cast<int>(synthetic_class_names().size()));
  result.classes.assign(synthetic_class_names().begin(), synthetic_class_names().begin() + class_count);
  int groups = (options.videos + class_count - 1) / class_count;
  int test_groups = groups >= 2 ? std::max(1, groups / 4) : 0;

  EncodeOptions encode;
  encode.codec = result.codec;
  encode.fps = options.fps;
  encode.keyframe_interval = 16;
  encode.quality = result.codec == "mpeg4" ? 3 : 20;
  std::vector<std::pair<std::string, int>> train;
  for (int i = 0; i < options.videos; ++i) {
    int label = i % class_count;
    int group = i / class_count + 1;
    const std::string& name = result.classes[label];
    char file[256];
    std::snprintf(file, sizeof file, "v_%s_g%02d_c01.mp4", name.c_str(), group);
    std::string relative = name + "/" + file;
    fs::create_directories(fs::path(options.out_dir) / name, ec);
    FOVEA_CHECK(!ec, kOp, "cannot create class folder in '", options.out_dir, "': ", ec.message());
    Clip frames = render_synthetic_video(label, options.seed, i, options.frames, options.height,
                                         options.width);
    write_video((fs::path(options.out_dir) / relative).string(), frames, encode);
    if (group <= test_groups) {
      result.test.push_back(relative);
    } else {
      result.train.push_back(relative);
      train.emplace_back(relative, label + 1);
    }
    if (options.progress) options.progress(i + 1, options.videos);
  }

  auto open_list = [&](const char* name) {
    std::string path = (fs::path(options.out_dir) / name).string();
    std::ofstream out(path);
    FOVEA_CHECK(out, kOp, "cannot write '", path, "'");
    return out;
  };
  std::ofstream class_index = open_list("classInd.txt");
  for (int c = 0; c < class_count; ++c) class_index << c + 1 << ' ' << result.classes[c] << '\n';
  std::ofstream train_list = open_list("trainlist01.txt");
  for (const auto& [path, label] : train) train_list << path << ' ' << label << '\n';
  std::ofstream test_list = open_list("testlist01.txt");
  for (const auto& path : result.test) test_list << path << '\n';
  return result;
}

}  // namespace fovea::data
