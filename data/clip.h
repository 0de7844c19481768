// Owned pixel buffers produced by the data layer: u8 RGB clips (T×H×W×C) from decoders and
// augmentations, and float clips ([C,T,H,W]) after normalisation. Plain structs so the
// conversion to fovea::Tensor is a thin wrapper over data() and the shape fields.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fovea::data {

// Frames of one video, interleaved RGB: data[((t*height + y)*width + x)*channels + c].
struct Clip {
  int64_t frames = 0, height = 0, width = 0, channels = 3;
  std::vector<uint8_t> data;

  Clip() = default;
  Clip(int64_t t, int64_t h, int64_t w, int64_t c = 3)
      : frames(t), height(h), width(w), channels(c), data(static_cast<size_t>(t * h * w * c)) {}

  int64_t frame_size() const { return height * width * channels; }
  uint8_t* frame(int64_t t) { return data.data() + t * frame_size(); }
  const uint8_t* frame(int64_t t) const { return data.data() + t * frame_size(); }
};

// A still image is a one-frame clip.
using Image = Clip;

// Planar float clip: data[((c*frames + t)*height + y)*width + x], PyTorch's [C,T,H,W].
struct FloatClip {
  int64_t channels = 0, frames = 0, height = 0, width = 0;
  std::vector<float> data;

  FloatClip() = default;
  FloatClip(int64_t c, int64_t t, int64_t h, int64_t w)
      : channels(c), frames(t), height(h), width(w), data(static_cast<size_t>(c * t * h * w)) {}

  int64_t numel() const { return channels * frames * height * width; }
  float* plane(int64_t c, int64_t t) { return data.data() + (c * frames + t) * height * width; }
  const float* plane(int64_t c, int64_t t) const {
    return data.data() + (c * frames + t) * height * width;
  }
};

}  // namespace fovea::data
