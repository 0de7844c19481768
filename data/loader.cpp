// Loader: a claim counter hands global batch numbers to workers, finished batches wait in a
// map until the trainer asks for them in order; restore() bumps a generation so batches of
// the old position are discarded.
#include "data/loader.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/error.h"

namespace fovea::data {

namespace {
constexpr const char* kOp = "loader";
constexpr uint64_t kShuffleTag = 0x5348554646ull;
constexpr size_t kMaxBadReasons = 20;
constexpr int kMaxReplacements = 16;
using Clock = std::chrono::steady_clock;
}  // namespace

struct Loader::State {
  int64_t size;
  SampleFn make_sample;
  LoaderOptions options;
  int64_t per_epoch;

  mutable std::mutex mutex;
  std::condition_variable work_ready, batch_ready;
  bool stopping = false;
  uint64_t generation = 0;
  int64_t next_claim = 0;  // global batch number = epoch * per_epoch + batch
  int64_t consumer = 0;
  bool epoch_end_pending = false;
  // A built batch waits here until the consumer takes it; its bad-sample count enters the
  // statistics only then, so prefetched batches of a later epoch do not count early.
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
    int64_t bad = 0;
    std::vector<std::string> reasons;
  };
  std::map<int64_t, Slot> ready;
  LoaderStats stats;
  std::optional<Clock::time_point> started;
  std::vector<std::thread> workers;

  std::vector<int64_t> order(int64_t epoch) const {
    std::vector<int64_t> indices(static_cast<size_t>(size));
    std::iota(indices.begin(), indices.end(), 0);
    if (options.shuffle) {
      CounterRng rng({options.seed, static_cast<uint64_t>(epoch), kShuffleTag});
      for (int64_t i = size - 1; i > 0; --i) std::swap(indices[i], indices[rng.below(i + 1)]);
    }
    return indices;
  }

  Batch build(int64_t global, int64_t& bad, std::vector<std::string>& reasons) {
    int64_t epoch = global / per_epoch, number = global % per_epoch;
    std::vector<int64_t> visit = order(epoch);
    int64_t first = number * options.batch_size;
    int64_t count = std::min(options.batch_size, size - first);
    Batch batch;
    batch.epoch = epoch;
    batch.number = number;
    batch.size = count;
    for (int64_t i = 0; i < count; ++i) {
      Sample sample;
      int64_t position = first + i, index = visit[position];
      for (int attempt = 0;; ++attempt) {
        index = visit[(position + attempt) % size];
        try {
          sample = make_sample(index, CounterRng({options.seed, static_cast<uint64_t>(epoch),
                                                  static_cast<uint64_t>(index)}));
          break;
        } catch (const fovea::Error& e) {
          if (!options.skip_bad || attempt + 1 >= std::min<int64_t>(kMaxReplacements, size)) throw;
          ++bad;
          if (reasons.size() < kMaxBadReasons) reasons.push_back(e.what());
        }
      }
      FOVEA_CHECK(!sample.views.empty(), kOp, "sample ", index, " has no views");
      const FloatClip& v0 = sample.views[0];
      if (i == 0) {
        batch.views = static_cast<int64_t>(sample.views.size());
        batch.channels = v0.channels;
        batch.frames = v0.frames;
        batch.height = v0.height;
        batch.width = v0.width;
        batch.data.resize(static_cast<size_t>(count * batch.sample_numel()));
      }
      FOVEA_CHECK(static_cast<int64_t>(sample.views.size()) == batch.views, kOp, "sample ", index,
                  " has ", sample.views.size(), " views, the batch's first sample has ", batch.views);
      float* out = batch.data.data() + i * batch.sample_numel();
      for (const FloatClip& view : sample.views) {
        FOVEA_CHECK(view.channels == batch.channels && view.frames == batch.frames &&
                        view.height == batch.height && view.width == batch.width,
                    kOp, "sample ", index, " has a view of shape [", view.channels, ",", view.frames,
                    ",", view.height, ",", view.width, "], the batch uses [", batch.channels, ",",
                    batch.frames, ",", batch.height, ",", batch.width,
                    "]; resize or crop every item to one size");
        std::memcpy(out, view.data.data(), view.data.size() * sizeof(float));
        out += view.numel();
      }
      batch.labels.push_back(sample.label);
      batch.indices.push_back(index);
    }
    return batch;
  }

  void work() {
    std::unique_lock lock(mutex);
    while (true) {
      work_ready.wait(lock, [&] {
        return stopping || next_claim < consumer + options.prefetch_batches;
      });
      if (stopping) return;
      int64_t global = next_claim++;
      uint64_t my_generation = generation;
      lock.unlock();
      Slot slot;
      try {
        slot.batch = build(global, slot.bad, slot.reasons);
      } catch (...) {
        slot.error = std::current_exception();
      }
      lock.lock();
      if (my_generation != generation) continue;
      ready[global] = std::move(slot);
      batch_ready.notify_all();
    }
  }
};

Loader::Loader(int64_t dataset_size, SampleFn make_sample, const LoaderOptions& options)
    : state_(std::make_unique<State>()) {
  FOVEA_CHECK(dataset_size > 0, kOp, "the dataset is empty; check its root, split files and skipped items");
  FOVEA_CHECK(options.batch_size > 0 && options.workers > 0 && options.prefetch_batches > 0, kOp,
              "batch_size, workers and prefetch_batches must be positive, got ", options.batch_size,
              ", ", options.workers, ", ", options.prefetch_batches);
  int64_t per_epoch = options.drop_last ? dataset_size / options.batch_size
                                        : (dataset_size + options.batch_size - 1) / options.batch_size;
  FOVEA_CHECK(per_epoch > 0, kOp, "the dataset has ", dataset_size,
              " items, fewer than one batch of ", options.batch_size, " with drop_last");
  State& s = *state_;
  s.size = dataset_size;
  s.make_sample = std::move(make_sample);
  s.options = options;
  s.per_epoch = per_epoch;
  for (int w = 0; w < options.workers; ++w) s.workers.emplace_back([&s] { s.work(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->work_ready.notify_all();
  for (auto& t : state_->workers) t.join();
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  if (!s.started) s.started = Clock::now();
  if (s.epoch_end_pending) {
    s.epoch_end_pending = false;
    return std::nullopt;
  }
  int64_t global = s.consumer;
  auto wait_start = Clock::now();
  s.batch_ready.wait(lock, [&] { return s.ready.count(global) > 0; });
  s.stats.wait_seconds += std::chrono::duration<double>(Clock::now() - wait_start).count();
  State::Slot slot = std::move(s.ready[global]);
  s.ready.erase(global);
  ++s.consumer;
  s.epoch_end_pending = s.consumer % s.per_epoch == 0;
  s.work_ready.notify_all();
  s.stats.bad_samples += slot.bad;
  for (auto& r : slot.reasons)
    if (s.stats.bad_reasons.size() < kMaxBadReasons) s.stats.bad_reasons.push_back(std::move(r));
  if (slot.error) std::rethrow_exception(slot.error);
  ++s.stats.batches;
  s.stats.samples += slot.batch->size;
  return std::move(slot.batch);
}

int64_t Loader::batches_per_epoch() const { return state_->per_epoch; }

LoaderPosition Loader::position() const {
  std::lock_guard lock(state_->mutex);
  // A pending end-of-epoch marker still belongs to the finished epoch's position.
  int64_t global = state_->consumer;
  if (state_->epoch_end_pending) return {global / state_->per_epoch - 1, state_->per_epoch};
  return {global / state_->per_epoch, global % state_->per_epoch};
}

void Loader::restore(const LoaderPosition& position) {
  State& s = *state_;
  FOVEA_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch <= s.per_epoch, kOp,
              "cannot restore to epoch ", position.epoch, " batch ", position.batch, ": an epoch has ",
              s.per_epoch, " batches");
  std::lock_guard lock(s.mutex);
  ++s.generation;
  s.ready.clear();
  int64_t global = position.epoch * s.per_epoch + position.batch;
  s.epoch_end_pending = position.batch == s.per_epoch;
  s.consumer = s.next_claim = global;
  s.work_ready.notify_all();
}

LoaderStats Loader::stats() const {
  std::lock_guard lock(state_->mutex);
  LoaderStats out = state_->stats;
  if (state_->started)
    out.elapsed_seconds = std::chrono::duration<double>(Clock::now() - *state_->started).count();
  return out;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const { return state_->order(epoch); }

SampleFn video_sample_fn(const Dataset& dataset, const VideoSampleOptions& options) {
  auto items = std::make_shared<const std::vector<MediaItem>>(dataset.items);
  return [items, options](int64_t index, CounterRng rng) {
    const MediaItem& item = items->at(static_cast<size_t>(index));
    std::optional<VideoReader> reader;
    int64_t frames = item.frames;
    if (item.kind == MediaKind::Video) {
      reader.emplace(item.path, options.decode);
      frames = reader->info().frames;
    }
    auto read = [&](const std::vector<int64_t>& indices) {
      return reader ? reader->read_frames(indices) : read_item_frames(item, indices, options.decode);
    };
    CounterRng sampling_rng = rng.fork(0x53414D50);
    Sample sample;
    sample.label = item.label;
    switch (options.sampling) {
      case ClipSampling::RandomClip:
        sample.views.push_back(augment_clip(
            read(random_clip_indices(frames, options.clip_frames, options.stride, sampling_rng)),
            options.augment, rng.fork(1)));
        break;
      case ClipSampling::TwoClips: {
        auto clips = two_clip_indices(frames, sampling_rng, options.clip_frames, options.stride);
        for (int v = 0; v < 2; ++v)
          sample.views.push_back(augment_clip(read(clips[v]), options.augment, rng.fork(1 + v)));
        break;
      }
      case ClipSampling::UniformClips:
        for (const auto& clip : uniform_clip_indices(frames, options.uniform_clips, options.clip_frames,
                                                     options.stride))
          sample.views.push_back(augment_clip(read(clip), options.augment, rng.fork(1)));
        break;
      case ClipSampling::DpcBlocks: {
        auto indices = dpc_indices(frames, sampling_rng, options.dpc);
        FOVEA_CHECK(!indices.empty(), kOp, "'", item.path, "' has ", frames,
                    " frames; DPC sampling needs at least ", options.dpc.min_frames(),
                    "; load the dataset with min_frames = ", options.dpc.min_frames(),
                    " to leave such videos out");
        FloatClip all = augment_clip(read(indices), options.augment, rng.fork(1));
        int64_t plane = all.height * all.width;
        for (int64_t b = 0; b < options.dpc.blocks; ++b) {
          FloatClip block(all.channels, options.dpc.block_frames, all.height, all.width);
          for (int64_t c = 0; c < all.channels; ++c)
            std::memcpy(block.plane(c, 0), all.plane(c, b * options.dpc.block_frames),
                        static_cast<size_t>(options.dpc.block_frames * plane) * sizeof(float));
          sample.views.push_back(std::move(block));
        }
        break;
      }
    }
    return sample;
  };
}

}  // namespace fovea::data
