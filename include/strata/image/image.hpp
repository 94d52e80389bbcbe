// strata::image::Image: decoded 8-bit pixels as an image file holds them
// (grayscale, grayscale + alpha, RGB or RGBA), and to_rgb(), the conversion
// to RGB that transformers' load_image applies (PIL's Image.convert("RGB"):
// gray is replicated, alpha is dropped without compositing).
#pragma once

#include <cstdint>
#include <vector>

#include "strata/core/error.hpp"

namespace strata::image {

// Channels per pixel and what they are, as PIL's modes name them.
enum class PixelFormat : int { L = 1, LA = 2, RGB = 3, RGBA = 4 };

inline int channels(PixelFormat f) { return int(f); }

// Rows top to bottom, each row's pixels left to right, channels interleaved.
struct Image {
  std::int64_t width = 0, height = 0;
  PixelFormat format = PixelFormat::RGB;
  std::vector<std::uint8_t> pixels;  // height * width * channels(format)

  Image() = default;
  Image(std::int64_t w, std::int64_t h, PixelFormat f = PixelFormat::RGB) : width(w), height(h), format(f) {
    check(w > 0 && h > 0 && w <= (std::int64_t(1) << 24) && h <= (std::int64_t(1) << 24),
          "image: bad dimensions ", w, "x", h);
    pixels.assign(std::size_t(w * h * channels(f)), 0);
  }

  int channel_count() const { return channels(format); }
  std::uint8_t* row(std::int64_t y) { return pixels.data() + y * width * channel_count(); }
  const std::uint8_t* row(std::int64_t y) const { return pixels.data() + y * width * channel_count(); }
  bool empty() const { return width == 0 || height == 0; }
};

// PIL's convert("RGB"): L → (v, v, v); LA → (l, l, l); RGBA → RGB (the alpha
// is dropped, not composited); RGB is returned unchanged.
inline Image to_rgb(const Image& in) {
  check(!in.empty() && in.pixels.size() == std::size_t(in.width * in.height * in.channel_count()),
        "image: pixel buffer does not match ", in.width, "x", in.height, "x", in.channel_count());
  if (in.format == PixelFormat::RGB) return in;
  Image out(in.width, in.height, PixelFormat::RGB);
  const int c = in.channel_count();
  const std::size_t n = std::size_t(in.width * in.height);
  const std::uint8_t* s = in.pixels.data();
  std::uint8_t* d = out.pixels.data();
  for (std::size_t i = 0; i < n; ++i, s += c, d += 3) {
    if (c <= 2) d[0] = d[1] = d[2] = s[0];
    else d[0] = s[0], d[1] = s[1], d[2] = s[2];
  }
  return out;
}

}  // namespace strata::image
