// PixelBatch: the pixel_values of a batch of images, the input of the vision
// models (models/vit.hpp), as image processors make it (image/processor.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "strata/core/error.hpp"

namespace strata {

// count images [channels, height, width], float32, one after the other, all
// of one size (transformers stacks them into one tensor).
struct PixelBatch {
  std::int64_t count = 0, channels = 0, height = 0, width = 0;
  std::vector<float> values;

  // Appends one image's pixel_values [channels, height, width].
  void add(std::span<const float> image, std::int64_t c, std::int64_t h, std::int64_t w) {
    check(c > 0 && h > 0 && w > 0 && std::int64_t(image.size()) == c * h * w, "PixelBatch: ", image.size(),
          " values for a ", c, "x", h, "x", w, " image");
    check(count == 0 || (c == channels && h == height && w == width), "PixelBatch: a ", c, "x", h, "x", w,
          " image in a batch of ", channels, "x", height, "x", width, " images (a batch has one size)");
    channels = c, height = h, width = w;
    values.insert(values.end(), image.begin(), image.end());
    ++count;
  }
  void clear() { *this = PixelBatch{}; }
};

}  // namespace strata
