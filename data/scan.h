// `fovea data scan`: checks every video, image or frame folder of a dataset once (opens it,
// decodes its first and last frames, reads its metadata), reports every bad file, and
// writes the index that datasets load instead of probing files again; optionally writes
// UCF101-style split files for a folder of class folders.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace fovea::data {

struct ScanOptions {
  std::string index_path{};  // "" writes ROOT/fovea_index.tsv
  bool write_index = true;
  // classInd.txt, trainlist01.txt, testlist01.txt in ROOT: every 4th item of each class
  // (sorted by name) is test. Refuses to overwrite existing split files.
  bool write_splits = false;
  int threads = 0;  // 0: hardware concurrency
  std::function<void(int64_t done, int64_t total)> progress{};
};

struct ScanReport {
  std::string root, index_path;  // index_path "" when none was written
  std::vector<std::string> classes;
  std::vector<MediaItem> good;
  std::vector<BadItem> bad;
  std::vector<std::string> written_split_files;
};

// Finds ROOT/Class/{videos, images, frame folders} and videos directly in ROOT (unlabelled).
ScanReport scan_dataset(const std::string& root, const ScanOptions& options = {});

}  // namespace fovea::data
