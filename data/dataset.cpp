// Dataset listing: split-file parsers, folder walkers, index file I/O and the common
// finishing step (existence, index metadata, probing, bad-item and length filtering).
#include "data/dataset.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "data/augment.h"
#include "data/image_io.h"
#include "engine/error.h"

namespace fovea::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "dataset";
constexpr const char* kIndexName = "fovea_index.tsv";

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool has_extension(const std::string& path, std::initializer_list<const char*> extensions) {
  std::string ext = lower(fs::path(path).extension().string());
  return std::any_of(extensions.begin(), extensions.end(), [&](const char* e) { return ext == e; });
}

// One line with trailing CR/LF and surrounding blanks removed (official lists use CRLF).
std::string trim(const std::string& line) {
  size_t begin = line.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  size_t end = line.find_last_not_of(" \t\r\n");
  return line.substr(begin, end - begin + 1);
}

std::vector<std::string> read_lines(const std::string& path, const char* what) {
  std::ifstream in(path);
  FOVEA_CHECK(in, kOp, what, " not found: '", path, "'; check the dataset root and split folder");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(trim(line));
  return lines;
}

std::vector<std::string> sorted_subfolders(const std::string& root) {
  std::error_code ec;
  FOVEA_CHECK(fs::is_directory(root, ec), kOp, "dataset root '", root,
              "' is not a folder; give the folder that holds one sub-folder per class");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && entry.path().filename().string()[0] != '.')
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> sorted_files(const fs::path& folder, bool (*keep)(const std::string&)) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_regular_file() && keep(entry.path().string()))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct Candidate {
  MediaItem item;
  std::string relative;  // path relative to the root, as in split and index files
  std::string problem;   // non-empty: already known to be bad
};

void report_or_skip(Dataset& ds, const DatasetOptions& options, std::vector<BadItem> bad,
                    const std::string& stage) {
  if (bad.empty()) return;
  if (options.skip_bad) {
    ds.skipped.insert(ds.skipped.end(), bad.begin(), bad.end());
    return;
  }
  std::ostringstream text;
  text << bad.size() << " bad item(s) in dataset '" << ds.root << "' (" << stage << "):";
  for (size_t i = 0; i < std::min<size_t>(bad.size(), 10); ++i)
    text << "\n  " << bad[i].path << ": " << bad[i].reason;
  if (bad.size() > 10) text << "\n  ... and " << bad.size() - 10 << " more";
  text << "\nfix or remove them, or load with skip_bad to leave them out "
          "(`fovea data scan` lists every bad file)";
  FOVEA_FAIL(kOp, text.str());
}

std::string find_index(const std::string& root, const DatasetOptions& options) {
  if (!options.use_index) return "";
  if (!options.index_path.empty()) {
    FOVEA_CHECK(fs::exists(options.index_path), kOp, "index file not found: '",
                options.index_path, "'; create it with `fovea data scan ", root, "`");
    return options.index_path;
  }
  std::string path = (fs::path(root) / kIndexName).string();
  return fs::exists(path) ? path : "";
}

void probe_all(std::vector<Candidate*>& todo, int threads) {
  if (todo.empty()) return;
  int workers = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  workers = std::min<int>(workers, static_cast<int>(todo.size()));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < todo.size();) {
      try {
        probe_item(todo[i]->item);
      } catch (const fovea::Error& e) {
        todo[i]->problem = e.message();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// Folders that hold no item of the wanted kind (a split-file folder next to the class
// folders) are not classes: drop them and renumber the labels.
void drop_empty_classes(std::vector<std::string>& classes, std::vector<Candidate>& candidates) {
  std::vector<int> count(classes.size(), 0), new_label(classes.size(), -1);
  for (const auto& c : candidates)
    if (c.item.label >= 0) ++count[c.item.label];
  std::vector<std::string> kept;
  for (size_t i = 0; i < classes.size(); ++i)
    if (count[i] > 0) {
      new_label[i] = static_cast<int>(kept.size());
      kept.push_back(classes[i]);
    }
  for (auto& c : candidates)
    if (c.item.label >= 0) c.item.label = new_label[c.item.label];
  classes = std::move(kept);
}

Dataset finish(std::string root, std::vector<std::string> classes, std::vector<Candidate> candidates,
               const DatasetOptions& options) {
  Dataset ds;
  ds.root = std::move(root);
  ds.classes = std::move(classes);

  std::vector<BadItem> bad;
  std::vector<Candidate> present;
  for (auto& c : candidates) {
    std::error_code ec;
    bool exists = c.item.kind == MediaKind::FrameFolder ? fs::is_directory(c.item.path, ec)
                                                        : fs::is_regular_file(c.item.path, ec);
    if (!c.problem.empty()) bad.push_back({c.item.path, c.problem});
    else if (!exists) bad.push_back({c.item.path, "file not found"});
    else present.push_back(std::move(c));
  }
  report_or_skip(ds, options, std::move(bad), "missing files");

  ds.index_used = find_index(ds.root, options);
  if (!ds.index_used.empty()) {
    std::map<std::string, IndexEntry> by_path;
    for (auto& entry : read_index(ds.index_used)) by_path[entry.relative_path] = entry;
    for (auto& c : present) {
      auto it = by_path.find(c.relative);
      if (it == by_path.end()) {
        c.problem = "not in the index '" + ds.index_used +
                    "' (it was bad when scanned, or added later: rerun `fovea data scan`)";
        continue;
      }
      c.item.frames = it->second.frames;
      c.item.fps = it->second.fps;
      c.item.width = it->second.width;
      c.item.height = it->second.height;
    }
  }
  if (options.probe || options.min_frames > 0) {
    std::vector<Candidate*> todo;
    for (auto& c : present)
      if (c.problem.empty() && c.item.frames < 0) todo.push_back(&c);
    probe_all(todo, options.probe_threads);
  }
  bad.clear();
  for (auto& c : present) {
    if (!c.problem.empty()) {
      bad.push_back({c.item.path, c.problem});
    } else if (c.item.frames >= 0 && c.item.frames < options.min_frames) {
      ds.too_short.push_back({c.item.path, std::to_string(c.item.frames) + " frames, need " +
                                               std::to_string(options.min_frames)});
    } else {
      ds.items.push_back(std::move(c.item));
    }
  }
  report_or_skip(ds, options, std::move(bad), "unreadable or unindexed files");
  return ds;
}

// The listed file, or a re-encoded sibling with another video extension.
std::string resolve_video(const fs::path& root, const std::string& relative) {
  fs::path listed = root / relative;
  std::error_code ec;
  if (fs::exists(listed, ec)) return listed.string();
  for (const char* ext : {".mp4", ".avi", ".webm", ".mkv", ".mov"}) {
    fs::path alternative = listed;
    alternative.replace_extension(ext);
    if (fs::exists(alternative, ec)) return alternative.string();
  }
  return listed.string();
}

std::string first_existing(const std::vector<fs::path>& candidates, const char* what) {
  std::error_code ec;
  for (const auto& p : candidates)
    if (fs::exists(p, ec)) return p.string();
  std::string tried;
  for (const auto& p : candidates) tried += " '" + p.string() + "'";
  FOVEA_FAIL(kOp, what, " not found; looked at", tried,
             "; pass the folder holding the split files explicitly");
}

}  // namespace

bool is_video_file(const std::string& path) {
  return has_extension(path, {".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg",
                              ".flv", ".ogv", ".wmv", ".3gp"});
}

bool is_image_file(const std::string& path) {
  return has_extension(path, {".jpg", ".jpeg", ".png", ".bmp"});
}

Dataset load_ucf101(const std::string& root, int split, Subset subset, const DatasetOptions& options,
                    const std::string& splits_dir) {
  FOVEA_CHECK(split >= 1 && split <= 3, kOp, "UCF101 split must be 1, 2 or 3, got ", split);
  fs::path dir = splits_dir.empty()
                     ? fs::path(first_existing({fs::path(root) / "classInd.txt",
                                                fs::path(root) / "ucfTrainTestlist" / "classInd.txt"},
                                               "UCF101 classInd.txt"))
                           .parent_path()
                     : fs::path(splits_dir);
  std::string class_file = (dir / "classInd.txt").string();
  std::vector<std::string> classes;
  std::map<std::string, int> label_of;
  int line_no = 0;
  for (const auto& line : read_lines(class_file, "UCF101 class index")) {
    ++line_no;
    if (line.empty()) continue;
    std::istringstream fields(line);
    int number = 0;
    std::string name;
    FOVEA_CHECK(fields >> number >> name && number == static_cast<int>(classes.size()) + 1, kOp,
                "'", class_file, "' line ", line_no, " is '", line, "'; expected '",
                classes.size() + 1, " ClassName' (classes numbered from 1 in order)");
    label_of[name] = static_cast<int>(classes.size());
    classes.push_back(name);
  }
  std::string list_file = (dir / ((subset == Subset::Train ? "trainlist0" : "testlist0") +
                                  std::to_string(split) + ".txt"))
                              .string();
  std::vector<Candidate> candidates;
  line_no = 0;
  for (const auto& line : read_lines(list_file, "UCF101 split file")) {
    ++line_no;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string relative;
    int number = 0;
    fields >> relative;
    bool has_label = static_cast<bool>(fields >> number);
    std::string class_name = relative.substr(0, relative.find('/'));
    Candidate c;
    c.item.path = resolve_video(root, relative);
    c.relative = fs::relative(c.item.path, root).generic_string();
    auto it = label_of.find(class_name);
    if (it == label_of.end())
      c.problem = "class folder '" + class_name + "' (" + list_file + " line " +
                  std::to_string(line_no) + ") is not in " + class_file;
    else if (has_label && number != it->second + 1)
      c.problem = "label " + std::to_string(number) + " in " + list_file + " line " +
                  std::to_string(line_no) + " disagrees with " + class_file + " (" +
                  std::to_string(it->second + 1) + " " + class_name + ")";
    else
      c.item.label = it->second;
    candidates.push_back(std::move(c));
  }
  return finish(root, std::move(classes), std::move(candidates), options);
}

Dataset load_hmdb51(const std::string& root, int split, Subset subset, const DatasetOptions& options,
                    const std::string& splits_dir) {
  FOVEA_CHECK(split >= 1 && split <= 3, kOp, "HMDB51 split must be 1, 2 or 3, got ", split);
  std::string suffix = "_test_split" + std::to_string(split) + ".txt";
  fs::path dir = splits_dir;
  if (dir.empty()) {
    dir = fs::path(root) / "testTrainMulti_7030_splits";
    if (!fs::is_directory(dir)) dir = root;
  }
  FOVEA_CHECK(fs::is_directory(dir), kOp, "HMDB51 split folder '", dir.string(), "' not found");
  std::vector<std::string> split_files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix)) split_files.push_back(name);
  }
  std::sort(split_files.begin(), split_files.end());
  FOVEA_CHECK(!split_files.empty(), kOp, "no HMDB51 split files '*", suffix, "' in '",
              dir.string(), "'; unpack test_train_splits.rar there or pass its folder");
  std::vector<std::string> classes;
  std::vector<Candidate> candidates;
  int wanted = subset == Subset::Train ? 1 : 2;
  for (const auto& file : split_files) {
    std::string class_name = file.substr(0, file.size() - suffix.size());
    int label = static_cast<int>(classes.size());
    classes.push_back(class_name);
    std::string path = (dir / file).string();
    int line_no = 0;
    for (const auto& line : read_lines(path, "HMDB51 split file")) {
      ++line_no;
      if (line.empty()) continue;
      std::istringstream fields(line);
      std::string video;
      int role = -1;
      FOVEA_CHECK(fields >> video >> role && role >= 0 && role <= 2, kOp, "'", path, "' line ",
                  line_no, " is '", line, "'; expected 'video.avi N' with N 0, 1 (train) or 2 (test)");
      if (role != wanted) continue;
      Candidate c;
      c.item.path = resolve_video(root, class_name + "/" + video);
      c.relative = fs::relative(c.item.path, root).generic_string();
      c.item.label = label;
      candidates.push_back(std::move(c));
    }
  }
  return finish(root, std::move(classes), std::move(candidates), options);
}

Dataset load_video_folders(const std::string& root, const DatasetOptions& options) {
  std::vector<std::string> classes = sorted_subfolders(root);
  std::vector<Candidate> candidates;
  for (const auto& name : sorted_files(root, is_video_file)) {
    Candidate c;
    c.relative = name;
    c.item.path = (fs::path(root) / name).string();
    candidates.push_back(std::move(c));
  }
  for (size_t label = 0; label < classes.size(); ++label)
    for (const auto& name : sorted_files(fs::path(root) / classes[label], is_video_file)) {
      Candidate c;
      c.relative = classes[label] + "/" + name;
      c.item.path = (fs::path(root) / c.relative).string();
      c.item.label = static_cast<int>(label);
      candidates.push_back(std::move(c));
    }
  drop_empty_classes(classes, candidates);
  return finish(root, std::move(classes), std::move(candidates), options);
}

Dataset load_image_folders(const std::string& root, const DatasetOptions& options) {
  std::vector<std::string> classes = sorted_subfolders(root);
  std::vector<Candidate> candidates;
  for (size_t label = 0; label < classes.size(); ++label)
    for (const auto& name : sorted_files(fs::path(root) / classes[label], is_image_file)) {
      Candidate c;
      c.relative = classes[label] + "/" + name;
      c.item.path = (fs::path(root) / c.relative).string();
      c.item.label = static_cast<int>(label);
      c.item.kind = MediaKind::Image;
      c.item.frames = 1;
      candidates.push_back(std::move(c));
    }
  drop_empty_classes(classes, candidates);
  return finish(root, std::move(classes), std::move(candidates), options);
}

Dataset load_frame_folders(const std::string& root, const DatasetOptions& options) {
  std::vector<std::string> classes = sorted_subfolders(root);
  std::vector<Candidate> candidates;
  for (size_t label = 0; label < classes.size(); ++label)
    for (const auto& video : sorted_subfolders((fs::path(root) / classes[label]).string())) {
      Candidate c;
      c.relative = classes[label] + "/" + video;
      c.item.path = (fs::path(root) / c.relative).string();
      c.item.label = static_cast<int>(label);
      c.item.kind = MediaKind::FrameFolder;
      int64_t count = 0, highest = 0;
      for (const auto& entry : fs::directory_iterator(c.item.path)) {
        std::string name = entry.path().filename().string();
        int number = 0;
        if (std::sscanf(name.c_str(), "image_%d.jpg", &number) == 1 && name.ends_with(".jpg")) {
          ++count;
          highest = std::max<int64_t>(highest, number);
        }
      }
      if (count == 0) c.problem = "no image_%05d.jpg frames in the folder";
      else if (count != highest)
        c.problem = "frames are not numbered 1.." + std::to_string(count) + " (highest is " +
                    std::to_string(highest) + "): some are missing";
      c.item.frames = count;
      candidates.push_back(std::move(c));
    }
  drop_empty_classes(classes, candidates);
  return finish(root, std::move(classes), std::move(candidates), options);
}

namespace {

std::string frame_file(const MediaItem& item, int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "image_%05lld.jpg", static_cast<long long>(index + 1));
  return (fs::path(item.path) / name).string();
}

Image fit(Image image, const DecodeOptions& options) {
  int64_t w = options.out_width, h = options.out_height;
  if (w == 0 && h == 0) return image;
  if (w == 0) w = std::max<int64_t>(1, image.width * h / image.height);
  if (h == 0) h = std::max<int64_t>(1, image.height * w / image.width);
  if (w == image.width && h == image.height) return image;
  return resize(image, h, w, Interpolation::Bilinear);
}

}  // namespace

Clip read_item_frames(const MediaItem& item, std::span<const int64_t> indices,
                      const DecodeOptions& options) {
  if (item.kind == MediaKind::Video) return VideoReader(item.path, options).read_frames(indices);
  Clip clip;
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t index = indices[i];
    FOVEA_CHECK(index >= 0 && (item.frames < 0 || index < item.frames), kOp, "frame ", index,
                " is outside '", item.path, "', which has ", item.frames, " frames");
    Image image = fit(load_image(item.kind == MediaKind::Image ? item.path : frame_file(item, index)),
                      options);
    if (i == 0) clip = Clip(static_cast<int64_t>(indices.size()), image.height, image.width, 3);
    FOVEA_CHECK(image.height == clip.height && image.width == clip.width, kOp, "frame ", index,
                " of '", item.path, "' is ", image.width, "x", image.height, ", earlier frames are ",
                clip.width, "x", clip.height, "; all frames of a video must have one size");
    std::copy(image.data.begin(), image.data.end(), clip.frame(static_cast<int64_t>(i)));
  }
  return clip;
}

void probe_item(MediaItem& item) {
  if (item.kind == MediaKind::Video) {
    VideoInfo info = probe_video(item.path);
    item.frames = info.frames;
    item.fps = info.fps;
    item.width = info.width;
    item.height = info.height;
    return;
  }
  Image first = load_image(item.kind == MediaKind::Image ? item.path : frame_file(item, 0));
  item.width = static_cast<int>(first.width);
  item.height = static_cast<int>(first.height);
  if (item.kind == MediaKind::Image) item.frames = 1;
}

void write_index(const std::string& index_path, const std::string& root,
                 const std::vector<std::string>& classes, std::span<const MediaItem> items) {
  std::string temporary = index_path + ".tmp";
  {
    std::ofstream out(temporary);
    FOVEA_CHECK(out, kOp, "cannot write index '", temporary, "'; is the folder writable?");
    out << "# fovea-index v1\n# path\tclass\tframes\tfps\twidth\theight\n";
    for (const auto& item : items) {
      std::string relative = fs::relative(item.path, root).generic_string();
      std::string class_name = item.label >= 0 && item.label < static_cast<int>(classes.size())
                                   ? classes[item.label]
                                   : "-";
      out << relative << '\t' << class_name << '\t' << item.frames << '\t' << item.fps << '\t'
          << item.width << '\t' << item.height << '\n';
    }
    FOVEA_CHECK(out.good(), kOp, "writing index '", temporary, "' failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(temporary, index_path, ec);
  FOVEA_CHECK(!ec, kOp, "cannot move '", temporary, "' to '", index_path, "': ", ec.message());
}

std::vector<IndexEntry> read_index(const std::string& index_path) {
  std::vector<std::string> lines = read_lines(index_path, "index file");
  FOVEA_CHECK(!lines.empty() && lines[0] == "# fovea-index v1", kOp, "'", index_path,
              "' is not a fovea index (first line must be '# fovea-index v1'); rerun `fovea data scan`");
  std::vector<IndexEntry> entries;
  for (size_t n = 1; n < lines.size(); ++n) {
    if (lines[n].empty() || lines[n][0] == '#') continue;
    std::istringstream fields(lines[n]);
    IndexEntry e;
    std::getline(fields, e.relative_path, '\t');
    std::getline(fields, e.class_name, '\t');
    FOVEA_CHECK(fields >> e.frames >> e.fps >> e.width >> e.height, kOp, "'", index_path, "' line ",
                n + 1, " is malformed: '", lines[n], "'; rerun `fovea data scan`");
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace fovea::data
