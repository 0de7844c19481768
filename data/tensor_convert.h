// Conversions from the data layer's buffers to engine tensors: u8 RGB clips (T×H×W×C) to
// [C, T, H, W] u8 or normalised f32, float clips ([C, T, H, W]) as they are, stacks of either
// to [N, C, T, H, W], and the views and labels of loader batches.
#pragma once
#include <array>
#include <cstdint>
#include <span>

#include "data/clip.h"
#include "data/loader.h"
#include "engine/tensor.h"

namespace fovea::data {

struct ClipTensorOptions {
  // u8 keeps the raw values (any channel count); f32 is x/255 then (x - mean) / std per
  // channel, exactly as augment's normalize() (RGB only).
  DType dtype = DType::f32;
  std::array<float, 3> mean = {0, 0, 0}, std = {1, 1, 1};
  Device device = Device::cpu();
};

// [C, T, H, W] from one clip.
Tensor clip_tensor(const Clip& clip, const ClipTensorOptions& options = {});
// [N, C, T, H, W] from clips of one shape.
Tensor clips_tensor(std::span<const Clip> clips, const ClipTensorOptions& options = {});
// [C, T, H, W] f32, the clip's values unchanged.
Tensor float_clip_tensor(const FloatClip& clip, Device device = Device::cpu());
// [N, C, T, H, W] f32 from float clips of one shape.
Tensor float_clips_tensor(std::span<const FloatClip> clips, Device device = Device::cpu());

// View `view` of every sample of a batch: contiguous [N, C, T, H, W] on the batch's device.
Tensor batch_view(const Batch& batch, int64_t view);
// The same for one-frame views (lag and still pairs, images): [N, C, H, W].
Tensor batch_images(const Batch& batch, int64_t view);
// The labels as i64 [N].
Tensor batch_labels(const Batch& batch, Device device = Device::cpu());

}  // namespace fovea::data
