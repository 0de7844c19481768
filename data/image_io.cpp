// stb_image decoding and stb_image_write PNG output; this file holds the stb
// implementations for the whole engine.
#include "data/image_io.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "engine/error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#include <stb_image_write.h>

namespace fovea::data {

namespace {
constexpr const char* kOp = "image";
}

Image decode_image(const uint8_t* bytes, size_t size, const std::string& name) {
  FOVEA_CHECK(size > 0, kOp, "image '", name, "' is empty (0 bytes); re-create or remove it");
  FOVEA_CHECK(size <= static_cast<size_t>(INT32_MAX), kOp, "image '", name, "' is larger than 2 GiB");
  int width = 0, height = 0, channels_in_file = 0;
  uint8_t* pixels = stbi_load_from_memory(bytes, static_cast<int>(size), &width, &height,
                                          &channels_in_file, 3);
  if (!pixels)
    FOVEA_FAIL(kOp, "cannot decode image '", name, "' (", size, " bytes): ", stbi_failure_reason(),
               "; the file is corrupt, truncated or not a JPEG/PNG/BMP/GIF/TGA/PSD/PNM image; "
               "re-create it or remove it from the dataset");
  Image image(1, height, width, 3);
  std::memcpy(image.data.data(), pixels, image.data.size());
  stbi_image_free(pixels);
  return image;
}

Image load_image(const std::string& path) {
  std::error_code ec;
  FOVEA_CHECK(std::filesystem::is_regular_file(path, ec), kOp, "image file not found: '", path,
              "'; check the path or the dataset root");
  std::ifstream in(path, std::ios::binary);
  FOVEA_CHECK(in, kOp, "cannot open image '", path, "' for reading (permissions?)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes.data(), bytes.size(), path);
}

void write_png(const std::string& path, const Clip& clip, int64_t frame) {
  FOVEA_CHECK(frame >= 0 && frame < clip.frames, kOp, "frame ", frame, " of a ", clip.frames,
              "-frame clip cannot be written to '", path, "'");
  FOVEA_CHECK(clip.channels == 1 || clip.channels == 3 || clip.channels == 4, kOp,
              "PNG needs 1, 3 or 4 channels, got ", clip.channels, " for '", path, "'");
  int ok = stbi_write_png(path.c_str(), static_cast<int>(clip.width), static_cast<int>(clip.height),
                          static_cast<int>(clip.channels), clip.frame(frame),
                          static_cast<int>(clip.width * clip.channels));
  FOVEA_CHECK(ok, kOp, "cannot write PNG '", path, "'; does its folder exist and is it writable?");
}

void write_png_grid(const std::string& path, const Clip& clip, int columns) {
  FOVEA_CHECK(columns > 0 && clip.frames > 0, kOp, "grid of ", clip.frames, " frames in ",
              columns, " columns cannot be written to '", path, "'");
  int64_t cols = std::min<int64_t>(columns, clip.frames);
  int64_t rows = (clip.frames + cols - 1) / cols;
  Clip sheet(1, rows * clip.height, cols * clip.width, clip.channels);
  int64_t row_bytes = clip.width * clip.channels;
  for (int64_t t = 0; t < clip.frames; ++t) {
    int64_t top = (t / cols) * clip.height, left = (t % cols) * clip.width;
    for (int64_t y = 0; y < clip.height; ++y)
      std::memcpy(sheet.data.data() + ((top + y) * sheet.width + left) * clip.channels,
                  clip.frame(t) + y * row_bytes, static_cast<size_t>(row_bytes));
  }
  write_png(path, sheet, 0);
}

}  // namespace fovea::data
