// VideoReader: demux-once timestamp table, keyframe seeking and forward decoding to the
// wanted frames, with swscale conversion to RGB24 at the requested size.
#include "data/video_reader.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "data/ffmpeg_util.h"
#include "engine/error.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace fovea::data {

namespace {

constexpr const char* kOp = "video";

std::string size_note(const std::string& path) {
  int64_t bytes = detail::file_size_or_negative(path);
  if (bytes == 0) return " (the file is empty)";
  if (bytes > 0) return " (" + std::to_string(bytes) + " bytes)";
  return "";
}

// Maps YUVJ formats, which swscale deprecates, to their YUV twin with full range.
AVPixelFormat normalised_format(AVPixelFormat format, bool& full_range) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P: full_range = true; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: full_range = true; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: full_range = true; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: full_range = true; return AV_PIX_FMT_YUV440P;
    default: return format;
  }
}

}  // namespace

struct VideoReader::Impl {
  std::string path;
  DecodeOptions options;
  VideoInfo info;
  int out_w = 0, out_h = 0;

  AVFormatContext* format = nullptr;
  AVCodecContext* decoder = nullptr;
  SwsContext* sws = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  int stream = -1;

  // pts[i] is the presentation timestamp of frame i (sorted). When the container gives no
  // usable timestamps, `sequential` is set and frames are numbered in output order after a
  // seek to the start.
  std::vector<int64_t> pts;
  std::vector<int64_t> keyframe_indices;  // sorted frame indices of keyframes
  bool sequential = false;

  // Decoder position: index the next output frame will have, or -1 right after a seek.
  int64_t next_index = -1;
  int64_t sequential_counter = 0;
  bool input_ended = false;

  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&decoder);
    avformat_close_input(&format);
  }

  [[noreturn]] void fail(const std::string& what, const std::string& advice) const {
    FOVEA_FAIL(kOp, what, " '", path, "'", size_note(path), ": ", advice);
  }

  void open() {
    detail::set_ffmpeg_log_level_once();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      FOVEA_FAIL(kOp, "video file not found: '", path, "' (working directory '",
                 std::filesystem::current_path(ec).string(),
                 "'); check the path, the dataset root or the split file that named it");
    if (std::filesystem::is_directory(path, ec))
      FOVEA_FAIL(kOp, "'", path, "' is a directory, not a video file");

    int ret = avformat_open_input(&format, path.c_str(), nullptr, nullptr);
    if (ret < 0)
      fail("cannot open video", "FFmpeg says '" + detail::av_error_text(ret) +
                                    "'; the file is corrupt, truncated or not a video; "
                                    "re-encode it or remove it from the dataset");
    // Probing decodes frames, which costs as much as a clip read; containers with a header
    // (MP4, AVI, Matroska) already describe the stream, so probe only when they do not.
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    bool described = stream >= 0 && format->streams[stream]->codecpar->width > 0 &&
                     format->streams[stream]->codecpar->height > 0 &&
                     format->streams[stream]->codecpar->codec_id != AV_CODEC_ID_NONE;
    if (!described) {
      ret = avformat_find_stream_info(format, nullptr);
      if (ret < 0)
        fail("cannot read the stream parameters of video",
             "FFmpeg says '" + detail::av_error_text(ret) +
                 "'; the file is corrupt or truncated; re-encode it or remove it");
      stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    }
    if (stream < 0)
      fail("no video stream in", "the file holds no decodable video track; remove it");
    AVStream* st = format->streams[stream];
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
      fail("unsupported codec '" + std::string(avcodec_get_name(st->codecpar->codec_id)) +
               "' in video",
           "this FFmpeg build has no decoder for it; re-encode the video, e.g. "
           "`ffmpeg -i in -c:v libx264 out.mp4`");
    if (st->codecpar->width <= 0 || st->codecpar->height <= 0)
      fail("video stream without a frame size in", "the file is corrupt; re-encode it");

    build_timestamp_table();
    open_decoder(codec);

    info.path = path;
    info.frames = static_cast<int64_t>(pts.size());
    info.width = st->codecpar->width;
    info.height = st->codecpar->height;
    info.keyframes = static_cast<int64_t>(keyframe_indices.size());
    info.seekable = !sequential;
    info.codec = codec->name;
    info.container = format->iformat->name;
    AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    if (rate.num > 0 && rate.den > 0) {
      info.fps = av_q2d(rate);
    } else if (info.frames > 1) {
      double span = (pts.back() - pts.front()) * av_q2d(st->time_base);
      info.fps = span > 0 ? (info.frames - 1) / span : 0;
    }
    info.duration = info.fps > 0 ? info.frames / info.fps : 0;
    choose_output_size();
  }

  void build_timestamp_table() {
    packet = av_packet_alloc();
    frame = av_frame_alloc();
    FOVEA_CHECK(packet && frame, kOp, "out of memory opening '", path, "'");
    std::vector<int64_t> key_pts;
    int ret;
    while ((ret = av_read_frame(format, packet)) >= 0) {
      if (packet->stream_index == stream && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
        // A packet with only a decoding timestamp (AVI with B-frames) makes every timestamp
        // suspect: decoders then report display times shifted by the reordering delay.
        if (packet->pts == AV_NOPTS_VALUE) sequential = true;
        int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
        pts.push_back(ts);
        if (packet->flags & AV_PKT_FLAG_KEY) key_pts.push_back(ts);
        if (packet->flags & AV_PKT_FLAG_CORRUPT)
          fail("corrupt packet " + std::to_string(pts.size() - 1) + " in video",
               "the file is damaged or truncated; re-encode it or remove it");
      }
      av_packet_unref(packet);
    }
    if (ret != AVERROR_EOF)
      fail("read error in video after " + std::to_string(pts.size()) + " frames",
           "FFmpeg says '" + detail::av_error_text(ret) +
               "'; the file is truncated or damaged; re-encode it or remove it");
    if (pts.empty())
      fail("video has no frames:", "its video track is empty; remove it from the dataset");

    check_not_truncated();
    std::sort(pts.begin(), pts.end());
    if (std::adjacent_find(pts.begin(), pts.end()) != pts.end()) sequential = true;
    if (sequential) {
      // Without trustworthy timestamps only the stream start is a safe seek target.
      keyframe_indices = {0};
    } else {
      for (int64_t ts : key_pts)
        keyframe_indices.push_back(std::lower_bound(pts.begin(), pts.end(), ts) - pts.begin());
      std::sort(keyframe_indices.begin(), keyframe_indices.end());
      if (keyframe_indices.empty() || keyframe_indices.front() != 0)
        keyframe_indices.insert(keyframe_indices.begin(), 0);
    }
  }

  // Containers that declare the frame count (AVI, MP4) or duration (Matroska, WebM) in their
  // header reveal a cut-off file whose demuxer simply stops early.
  void check_not_truncated() const {
    AVStream* st = format->streams[stream];
    int64_t present = static_cast<int64_t>(pts.size());
    if (st->nb_frames > 0 && present < st->nb_frames)
      fail("video is truncated: its header declares " + std::to_string(st->nb_frames) +
               " frames but only " + std::to_string(present) + " are present in",
           "the file was cut off (interrupted download or copy); fetch it again or remove it");
    double declared = 0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
      declared = st->duration * av_q2d(st->time_base);
    else if (format->nb_streams == 1 && format->duration > 0)
      declared = format->duration / static_cast<double>(AV_TIME_BASE);
    auto [lowest, highest] = std::minmax_element(pts.begin(), pts.end());
    if (declared <= 0 || present < 2 || sequential) return;
    double frame_time = (*highest - *lowest) * av_q2d(st->time_base) / (present - 1);
    double span = (*highest - *lowest) * av_q2d(st->time_base) + frame_time;
    if (span < declared - std::max(3 * frame_time, 0.02 * declared))
      fail("video is truncated: its header declares " + std::to_string(declared) +
               " s but frames end at " + std::to_string(span) + " s in",
           "the file was cut off (interrupted download or copy); fetch it again or remove it");
  }

  void open_decoder(const AVCodec* codec) {
    decoder = avcodec_alloc_context3(codec);
    FOVEA_CHECK(decoder, kOp, "out of memory opening '", path, "'");
    int ret = avcodec_parameters_to_context(decoder, format->streams[stream]->codecpar);
    if (ret < 0) fail("bad codec parameters in video", detail::av_error_text(ret));
    decoder->thread_count = options.threads;
    decoder->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    decoder->pkt_timebase = format->streams[stream]->time_base;
    ret = avcodec_open2(decoder, codec, nullptr);
    if (ret < 0)
      fail("cannot open the " + std::string(codec->name) + " decoder for video",
           "FFmpeg says '" + detail::av_error_text(ret) + "'; re-encode the video");
  }

  void choose_output_size() {
    int w = info.width, h = info.height;
    FOVEA_CHECK(options.out_width >= 0 && options.out_height >= 0, kOp,
                "output size must not be negative, got ", options.out_width, "x",
                options.out_height, " for '", path, "'");
    if (options.out_width > 0 && options.out_height > 0) {
      out_w = options.out_width;
      out_h = options.out_height;
    } else if (options.out_width > 0) {
      out_w = options.out_width;
      out_h = std::max(1, static_cast<int>(std::lround(double(h) * out_w / w)));
    } else if (options.out_height > 0) {
      out_h = options.out_height;
      out_w = std::max(1, static_cast<int>(std::lround(double(w) * out_h / h)));
    } else {
      out_w = w;
      out_h = h;
    }
  }

  void seek_to_keyframe(int64_t keyframe_index) {
    avcodec_flush_buffers(decoder);
    input_ended = false;
    next_index = -1;
    sequential_counter = 0;
    int ret;
    if (sequential || keyframe_index == 0) {
      ret = avformat_seek_file(format, stream, INT64_MIN, sequential ? INT64_MIN : pts.front(),
                               sequential ? INT64_MIN : pts.front(), 0);
      if (ret < 0) ret = av_seek_frame(format, -1, 0, AVSEEK_FLAG_BYTE | AVSEEK_FLAG_BACKWARD);
    } else {
      ret = av_seek_frame(format, stream, pts[keyframe_index], AVSEEK_FLAG_BACKWARD);
    }
    if (ret < 0)
      fail("cannot seek to frame " + std::to_string(keyframe_index) + " in video",
           "FFmpeg says '" + detail::av_error_text(ret) + "'; the file may be damaged");
  }

  // Frame index of the frame in `frame`, from its timestamp (or output order).
  int64_t index_of_decoded() {
    if (sequential) return sequential_counter++;
    int64_t ts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
    if (ts == AV_NOPTS_VALUE) return -1;
    auto it = std::lower_bound(pts.begin(), pts.end(), ts);
    if (it == pts.end()) return static_cast<int64_t>(pts.size()) - 1;
    return it - pts.begin();
  }

  // Decodes the next frame into `frame`; false at the end of the stream.
  bool decode_next() {
    while (true) {
      int ret = avcodec_receive_frame(decoder, frame);
      if (ret == 0) return true;
      if (ret == AVERROR_EOF) return false;
      if (ret != AVERROR(EAGAIN))
        fail("decoding failed in video",
             "FFmpeg says '" + detail::av_error_text(ret) + "'; the file is corrupt");
      if (input_ended) return false;
      ret = av_read_frame(format, packet);
      if (ret == AVERROR_EOF) {
        input_ended = true;
        avcodec_send_packet(decoder, nullptr);
        continue;
      }
      if (ret < 0)
        fail("read error in video", "FFmpeg says '" + detail::av_error_text(ret) +
                                        "'; the file is truncated or damaged");
      if (packet->stream_index == stream) {
        ret = avcodec_send_packet(decoder, packet);
        if (ret < 0 && ret != AVERROR(EAGAIN)) {
          av_packet_unref(packet);
          fail("corrupt data in video", "the decoder rejected a packet ('" +
                                            detail::av_error_text(ret) +
                                            "'); re-encode the file or remove it");
        }
      }
      av_packet_unref(packet);
    }
  }

  int64_t keyframe_at_or_before(int64_t index) const {
    auto it = std::upper_bound(keyframe_indices.begin(), keyframe_indices.end(), index);
    return *(it - 1);
  }

  // Leaves the decoded frame `target` in `frame`.
  void decode_to(int64_t target) {
    int64_t keyframe = keyframe_at_or_before(target);
    bool can_continue = next_index >= 0 && next_index <= target && keyframe < next_index;
    if (!can_continue) seek_to_keyframe(keyframe);
    bool after_seek = !can_continue;
    while (true) {
      if (!decode_next())
        fail("video ended before frame " + std::to_string(target) + " of " +
                 std::to_string(info.frames) + " could be decoded in",
             "the file is truncated or damaged; run `fovea data scan` on the dataset to find "
             "such files");
      int64_t index = index_of_decoded();
      if (index < 0) continue;
      if (after_seek && index > target) {
        // The demuxer landed after the wanted frame (imprecise index): back off one keyframe.
        FOVEA_CHECK(keyframe > 0, kOp, "frame ", target, " of '", path,
                    "' cannot be reached: decoding from the start gives frame ", index,
                    " first; the file's timestamps are broken, re-encode it");
        auto it = std::lower_bound(keyframe_indices.begin(), keyframe_indices.end(), keyframe);
        keyframe = *(it - 1);
        seek_to_keyframe(keyframe);
        continue;
      }
      after_seek = false;
      next_index = index + 1;
      if (index == target) return;
      if (index > target)
        fail("frame " + std::to_string(target) + " is missing from the decoded stream of",
             "the decoder skipped it (damaged data); re-encode the file");
    }
  }

  void convert_into(uint8_t* dst) {
    bool full_range = frame->color_range == AVCOL_RANGE_JPEG;
    AVPixelFormat src_format = normalised_format(static_cast<AVPixelFormat>(frame->format), full_range);
    sws = sws_getCachedContext(sws, frame->width, frame->height, src_format, out_w, out_h,
                               AV_PIX_FMT_RGB24,
                               SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                               nullptr, nullptr);
    FOVEA_CHECK(sws, kOp, "no conversion from pixel format ",
                av_get_pix_fmt_name(src_format) ? av_get_pix_fmt_name(src_format) : "?",
                " to RGB for '", path, "'; re-encode the video as yuv420p");
    int colorspace = frame->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
    sws_setColorspaceDetails(sws, sws_getCoefficients(colorspace), full_range ? 1 : 0,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    uint8_t* planes[4] = {dst, nullptr, nullptr, nullptr};
    int strides[4] = {out_w * 3, 0, 0, 0};
    sws_scale(sws, frame->data, frame->linesize, 0, frame->height, planes, strides);
  }
};

VideoReader::VideoReader(const std::string& path, const DecodeOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->options = options;
  impl_->open();
}

VideoReader::~VideoReader() = default;
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;

const VideoInfo& VideoReader::info() const { return impl_->info; }
int VideoReader::out_width() const { return impl_->out_w; }
int VideoReader::out_height() const { return impl_->out_h; }

Clip VideoReader::read_frames(std::span<const int64_t> indices) {
  Impl& im = *impl_;
  for (int64_t index : indices)
    FOVEA_CHECK(index >= 0 && index < im.info.frames, kOp, "frame ", index,
                " is outside video '", im.path, "', which has ", im.info.frames,
                " frames (valid 0..", im.info.frames - 1, ")");
  Clip clip(static_cast<int64_t>(indices.size()), im.out_h, im.out_w, 3);
  std::vector<int64_t> order(indices.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return indices[a] < indices[b]; });
  for (size_t k = 0; k < order.size(); ++k) {
    int64_t slot = order[k];
    if (k > 0 && indices[order[k - 1]] == indices[slot]) {
      std::copy_n(clip.frame(order[k - 1]), clip.frame_size(), clip.frame(slot));
      continue;
    }
    im.decode_to(indices[slot]);
    im.convert_into(clip.frame(slot));
  }
  return clip;
}

Clip VideoReader::read_range(int64_t first, int64_t count, int64_t step) {
  FOVEA_CHECK(count >= 0 && step >= 1, kOp, "bad range for '", impl_->path, "': count ", count,
              ", step ", step, " (need count >= 0, step >= 1)");
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[i] = first + i * step;
  return read_frames(indices);
}

Clip VideoReader::read_all() { return read_range(0, impl_->info.frames); }

VideoInfo probe_video(const std::string& path) {
  DecodeOptions options;
  options.threads = 1;
  return VideoReader(path, options).info();
}

}  // namespace fovea::data
