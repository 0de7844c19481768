// Still images: decoding JPEG/PNG/BMP (and the other formats stb_image reads) to RGB u8,
// and writing PNG for plots and debug dumps (one frame, or a clip as a contact sheet).
#pragma once
#include <string>

#include "data/clip.h"

namespace fovea::data {

// Always 3 channels (grey and alpha inputs are converted). Throws fovea::Error naming the
// path when the file is missing or does not decode.
Image load_image(const std::string& path);
// Same, from bytes in memory; `name` is used in error messages.
Image decode_image(const uint8_t* bytes, size_t size, const std::string& name);

// Writes frame `frame` of a clip with 1, 3 or 4 channels as PNG.
void write_png(const std::string& path, const Clip& clip, int64_t frame = 0);
// Writes the clip's frames side by side in rows of `columns` frames.
void write_png_grid(const std::string& path, const Clip& clip, int columns = 8);

}  // namespace fovea::data
