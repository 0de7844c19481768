// Video decoding tests: several codec/container pairs decode frame-exactly (within codec
// loss) against the frames that were encoded, range reads seek correctly, metadata is
// right, and every bad-input case raises a fovea::Error that names the file.
#include <doctest/doctest.h>

#include <filesystem>
#include <vector>

#include "data/video_reader.h"
#include "data/video_writer.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;

namespace {

struct Format {
  const char* codec;
  const char* extension;
  double max_mean_error;  // mean absolute error over the clip, u8 levels
};

// 4:2:0 chroma subsampling alone costs about 5 levels on this chroma-heavy test pattern
// (swscale RGB -> YUV420P -> RGB round trip without any codec; 0.4 with 4:4:4), so the
// limits below are that plus the codec's own loss at near-lossless quality.

// Checks that every decoded frame t is within codec loss of reference frame t and closer
// to it than to any other reference frame (the proof that frame indexing is exact).
void check_frames_match(const Clip& reference, const Clip& decoded,
                        const std::vector<int64_t>& indices, double max_mean_error) {
  REQUIRE(decoded.frames == static_cast<int64_t>(indices.size()));
  REQUIRE(decoded.height == reference.height);
  REQUIRE(decoded.width == reference.width);
  double total = 0;
  for (int64_t t = 0; t < decoded.frames; ++t) {
    INFO("decoded frame ", t, " should be video frame ", indices[t]);
    CHECK(closest_frame(reference, decoded, t) == indices[t]);
    total += frame_mad(reference, indices[t], decoded, t);
  }
  double mean_error = total / static_cast<double>(decoded.frames);
  INFO("mean abs error ", mean_error, " (limit ", max_mean_error, ")");
  CHECK(mean_error < max_mean_error);
}

void roundtrip(const Format& format) {
  if (!encoder_available(format.codec)) {
    MESSAGE("skipped: this FFmpeg build has no '", format.codec, "' encoder");
    return;
  }
  TempDir dir;
  std::string path = dir.file(std::string("clip.") + format.extension);
  Clip reference = make_test_clip(40, 64, 64);
  EncodeOptions options;
  options.codec = format.codec;
  options.keyframe_interval = 12;
  write_video(path, reference, options);

  VideoReader reader(path);
  CHECK(reader.info().frames == 40);
  CHECK(reader.info().width == 64);
  CHECK(reader.info().height == 64);
  CHECK(reader.info().fps == doctest::Approx(25.0));
  CHECK(reader.info().duration == doctest::Approx(1.6));
  Clip all = reader.read_all();
  std::vector<int64_t> indices(40);
  for (int64_t i = 0; i < 40; ++i) indices[i] = i;
  check_frames_match(reference, all, indices, format.max_mean_error);

  // Middle range, then backwards (forces seeks in both directions), then strided.
  std::vector<int64_t> middle = {17, 18, 19, 20, 21, 22, 23, 24};
  check_frames_match(reference, reader.read_range(17, 8), middle, format.max_mean_error);
  std::vector<int64_t> scattered = {39, 3, 25, 25, 0, 13};
  check_frames_match(reference, reader.read_frames(scattered), scattered, format.max_mean_error);
  std::vector<int64_t> strided = {5, 8, 11, 14, 17, 20};
  check_frames_match(reference, reader.read_range(5, 6, 3), strided, format.max_mean_error);
}

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("decode video mp4 h264 frame-exact with seeks") { roundtrip({"libx264", "mp4", 7.0}); }
  TEST_CASE("decode video avi mpeg4 frame-exact with seeks") { roundtrip({"mpeg4", "avi", 7.0}); }
  TEST_CASE("decode video webm vp9 frame-exact with seeks") { roundtrip({"libvpx-vp9", "webm", 7.0}); }
  TEST_CASE("decode video mkv mjpeg frame-exact with seeks") { roundtrip({"mjpeg", "mkv", 7.0}); }
  TEST_CASE("decode video mp4 mpeg4 fallback codec frame-exact") { roundtrip({"mpeg4", "mp4", 7.0}); }

  TEST_CASE("decode video threaded equals single-threaded and resizes") {
    TempDir dir;
    std::string path = dir.file("clip.mp4");
    Clip reference = make_test_clip(24, 64, 96);
    write_video(path, reference, {.codec = default_video_codec(), .keyframe_interval = 8});
    DecodeOptions single{.threads = 1};
    DecodeOptions threaded{.threads = 2};
    Clip a = VideoReader(path, single).read_range(6, 10);
    Clip b = VideoReader(path, threaded).read_range(6, 10);
    CHECK(a.data == b.data);

    VideoReader half(path, {.threads = 1, .out_width = 48});
    CHECK(half.out_width() == 48);
    CHECK(half.out_height() == 32);
    Clip small = half.read_range(0, 2);
    CHECK(small.width == 48);
    CHECK(small.height == 32);
  }

  TEST_CASE("decode video probe reports metadata") {
    TempDir dir;
    std::string path = dir.file("clip.mp4");
    write_video(path, make_test_clip(30, 32, 48), {.codec = default_video_codec(), .fps = 15});
    VideoInfo info = probe_video(path);
    CHECK(info.path == path);
    CHECK(info.frames == 30);
    CHECK(info.fps == doctest::Approx(15.0));
    CHECK(info.duration == doctest::Approx(2.0));
    CHECK(info.width == 48);
    CHECK(info.height == 32);
    CHECK(info.keyframes >= 1);
    CHECK(!info.codec.empty());
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("video missing file error names the path") {
    std::string path = "/nonexistent/fovea/missing_video.mp4";
    std::string text = error_text([&] { VideoReader reader(path); });
    CHECK(text.find(path) != std::string::npos);
    CHECK(text.find("not found") != std::string::npos);
  }

  TEST_CASE("video empty and corrupt files error names the path") {
    TempDir dir;
    std::string empty = dir.file("empty.mp4");
    write_bytes(empty, "");
    std::string text = error_text([&] { VideoReader reader(empty); });
    CHECK(text.find(empty) != std::string::npos);
    CHECK(text.find("empty") != std::string::npos);

    std::string garbage = dir.file("garbage.mp4");
    std::string bytes(4096, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919u) >> 3);
    write_bytes(garbage, bytes);
    text = error_text([&] { VideoReader reader(garbage); });
    CHECK(text.find(garbage) != std::string::npos);
  }

  TEST_CASE("video truncated files error names the path") {
    TempDir dir;
    Clip clip = make_test_clip(24, 64, 64);
    for (const char* extension : {"mp4", "avi", "mkv"}) {
      std::string full = dir.file(std::string("full.") + extension);
      write_video(full, clip, {.codec = extension == std::string("mkv") ? "mjpeg" : default_video_codec()});
      std::string bytes = read_bytes(full);
      std::string cut = dir.file(std::string("truncated.") + extension);
      write_bytes(cut, bytes.substr(0, bytes.size() / 2));
      INFO("container ", std::string(extension));
      std::string text = error_text([&] {
        VideoReader reader(cut);
        reader.read_all();
      });
      CHECK(text.find(cut) != std::string::npos);
    }
  }

  TEST_CASE("video with zero frames error names the path") {
    TempDir dir;
    std::string path = dir.file("zero.mp4");
    VideoWriter writer(path, 64, 64, {.codec = default_video_codec()});
    writer.close();
    std::string text = error_text([&] { VideoReader reader(path); });
    CHECK(text.find(path) != std::string::npos);
  }

  TEST_CASE("video with unsupported codec error names the path and codec") {
    TempDir dir;
    std::string good = dir.file("good.avi");
    write_video(good, make_test_clip(8, 32, 32), {.codec = "mpeg4"});
    // Overwrite the FourCC so the demuxer cannot map it to any decoder.
    std::string bytes = read_bytes(good);
    for (size_t at = bytes.find("FMP4"); at != std::string::npos; at = bytes.find("FMP4", at))
      bytes.replace(at, 4, "QQZ9");
    std::string path = dir.file("unknown_codec.avi");
    write_bytes(path, bytes);
    std::string text = error_text([&] { VideoReader reader(path); });
    CHECK(text.find(path) != std::string::npos);
    CHECK(text.find("codec") != std::string::npos);
  }

  TEST_CASE("decode video frame outside the video error names the path") {
    TempDir dir;
    std::string path = dir.file("short.mp4");
    write_video(path, make_test_clip(10, 32, 32), {.codec = default_video_codec()});
    VideoReader reader(path);
    std::string text = error_text([&] { reader.read_range(5, 10); });
    CHECK(text.find(path) != std::string::npos);
    CHECK(text.find("10 frames") != std::string::npos);
  }
}
