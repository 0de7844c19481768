// Data-pipeline benchmarks: decoding a 16-frame clip from the middle of a 320x240 H.264
// video (the size of UCF101 videos), decode + augmentation to a normalised 3x16x112x112
// clip, and the threaded loader delivering batches of two-clip samples (also with the frame
// cache holding every decoded frame, which leaves augmentation as the cost), and augmentation
// alone on a rendered clip. Each run processes
// a known number of clips (in the shape string), so clips/s = clips per run / time; bytes
// are the output bytes, so the reported GB/s is output bandwidth.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "data/augment.h"
#include "data/frame_cache.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "data/video_reader.h"
#include "data/video_writer.h"
#include "profiling/bench.h"

namespace {

using namespace fovea::data;
namespace fs = std::filesystem;

constexpr int64_t kClipFrames = 16, kCrop = 112, kVideoFrames = 64, kWidth = 320, kHeight = 240;
constexpr int kVideos = 4;
constexpr uint64_t kSeed = 2024;

// Synthetic videos written once per benchmark function, removed when it returns.
struct BenchVideos {
  fs::path dir;
  std::vector<std::string> paths;
  BenchVideos() {
    dir = fs::temp_directory_path() / ("fovea-bench-data-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    SynthOptions options;
    options.out_dir = dir.string();
    options.seed = kSeed;
    options.videos = kVideos;
    options.frames = kVideoFrames;
    options.width = kWidth;
    options.height = kHeight;
    write_synthetic_dataset(options);
    for (int i = 0; i < kVideos; ++i)
      paths.push_back((dir / synthetic_class_names()[i] / ("v_" + synthetic_class_names()[i] + "_g01_c01.mp4")).string());
  }
  ~BenchVideos() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

double mean_abs_diff(const uint8_t* a, const uint8_t* b, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(n);
}

// Decoded frame t must be closest to rendered frame indices[t] and within codec loss.
std::string check_against_render(const Clip& decoded, int class_index, int64_t first) {
  Clip reference = render_synthetic_video(class_index, kSeed, class_index, kVideoFrames, kHeight, kWidth);
  for (int64_t t = 0; t < decoded.frames; ++t) {
    int64_t best = -1;
    double best_mad = 1e30;
    for (int64_t r = 0; r < reference.frames; ++r) {
      double mad = mean_abs_diff(decoded.frame(t), reference.frame(r), decoded.frame_size());
      if (mad < best_mad) best_mad = mad, best = r;
    }
    if (best != first + t || best_mad > 6.0)
      return "decoded frame " + std::to_string(t) + " matches rendered frame " + std::to_string(best) +
             " (mean abs error " + std::to_string(best_mad) + "), expected frame " + std::to_string(first + t);
  }
  return "";
}

// Augments `clip` with a fixed key into `out` and checks the result: kCrop² × kClipFrames × 3,
// the same for the same key, finite and within the normalised range.
std::string check_augmented(const Clip& clip, const AugmentConfig& config, uint64_t stream, FloatClip& out) {
  out = augment_clip(clip, config, CounterRng({kSeed, stream, 7}));
  const FloatClip again = augment_clip(clip, config, CounterRng({kSeed, stream, 7}));
  if (out.channels != 3 || out.frames != kClipFrames || out.height != kCrop || out.width != kCrop)
    return "augmented clip has the wrong shape";
  if (out.data != again.data) return "augmentation is not deterministic for one key";
  for (float x : out.data)
    if (!std::isfinite(x) || std::abs(x) > 3.0f) return "augmented value " + std::to_string(x) + " out of range";
  return "";
}

}  // namespace

FOVEA_BENCH(bench_video_decode) {
  if (!runner.wants("video_decode", {"threads1", "threads_auto"}) &&
      !runner.wants("video_decode_augment", {"threads1"}))
    return;
  BenchVideos videos;
  const int64_t first = (kVideoFrames - kClipFrames) / 2;
  fovea::bench::Case decode;
  decode.kernel = "video_decode";
  decode.shape = "16x240x320 rgb from h264 320x240, 1 clip/run";
  for (int threads : {1, 0}) {
    auto reader = std::make_shared<VideoReader>(videos.paths[0], DecodeOptions{.threads = threads});
    auto out = std::make_shared<Clip>();
    fovea::bench::Variant v;
    v.name = threads == 1 ? "threads1" : "threads_auto";
    v.bytes = static_cast<double>(kClipFrames * kHeight * kWidth * 3);
    // Alternate between two distant clips so every run seeks and decodes from a keyframe.
    auto toggle = std::make_shared<bool>(false);
    v.run = [reader, out, toggle, first] {
      *toggle = !*toggle;
      *out = reader->read_range(*toggle ? first : 0, kClipFrames);
    };
    v.check = [reader, out, first] {
      *out = reader->read_range(first, kClipFrames);
      return check_against_render(*out, 0, first);
    };
    decode.variants.push_back(std::move(v));
  }
  runner.run(decode);

  fovea::bench::Case augmented;
  augmented.kernel = "video_decode_augment";
  augmented.shape = "3x16x112x112 f32 from h264 320x240, 1 clip/run";
  auto reader = std::make_shared<VideoReader>(videos.paths[1], DecodeOptions{.threads = 1});
  auto out = std::make_shared<FloatClip>();
  auto counter = std::make_shared<uint64_t>(0);
  AugmentConfig config = video_contrastive_augment(kCrop);
  fovea::bench::Variant v;
  v.name = "threads1";
  v.bytes = static_cast<double>(3 * kClipFrames * kCrop * kCrop * sizeof(float));
  v.run = [reader, out, counter, config] {
    uint64_t n = (*counter)++;
    int64_t start = static_cast<int64_t>(n % 4) * (kVideoFrames - kClipFrames) / 3;
    *out = augment_clip(reader->read_range(start, kClipFrames), config, CounterRng({kSeed, 0, n}));
  };
  v.check = [reader, out, config, first] {
    Clip clip = reader->read_range(first, kClipFrames);
    std::string decode_error = check_against_render(clip, 1, first);
    if (!decode_error.empty()) return decode_error;
    return check_augmented(clip, config, 0, *out);
  };
  augmented.variants.push_back(std::move(v));
  runner.run(augmented);
}

// Augmentation alone: the same pipeline on a rendered 16x240x320 clip, one key per run.
FOVEA_BENCH(bench_clip_augment) {
  if (!runner.wants("clip_augment", {"video_contrastive"})) return;
  auto clip = std::make_shared<Clip>(render_synthetic_video(1, kSeed, 1, kClipFrames, kHeight, kWidth));
  auto out = std::make_shared<FloatClip>();
  auto counter = std::make_shared<uint64_t>(0);
  AugmentConfig config = video_contrastive_augment(kCrop);
  fovea::bench::Case c;
  c.kernel = "clip_augment";
  c.shape = "3x16x112x112 f32 from 16x240x320 rgb, 1 clip/run";
  fovea::bench::Variant v;
  v.name = "video_contrastive";
  v.bytes = static_cast<double>(3 * kClipFrames * kCrop * kCrop * sizeof(float));
  v.run = [clip, out, counter, config] { *out = augment_clip(*clip, config, CounterRng({kSeed, 1, (*counter)++})); };
  v.check = [clip, out, config] { return check_augmented(*clip, config, 1, *out); };
  c.variants.push_back(std::move(v));
  runner.run(c);
}

FOVEA_BENCH(bench_video_loader) {
  if (!runner.wants("video_loader", {"workers1", "workers2", "workers2_cache"})) return;
  BenchVideos videos;
  Dataset dataset = load_video_folders(videos.dir.string());
  VideoSampleOptions sampling;
  sampling.sampling = ClipSampling::TwoClips;
  sampling.clip_frames = kClipFrames;
  sampling.augment = video_contrastive_augment(kCrop);
  constexpr int64_t kBatch = 4, kBatchesPerRun = 4;
  // Room for every decoded frame of the videos, so after the first epochs nothing is decoded.
  constexpr int64_t kCacheBytes = 2 * kVideos * kVideoFrames * kWidth * kHeight * 3;
  fovea::bench::Case c;
  c.kernel = "video_loader";
  c.shape = "4 batches of 4 x 2 views x 3x16x112x112 f32 from h264 320x240, 32 clips/run";
  for (auto [workers, cached] : {std::pair{1, false}, std::pair{2, false}, std::pair{2, true}}) {
    VideoSampleOptions options = sampling;
    if (cached) options.cache = std::make_shared<FrameCache>(kCacheBytes);
    // Built on first use, so a loader's workers never compete with another variant's timing.
    auto loader = std::make_shared<std::unique_ptr<Loader>>();
    auto next_batch = [loader, dataset, options, workers] {
      if (!*loader)
        *loader = std::make_unique<Loader>(
            static_cast<int64_t>(dataset.items.size()), video_sample_fn(dataset, options),
            LoaderOptions{.batch_size = kBatch, .workers = workers, .prefetch_batches = 2, .seed = kSeed});
      auto batch = (*loader)->next();
      return batch ? std::move(*batch) : std::move(*(*loader)->next());
    };
    fovea::bench::Variant v;
    v.name = "workers" + std::to_string(workers) + (cached ? "_cache" : "");
    v.bytes = static_cast<double>(kBatchesPerRun * kBatch * 2 * 3 * kClipFrames * kCrop * kCrop * sizeof(float));
    v.run = [next_batch] {
      for (int64_t i = 0; i < kBatchesPerRun; ++i) next_batch();
    };
    v.check = [next_batch, dataset] {
      Batch batch = next_batch();
      if (batch.size != kBatch || batch.views != 2 || batch.frames != kClipFrames || batch.height != kCrop ||
          batch.data.shape() != fovea::Shape{kBatch, 2, 3, kClipFrames, kCrop, kCrop})
        return std::string("batch has the wrong shape");
      for (int64_t i = 0; i < batch.size; ++i)
        if (batch.labels[i] != dataset.items[batch.indices[i]].label)
          return "label of sample " + std::to_string(i) + " does not match its video";
      return std::string();
    };
    c.variants.push_back(std::move(v));
  }
  runner.run(c);
}
