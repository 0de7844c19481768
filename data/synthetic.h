// A small synthetic action-video dataset in the UCF101 layout, for the demo and the tests.
// Classes differ only by MOTION of a textured object (translation in four directions,
// rotation both ways, zoom pulse, oscillation); background, object shape, texture, colours,
// size, start position and speed are drawn per video, so appearance does not reveal the
// class. Everything is a pure function of (seed, video index): the same seed gives the
// same pixels.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/clip.h"

namespace fovea::data {

const std::vector<std::string>& synthetic_class_names();

// Frames of video `video_index` of class `class_index` for a seed, T×H×W×3.
Clip render_synthetic_video(int class_index, uint64_t seed, int64_t video_index, int64_t frames,
                            int64_t height, int64_t width);

struct SynthOptions {
  std::string out_dir{};
  uint64_t seed = 0;
  int videos = 32;  // spread over min(videos, 8) classes, round-robin
  int frames = 128;
  int width = 128, height = 128;  // even
  int fps = 25;
  std::string codec{};  // empty: default_video_codec() (libx264, else mpeg4)
  // Called after each video with (videos written, total).
  std::function<void(int, int)> progress{};
};

struct SynthResult {
  std::vector<std::string> classes;
  std::vector<std::string> train, test;  // paths relative to out_dir, as in the split files
  std::string codec;
};

// Writes DIR/Class/v_Class_gXX_c01.mp4 (group XX numbers the videos of a class), plus
// classInd.txt ("1 Class"), trainlist01.txt ("Class/v_..mp4 1") and testlist01.txt
// ("Class/v_..mp4"). The first quarter of the groups (at least one) is the test split, as in
// UCF101 where groups 1-7 of 25 are test; a class with a single video has it in train only.
SynthResult write_synthetic_dataset(const SynthOptions& options);

}  // namespace fovea::data
