// Dataset listings: UCF101 (classInd/trainlist/testlist), HMDB51 (per-class split files,
// 1 = train, 2 = test), folders of class folders holding videos, images (ImageNet layout) or
// frame folders (DPC's image_%05d.jpg), and the index file written by `fovea data scan`
// that gives every item's metadata without probing files again. Bad or missing items either
// stop loading with a fovea::Error naming them or, with skip_bad, are skipped and counted.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "data/clip.h"
#include "data/video_reader.h"

namespace fovea::data {

enum class MediaKind { Video, Image, FrameFolder };

struct MediaItem {
  std::string path;  // openable as is (dataset root joined with the listed name)
  int label = -1;    // 0-based class index, -1 when unlabelled
  MediaKind kind = MediaKind::Video;
  int64_t frames = -1;  // -1: unknown until opened (no index entry, not probed)
  double fps = 0;
  int width = 0, height = 0;
};

struct BadItem {
  std::string path;
  std::string reason;
};

struct Dataset {
  std::string root;
  std::vector<std::string> classes;
  std::vector<MediaItem> items;
  std::vector<BadItem> skipped;       // missing or bad items left out (skip_bad)
  std::vector<BadItem> too_short;     // items left out for having fewer than min_frames frames
  std::string index_used;             // index file the metadata came from, "" if none
};

enum class Subset { Train, Test };

struct DatasetOptions {
  bool skip_bad = false;   // skip and count missing/bad items instead of throwing
  std::string index_path{};  // "" uses ROOT/fovea_index.tsv when it exists
  bool use_index = true;
  // Open every item the index does not describe to read its metadata; implied by min_frames.
  bool probe = false;
  int64_t min_frames = 0;  // leave out items with fewer frames (DPC needs more than 120)
  int probe_threads = 0;   // 0: hardware concurrency
};

// splits_dir "" looks in ROOT, then ROOT/ucfTrainTestlist. split is 1, 2 or 3. Split files
// that name .avi files also match the same name with .mp4/.webm/.mkv (re-encoded copies).
Dataset load_ucf101(const std::string& root, int split, Subset subset,
                    const DatasetOptions& options = {}, const std::string& splits_dir = "");
// splits_dir "" looks in ROOT/testTrainMulti_7030_splits, then ROOT.
Dataset load_hmdb51(const std::string& root, int split, Subset subset,
                    const DatasetOptions& options = {}, const std::string& splits_dir = "");
// ROOT/Class/video.ext, classes sorted by name; videos directly in ROOT (e.g. the films of
// SemanticCMC) are unlabelled (label -1).
Dataset load_video_folders(const std::string& root, const DatasetOptions& options = {});
// ROOT/Class/image.{jpg,jpeg,png,bmp}, classes sorted by name (ImageNet layout).
Dataset load_image_folders(const std::string& root, const DatasetOptions& options = {});
// ROOT/Class/Video/image_00001.jpg ... (frame i of the video is image_{i+1}).
Dataset load_frame_folders(const std::string& root, const DatasetOptions& options = {});

bool is_video_file(const std::string& path);
bool is_image_file(const std::string& path);

// Reads frames of any item kind (a still image repeats for every index), resized to
// out_width x out_height when nonzero. Throws fovea::Error naming the item's path.
Clip read_item_frames(const MediaItem& item, std::span<const int64_t> indices,
                      const DecodeOptions& options = {});

// Index file: tab-separated "path class frames fps width height" per item, path relative to
// the dataset root, class as a name ("-" when unlabelled), after a "# fovea-index v1" line.
void write_index(const std::string& index_path, const std::string& root,
                 const std::vector<std::string>& classes, std::span<const MediaItem> items);
struct IndexEntry {
  std::string relative_path, class_name;
  int64_t frames = 0;
  double fps = 0;
  int width = 0, height = 0;
};
std::vector<IndexEntry> read_index(const std::string& index_path);

// Opens the item and fills frames/fps/size; throws fovea::Error naming the path if bad.
void probe_item(MediaItem& item);

}  // namespace fovea::data
