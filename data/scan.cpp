// Dataset scan: discovery of items, a parallel check of each one, index and split writing.
#include "data/scan.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "data/image_io.h"
#include "engine/error.h"

namespace fovea::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "scan";

bool is_frame_folder(const fs::path& folder) {
  std::error_code ec;
  return fs::exists(folder / "image_00001.jpg", ec);
}

std::vector<fs::path> sorted_entries(const fs::path& folder) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string()[0] != '.') entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

void check_item(MediaItem& item) {
  if (item.kind == MediaKind::FrameFolder) {
    int64_t count = 0;
    for (const auto& entry : fs::directory_iterator(item.path)) {
      std::string name = entry.path().filename().string();
      if (name.starts_with("image_") && name.ends_with(".jpg")) ++count;
    }
    item.frames = count;
  }
  probe_item(item);
  if (item.kind == MediaKind::Image) return;
  // Opening proves little for videos: decode the first and the last frame too.
  std::vector<int64_t> ends = {0, item.frames - 1};
  DecodeOptions options;
  options.threads = 1;
  read_item_frames(item, ends, options);
}

constexpr const char* kSplitFiles[] = {"classInd.txt", "trainlist01.txt", "testlist01.txt"};

void check_no_split_files(const fs::path& root) {
  for (const char* name : kSplitFiles)
    FOVEA_CHECK(!fs::exists(root / name), kOp, "'", (root / name).string(),
                "' already exists; remove the split files first to regenerate them "
                "(fovea never overwrites split files)");
}

void write_splits(ScanReport& report) {
  fs::path root(report.root);
  std::ofstream class_index(root / "classInd.txt"), train(root / "trainlist01.txt"),
      test(root / "testlist01.txt");
  FOVEA_CHECK(class_index && train && test, kOp, "cannot write split files in '", report.root, "'");
  for (size_t c = 0; c < report.classes.size(); ++c) class_index << c + 1 << ' ' << report.classes[c] << '\n';
  std::vector<int64_t> seen(report.classes.size(), 0);
  for (const auto& item : report.good) {
    if (item.label < 0) continue;
    std::string relative = fs::relative(item.path, root).generic_string();
    if (seen[item.label]++ % 4 == 3) test << relative << '\n';
    else train << relative << ' ' << item.label + 1 << '\n';
  }
  for (const char* name : kSplitFiles) report.written_split_files.push_back((root / name).string());
}

}  // namespace

ScanReport scan_dataset(const std::string& root, const ScanOptions& options) {
  std::error_code ec;
  FOVEA_CHECK(fs::is_directory(root, ec), kOp, "'", root, "' is not a folder; give the dataset root");
  if (options.write_splits) check_no_split_files(root);
  ScanReport report;
  report.root = root;
  std::vector<MediaItem> items;
  for (const auto& entry : sorted_entries(root)) {
    if (fs::is_regular_file(entry) && is_video_file(entry.string())) {
      items.push_back({entry.string(), -1, MediaKind::Video});
      continue;
    }
    if (!fs::is_directory(entry)) continue;
    int label = static_cast<int>(report.classes.size());
    bool any = false;
    for (const auto& child : sorted_entries(entry)) {
      MediaItem item{child.string(), label, MediaKind::Video};
      if (fs::is_directory(child)) {
        if (!is_frame_folder(child)) continue;
        item.kind = MediaKind::FrameFolder;
      } else if (is_image_file(child.string())) {
        item.kind = MediaKind::Image;
      } else if (!is_video_file(child.string())) {
        continue;
      }
      items.push_back(std::move(item));
      any = true;
    }
    if (any) report.classes.push_back(entry.filename().string());
  }
  FOVEA_CHECK(!items.empty(), kOp, "no videos, images or frame folders found in '", root,
              "'; expected ROOT/Class/<files> (UCF101, HMDB51, ImageNet layout) or videos in ROOT");

  std::vector<std::string> problems(items.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex progress_mutex;
  auto work = [&] {
    for (size_t i; (i = next++) < items.size();) {
      try {
        check_item(items[i]);
      } catch (const fovea::Error& e) {
        problems[i] = e.message();
      }
      int64_t finished = ++done;
      if (options.progress) {
        std::lock_guard lock(progress_mutex);
        options.progress(finished, static_cast<int64_t>(items.size()));
      }
    }
  };
  int threads = options.threads > 0 ? options.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(items.size())); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();

  for (size_t i = 0; i < items.size(); ++i) {
    if (problems[i].empty()) report.good.push_back(std::move(items[i]));
    else report.bad.push_back({items[i].path, problems[i]});
  }
  if (options.write_index) {
    report.index_path = options.index_path.empty() ? (fs::path(root) / "fovea_index.tsv").string()
                                                   : options.index_path;
    write_index(report.index_path, root, report.classes, report.good);
  }
  if (options.write_splits) write_splits(report);
  return report;
}

}  // namespace fovea::data
