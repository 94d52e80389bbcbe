// ImageLimits: what the example programs' image loader (image_file.hpp)
// accepts, checked from a file's header before anything is decoded.
#pragma once

#include <cstdint>
#include <string_view>

#include "strata/core/error.hpp"

namespace strata::image {

struct ImageLimits {
  // Pixels (width * height). PIL raises DecompressionBombError above
  // 2 * Image.MAX_IMAGE_PIXELS = 178,956,970, so files PIL opens open here.
  std::int64_t max_pixels = 178'956'970;
  // Bytes of the file itself.
  std::int64_t max_file_bytes = std::int64_t(256) << 20;
  // Scans of a progressive JPEG (each one a pass over the whole image; real
  // files have about 10, a hostile one could have thousands).
  std::int64_t max_jpeg_scans = 1000;
};

// Width and height from a header: both > 0, each at most 2^24 (Image's own
// bound), and width * height within the limit.
inline void check_image_dimensions(std::string_view name, std::int64_t w, std::int64_t h, const ImageLimits& limits) {
  check(w > 0 && h > 0, name, ": image has no pixels (", w, "x", h, ")");
  // w * h is computed only once both are at most 2^24: no overflow.
  if (w > (std::int64_t(1) << 24) || h > (std::int64_t(1) << 24) || w * h > limits.max_pixels)
    fail(name, ": image is ", w, "x", h, " pixels, more than the limit of ", limits.max_pixels,
         " pixels (a decompression bomb?)");
}

}  // namespace strata::image
