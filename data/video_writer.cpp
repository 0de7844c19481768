// VideoWriter: swscale RGB24 -> YUV 4:2:0 conversion, encoder set-up per codec family and
// muxing with packet timestamps rescaled to the container's time base.
#include "data/video_writer.h"

#include "data/ffmpeg_util.h"
#include "engine/error.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

namespace fovea::data {

namespace {
constexpr const char* kOp = "video_writer";
}

bool encoder_available(const std::string& codec) {
  return avcodec_find_encoder_by_name(codec.c_str()) != nullptr;
}

std::string default_video_codec() { return encoder_available("libx264") ? "libx264" : "mpeg4"; }

struct VideoWriter::Impl {
  std::string path;
  EncodeOptions options;
  int width = 0, height = 0;
  AVFormatContext* format = nullptr;
  AVCodecContext* encoder = nullptr;
  AVStream* stream = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  int64_t written = 0;
  bool header_written = false;
  bool closed = false;

  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&encoder);
    if (format) {
      if (format->pb && !(format->oformat->flags & AVFMT_NOFILE)) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }

  void check(int ret, const char* what) const {
    FOVEA_CHECK(ret >= 0, kOp, what, " failed for '", path, "': ", detail::av_error_text(ret));
  }

  void configure_quality(const std::string& name) {
    int q = options.quality;
    if (name == "libx264" || name == "libx265") {
      av_opt_set(encoder->priv_data, "preset", "veryfast", 0);
      av_opt_set_int(encoder->priv_data, "crf", q >= 0 ? q : 16, 0);
    } else if (name == "libvpx-vp9" || name == "libvpx") {
      av_opt_set(encoder->priv_data, "deadline", "realtime", 0);
      av_opt_set_int(encoder->priv_data, "cpu-used", 8, 0);
      av_opt_set_int(encoder->priv_data, "crf", q >= 0 ? q : 16, 0);
      encoder->bit_rate = 0;
    } else if (name == "mpeg4" || name == "mjpeg" || name == "mpeg2video" || name == "mpeg1video") {
      encoder->flags |= AV_CODEC_FLAG_QSCALE;
      encoder->global_quality = FF_QP2LAMBDA * (q >= 0 ? q : 2);
      if (name == "mpeg4") encoder->max_b_frames = 2;
    }
  }

  void open() {
    detail::set_ffmpeg_log_level_once();
    FOVEA_CHECK(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0, kOp,
                "frame size must be positive and even for 4:2:0 video, got ", width, "x", height,
                " for '", path, "'");
    FOVEA_CHECK(options.fps > 0, kOp, "fps must be positive, got ", options.fps);
    const AVCodec* codec = avcodec_find_encoder_by_name(options.codec.c_str());
    FOVEA_CHECK(codec && codec->type == AVMEDIA_TYPE_VIDEO, kOp, "this FFmpeg build has no video encoder '",
                options.codec, "' (needed for '", path,
                "'); use default_video_codec() or install an FFmpeg with it");
    check(avformat_alloc_output_context2(&format, nullptr, nullptr, path.c_str()),
          "choosing a container from the file extension");
    stream = avformat_new_stream(format, nullptr);
    encoder = avcodec_alloc_context3(codec);
    frame = av_frame_alloc();
    packet = av_packet_alloc();
    FOVEA_CHECK(stream && encoder && frame && packet, kOp, "out of memory writing '", path, "'");

    encoder->width = width;
    encoder->height = height;
    encoder->pix_fmt = codec->id == AV_CODEC_ID_MJPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
    encoder->time_base = AVRational{1, options.fps};
    encoder->framerate = AVRational{options.fps, 1};
    encoder->color_range = AVCOL_RANGE_MPEG;
    encoder->colorspace = AVCOL_SPC_SMPTE170M;
    encoder->color_primaries = AVCOL_PRI_SMPTE170M;
    encoder->color_trc = AVCOL_TRC_SMPTE170M;
    encoder->thread_count = options.threads;
    if (options.keyframe_interval > 0) encoder->gop_size = options.keyframe_interval;
    if (format->oformat->flags & AVFMT_GLOBALHEADER) encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    configure_quality(codec->name);
    check(avcodec_open2(encoder, codec, nullptr), "opening the encoder");
    check(avcodec_parameters_from_context(stream->codecpar, encoder), "copying codec parameters");
    stream->time_base = encoder->time_base;
    stream->avg_frame_rate = encoder->framerate;

    frame->format = encoder->pix_fmt;
    frame->width = width;
    frame->height = height;
    check(av_frame_get_buffer(frame, 0), "allocating a frame");
    sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, encoder->pix_fmt,
                         SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr,
                         nullptr);
    FOVEA_CHECK(sws, kOp, "no RGB to YUV conversion for '", path, "'");
    int full_range = encoder->pix_fmt == AV_PIX_FMT_YUVJ420P ? 1 : 0;
    sws_setColorspaceDetails(sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                             sws_getCoefficients(SWS_CS_DEFAULT), full_range, 0, 1 << 16, 1 << 16);

    if (!(format->oformat->flags & AVFMT_NOFILE))
      check(avio_open(&format->pb, path.c_str(), AVIO_FLAG_WRITE),
            "opening the output file (does its folder exist and is it writable?)");
    check(avformat_write_header(format, nullptr), "writing the container header");
    header_written = true;
  }

  void drain(bool flushing) {
    while (true) {
      int ret = avcodec_receive_packet(encoder, packet);
      if (ret == AVERROR(EAGAIN) || (flushing && ret == AVERROR_EOF)) return;
      check(ret, "encoding");
      av_packet_rescale_ts(packet, encoder->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(format, packet), "writing a packet");
    }
  }

  void encode(const uint8_t* rgb) {
    FOVEA_CHECK(!closed, kOp, "write after close on '", path, "'");
    check(av_frame_make_writable(frame), "preparing a frame");
    const uint8_t* src[4] = {rgb, nullptr, nullptr, nullptr};
    int src_stride[4] = {width * 3, 0, 0, 0};
    sws_scale(sws, src, src_stride, 0, height, frame->data, frame->linesize);
    frame->pts = written++;
    check(avcodec_send_frame(encoder, frame), "sending a frame to the encoder");
    drain(false);
  }

  void finish() {
    if (closed) return;
    closed = true;
    check(avcodec_send_frame(encoder, nullptr), "flushing the encoder");
    drain(true);
    check(av_write_trailer(format), "writing the container trailer");
  }
};

VideoWriter::VideoWriter(const std::string& path, int width, int height,
                         const EncodeOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->options = options;
  impl_->width = width;
  impl_->height = height;
  impl_->open();
}

VideoWriter::~VideoWriter() = default;

void VideoWriter::write(const uint8_t* rgb_frame) { impl_->encode(rgb_frame); }

void VideoWriter::write(const Clip& clip) {
  FOVEA_CHECK(clip.width == impl_->width && clip.height == impl_->height && clip.channels == 3,
              kOp, "clip is ", clip.width, "x", clip.height, "x", clip.channels, ", the video '",
              impl_->path, "' is ", impl_->width, "x", impl_->height, "x3");
  for (int64_t t = 0; t < clip.frames; ++t) impl_->encode(clip.frame(t));
}

void VideoWriter::close() { impl_->finish(); }

void write_video(const std::string& path, const Clip& clip, const EncodeOptions& options) {
  VideoWriter writer(path, static_cast<int>(clip.width), static_cast<int>(clip.height), options);
  writer.write(clip);
  writer.close();
}

}  // namespace fovea::data
