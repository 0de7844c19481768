// The saccade model's masked 3-D convolution (docs MODELS.md, "Saccade model"): conv3d over
// x ⊙ m, m a binary spatial mask per sample picked by index from a small set (the fixation
// masks, the same for every frame and channel), without materialising the masked input.
// masked_conv3d runs only the output positions whose receptive field touches the mask (the
// others are exactly the bias, since the masked input is exactly zero there) and, in backward,
// only their weight- and input-gradient work; masked_conv3d_unfused is its twin composed from
// engine ops (conv3d(x * mask)). fixation_masks builds the saccade masks.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace fovea {

// Work a masked_conv3d call ran and skipped: output positions (over samples, frames, rows and
// columns) whose receptive field misses the mask entirely.
struct MaskedConvStats {
  int64_t skipped_positions = 0, total_positions = 0;
  double skipped_fraction() const {
    return total_positions == 0 ? 0.0 : static_cast<double>(skipped_positions) / static_cast<double>(total_positions);
  }
};

// x [N, C, T, H, W] floating; masks [P, H, W] u8 or of a floating dtype, every value 0 or 1;
// mask_index [N] i64 in [0, P) (sample n uses masks[mask_index[n]]; a per-sample mask tensor is
// masks [N, H, W] with mask_index = arange(N)); weight [Cout, C, kT, kH, kW]; bias [Cout] or
// undefined; stride, padding, dilation as conv3d (1 or 3 values). Returns
// conv3d(x ⊙ masks[mask_index] broadcast over C and T), differentiable in x (zero outside the
// mask), weight and bias. masks and mask_index may live on the CPU or on x's device. When
// `stats` is given it receives the work skipped.
Tensor masked_conv3d(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                     const Tensor& bias = Tensor(), const Shape& stride = {1}, const Shape& padding = {0},
                     const Shape& dilation = {1}, MaskedConvStats* stats = nullptr);

// The same function as index_select → mul → conv3d, the masked copy of x materialised.
Tensor masked_conv3d_unfused(const Tensor& x, const Tensor& masks, const Tensor& mask_index, const Tensor& weight,
                             const Tensor& bias = Tensor(), const Shape& stride = {1}, const Shape& padding = {0},
                             const Shape& dilation = {1});

// The work masked_conv3d would skip for these arguments, without running it.
MaskedConvStats masked_conv3d_stats(const Tensor& x, const Tensor& masks, const Tensor& mask_index,
                                    const Tensor& weight, const Shape& stride = {1}, const Shape& padding = {0},
                                    const Shape& dilation = {1});

// The saccade fixation masks, u8 [N_p, height, width]: axis-aligned rectangles of
// area_fraction of the image area with the image's aspect ratio (sides round(H·√a) and
// round(W·√a)), centred on the centres of the grid × grid cells (row-major) and, for an even
// grid, also on the image centre (an odd grid's middle cell already is): N_p = 5 for grid 2,
// 9 for grid 3. A rectangle that would cross the border is shifted inside.
Tensor fixation_masks(int64_t height, int64_t width, int64_t grid = 2, double area_fraction = 0.25);

}  // namespace fovea
