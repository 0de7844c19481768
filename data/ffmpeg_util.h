// Internal helpers shared by the FFmpeg-based reader and writer: error text of an AVERROR
// code, the size of a file for error messages, and FFmpeg's log level. Not part of the
// public data API.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace fovea::data::detail {

inline std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// Size in bytes, or -1 when the file cannot be stat'ed.
inline int64_t file_size_or_negative(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(size);
}

// FFmpeg logs every concealed error and codec banner to stderr; fovea reports failures
// itself, so only fatal messages pass unless FOVEA_FFMPEG_LOG names a level
// (quiet, error, warning, info, verbose, debug).
inline void set_ffmpeg_log_level_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("FOVEA_FFMPEG_LOG");
    std::string level = env ? env : "";
    int value = AV_LOG_FATAL;
    if (level == "quiet") value = AV_LOG_QUIET;
    if (level == "error") value = AV_LOG_ERROR;
    if (level == "warning") value = AV_LOG_WARNING;
    if (level == "info") value = AV_LOG_INFO;
    if (level == "verbose") value = AV_LOG_VERBOSE;
    if (level == "debug") value = AV_LOG_DEBUG;
    av_log_set_level(value);
  });
}

}  // namespace fovea::data::detail
