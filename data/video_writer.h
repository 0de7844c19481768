// Video encoding with libavcodec/libavformat, for synthetic datasets and tests: RGB u8
// frames in, any encoder/container pair this FFmpeg build has out (container from the file
// extension: .mp4, .avi, .webm, .mkv, ...).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/clip.h"

namespace fovea::data {

struct EncodeOptions {
  std::string codec = "libx264";  // FFmpeg encoder name: libx264, mpeg4, libvpx-vp9, ...
  int fps = 25;
  // Codec-specific quality; -1 picks a near-visually-lossless default. libx264 and
  // libvpx-vp9: CRF (lower is better); mpeg4 and mjpeg: qscale 1..31.
  int quality = -1;
  int keyframe_interval = 0;  // 0 = encoder default
  int threads = 0;            // 0 = encoder default
};

bool encoder_available(const std::string& codec);
// libx264 when this FFmpeg build has it, else mpeg4 (MPEG-4 part 2, also valid in .mp4).
std::string default_video_codec();

class VideoWriter {
 public:
  // Width and height must be even (4:2:0 chroma subsampling).
  VideoWriter(const std::string& path, int width, int height, const EncodeOptions& options = {});
  ~VideoWriter();  // releases resources; an unclosed file is left incomplete
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  void write(const uint8_t* rgb_frame);  // height*width*3 bytes
  void write(const Clip& clip);          // every frame, sizes must match
  // Flushes the encoder and writes the container trailer; required for a valid file.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

void write_video(const std::string& path, const Clip& clip, const EncodeOptions& options = {});

}  // namespace fovea::data
