// FrameCache: a recency list of frames plus a hash map from (source, frame) to list position.
// A source is one (video, output size) pair, interned to a number. Frames are held through
// shared pointers, so a reader copies a frame outside the lock even if it is evicted meanwhile.
#include "data/frame_cache.h"

#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/error.h"

namespace fovea::data {

namespace {
constexpr const char* kOp = "frame_cache";

struct Frame {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};
}  // namespace

struct FrameCache::Impl {
  struct Key {
    int64_t source, frame;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return static_cast<size_t>(static_cast<uint64_t>(k.source) * 0x9E3779B97F4A7C15ull ^
                                 static_cast<uint64_t>(k.frame));
    }
  };
  struct Entry {
    Key key;
    std::shared_ptr<const Frame> frame;
  };

  int64_t budget;
  mutable std::mutex mutex;
  std::unordered_map<std::string, int64_t> sources;
  std::list<Entry> recency;  // most recent first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> entries;
  FrameCacheStats stats;

  int64_t source_id(const std::string& video, const DecodeOptions& options) {
    std::string name = video + '\n' + std::to_string(options.out_width) + 'x' + std::to_string(options.out_height);
    return sources.try_emplace(std::move(name), static_cast<int64_t>(sources.size())).first->second;
  }

  void insert(const Key& key, std::shared_ptr<const Frame> frame) {
    int64_t bytes = static_cast<int64_t>(frame->pixels.size());
    if (bytes > budget || entries.count(key)) return;
    while (stats.bytes + bytes > budget) {
      const Entry& last = recency.back();
      stats.bytes -= static_cast<int64_t>(last.frame->pixels.size());
      entries.erase(last.key);
      recency.pop_back();
      ++stats.evictions;
    }
    recency.push_front({key, std::move(frame)});
    entries[key] = recency.begin();
    stats.bytes += bytes;
  }
};

FrameCache::FrameCache(int64_t budget_bytes) : impl_(std::make_unique<Impl>()) {
  FOVEA_CHECK(budget_bytes > 0, kOp, "the frame cache needs a positive byte budget, got ", budget_bytes,
              "; leave the cache out (a null pointer) to read without one");
  impl_->budget = budget_bytes;
}

FrameCache::~FrameCache() = default;

Clip FrameCache::read(const std::string& video, const DecodeOptions& options, std::span<const int64_t> indices,
                      const DecodeFn& decode) {
  FOVEA_CHECK(!indices.empty(), kOp, "no frames asked of '", video, "'");
  for (int64_t index : indices)
    FOVEA_CHECK(index >= 0, kOp, "frame ", index, " of '", video, "' is negative");
  std::vector<int64_t> wanted(indices.begin(), indices.end());
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());

  Impl& s = *impl_;
  std::vector<std::shared_ptr<const Frame>> found(wanted.size());
  std::vector<int64_t> missing;
  int64_t source = 0;
  {
    std::lock_guard lock(s.mutex);
    source = s.source_id(video, options);
    for (size_t i = 0; i < wanted.size(); ++i) {
      auto it = s.entries.find({source, wanted[i]});
      if (it == s.entries.end()) {
        missing.push_back(wanted[i]);
        continue;
      }
      s.recency.splice(s.recency.begin(), s.recency, it->second);
      found[i] = it->second->frame;
    }
    s.stats.hits += static_cast<int64_t>(wanted.size() - missing.size());
    s.stats.misses += static_cast<int64_t>(missing.size());
  }
  if (!missing.empty()) {
    Clip decoded = decode(missing);
    FOVEA_CHECK(decoded.frames == static_cast<int64_t>(missing.size()), kOp, "decoding ", missing.size(),
                " frames of '", video, "' gave ", decoded.frames, " frames");
    std::lock_guard lock(s.mutex);
    size_t m = 0;
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (found[i]) continue;
      auto frame = std::make_shared<Frame>();
      frame->height = decoded.height;
      frame->width = decoded.width;
      frame->channels = decoded.channels;
      const uint8_t* pixels = decoded.frame(static_cast<int64_t>(m++));
      frame->pixels.assign(pixels, pixels + decoded.frame_size());
      found[i] = frame;
      s.insert({source, wanted[i]}, std::move(frame));
    }
  }

  const Frame& first = *found[0];
  Clip clip(static_cast<int64_t>(indices.size()), first.height, first.width, first.channels);
  for (size_t i = 0; i < indices.size(); ++i) {
    size_t at = static_cast<size_t>(std::lower_bound(wanted.begin(), wanted.end(), indices[i]) - wanted.begin());
    const Frame& frame = *found[at];
    FOVEA_CHECK(frame.height == first.height && frame.width == first.width && frame.channels == first.channels,
                kOp, "frame ", indices[i], " of '", video, "' is ", frame.width, "x", frame.height,
                ", frame ", wanted[0], " is ", first.width, "x", first.height,
                "; the video changed since it was cached: clear() the cache");
    std::memcpy(clip.frame(static_cast<int64_t>(i)), frame.pixels.data(), frame.pixels.size());
  }
  return clip;
}

FrameCacheStats FrameCache::stats() const {
  std::lock_guard lock(impl_->mutex);
  FrameCacheStats out = impl_->stats;
  out.frames = static_cast<int64_t>(impl_->entries.size());
  out.budget_bytes = impl_->budget;
  return out;
}

void FrameCache::clear() {
  std::lock_guard lock(impl_->mutex);
  impl_->entries.clear();
  impl_->recency.clear();
  impl_->stats.bytes = 0;
}

}  // namespace fovea::data
