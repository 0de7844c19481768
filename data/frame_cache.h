// An optional LRU cache of decoded frames for datasets read many times: entries are keyed by
// (video, output size, frame index), the cache is bounded by the bytes of the pixels it holds,
// and it counts hits, misses and evictions. One cache is shared by all loader workers: lookups
// and insertions take a lock, decoding the missing frames does not.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "data/clip.h"
#include "data/video_reader.h"

namespace fovea::data {

struct FrameCacheStats {
  int64_t hits = 0, misses = 0;  // distinct frames of each read found / not found
  int64_t evictions = 0;
  int64_t frames = 0, bytes = 0;  // held now
  int64_t budget_bytes = 0;
  double hit_rate() const { return hits + misses > 0 ? static_cast<double>(hits) / (hits + misses) : 0; }
};

class FrameCache {
 public:
  // Decodes the given distinct, ascending frame indices of one video into a clip, frame i of the
  // clip being frames[i].
  using DecodeFn = std::function<Clip(std::span<const int64_t> frames)>;

  // budget_bytes bounds the pixel bytes held (a 320×240 RGB frame takes 230 KB).
  explicit FrameCache(int64_t budget_bytes);
  ~FrameCache();
  FrameCache(const FrameCache&) = delete;
  FrameCache& operator=(const FrameCache&) = delete;

  // Frames `indices` (any order, repeats allowed) of `video` decoded at options' output size:
  // cached frames are copied, the missing ones decoded by one call of `decode` and cached,
  // least recently used frames making room. Errors of `decode` propagate; nothing is cached then.
  Clip read(const std::string& video, const DecodeOptions& options, std::span<const int64_t> indices,
            const DecodeFn& decode);
  FrameCacheStats stats() const;
  void clear();  // drops every frame; the counters stay

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fovea::data
