// Loader: a claim counter hands global batch numbers to workers, finished batches wait in a
// map until the trainer asks for them in order; restore() bumps a generation so batches of
// the old position are discarded. For a CUDA device a worker claims a batch only together
// with a free pinned buffer (claims, and so buffers, go in batch order, so the batch the
// trainer waits for always gets one). The trainer's thread enqueues the copies, the copy
// stream first waiting for the trainer's stream, so device memory the trainer freed is never
// overwritten while its kernels may still read it; the batch's device memory is recorded as
// used on the copy stream, so the allocator hands it out again only after the copy, whenever
// and on whichever stream the trainer drops the batch. A buffer is written again only after
// its copy's event has completed.
#include "data/loader.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <thread>

#include "engine/error.h"
#include "fovea/build_config.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace fovea::data {

namespace {
constexpr const char* kOp = "loader";
constexpr uint64_t kShuffleTag = 0x5348554646ull;
constexpr size_t kMaxBadReasons = 20;
constexpr int kMaxReplacements = 16;
using Clock = std::chrono::steady_clock;

// A built batch waits here until the consumer takes it; its bad-sample count enters the
// statistics only then, so prefetched batches of a later epoch do not count early.
struct Slot {
  std::optional<Batch> batch;  // on a CUDA device, data stays undefined until the copy is enqueued
  std::exception_ptr error;
  int64_t bad = 0;
  std::vector<std::string> reasons;
  int pinned = -1;      // pinned buffer holding the samples until their copy is enqueued
  int copy_event = -1;  // event recorded after the enqueued copy
};
}  // namespace

#if FOVEA_HAS_CUDA
// Pinned buffers, the copy stream and the events of a loader delivering to a CUDA device.
// Buffer and event lists are fixed or only grow under the loader's mutex; a leased buffer
// belongs to its worker alone.
struct DeviceTransfer {
  struct Buffer {
    void* host = nullptr;
    int64_t bytes = 0;
    std::unique_ptr<cuda::Event> copied = std::make_unique<cuda::Event>(cuda::Event::Timing::off);
    bool pending = false;  // `copied` was recorded after a copy out of this buffer
  };
  Device device;
  cuda::Stream stream;
  std::vector<Buffer> buffers;
  std::vector<int> free_buffers;
  std::vector<std::unique_ptr<cuda::Event>> events;
  std::vector<int> free_events;
  cuda::Event trainer_ready{cuda::Event::Timing::off};
  std::atomic<int64_t> allocated_buffers{0}, allocated_bytes{0};

  DeviceTransfer(Device on, int count) : device(on), buffers(static_cast<size_t>(count)) {
    for (int b = count - 1; b >= 0; --b) free_buffers.push_back(b);
  }
  ~DeviceTransfer() {
    cudaStreamSynchronize(stream.get());
    for (Buffer& b : buffers) cuda::release_pinned(b.host);
  }

  // Worker side: buffer b, holding at least `bytes`, once its last copy has finished.
  float* prepare(int b, int64_t bytes) {
    Buffer& buffer = buffers[static_cast<size_t>(b)];
    if (buffer.pending) buffer.copied->synchronize();
    buffer.pending = false;
    if (buffer.bytes < bytes) {
      if (buffer.host) {
        cuda::release_pinned(buffer.host);
        allocated_bytes -= buffer.bytes;
        --allocated_buffers;
      }
      buffer.host = nullptr;
      buffer.bytes = 0;
      buffer.host = cuda::allocate_pinned(bytes);
      buffer.bytes = bytes;
      allocated_bytes += bytes;
      ++allocated_buffers;
    }
    return static_cast<float*>(buffer.host);
  }

  // Trainer side, under the loader's mutex: enqueues the copy of the slot's samples to a new
  // device tensor and gives its buffer back.
  void upload(Slot& slot) {
    Batch& batch = *slot.batch;
    trainer_ready.record();
    trainer_ready.make_wait(stream.get());
    batch.data = make_tensor({batch.size, batch.views, batch.channels, batch.frames, batch.height, batch.width},
                             DType::f32, device);
    cuda::record_stream(batch.data.raw_data(), stream.get());
    Buffer& buffer = buffers[static_cast<size_t>(slot.pinned)];
    {
      cuda::StreamGuard on_copy_stream(stream.get());
      cuda::copy_bytes_async(batch.data.raw_data(), buffer.host,
                             batch.data.numel() * static_cast<int64_t>(sizeof(float)), cudaMemcpyHostToDevice);
    }
    buffer.copied->record(stream.get());
    buffer.pending = true;
    if (free_events.empty()) {
      events.push_back(std::make_unique<cuda::Event>(cuda::Event::Timing::off));
      free_events.push_back(static_cast<int>(events.size()) - 1);
    }
    slot.copy_event = free_events.back();
    free_events.pop_back();
    events[static_cast<size_t>(slot.copy_event)]->record(stream.get());
    free_buffers.push_back(slot.pinned);
    slot.pinned = -1;
  }

  // Trainer side: the current stream waits for the slot's copy.
  void hand_over(Slot& slot) {
    events[static_cast<size_t>(slot.copy_event)]->make_wait(cuda::current_stream());
    free_events.push_back(slot.copy_event);
    slot.copy_event = -1;
  }

  // A slot dropped unused (restore, error): its buffer and event go back. A pending copy needs
  // no wait: its device memory is recorded on the copy stream, so it is not handed out again
  // before the copy lands.
  void drop(Slot& slot) {
    if (slot.pinned >= 0) free_buffers.push_back(slot.pinned);
    if (slot.copy_event >= 0) free_events.push_back(slot.copy_event);
    slot.pinned = slot.copy_event = -1;
  }
};
#else
struct DeviceTransfer {};
#endif

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
  std::unique_ptr<DeviceTransfer> transfer;  // CUDA device only
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

  // Host memory for `numel` floats of the batch: a CPU tensor, or the slot's pinned buffer.
  float* destination(Batch& batch, [[maybe_unused]] int64_t numel, [[maybe_unused]] int pinned) {
#if FOVEA_HAS_CUDA
    if (transfer) return transfer->prepare(pinned, numel * static_cast<int64_t>(sizeof(float)));
#endif
    batch.data = make_tensor({batch.size, batch.views, batch.channels, batch.frames, batch.height, batch.width},
                             DType::f32);
    return batch.data.data<float>();
  }

  Batch build(int64_t global, Slot& slot) {
    int64_t epoch = global / per_epoch, number = global % per_epoch;
    std::vector<int64_t> visit = order(epoch);
    int64_t first = number * options.batch_size;
    int64_t count = std::min(options.batch_size, size - first);
    Batch batch;
    batch.epoch = epoch;
    batch.number = number;
    batch.size = count;
    float* samples = nullptr;
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
          ++slot.bad;
          if (slot.reasons.size() < kMaxBadReasons) slot.reasons.push_back(e.what());
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
        samples = destination(batch, count * batch.sample_numel(), slot.pinned);
      }
      FOVEA_CHECK(static_cast<int64_t>(sample.views.size()) == batch.views, kOp, "sample ", index,
                  " has ", sample.views.size(), " views, the batch's first sample has ", batch.views);
      float* out = samples + i * batch.sample_numel();
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

  bool can_claim() const {
#if FOVEA_HAS_CUDA
    if (transfer && transfer->free_buffers.empty()) return false;
#endif
    return next_claim < consumer + options.prefetch_batches;
  }

  void release(Slot& slot) {
#if FOVEA_HAS_CUDA
    if (transfer) {
      bool had_buffer = slot.pinned >= 0;
      transfer->drop(slot);
      if (had_buffer) work_ready.notify_all();
    }
#endif
  }

  void work() {
    std::unique_lock lock(mutex);
    while (true) {
      work_ready.wait(lock, [&] { return stopping || can_claim(); });
      if (stopping) return;
      int64_t global = next_claim++;
      uint64_t my_generation = generation;
      Slot slot;
#if FOVEA_HAS_CUDA
      if (transfer) {
        slot.pinned = transfer->free_buffers.back();
        transfer->free_buffers.pop_back();
      }
#endif
      lock.unlock();
      try {
        slot.batch = build(global, slot);
      } catch (...) {
        slot.batch.reset();
        slot.error = std::current_exception();
      }
      lock.lock();
      if (my_generation != generation || slot.error) release(slot);
      if (my_generation != generation) continue;
      ready[global] = std::move(slot);
      batch_ready.notify_all();
    }
  }

  // Trainer side, lock held: enqueues the copy of the batch the trainer takes and, when the
  // next one is already built, its copy too, so that it overlaps the trainer's work.
  void deliver([[maybe_unused]] Slot& slot, [[maybe_unused]] int64_t global) {
#if FOVEA_HAS_CUDA
    if (!transfer) return;
    if (slot.copy_event < 0) transfer->upload(slot);
    else ++stats.copies_ahead;
    auto next = ready.find(global + 1);
    if (next != ready.end() && next->second.batch && next->second.copy_event < 0) transfer->upload(next->second);
    work_ready.notify_all();
    transfer->hand_over(slot);
#endif
  }
};

Loader::Loader(int64_t dataset_size, SampleFn make_sample, const LoaderOptions& options)
    : state_(std::make_unique<State>()) {
  FOVEA_CHECK(dataset_size > 0, kOp, "the dataset is empty; check its root, split files and skipped items");
  FOVEA_CHECK(options.batch_size > 0 && options.workers > 0 && options.prefetch_batches > 0, kOp,
              "batch_size, workers and prefetch_batches must be positive, got ", options.batch_size,
              ", ", options.workers, ", ", options.prefetch_batches);
  FOVEA_CHECK(options.pinned_buffers >= 0, kOp, "pinned_buffers must be 0 (automatic) or positive, got ",
              options.pinned_buffers);
  int64_t per_epoch = options.drop_last ? dataset_size / options.batch_size
                                        : (dataset_size + options.batch_size - 1) / options.batch_size;
  FOVEA_CHECK(per_epoch > 0, kOp, "the dataset has ", dataset_size,
              " items, fewer than one batch of ", options.batch_size, " with drop_last");
  State& s = *state_;
  s.size = dataset_size;
  s.make_sample = std::move(make_sample);
  s.options = options;
  s.per_epoch = per_epoch;
  if (options.device.is_cuda()) {
#if FOVEA_HAS_CUDA
    cuda::require_device(options.device.index, kOp);
    s.transfer = std::make_unique<DeviceTransfer>(
        options.device, options.pinned_buffers > 0 ? options.pinned_buffers : options.prefetch_batches + 2);
#else
    FOVEA_FAIL(kOp, "cannot deliver batches to ", options.device.str(),
               ": this build has no CUDA backend (configure with FOVEA_CUDA=on or emu); use the cpu device");
#endif
  }
  for (int w = 0; w < options.workers; ++w) s.workers.emplace_back([&s] { s.work(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->work_ready.notify_all();
  for (auto& t : state_->workers) t.join();
  std::lock_guard lock(state_->mutex);
  for (auto& [global, slot] : state_->ready) state_->release(slot);
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
  Slot slot = std::move(s.ready[global]);
  s.ready.erase(global);
  ++s.consumer;
  s.epoch_end_pending = s.consumer % s.per_epoch == 0;
  s.work_ready.notify_all();
  s.stats.bad_samples += slot.bad;
  for (auto& r : slot.reasons)
    if (s.stats.bad_reasons.size() < kMaxBadReasons) s.stats.bad_reasons.push_back(std::move(r));
  if (slot.error) std::rethrow_exception(slot.error);
  try {
    s.deliver(slot, global);
  } catch (...) {
    s.release(slot);
    throw;
  }
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
  for (auto& [global, slot] : s.ready) s.release(slot);
  s.ready.clear();
  int64_t global = position.epoch * s.per_epoch + position.batch;
  s.epoch_end_pending = position.batch == s.per_epoch;
  s.consumer = s.next_claim = global;
  s.work_ready.notify_all();
}

LoaderStats Loader::stats() const {
  std::lock_guard lock(state_->mutex);
  LoaderStats out = state_->stats;
#if FOVEA_HAS_CUDA
  if (state_->transfer) {
    out.pinned_buffers = state_->transfer->allocated_buffers;
    out.pinned_bytes = state_->transfer->allocated_bytes;
  }
#endif
  if (state_->started)
    out.elapsed_seconds = std::chrono::duration<double>(Clock::now() - *state_->started).count();
  return out;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const { return state_->order(epoch); }

namespace {

// The frames of one item, read through the cache when there is one; a video is opened only
// when its metadata is unknown or a frame has to be decoded.
class ItemFrames {
 public:
  ItemFrames(const MediaItem& item, const VideoSampleOptions& options) : item_(item), options_(options) {}

  int64_t frames() {
    if (item_.frames >= 0 || item_.kind != MediaKind::Video) return item_.frames;
    return reader().info().frames;
  }
  double fps() {
    if (item_.fps > 0 || item_.kind != MediaKind::Video) return item_.fps;
    return reader().info().fps;
  }
  Clip read(std::span<const int64_t> indices) {
    auto decode = [&](std::span<const int64_t> wanted) {
      return item_.kind == MediaKind::Video ? reader().read_frames(wanted)
                                             : read_item_frames(item_, wanted, options_.decode);
    };
    if (!options_.cache) return decode(indices);
    return options_.cache->read(item_.path, options_.decode, indices, decode);
  }

 private:
  VideoReader& reader() {
    if (!reader_) reader_.emplace(item_.path, options_.decode);
    return *reader_;
  }
  const MediaItem& item_;
  const VideoSampleOptions& options_;
  std::optional<VideoReader> reader_;
};

FloatClip frame_of(const FloatClip& clip, int64_t t) {
  FloatClip out(clip.channels, 1, clip.height, clip.width);
  int64_t plane = clip.height * clip.width;
  for (int64_t c = 0; c < clip.channels; ++c)
    std::memcpy(out.plane(c, 0), clip.plane(c, t), static_cast<size_t>(plane) * sizeof(float));
  return out;
}

// The two frames of a lag or still pair as two one-frame views.
void add_pair(Sample& sample, ItemFrames& source, const std::array<int64_t, 2>& pair,
              const VideoSampleOptions& options, const CounterRng& rng) {
  Clip both = source.read(pair);
  if (options.pair_augment == PairAugment::Shared) {
    FloatClip out = augment_clip(both, options.augment, rng.fork(1));
    for (int64_t v = 0; v < 2; ++v) sample.views.push_back(frame_of(out, v));
    return;
  }
  for (int64_t v = 0; v < 2; ++v) {
    Clip frame(1, both.height, both.width, both.channels);
    std::memcpy(frame.frame(0), both.frame(v), static_cast<size_t>(both.frame_size()));
    sample.views.push_back(augment_clip(frame, options.augment, rng.fork(static_cast<uint64_t>(1 + v))));
  }
}

}  // namespace

SampleFn video_sample_fn(const Dataset& dataset, const VideoSampleOptions& options) {
  FOVEA_CHECK(options.lag_frames >= 0 && options.lag_seconds >= 0, kOp,
              "pair lags must not be negative, got lag_frames ", options.lag_frames, " and lag_seconds ",
              options.lag_seconds);
  auto items = std::make_shared<const std::vector<MediaItem>>(dataset.items);
  return [items, options](int64_t index, CounterRng rng) {
    const MediaItem& item = items->at(static_cast<size_t>(index));
    ItemFrames source(item, options);
    auto read = [&](const std::vector<int64_t>& indices) { return source.read(indices); };
    CounterRng sampling_rng = rng.fork(0x53414D50);
    Sample sample;
    sample.label = item.label;
    switch (options.sampling) {
      case ClipSampling::RandomClip:
        sample.views.push_back(augment_clip(
            read(random_clip_indices(source.frames(), options.clip_frames, options.stride, sampling_rng)),
            options.augment, rng.fork(1)));
        break;
      case ClipSampling::TwoClips: {
        auto clips = two_clip_indices(source.frames(), sampling_rng, options.clip_frames, options.stride);
        for (int v = 0; v < 2; ++v)
          sample.views.push_back(augment_clip(read(clips[v]), options.augment, rng.fork(1 + v)));
        break;
      }
      case ClipSampling::UniformClips:
        for (const auto& clip : uniform_clip_indices(source.frames(), options.uniform_clips, options.clip_frames,
                                                     options.stride))
          sample.views.push_back(augment_clip(read(clip), options.augment, rng.fork(1)));
        break;
      case ClipSampling::DpcBlocks: {
        int64_t frames = source.frames();
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
      case ClipSampling::LagPair:
        add_pair(sample, source, lag_pair_indices(source.frames(), options.lag_frames, sampling_rng), options, rng);
        break;
      case ClipSampling::StillPair:
        add_pair(sample, source,
                 still_pair_indices(source.frames(), source.fps(), options.lag_seconds, sampling_rng), options,
                 rng);
        break;
    }
    return sample;
  };
}

}  // namespace fovea::data
