// Image tests: PNG/BMP round trips are exact, JPEG within compression loss, grey images
// become RGB, and undecodable or missing images raise errors naming the file.
#include <doctest/doctest.h>

#include <stb_image_write.h>

#include "data/image_io.h"
#include "tests/data/data_test_util.h"

using namespace fovea::data;
using namespace fovea::data::testing;

TEST_SUITE("unit") {
  TEST_CASE("decode image png bmp jpeg round trips") {
    TempDir dir;
    Clip reference = make_test_clip(1, 40, 56);
    std::string png = dir.file("a.png");
    write_png(png, reference);
    Image loaded = load_image(png);
    CHECK(loaded.width == 56);
    CHECK(loaded.height == 40);
    CHECK(loaded.data == reference.data);

    std::string bmp = dir.file("a.bmp");
    REQUIRE(stbi_write_bmp(bmp.c_str(), 56, 40, 3, reference.data.data()));
    CHECK(load_image(bmp).data == reference.data);

    std::string jpg = dir.file("a.jpg");
    REQUIRE(stbi_write_jpg(jpg.c_str(), 56, 40, 3, reference.data.data(), 95));
    Image jpeg = load_image(jpg);
    REQUIRE(jpeg.data.size() == reference.data.size());
    double error = mean_abs_diff(jpeg.data.data(), reference.data.data(), static_cast<int64_t>(jpeg.data.size()));
    INFO("JPEG mean abs error ", error);
    CHECK(error < 6.0);
  }

  TEST_CASE("decode image grey png becomes rgb and grids tile frames") {
    TempDir dir;
    Clip grey(1, 8, 8, 1);
    for (size_t i = 0; i < grey.data.size(); ++i) grey.data[i] = static_cast<uint8_t>(i * 4);
    std::string path = dir.file("grey.png");
    write_png(path, grey);
    Image rgb = load_image(path);
    REQUIRE(rgb.channels == 3);
    for (int64_t p = 0; p < 64; ++p) {
      CHECK(rgb.data[3 * p] == grey.data[p]);
      CHECK(rgb.data[3 * p + 2] == grey.data[p]);
    }

    Clip clip = make_test_clip(5, 6, 10);
    std::string sheet = dir.file("sheet.png");
    write_png_grid(sheet, clip, 3);
    Image grid = load_image(sheet);
    CHECK(grid.width == 30);
    CHECK(grid.height == 12);
    // Frame 4 sits in row 1, column 1.
    CHECK(grid.data[((6 + 2) * 30 + 10 + 3) * 3] == clip.frame(4)[(2 * 10 + 3) * 3]);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("decode image that does not decode names the path") {
    TempDir dir;
    std::string garbage = dir.file("broken.jpg");
    write_bytes(garbage, "this is not a JPEG at all, just text pretending to be one");
    std::string text = error_text([&] { load_image(garbage); });
    CHECK(text.find(garbage) != std::string::npos);

    Clip reference = make_test_clip(1, 32, 32);
    std::string png = dir.file("whole.png");
    write_png(png, reference);
    std::string truncated = dir.file("truncated.png");
    std::string bytes = read_bytes(png);
    write_bytes(truncated, bytes.substr(0, bytes.size() / 3));
    text = error_text([&] { load_image(truncated); });
    CHECK(text.find(truncated) != std::string::npos);

    std::string empty = dir.file("empty.png");
    write_bytes(empty, "");
    text = error_text([&] { load_image(empty); });
    CHECK(text.find(empty) != std::string::npos);

    std::string missing = dir.file("missing.png");
    text = error_text([&] { load_image(missing); });
    CHECK(text.find(missing) != std::string::npos);
    CHECK(text.find("not found") != std::string::npos);
  }
}
