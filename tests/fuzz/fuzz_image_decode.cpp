// Fuzz target: the example programs' image loader (examples/image_file.hpp).
// The bytes are a whole file, JPEG, PNG or anything else; decode_image must
// return an image or throw a one-line strata::Error, never crash, hang or
// allocate beyond what its limits allow. The limits are tighter than the
// defaults so a tiny input claiming a large image stays fast and small.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "image_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  strata::image::ImageLimits limits;
  limits.max_pixels = 1 << 20;  // 4 MB of RGBA at most
  limits.max_jpeg_scans = 64;
  strata::fuzz::expect_ok_or_error([&] {
    const strata::image::Image img = strata::image::decode_image(std::span(data, size), "fuzz-input", limits);
    if (img.width <= 0 || img.height <= 0 || img.width * img.height > limits.max_pixels ||
        img.pixels.size() != std::size_t(img.width * img.height * img.channel_count()))
      strata::fuzz::invariant_failed("decoded image has an inconsistent size");
    (void)strata::image::to_rgb(img);
  });
  return 0;
}
