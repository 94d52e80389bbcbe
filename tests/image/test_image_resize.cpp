// image::resize against Pillow 9.4's Image.resize: identical 8-bit pixels for
// every filter on upscales, downscales by small and large factors,
// non-integer ratios, one dimension unchanged, 1x1 and 1000x10 inputs
// (tests/fixtures/images, written by tests/reference/make_image_fixtures.py).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "image/image_fixtures.hpp"
#include "strata/image/resize.hpp"

using Catch::Contains;
using strata::image::Image;
using strata::image::PixelFormat;
using strata::image::Resample;
using strata::image::resize;

TEST_CASE("resize gives Pillow's pixels for every filter and fixture case", "[image][resize]") {
  const auto& cases = strata::test::image_manifest().at("resize");
  REQUIRE(cases.size() >= 100);
  int checked[6] = {};
  for (const auto& c : cases) {
    const std::string file = c.at("file").get<std::string>();
    const Image in = strata::test::fixture_image(c.at("input").get<std::string>());
    const int f = c.at("resample").get<int>();
    const Image out = resize(in, c.at("width").get<std::int64_t>(), c.at("height").get<std::int64_t>(), Resample(f));
    const auto expected = strata::test::read_bytes(strata::test::image_fixture("resize/" + file + ".u8"));
    INFO(file);
    REQUIRE(out.width == c.at("width").get<std::int64_t>());
    REQUIRE(out.height == c.at("height").get<std::int64_t>());
    REQUIRE(out.format == in.format);
    REQUIRE(out.pixels.size() == expected.size());
    std::size_t differ = 0, first = 0;
    for (std::size_t i = 0; i < expected.size(); ++i)
      if (out.pixels[i] != static_cast<std::uint8_t>(expected[i]) && differ++ == 0) first = i;
    INFO("bytes differing: " << differ << " (first at " << first << ")");
    CHECK(differ == 0);
    ++checked[f];
  }
  for (int f = 0; f < 6; ++f) CHECK(checked[f] >= 20);
}

TEST_CASE("resize to the same size is a copy, one unchanged side skips that pass", "[image][resize]") {
  const Image in = strata::test::fixture_image("rand37x23");
  for (int f = 0; f <= 5; ++f) {
    const Image same = resize(in, in.width, in.height, Resample(f));
    CHECK(same.pixels == in.pixels);
  }
  // Bicubic on an unchanged height would still be the identity (weights 1, 0, 0 at
  // integer offsets); check the width-only resize equals resizing rows on their own.
  const Image wide = resize(in, 50, in.height, Resample::Bicubic);
  for (std::int64_t y = 0; y < in.height; ++y) {
    Image row(in.width, 1, PixelFormat::RGB);
    std::copy(in.row(y), in.row(y) + in.width * 3, row.pixels.begin());
    const Image r = resize(row, 50, 1, Resample::Bicubic);
    CHECK(std::equal(r.pixels.begin(), r.pixels.end(), wide.row(y)));
  }
}

TEST_CASE("resize keeps constant images constant and stays in range on hard edges", "[image][resize]") {
  Image flat(31, 17, PixelFormat::RGB);
  std::fill(flat.pixels.begin(), flat.pixels.end(), std::uint8_t(77));
  Image edges(40, 40, PixelFormat::L);
  for (std::int64_t y = 0; y < 40; ++y)
    for (std::int64_t x = 0; x < 40; ++x) edges.row(y)[x] = ((x / 3 + y / 3) % 2) ? 255 : 0;
  for (int f = 0; f <= 5; ++f) {
    INFO("filter " << f);
    for (auto [w, h] : {std::pair{93, 5}, std::pair{4, 51}, std::pair{1, 1}}) {
      const Image r = resize(flat, w, h, Resample(f));
      CHECK(std::all_of(r.pixels.begin(), r.pixels.end(), [](std::uint8_t v) { return v == 77; }));
    }
    // Lanczos and bicubic overshoot on a checkerboard: clipped to 0 / 255, never wrapped.
    const Image up = resize(edges, 97, 103, Resample(f));
    CHECK(std::count(up.pixels.begin(), up.pixels.end(), std::uint8_t(255)) > 0);
    CHECK(std::count(up.pixels.begin(), up.pixels.end(), std::uint8_t(0)) > 0);
  }
}

TEST_CASE("resize refuses alpha images, bad sizes and unknown filters in one line", "[image][resize]") {
  const Image rgb(8, 8, PixelFormat::RGB);
  CHECK_THROWS_WITH(resize(Image(8, 8, PixelFormat::RGBA), 4, 4, Resample::Bilinear), Contains("only L and RGB"));
  CHECK_THROWS_WITH(resize(Image(8, 8, PixelFormat::LA), 4, 4, Resample::Nearest), Contains("only L and RGB"));
  CHECK_THROWS_WITH(resize(rgb, 0, 4, Resample::Bilinear), Contains("must be at least 1x1"));
  CHECK_THROWS_WITH(resize(rgb, 4, -3, Resample::Bilinear), Contains("must be at least 1x1"));
  CHECK_THROWS_WITH(resize(rgb, 100000, 100000, Resample::Bilinear), Contains("exceeds the limit"));
  CHECK_THROWS_WITH(resize(rgb, 4, 4, Resample(9)), Contains("resample 9 is not a Pillow filter"));
  Image broken(8, 8, PixelFormat::RGB);
  broken.pixels.pop_back();
  CHECK_THROWS_WITH(resize(broken, 4, 4, Resample::Box), Contains("pixel buffer does not match"));
  // A tall narrow input widened a lot would need an intermediate image past the limit.
  CHECK_THROWS_WITH(resize(Image(1, 1 << 20, PixelFormat::L), 8000, 8, Resample::Bilinear),
                    Contains("intermediate image"));
}

TEST_CASE("resize 1000x750 to 224x224 bicubic takes a few ms", "[.][bench][resize-bench]") {
  Image in(1000, 750, PixelFormat::RGB);
  for (std::size_t i = 0; i < in.pixels.size(); ++i) in.pixels[i] = std::uint8_t((i * 2654435761u) >> 13);
  for (const Resample f : {Resample::Bilinear, Resample::Bicubic, Resample::Lanczos}) {
    double best = 1e9;
    for (int r = 0; r < 20; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const Image out = resize(in, 224, 224, f);
      best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      CHECK(out.width == 224);
    }
    WARN(strata::image::resample_name(f) << ": best of 20 " << best << " ms");
  }
}
