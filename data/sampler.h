// Frame-index samplers: which frames of a video make up one training or evaluation sample.
// They only compute indices (decoding is the reader's job), from a CounterRng keyed by the
// sample, so a sample is the same whichever worker draws it.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/random.h"

namespace fovea::data {

// DPC: `blocks` contiguous blocks of `block_frames` frames, taking every `stride`-th frame.
struct DpcSampling {
  int64_t blocks = 8, block_frames = 5, stride = 3;
  int64_t span() const { return blocks * block_frames * stride; }
  // DPC's reference code drops videos with frames - span <= 0, so a usable video has at least
  // span + 1 frames (121 by default); the start is drawn from [0, frames - span).
  int64_t min_frames() const { return span() + 1; }
};
// Block-major indices (block b, frame j at [b * block_frames + j]); empty when too short.
std::vector<int64_t> dpc_indices(int64_t video_frames, CounterRng& rng, const DpcSampling& sampling = {});

// One clip of clip_frames frames every `stride` frames from a uniform random start. Videos
// shorter than the clip repeat their last frame.
std::vector<int64_t> random_clip_indices(int64_t video_frames, int64_t clip_frames, int64_t stride,
                                         CounterRng& rng);
// Two independently placed clips of one video (the saccade model's two views).
std::array<std::vector<int64_t>, 2> two_clip_indices(int64_t video_frames, CounterRng& rng,
                                                     int64_t clip_frames = 16, int64_t stride = 1);
// num_clips clips with uniformly spaced starts from the first to the last possible start
// (retrieval: the query is the mean feature of these clips). Deterministic.
std::vector<std::vector<int64_t>> uniform_clip_indices(int64_t video_frames, int64_t num_clips = 10,
                                                       int64_t clip_frames = 16, int64_t stride = 1);
// Two frames `lag` apart from a uniform random first frame (MoCo's temporal positives).
std::array<int64_t, 2> lag_pair_indices(int64_t video_frames, int64_t lag, CounterRng& rng);
// SemanticCMC: stills one per second (frame round(k * fps)); a pair of stills lag_seconds
// apart from a uniform random first still.
std::array<int64_t, 2> still_pair_indices(int64_t video_frames, double fps, int64_t lag_seconds,
                                          CounterRng& rng);

}  // namespace fovea::data
