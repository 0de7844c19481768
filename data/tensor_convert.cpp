// Clip and batch conversions: clips are written into CPU tensors (f32 through augment's
// normalize(), so the values match the augmentation pipeline bit for bit), then moved to the
// requested device in one copy.
#include "data/tensor_convert.h"

#include <cstring>

#include "data/augment.h"
#include "engine/error.h"

namespace fovea::data {

namespace {
constexpr const char* kOp = "tensor_convert";

std::string clip_shape(const Clip& clip) {
  return "[" + std::to_string(clip.frames) + "," + std::to_string(clip.height) + "," + std::to_string(clip.width) +
         "," + std::to_string(clip.channels) + "]";
}

std::string float_shape(const FloatClip& clip) {
  return "[" + std::to_string(clip.channels) + "," + std::to_string(clip.frames) + "," +
         std::to_string(clip.height) + "," + std::to_string(clip.width) + "]";
}

void check_clip(const Clip& clip, const ClipTensorOptions& options) {
  FOVEA_CHECK(clip.frames > 0 && clip.height > 0 && clip.width > 0 && clip.channels > 0 &&
                  clip.data.size() == static_cast<size_t>(clip.frames * clip.frame_size()),
              kOp, "clip of shape ", clip_shape(clip), " holds ", clip.data.size(),
              " bytes; a clip needs positive sizes and T*H*W*C bytes");
  FOVEA_CHECK(options.dtype == DType::u8 || options.dtype == DType::f32, kOp,
              "clips convert to u8 or f32 tensors, not ", dtype_name(options.dtype));
  FOVEA_CHECK(options.dtype == DType::u8 || clip.channels == 3, kOp, "f32 conversion normalises RGB clips, got ",
              clip.channels, " channels; convert to u8 instead");
}

// Writes clip as [C, T, H, W] at `out` (numel C*T*H*W of the tensor's dtype).
void write_clip(const Clip& clip, const ClipTensorOptions& options, void* out) {
  if (options.dtype == DType::f32) {
    FloatClip normalized = normalize(clip, options.mean, options.std);
    std::memcpy(out, normalized.data.data(), normalized.data.size() * sizeof(float));
    return;
  }
  auto* dst = static_cast<uint8_t*>(out);
  int64_t pixels = clip.height * clip.width, channels = clip.channels;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t t = 0; t < clip.frames; ++t) {
      const uint8_t* src = clip.frame(t) + c;
      uint8_t* plane = dst + (c * clip.frames + t) * pixels;
      for (int64_t p = 0; p < pixels; ++p) plane[p] = src[p * channels];
    }
}

void check_float_clip(const FloatClip& clip) {
  FOVEA_CHECK(clip.channels > 0 && clip.frames > 0 && clip.height > 0 && clip.width > 0 &&
                  clip.data.size() == static_cast<size_t>(clip.numel()),
              kOp, "float clip of shape ", float_shape(clip), " holds ", clip.data.size(),
              " values; it needs positive sizes and C*T*H*W values");
}

void check_view(const Batch& batch, int64_t view) {
  FOVEA_CHECK(batch.data.defined() && batch.data.dim() == 6, kOp,
              "the batch holds no [N, views, C, T, H, W] tensor; take batches from Loader::next()");
  FOVEA_CHECK(view >= 0 && view < batch.views, kOp, "view ", view, " does not exist: the batch has ", batch.views,
              " view(s)");
}

}  // namespace

Tensor clip_tensor(const Clip& clip, const ClipTensorOptions& options) {
  check_clip(clip, options);
  Tensor out = make_tensor({clip.channels, clip.frames, clip.height, clip.width}, options.dtype);
  write_clip(clip, options, out.raw_data());
  return out.to(options.device);
}

Tensor clips_tensor(std::span<const Clip> clips, const ClipTensorOptions& options) {
  FOVEA_CHECK(!clips.empty(), kOp, "no clips to stack");
  const Clip& first = clips[0];
  check_clip(first, options);
  Tensor out = make_tensor({static_cast<int64_t>(clips.size()), first.channels, first.frames, first.height,
                            first.width},
                           options.dtype);
  int64_t bytes = first.channels * first.frames * first.height * first.width * dtype_size(options.dtype);
  for (size_t i = 0; i < clips.size(); ++i) {
    check_clip(clips[i], options);
    FOVEA_CHECK(clips[i].frames == first.frames && clips[i].height == first.height &&
                    clips[i].width == first.width && clips[i].channels == first.channels,
                kOp, "clip ", i, " has shape ", clip_shape(clips[i]), ", clip 0 has ", clip_shape(first),
                "; crop or resize the clips to one shape before stacking");
    write_clip(clips[i], options, static_cast<uint8_t*>(out.raw_data()) + static_cast<int64_t>(i) * bytes);
  }
  return out.to(options.device);
}

Tensor float_clip_tensor(const FloatClip& clip, Device device) {
  check_float_clip(clip);
  Tensor out = make_tensor({clip.channels, clip.frames, clip.height, clip.width}, DType::f32);
  std::memcpy(out.raw_data(), clip.data.data(), clip.data.size() * sizeof(float));
  return out.to(device);
}

Tensor float_clips_tensor(std::span<const FloatClip> clips, Device device) {
  FOVEA_CHECK(!clips.empty(), kOp, "no float clips to stack");
  const FloatClip& first = clips[0];
  Tensor out = make_tensor({static_cast<int64_t>(clips.size()), first.channels, first.frames, first.height,
                            first.width},
                           DType::f32);
  for (size_t i = 0; i < clips.size(); ++i) {
    check_float_clip(clips[i]);
    FOVEA_CHECK(clips[i].channels == first.channels && clips[i].frames == first.frames &&
                    clips[i].height == first.height && clips[i].width == first.width,
                kOp, "float clip ", i, " has shape ", float_shape(clips[i]), ", clip 0 has ", float_shape(first),
                "; every clip of a stack needs one shape");
    std::memcpy(out.data<float>() + static_cast<int64_t>(i) * first.numel(), clips[i].data.data(),
                clips[i].data.size() * sizeof(float));
  }
  return out.to(device);
}

Tensor batch_view(const Batch& batch, int64_t view) {
  check_view(batch, view);
  return batch.data.select(1, view).contiguous();
}

Tensor batch_images(const Batch& batch, int64_t view) {
  check_view(batch, view);
  FOVEA_CHECK(batch.frames == 1, kOp, "batch_images needs one-frame views (pairs, images), these have ", batch.frames,
              " frames; use batch_view for clips");
  return batch.data.select(1, view).select(2, 0).contiguous();
}

Tensor batch_labels(const Batch& batch, Device device) {
  FOVEA_CHECK(static_cast<int64_t>(batch.labels.size()) == batch.size, kOp, "the batch has ", batch.size,
              " samples but ", batch.labels.size(), " labels");
  Tensor out = make_tensor({batch.size}, DType::i64);
  for (int64_t i = 0; i < batch.size; ++i) out.data<int64_t>()[i] = batch.labels[static_cast<size_t>(i)];
  return out.to(device);
}

}  // namespace fovea::data
