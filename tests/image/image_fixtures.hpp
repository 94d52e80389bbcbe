// tests/fixtures/images (written by tests/reference/make_image_fixtures.py):
// the manifest, the input images and raw expected arrays.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/image/image.hpp"

namespace strata::test {

inline std::string image_fixture(const std::string& rel) { return std::string(STRATA_TEST_FIXTURES) + "/images/" + rel; }

inline std::vector<char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline const nlohmann::json& image_manifest() {
  static const nlohmann::json m = [] {
    const auto bytes = read_bytes(image_fixture("manifest.json"));
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  }();
  return m;
}

inline image::Image fixture_image(const std::string& name) {
  const auto& e = image_manifest().at("inputs").at(name);
  const int c = e.at("channels").get<int>();
  const auto format = c == 1 ? image::PixelFormat::L : c == 3 ? image::PixelFormat::RGB : image::PixelFormat::RGBA;
  image::Image img(e.at("width").get<std::int64_t>(), e.at("height").get<std::int64_t>(), format);
  const auto bytes = read_bytes(image_fixture("inputs/" + name + ".u8"));
  REQUIRE(bytes.size() == img.pixels.size());
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(img.pixels.data()));
  return img;
}

}  // namespace strata::test
