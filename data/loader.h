// The threaded data loader: worker threads build batches ahead of the trainer into a bounded
// prefetch queue, in a fixed order. Sample i of epoch e always uses the random stream keyed
// by (seed, e, dataset index), so batches do not depend on the number of workers, and the
// loader's position (epoch, batch) can be saved and restored exactly. For a CUDA device the
// workers assemble batches in pinned host memory, and next() enqueues their copies to the
// device on a copy stream of the loader, so copies overlap the trainer's work.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/clip.h"
#include "data/dataset.h"
#include "data/frame_cache.h"
#include "data/random.h"
#include "data/sampler.h"
#include "data/video_reader.h"
#include "engine/tensor.h"

namespace fovea::data {

// One dataset item turned into network inputs: one or more views of equal shape.
struct Sample {
  std::vector<FloatClip> views;
  int label = -1;
};

// Samples stacked as [N][views][C][T][H][W] (DPC: views = blocks, giving [N, 8, C, 5, H, W]).
struct Batch {
  int64_t epoch = 0, number = 0;  // batch `number` of `epoch`
  int64_t size = 0, views = 0, channels = 0, frames = 0, height = 0, width = 0;
  // f32 [size, views, channels, frames, height, width] on the loader's device. On a CUDA device
  // the stream that was current when next() returned waits for the copy, so ops enqueued on it
  // afterwards, and reads back to the host, see the data (data/tensor_convert.h splits views).
  Tensor data;
  std::vector<int> labels;
  std::vector<int64_t> indices;  // dataset index of each sample
  int64_t sample_numel() const { return views * channels * frames * height * width; }
};

// Builds sample `index` using `rng`, which is keyed by (seed, epoch, index).
using SampleFn = std::function<Sample(int64_t index, CounterRng rng)>;

struct LoaderOptions {
  int64_t batch_size = 8;
  int workers = 2;
  int prefetch_batches = 4;  // batches built ahead of the trainer at most
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  // A sample whose SampleFn throws fovea::Error is replaced by the next item of the epoch's
  // order and counted, instead of stopping training.
  bool skip_bad = false;
  // Where batches are delivered. A CUDA device needs a build with a CUDA backend.
  Device device = Device::cpu();
  // CUDA device only: pinned host buffers batches are assembled in, reused once their copy to
  // the device has finished; 0 gives prefetch_batches + 2. Fewer make workers wait for buffers.
  int pinned_buffers = 0;
};

struct LoaderPosition {
  int64_t epoch = 0, batch = 0;  // the batch next() returns next
};

struct LoaderStats {
  int64_t batches = 0, samples = 0, bad_samples = 0;
  double wait_seconds = 0;     // time next() spent blocked on workers
  double elapsed_seconds = 0;  // since the first next()
  std::vector<std::string> bad_reasons;  // the first few, for the log
  // CUDA device only: pinned buffers allocated (at most pinned_buffers), and batches whose copy
  // to the device was enqueued before the trainer asked for them (overlapping its work).
  int64_t pinned_buffers = 0, pinned_bytes = 0, copies_ahead = 0;
  double samples_per_second() const { return elapsed_seconds > 0 ? samples / elapsed_seconds : 0; }
  double wait_fraction() const { return elapsed_seconds > 0 ? wait_seconds / elapsed_seconds : 0; }
};

class Loader {
 public:
  Loader(int64_t dataset_size, SampleFn make_sample, const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch, or nullopt once at the end of each epoch (the following call starts
  // the next epoch). Rethrows a worker's fovea::Error for that batch. On a CUDA device, call
  // it on the thread and with the current stream (engine/cuda/runtime.h) the trainer uses.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  LoaderPosition position() const;
  // Continues from `position`, e.g. one read from a checkpoint; prefetched batches are dropped.
  void restore(const LoaderPosition& position);
  LoaderStats stats() const;
  // The dataset indices of an epoch in the order the loader visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

enum class ClipSampling {
  RandomClip,    // one clip of clip_frames
  TwoClips,      // two independent clips of one video (saccade)
  DpcBlocks,     // DPC blocks, one view per block
  UniformClips,  // uniform_clips evenly spaced clips (retrieval), no randomness in placement
  LagPair,       // two frames lag_frames apart (MoCo's temporal positives), one view each
  StillPair,     // two stills lag_seconds apart, one still per second (SemanticCMC's films)
};

// How the two frames of a LagPair/StillPair are augmented: each from its own random stream
// (two views of contrastive learning), or both with the same crop, flip and colour changes.
enum class PairAugment { Independent, Shared };

struct VideoSampleOptions {
  ClipSampling sampling = ClipSampling::TwoClips;
  int64_t clip_frames = 16, stride = 1, uniform_clips = 10;
  DpcSampling dpc;
  int64_t lag_frames = 1, lag_seconds = 1;
  PairAugment pair_augment = PairAugment::Independent;
  AugmentConfig augment;
  // Decoding on the worker's own thread: the loader's workers are the parallelism.
  DecodeOptions decode{.threads = 1};
  // Optional decoded-frame cache shared by the workers (and by loaders over the same videos);
  // samples are identical with and without it.
  std::shared_ptr<FrameCache> cache;
};

// SampleFn over a video (or frame-folder) dataset: sample indices, decode, augment each view.
// DPC blocks share one crop/flip (the 40 frames are augmented as one clip). Items too short
// for DPC raise a fovea::Error (load the dataset with min_frames = DpcSampling::min_frames()).
// Pairs give views of one frame ([C, 1, H, W]); still pairs need the video's fps (frame
// folders have none). An item's frame count and fps come from the
// dataset when known (index or probe), so a video whose frames are all cached is not opened.
SampleFn video_sample_fn(const Dataset& dataset, const VideoSampleOptions& options);

}  // namespace fovea::data
