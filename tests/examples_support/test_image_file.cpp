// examples/image_file.hpp: JPEG and PNG files decode to exactly the RGB pixels
// transformers' load_image gives (PIL 9.4: open → exif_transpose →
// convert("RGB")), and every bad file is a one-line strata::Error naming it.
// The fixtures and PIL's pixels come from
// tests/reference/make_image_file_fixtures.py (tests/fixtures/image_files/).
#include <catch2/catch.hpp>

#include <sys/stat.h>  // mkfifo
#include <unistd.h>    // getpid

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "image_file.hpp"

namespace fs = std::filesystem;
using strata::image::Image;
using strata::image::ImageLimits;
using strata::image::PixelFormat;

namespace {

const fs::path dir = fs::path(STRATA_TEST_FIXTURES) / "image_files";

std::vector<std::uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Case {
  bool good;
  std::string name, words;
};

std::vector<Case> cases() {
  std::ifstream in(dir / "cases.txt");
  REQUIRE(in.good());
  std::vector<Case> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, '\t');) f.push_back(x);
    REQUIRE(f.size() >= 2);
    out.push_back({f[0] == "good", f[1], f.size() > 2 ? f[2] : ""});
  }
  return out;
}

// What decoding threw ("" if nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "";
}

// Number of bytes that differ from PIL's, and where the first one is.
std::string compare_to_pil(const Image& rgb, const fs::path& expected) {
  const std::vector<std::uint8_t> e = read_bytes(expected);
  REQUIRE(e.size() >= 8);
  std::uint32_t w = 0, h = 0;
  std::memcpy(&w, e.data(), 4);
  std::memcpy(&h, e.data() + 4, 4);
  REQUIRE(e.size() == 8 + std::size_t(w) * h * 3);
  if (rgb.width != w || rgb.height != h)
    return "size " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) + ", PIL " + std::to_string(w) + "x" +
           std::to_string(h);
  std::size_t diff = 0, first = 0;
  for (std::size_t i = 0; i < rgb.pixels.size(); ++i)
    if (rgb.pixels[i] != e[8 + i] && diff++ == 0) first = i;
  if (diff == 0) return "";
  return std::to_string(diff) + " bytes differ; first at pixel " + std::to_string(first / 3) + " channel " +
         std::to_string(first % 3) + ": " + std::to_string(rgb.pixels[first]) + " vs PIL " +
         std::to_string(e[8 + first]);
}

}  // namespace

TEST_CASE("image files: every good fixture decodes to PIL's exact RGB pixels", "[image_file]") {
  int good = 0;
  for (const Case& c : cases()) {
    if (!c.good) continue;
    ++good;
    INFO(c.name);
    const Image img = strata::image::load_image_file(dir / c.name);
    CHECK(img.pixels.size() == std::size_t(img.width * img.height * img.channel_count()));
    CHECK(compare_to_pil(to_rgb(img), dir / (c.name + ".rgb")) == "");
    // The same from memory, whatever the name says.
    const Image mem = strata::image::decode_image(read_bytes(dir / c.name), "renamed.gif");
    CHECK(mem.pixels == img.pixels);
  }
  CHECK(good >= 50);
}

TEST_CASE("image files: formats as decoded before to_rgb", "[image_file]") {
  auto fmt = [](const char* name) { return strata::image::load_image_file(dir / name).format; };
  CHECK(fmt("gray.jpg") == PixelFormat::L);
  CHECK(fmt("rgb420.jpg") == PixelFormat::RGB);
  CHECK(fmt("cmyk.jpg") == PixelFormat::RGB);
  CHECK(fmt("gray1.png") == PixelFormat::L);
  CHECK(fmt("gray16.png") == PixelFormat::L);
  CHECK(fmt("gray_alpha8.png") == PixelFormat::LA);
  CHECK(fmt("gray_alpha16.png") == PixelFormat::LA);
  CHECK(fmt("rgba8.png") == PixelFormat::RGBA);
  CHECK(fmt("palette4_trns.png") == PixelFormat::RGB);
}

TEST_CASE("image files: every bad fixture is a one-line error naming the file", "[image_file]") {
  int bad = 0;
  for (const Case& c : cases()) {
    if (c.good) continue;
    ++bad;
    INFO(c.name);
    const std::string path = (dir / c.name).string();
    const std::string msg = error_of([&] { (void)strata::image::load_image_file(path); });
    CHECK_THAT(msg, Catch::Contains(c.words));
    CHECK_THAT(msg, Catch::StartsWith(path + ": "));
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK(bad >= 14);
}

TEST_CASE("image files: missing files, folders and limits", "[image_file]") {
  using strata::image::load_image_file;
  CHECK_THAT(error_of([] { (void)load_image_file(dir / "no-such-file.jpg"); }),
             Catch::Contains("no-such-file.jpg: cannot open image file: No such file or directory"));
  CHECK_THAT(error_of([] { (void)load_image_file(dir); }), Catch::Contains("is a folder"));
  ImageLimits small;
  small.max_file_bytes = 100;
  CHECK_THAT(error_of([&] { (void)load_image_file(dir / "rgb420.jpg", small); }),
             Catch::Contains("more than the limit of 100"));
  ImageLimits few;
  few.max_pixels = 19 * 13 - 1;
  CHECK_THAT(error_of([&] { (void)load_image_file(dir / "rgb420.jpg", few); }),
             Catch::Contains("19x13 pixels, more than the limit of 246"));
  CHECK_THAT(error_of([&] { (void)load_image_file(dir / "rgb8.png", few); }), Catch::Contains("19x13 pixels"));
  few.max_pixels = 19 * 13;
  CHECK(load_image_file(dir / "rgb8.png", few).width == 19);
  ImageLimits scans;
  scans.max_jpeg_scans = 3;
  CHECK_THAT(error_of([&] { (void)load_image_file(dir / "progressive.jpg", scans); }),
             Catch::Contains("more scans than the limit"));
  CHECK_THAT(error_of([] { (void)strata::image::decode_image({}, "x.png"); }), Catch::Contains("x.png: empty file"));
}

TEST_CASE("image files: every prefix of a file decodes or fails cleanly", "[image_file]") {
  for (const char* name : {"rgb420.jpg", "progressive.jpg", "interlaced_rgb8.png", "orient6.png", "cmyk.jpg"}) {
    INFO(name);
    const std::vector<std::uint8_t> bytes = read_bytes(dir / name);
    int ok = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      try {
        (void)strata::image::decode_image(std::span(bytes.data(), n), name);
        ++ok;
      } catch (const strata::Error& e) {
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
      }
    }
    CHECK(ok <= 16);  // only a cut in the trailing chunks (a PNG without IEND) may still decode
  }
}

TEST_CASE("exif orientation: the TIFF reader stays inside hostile blocks", "[image_file]") {
  using strata::image::exif_orientation;
  // "Exif\0\0", II header, IFD at 8, one SHORT entry 0x0112 = 6, no next IFD.
  std::vector<std::uint8_t> b = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 0x2A, 0, 8, 0, 0, 0, 1, 0,
                                 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
  CHECK(exif_orientation(b) == 6);
  for (std::size_t n = 0; n < b.size(); ++n) {  // every cut: no read past the end (ASan), no rotation from a half entry
    const std::vector<std::uint8_t> cut(b.begin(), b.begin() + std::ptrdiff_t(n));
    CHECK(exif_orientation(cut) == (n >= 6 + 8 + 2 + 12 ? 6 : 1));
  }
  std::vector<std::uint8_t> many = b;
  many[14] = 0xFF, many[15] = 0xFF;  // 65535 entries claimed, one present
  CHECK(exif_orientation(many) == 6);
  std::vector<std::uint8_t> far = b;
  far[10] = 0xF0, far[11] = 0xFF, far[12] = 0xFF, far[13] = 0xFF;  // IFD offset near 2^32
  CHECK(exif_orientation(far) == 1);
  std::vector<std::uint8_t> big_count = b;
  big_count[20] = 0xFF, big_count[21] = 0xFF, big_count[22] = 0xFF, big_count[23] = 0xFF;  // 2^32-1 SHORTs at offset 6
  CHECK(exif_orientation(big_count) == 1);
  std::vector<std::uint8_t> nine = b;
  nine[24] = 9;
  CHECK(exif_orientation(nine) == 1);
}

TEST_CASE("exif orientation: the eight transpositions of a 3x2 image", "[image_file]") {
  Image in(3, 2, PixelFormat::L);
  for (std::uint8_t i = 0; i < 6; ++i) in.pixels[i] = i;  // 0 1 2 / 3 4 5
  auto run = [&](int o) { return strata::image::apply_orientation(in, o); };
  using V = std::vector<std::uint8_t>;
  CHECK(run(1).pixels == V{0, 1, 2, 3, 4, 5});
  CHECK(run(2).pixels == V{2, 1, 0, 5, 4, 3});
  CHECK(run(3).pixels == V{5, 4, 3, 2, 1, 0});
  CHECK(run(4).pixels == V{3, 4, 5, 0, 1, 2});
  CHECK(run(5).pixels == V{0, 3, 1, 4, 2, 5});  // transpose
  CHECK(run(6).pixels == V{3, 0, 4, 1, 5, 2});  // 90° clockwise
  CHECK(run(7).pixels == V{5, 2, 4, 1, 3, 0});  // transverse
  CHECK(run(8).pixels == V{2, 5, 1, 4, 0, 3});  // 90° counter-clockwise
  CHECK(run(6).width == 2);
  CHECK(run(6).height == 3);
}

TEST_CASE("image files: a PNG chunk claiming more bytes than the file is refused before libpng allocates it",
          "[image_file]") {
  // Fuzzer finding (tests/fuzz/regressions/image_decode): libpng allocated an
  // eXIf chunk at its declared length (1 GB) before reading it.
  std::vector<std::uint8_t> b = read_bytes(dir / "rgb8.png");
  const std::vector<std::uint8_t> exif = {0x3F, 0xFF, 0xFF, 0xFF, 'e', 'X', 'I', 'f', 'I', 'I', 0x2A, 0};
  b.insert(b.begin() + 33, exif.begin(), exif.end());  // after IHDR
  CHECK_THAT(error_of([&] { (void)strata::image::decode_image(b, "big-exif.png"); }),
             Catch::Contains("big-exif.png: bad PNG: image file is truncated (a chunk of 1073741823 bytes"));
}

TEST_CASE("image files: a FIFO or a device is refused without blocking", "[image_file]") {
  const fs::path fifo = fs::temp_directory_path() / ("strata-image-fifo-" + std::to_string(::getpid()) + ".jpg");
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string msg = error_of([&] { (void)strata::image::load_image_file(fifo); });
  fs::remove(fifo);
  CHECK_THAT(msg, Catch::Contains("not a regular file"));
  CHECK_THAT(error_of([] { (void)strata::image::load_image_file("/dev/zero"); }), Catch::Contains("not a regular file"));
}
