// Sampler implementations; argument errors name the video length and what was asked.
#include "data/sampler.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace fovea::data {

namespace {
constexpr const char* kOp = "sampler";
}

std::vector<int64_t> dpc_indices(int64_t video_frames, CounterRng& rng, const DpcSampling& sampling) {
  FOVEA_CHECK(sampling.blocks > 0 && sampling.block_frames > 0 && sampling.stride > 0, kOp,
              "DPC sampling needs positive blocks, block_frames and stride");
  if (video_frames < sampling.min_frames()) return {};
  int64_t start = rng.below(video_frames - sampling.span());
  std::vector<int64_t> indices;
  indices.reserve(static_cast<size_t>(sampling.blocks * sampling.block_frames));
  for (int64_t b = 0; b < sampling.blocks; ++b)
    for (int64_t j = 0; j < sampling.block_frames; ++j)
      indices.push_back(start + (b * sampling.block_frames + j) * sampling.stride);
  return indices;
}

namespace {
std::vector<int64_t> clip_from(int64_t start, int64_t video_frames, int64_t clip_frames, int64_t stride) {
  std::vector<int64_t> indices(static_cast<size_t>(clip_frames));
  for (int64_t i = 0; i < clip_frames; ++i) indices[i] = std::min(start + i * stride, video_frames - 1);
  return indices;
}

void check_clip(int64_t video_frames, int64_t clip_frames, int64_t stride) {
  FOVEA_CHECK(video_frames > 0, kOp, "cannot sample a clip from a video with ", video_frames, " frames");
  FOVEA_CHECK(clip_frames > 0 && stride > 0, kOp, "clip_frames and stride must be positive, got ",
              clip_frames, " and ", stride);
}
}  // namespace

std::vector<int64_t> random_clip_indices(int64_t video_frames, int64_t clip_frames, int64_t stride,
                                         CounterRng& rng) {
  check_clip(video_frames, clip_frames, stride);
  int64_t span = (clip_frames - 1) * stride + 1;
  int64_t start = video_frames > span ? rng.below(video_frames - span + 1) : 0;
  return clip_from(start, video_frames, clip_frames, stride);
}

std::array<std::vector<int64_t>, 2> two_clip_indices(int64_t video_frames, CounterRng& rng,
                                                     int64_t clip_frames, int64_t stride) {
  auto first = random_clip_indices(video_frames, clip_frames, stride, rng);
  auto second = random_clip_indices(video_frames, clip_frames, stride, rng);
  return {std::move(first), std::move(second)};
}

std::vector<std::vector<int64_t>> uniform_clip_indices(int64_t video_frames, int64_t num_clips,
                                                       int64_t clip_frames, int64_t stride) {
  check_clip(video_frames, clip_frames, stride);
  FOVEA_CHECK(num_clips > 0, kOp, "num_clips must be positive, got ", num_clips);
  int64_t span = (clip_frames - 1) * stride + 1;
  int64_t last_start = std::max<int64_t>(0, video_frames - span);
  std::vector<std::vector<int64_t>> clips;
  for (int64_t k = 0; k < num_clips; ++k) {
    int64_t start = num_clips == 1 ? last_start / 2
                                   : static_cast<int64_t>(std::llround(
                                         static_cast<double>(k * last_start) / (num_clips - 1)));
    clips.push_back(clip_from(start, video_frames, clip_frames, stride));
  }
  return clips;
}

std::array<int64_t, 2> lag_pair_indices(int64_t video_frames, int64_t lag, CounterRng& rng) {
  FOVEA_CHECK(lag >= 0 && lag < video_frames, kOp, "a lag of ", lag, " frames needs a video of more than ",
              lag, " frames, this one has ", video_frames);
  int64_t first = rng.below(video_frames - lag);
  return {first, first + lag};
}

std::array<int64_t, 2> still_pair_indices(int64_t video_frames, double fps, int64_t lag_seconds,
                                          CounterRng& rng) {
  FOVEA_CHECK(fps > 0, kOp, "still sampling needs the video's fps, got ", fps,
              "; frame folders have none: sample stills from the videos themselves");
  auto still_frame = [&](int64_t k) { return static_cast<int64_t>(std::llround(k * fps)); };
  int64_t stills = 0;
  while (still_frame(stills) < video_frames) ++stills;
  FOVEA_CHECK(lag_seconds >= 0 && lag_seconds < stills, kOp, "a lag of ", lag_seconds,
              " s needs a video longer than that; this one has ", stills, " stills (", video_frames,
              " frames at ", fps, " fps)");
  int64_t k = rng.below(stills - lag_seconds);
  return {still_frame(k), still_frame(k + lag_seconds)};
}

}  // namespace fovea::data
