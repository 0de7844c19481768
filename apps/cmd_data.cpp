// `fovea data ...`: synth writes the synthetic UCF101-layout dataset, scan checks every file
// of a dataset once, reports the bad ones and writes the index (and optionally splits).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "apps/command.h"
#include "data/scan.h"
#include "data/synthetic.h"
#include "data/video_writer.h"
#include "engine/error.h"

namespace {

using namespace fovea::data;

const char* kDataHelp =
    "usage: fovea data <subcommand> [flags]\n"
    "\n"
    "subcommands:\n"
    "  synth   write a synthetic action-video dataset (UCF101 layout with split files)\n"
    "  scan    check every video/image of a dataset, report bad files, write an index\n"
    "\n"
    "run `fovea data <subcommand> --help` for its flags\n";

const char* kSynthHelp =
    "usage: fovea data synth --out DIR --seed N [--videos N] [--frames N] [--size WxH]\n"
    "                        [--fps N] [--codec NAME]\n"
    "\n"
    "Writes DIR/Class/v_Class_gXX_c01.mp4 plus classInd.txt, trainlist01.txt and\n"
    "testlist01.txt. Eight classes that differ only by the motion of a textured object;\n"
    "appearance is random per video. The same seed gives the same videos.\n"
    "\n"
    "  --out DIR      output folder (created if missing)\n"
    "  --seed N       random seed (required)\n"
    "  --videos N     number of videos, spread round-robin over the classes (default 32)\n"
    "  --frames N     frames per video (default 128; DPC sampling needs more than 120)\n"
    "  --size WxH     frame size, even numbers (default 128x128)\n"
    "  --fps N        frame rate (default 25)\n"
    "  --codec NAME   FFmpeg encoder (default libx264, or mpeg4 when libx264 is missing)\n";

const char* kScanHelp =
    "usage: fovea data scan DIR [--index FILE] [--write-splits] [--threads N]\n"
    "\n"
    "Opens every video, image and frame folder under DIR (DIR/Class/..., or videos directly\n"
    "in DIR), decodes its first and last frames, and reports every file that fails. Writes\n"
    "the index (path, class, frames, fps, size) of the good files, which datasets load\n"
    "instead of probing each file again.\n"
    "\n"
    "  --index FILE     where to write the index (default DIR/fovea_index.tsv)\n"
    "  --write-splits   also write classInd.txt, trainlist01.txt, testlist01.txt (every 4th\n"
    "                   item of a class is test); never overwrites existing split files\n"
    "  --threads N      files checked in parallel (default: all cores)\n"
    "\n"
    "exit status: 0 all files good, 2 bad files found, 1 usage or I/O error\n";

struct UsageError {
  std::string text;
};

// Parses "--flag value" pairs and bare "--switch" flags; the rest are positional.
struct Flags {
  std::map<std::string, std::string> values;
  std::set<std::string> switched_on;
  std::vector<std::string> positional;
  bool help = false;

  Flags(int argc, char** argv, const std::vector<std::string>& with_value,
        const std::vector<std::string>& switches, const std::string& command) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        help = true;
      } else if (std::find(with_value.begin(), with_value.end(), arg) != with_value.end()) {
        if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
        values[arg] = argv[++i];
      } else if (std::find(switches.begin(), switches.end(), arg) != switches.end()) {
        switched_on.insert(arg);
      } else if (arg.starts_with("-")) {
        throw UsageError{fovea::detail::concat("unknown flag '", arg, "' for `fovea data ", command, "`")};
      } else {
        positional.push_back(arg);
      }
    }
  }

  bool has(const std::string& flag) const { return values.count(flag) > 0 || switched_on.count(flag) > 0; }

  long long integer(const std::string& flag, long long fallback, long long min, long long max) const {
    auto it = values.find(flag);
    if (it == values.end()) return fallback;
    char* end = nullptr;
    long long value = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || value < min || value > max)
      throw UsageError{flag + " must be an integer in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got '" + it->second + "'"};
    return value;
  }
};

// A one-line progress bar redrawn on stderr.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), start_(Clock::now()) {}
  void update(int64_t done, int64_t total) {
    constexpr int kWidth = 30;
    int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
    double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  %.1fs", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), seconds);
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  Clock::time_point start_;
};

int synth(int argc, char** argv) {
  Flags flags(argc, argv, {"--out", "--seed", "--videos", "--frames", "--size", "--fps", "--codec"}, {},
              "synth");
  if (flags.help) {
    std::fputs(kSynthHelp, stdout);
    return 0;
  }
  if (!flags.positional.empty()) throw UsageError{"unexpected argument '" + flags.positional[0] + "'"};
  if (!flags.has("--out")) throw UsageError{"--out DIR is required"};
  if (!flags.has("--seed")) throw UsageError{"--seed N is required"};
  SynthOptions options;
  options.out_dir = flags.values["--out"];
  options.seed = static_cast<uint64_t>(flags.integer("--seed", 0, 0, INT64_MAX));
  options.videos = static_cast<int>(flags.integer("--videos", options.videos, 1, 100000));
  options.frames = static_cast<int>(flags.integer("--frames", options.frames, 1, 100000));
  options.fps = static_cast<int>(flags.integer("--fps", options.fps, 1, 1000));
  if (flags.has("--size")) {
    int w = 0, h = 0;
    char tail = 0;
    if (std::sscanf(flags.values["--size"].c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 16 ||
        h < 16 || w % 2 || h % 2)
      throw UsageError{"--size must be WxH with even W, H >= 16, got '" + flags.values["--size"] + "'"};
    options.width = w;
    options.height = h;
  }
  if (flags.has("--codec")) {
    options.codec = flags.values["--codec"];
    if (!encoder_available(options.codec))
      throw UsageError{"this FFmpeg build has no encoder '" + options.codec + "'; try libx264 or mpeg4"};
  }
  std::string codec = options.codec.empty() ? default_video_codec() : options.codec;
  if (codec != "libx264")
    std::fprintf(stderr, "note: encoding with %s (%s)\n", codec.c_str(),
                 options.codec.empty() ? "libx264 is not in this FFmpeg build" : "as asked");
  ProgressBar bar("synth");
  options.progress = [&](int done, int total) { bar.update(done, total); };
  SynthResult result = write_synthetic_dataset(options);
  std::printf("wrote %zu videos (%zu train, %zu test) of %d frames at %dx%d, %zu classes, codec %s, to %s\n",
              result.train.size() + result.test.size(), result.train.size(), result.test.size(),
              options.frames, options.width, options.height, result.classes.size(), result.codec.c_str(),
              options.out_dir.c_str());
  return 0;
}

int scan(int argc, char** argv) {
  Flags flags(argc, argv, {"--index", "--threads"}, {"--write-splits"}, "scan");
  if (flags.help) {
    std::fputs(kScanHelp, stdout);
    return 0;
  }
  if (flags.positional.size() != 1) throw UsageError{"give exactly one dataset folder"};
  ScanOptions options;
  options.index_path = flags.has("--index") ? flags.values["--index"] : "";
  options.write_splits = flags.has("--write-splits");
  options.threads = static_cast<int>(flags.integer("--threads", 0, 0, 1024));
  ProgressBar bar("scan");
  options.progress = [&](int64_t done, int64_t total) { bar.update(done, total); };
  ScanReport report = scan_dataset(flags.positional[0], options);
  for (const auto& bad : report.bad) std::printf("BAD %s\n    %s\n", bad.path.c_str(), bad.reason.c_str());
  int64_t frames = 0;
  for (const auto& item : report.good) frames += item.frames;
  std::printf("%zu good, %zu bad, %zu classes, %lld frames in the good files\n", report.good.size(),
              report.bad.size(), report.classes.size(), static_cast<long long>(frames));
  if (!report.index_path.empty()) std::printf("index: %s\n", report.index_path.c_str());
  for (const auto& file : report.written_split_files) std::printf("split file: %s\n", file.c_str());
  return report.bad.empty() ? 0 : 2;
}

int data_command(int argc, char** argv) {
  std::string sub = argc >= 2 ? argv[1] : "";
  try {
    if (sub == "synth") return synth(argc - 1, argv + 1);
    if (sub == "scan") return scan(argc - 1, argv + 1);
    if (sub == "--help" || sub == "-h" || sub == "help") {
      std::fputs(kDataHelp, stdout);
      return 0;
    }
    throw UsageError{sub.empty() ? "missing subcommand" : "unknown subcommand '" + sub + "'"};
  } catch (const UsageError& e) {
    std::fprintf(stderr, "fovea data%s%s: %s\nrun `fovea data%s%s --help` for usage\n",
                 sub.empty() ? "" : " ", sub.c_str(), e.text.c_str(), sub == "synth" || sub == "scan" ? " " : "",
                 sub == "synth" || sub == "scan" ? sub.c_str() : "");
    return 1;
  } catch (const fovea::Error& e) {
    std::fprintf(stderr, "fovea data %s: error: %s\n", sub.c_str(), e.what());
    return 1;
  }
}

}  // namespace

FOVEA_COMMAND("data", "synthetic datasets (synth) and dataset checks with an index (scan)", data_command);
