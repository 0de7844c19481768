// Frame-accurate video decoding with libavformat/libavcodec/libswscale. Opening a video
// demuxes it once (no decoding) to build its presentation-timestamp table, which gives the
// exact frame count and maps every decoded frame to its index; reads seek to the keyframe
// at or before the first wanted frame and decode forward, converting to RGB u8.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "data/clip.h"

namespace fovea::data {

struct VideoInfo {
  std::string path;
  int64_t frames = 0;      // exact, counted from the demuxed packets
  double fps = 0;          // average frame rate of the stream
  double duration = 0;     // seconds, frames / fps
  int width = 0, height = 0;  // coded size before any resizing
  int64_t keyframes = 0;
  // False when the container gives no usable presentation timestamps (AVI with B-frames):
  // reads are still exact but decode from the start of the video instead of seeking.
  bool seekable = true;
  std::string codec;       // decoder name, e.g. "h264"
  std::string container;   // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
};

struct DecodeOptions {
  // Decoder threads: 0 lets FFmpeg use every core, 1 decodes on the calling thread (what
  // loader workers want, since they already run in parallel).
  int threads = 0;
  // Output size; 0 keeps the native size. With only one given, the aspect ratio is kept.
  int out_width = 0, out_height = 0;
};

class VideoReader {
 public:
  // Throws fovea::Error naming the path for missing, empty, corrupt, truncated, zero-frame
  // files, files without a video stream and codecs this FFmpeg build cannot decode.
  explicit VideoReader(const std::string& path, const DecodeOptions& options = {});
  ~VideoReader();
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;

  const VideoInfo& info() const;
  int out_width() const;
  int out_height() const;

  // count frames first, first + step, ...; all must lie inside the video.
  Clip read_range(int64_t first, int64_t count, int64_t step = 1);
  // Any indices in any order, repeats allowed; frame i of the clip is video frame indices[i].
  Clip read_frames(std::span<const int64_t> indices);
  Clip read_all();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Opens the video and returns its metadata without decoding any frame.
VideoInfo probe_video(const std::string& path);

}  // namespace fovea::data
