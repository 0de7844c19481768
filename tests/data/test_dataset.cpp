// Dataset tests: the synthetic UCF101-layout dataset (layout, split formats, determinism,
// motion classes), UCF101/HMDB51 split parsing, class folders, frame folders, the scan
// index, and the bad-item cases (missing videos named in split files, corrupt files) with
// and without skip_bad.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/sampler.h"
#include "data/image_io.h"
#include "data/scan.h"
#include "data/synthetic.h"
#include "data/video_reader.h"
#include "data/video_writer.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;
namespace fs = std::filesystem;

namespace {

SynthResult small_synth(const std::string& out, uint64_t seed, int videos = 16) {
  SynthOptions options;
  options.out_dir = out;
  options.seed = seed;
  options.videos = videos;
  options.frames = 24;
  options.width = options.height = 32;
  return write_synthetic_dataset(options);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("dataset synthetic writes ucf101 layout and official split formats") {
    TempDir dir;
    std::string root = dir.file("synth");
    SynthResult result = small_synth(root, 7);
    CHECK(result.classes.size() == 8);
    CHECK(result.train.size() + result.test.size() == 16);
    CHECK(result.test.size() == 8);  // 2 groups per class: group 1 is test

    auto class_lines = lines_of(root + "/classInd.txt");
    REQUIRE(class_lines.size() == 8);
    CHECK(class_lines[0] == "1 " + synthetic_class_names()[0]);
    auto train_lines = lines_of(root + "/trainlist01.txt");
    REQUIRE(train_lines.size() == 8);
    CHECK(train_lines[0] == "MoveLeft/v_MoveLeft_g02_c01.mp4 1");
    auto test_lines = lines_of(root + "/testlist01.txt");
    REQUIRE(test_lines.size() == 8);
    CHECK(test_lines[1] == "MoveRight/v_MoveRight_g01_c01.mp4");

    VideoInfo info = probe_video(root + "/MoveUp/v_MoveUp_g01_c01.mp4");
    CHECK(info.frames == 24);
    CHECK(info.width == 32);
    if (encoder_available("libx264")) CHECK(info.codec == "h264");

    Dataset train = load_ucf101(root, 1, Subset::Train);
    Dataset test = load_ucf101(root, 1, Subset::Test);
    CHECK(train.items.size() == 8);
    CHECK(test.items.size() == 8);
    CHECK(test.items[3].label == 3);
    CHECK(train.classes == result.classes);
  }

  TEST_CASE("dataset synthetic is deterministic and classes differ by motion") {
    Clip a = render_synthetic_video(0, 11, 3, 12, 48, 48);
    Clip b = render_synthetic_video(0, 11, 3, 12, 48, 48);
    CHECK(a.data == b.data);
    Clip other_seed = render_synthetic_video(0, 12, 3, 12, 48, 48);
    CHECK(a.data != other_seed.data);

    // Same seed and video index, hence the same appearance, but different motion classes.
    const int64_t frames = 20;
    Clip left = render_synthetic_video(0, 5, 1, frames, 64, 64);
    Clip right = render_synthetic_video(1, 5, 1, frames, 64, 64);
    Clip up = render_synthetic_video(2, 5, 1, frames, 64, 64);
    CHECK(left.frame(0)[0] == right.frame(0)[0]);
    // Frame 0 is identical across classes (same start pose); the object then moves apart.
    CHECK(std::equal(left.frame(0), left.frame(0) + left.frame_size(), right.frame(0)));
    CHECK(frame_mad(left, frames - 1, right, frames - 1) > 1.0);
    CHECK(frame_mad(left, frames - 1, up, frames - 1) > 1.0);

    // Appearance is randomised per video: two videos of one class look different.
    Clip left_again = render_synthetic_video(0, 5, 2, frames, 64, 64);
    CHECK(frame_mad(left, 0, left_again, 0) > 10.0);
  }

  TEST_CASE("dataset hmdb51 per-class split files and class folders") {
    TempDir dir;
    std::string root = dir.file("hmdb");
    fs::create_directories(root + "/splits");
    Clip clip = make_test_clip(6, 16, 16);
    for (const char* cls : {"climb", "wave"}) {
      fs::create_directories(root + "/" + cls);
      std::ofstream split(root + "/splits/" + cls + "_test_split1.txt");
      for (int v = 0; v < 3; ++v) {
        std::string name = std::string(cls) + "_" + std::to_string(v) + ".avi";
        write_video(root + "/" + cls + "/" + name, clip, {.codec = "mpeg4"});
        split << name << ' ' << (v == 0 ? 2 : v == 1 ? 1 : 0) << " \r\n";  // official files end lines with " \r\n"
      }
    }
    Dataset train = load_hmdb51(root, 1, Subset::Train, {}, root + "/splits");
    Dataset test = load_hmdb51(root, 1, Subset::Test, {}, root + "/splits");
    CHECK(train.classes == std::vector<std::string>{"climb", "wave"});
    REQUIRE(train.items.size() == 2);
    REQUIRE(test.items.size() == 2);
    CHECK(train.items[1].path.ends_with("wave/wave_1.avi"));
    CHECK(train.items[1].label == 1);
    CHECK(test.items[0].path.ends_with("climb/climb_0.avi"));

    write_video(root + "/film.mp4", clip, {.codec = default_video_codec()});
    Dataset folders = load_video_folders(root, {.probe = true});
    CHECK(folders.classes == std::vector<std::string>{"climb", "wave"});  // "splits" holds no video
    REQUIRE(folders.items.size() == 7);
    CHECK(folders.items[0].label == -1);  // videos directly in the root are unlabelled
    CHECK(folders.items[4].label == 1);
    CHECK(folders.items[4].frames == 6);
  }

  TEST_CASE("dataset scan writes an index that datasets load instead of probing") {
    TempDir dir;
    std::string root = dir.file("synth");
    small_synth(root, 3, 8);
    std::vector<int64_t> progress;
    ScanReport report = scan_dataset(root, {.progress = [&](int64_t done, int64_t) { progress.push_back(done); }});
    CHECK(report.bad.empty());
    CHECK(report.good.size() == 8);
    CHECK(progress.size() == 8);
    CHECK(fs::exists(root + "/fovea_index.tsv"));
    auto entries = read_index(report.index_path);
    REQUIRE(entries.size() == 8);
    CHECK(entries[0].frames == 24);
    CHECK(entries[0].fps == doctest::Approx(25.0));
    CHECK(entries[0].width == 32);

    Dataset ds = load_ucf101(root, 1, Subset::Train);
    CHECK(ds.index_used == report.index_path);
    for (const auto& item : ds.items) CHECK(item.frames == 24);
    // min_frames filters on index metadata.
    Dataset long_only = load_ucf101(root, 1, Subset::Train, {.min_frames = 25});
    CHECK(long_only.items.empty());
    CHECK(long_only.too_short.size() == ds.items.size());
  }

  TEST_CASE("dataset frame folders and image folders") {
    TempDir dir;
    std::string frames_root = dir.file("frames");
    Clip clip = make_test_clip(4, 12, 16);
    fs::create_directories(frames_root + "/jump/v1");
    for (int t = 0; t < 4; ++t) {
      char name[32];
      std::snprintf(name, sizeof name, "/image_%05d.png", t + 1);
      write_png(frames_root + "/jump/v1" + name, clip, t);
    }
    // PNG frames under .jpg names: stb decodes by content, which keeps this test lossless.
    for (int t = 0; t < 4; ++t) {
      char from[32], to[32];
      std::snprintf(from, sizeof from, "/image_%05d.png", t + 1);
      std::snprintf(to, sizeof to, "/image_%05d.jpg", t + 1);
      fs::rename(frames_root + "/jump/v1" + from, frames_root + "/jump/v1" + to);
    }
    Dataset ds = load_frame_folders(frames_root);
    REQUIRE(ds.items.size() == 1);
    CHECK(ds.items[0].frames == 4);
    std::vector<int64_t> indices = {3, 1};
    Clip read = read_item_frames(ds.items[0], indices);
    CHECK(std::equal(read.frame(0), read.frame(0) + read.frame_size(), clip.frame(3)));
    CHECK(std::equal(read.frame(1), read.frame(1) + read.frame_size(), clip.frame(1)));

    std::string images_root = dir.file("images");
    fs::create_directories(images_root + "/cat");
    fs::create_directories(images_root + "/dog");
    write_png(images_root + "/cat/a.png", clip, 0);
    write_png(images_root + "/dog/b.png", clip, 1);
    write_png(images_root + "/dog/c.png", clip, 2);
    Dataset images = load_image_folders(images_root);
    CHECK(images.classes == std::vector<std::string>{"cat", "dog"});
    REQUIRE(images.items.size() == 3);
    CHECK(images.items[2].label == 1);
    CHECK(images.items[2].kind == MediaKind::Image);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("dataset split file naming a missing video errors or skips") {
    TempDir dir;
    std::string root = dir.file("synth");
    small_synth(root, 1, 16);
    std::string missing = root + "/MoveLeft/v_MoveLeft_g09_c01.avi";
    std::ofstream(root + "/trainlist01.txt", std::ios::app) << "MoveLeft/v_MoveLeft_g09_c01.avi 1\r\n";
    std::string text = error_text([&] { load_ucf101(root, 1, Subset::Train); });
    CHECK(text.find(missing) != std::string::npos);
    CHECK(text.find("not found") != std::string::npos);

    Dataset ds = load_ucf101(root, 1, Subset::Train, {.skip_bad = true});
    CHECK(ds.items.size() == 8);
    REQUIRE(ds.skipped.size() == 1);
    CHECK(ds.skipped[0].path == missing);
  }

  TEST_CASE("dataset scan reports corrupt and truncated videos and bad images") {
    TempDir dir;
    std::string root = dir.file("synth");
    small_synth(root, 2, 16);
    std::string corrupt = root + "/MoveUp/v_MoveUp_g01_c01.mp4";
    std::string bytes = read_bytes(corrupt);
    write_bytes(corrupt, bytes.substr(0, bytes.size() / 2));  // truncated: the moov atom is gone
    std::string text_file = root + "/MoveDown/notes.avi";
    write_bytes(text_file, "not a video");
    std::string bad_image = root + "/Oscillate/still.jpg";
    write_bytes(bad_image, "not a jpeg");

    ScanReport report = scan_dataset(root, {.threads = 2});
    CHECK(report.good.size() == 15);
    REQUIRE(report.bad.size() == 3);
    std::vector<std::string> bad_paths;
    for (const auto& bad : report.bad) {
      bad_paths.push_back(bad.path);
      CHECK(bad.reason.find(bad.path) != std::string::npos);
    }
    CHECK(std::count(bad_paths.begin(), bad_paths.end(), corrupt) == 1);
    CHECK(std::count(bad_paths.begin(), bad_paths.end(), text_file) == 1);
    CHECK(std::count(bad_paths.begin(), bad_paths.end(), bad_image) == 1);

    // The index leaves bad files out; loading against it skips (and counts) them.
    std::string error = error_text([&] { load_ucf101(root, 1, Subset::Test); });
    CHECK(error.find(corrupt) != std::string::npos);
    Dataset test = load_ucf101(root, 1, Subset::Test, {.skip_bad = true});
    CHECK(test.items.empty() == false);
    REQUIRE(test.skipped.size() == 1);
    CHECK(test.skipped[0].path == corrupt);

    // Without an index, probing finds the same file.
    Dataset probed = load_ucf101(root, 1, Subset::Test, {.skip_bad = true, .use_index = false, .probe = true});
    REQUIRE(probed.skipped.size() == 1);
    CHECK(probed.skipped[0].reason.find("video") != std::string::npos);

    fs::remove(root + "/classInd.txt");
    CHECK(error_text([&] { load_ucf101(root, 1, Subset::Train); }).find("classInd.txt") != std::string::npos);
    CHECK(error_text([&] { scan_dataset(root, {.write_splits = true}); }).find("already exists") != std::string::npos);
  }
}

TEST_SUITE("e2e") {
  TEST_CASE("dataset synthetic default is long enough for dpc and scans clean") {
    TempDir dir;
    SynthOptions options;
    options.out_dir = dir.file("synth");
    options.seed = 17;
    SynthResult result = write_synthetic_dataset(options);
    CHECK(result.train.size() + result.test.size() >= 20);
    if (!encoder_available("libx264")) MESSAGE("libx264 missing: the default codec fell back to ", result.codec);

    ScanReport report = scan_dataset(options.out_dir);
    CHECK(report.bad.empty());
    REQUIRE(report.good.size() == result.train.size() + result.test.size());
    for (const auto& item : report.good) {
      CHECK(item.frames >= 128);
      CHECK(item.width >= 64);
      CHECK(item.height >= 64);
    }
    Dataset train = load_ucf101(options.out_dir, 1, Subset::Train, {.min_frames = DpcSampling{}.min_frames()});
    CHECK(train.too_short.empty());
    CHECK(train.items.size() == result.train.size());
  }
}
