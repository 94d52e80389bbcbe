// strata::image::preprocess: pixel_values for one image as transformers'
// PIL-based image processors of ViT, DeiT and CLIP make them from a
// preprocessor_config.json (io/preprocessor_config.hpp): convert to RGB,
// resize with Pillow's filters (image/resize.hpp), center crop (zero padding
// where the image is smaller than the crop), rescale, normalize, channels
// first. docs/IMAGES.md has the rules per processor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/image/image.hpp"
#include "strata/image/pixel_batch.hpp"
#include "strata/image/resize.hpp"
#include "strata/io/preprocessor_config.hpp"

namespace strata::image {

// pixel_values of one image: float32 [3, height, width], channels first.
struct PixelValues {
  std::int64_t height = 0, width = 0;
  std::vector<float> data;
};

namespace detail {

// (height, width) after the resize step for an image of h x w.
// {shortest_edge: s}: transformers' get_resize_output_image_size with
// default_to_square=False: the short side becomes s, the long side
// int(s * long / short) (a float64 quotient, truncated).
inline std::pair<std::int64_t, std::int64_t> resize_target(const io::ImageProcessorConfig& cfg, std::int64_t h,
                                                           std::int64_t w) {
  if (!cfg.size.is_shortest_edge()) return {cfg.size.height, cfg.size.width};
  const std::int64_t s = cfg.size.shortest_edge;
  const std::int64_t shorter = std::min(h, w), longer = std::max(h, w);
  const double q = double(s * longer) / double(shorter);  // s <= 8192, longer <= 2^24: exact operands
  check(q <= double(ResizeLimits::max_pixels), "image::preprocess: ", w, "x", h, " resized to shortest edge ", s,
        " would be ", q, " pixels long, over the limit");
  const auto l = std::int64_t(q);
  return w <= h ? std::pair{l, s} : std::pair{s, l};
}

// Python's floor division by 2 (center_crop's offsets can be negative).
inline std::int64_t floor_half(std::int64_t a) { return a >= 0 ? a / 2 : -((1 - a) / 2); }

// Rescale then normalize depend only on the channel and the 8-bit value, so
// they are tabulated: float32(float64(v) * rescale_factor) (transformers'
// rescale), then (x - mean) / std in float32 (normalize); without rescale
// the uint8 value is cast to float32 first.
using ValueTable = std::array<std::array<float, 256>, 3>;

inline ValueTable value_table(const io::ImageProcessorConfig& cfg) {
  ValueTable t{};
  for (std::size_t c = 0; c < 3; ++c) {
    const float mean = float(cfg.image_mean[c]), std = float(cfg.image_std[c]);
    for (int v = 0; v < 256; ++v) {
      float x = cfg.do_rescale ? float(double(v) * cfg.rescale_factor) : float(v);
      if (cfg.do_normalize) x = (x - mean) / std;
      t[c][std::size_t(v)] = x;
    }
  }
  return t;
}

// The RGB image the processor resizes: converted (PIL's convert("RGB")) when
// do_convert_rgb, else it must already be RGB, as transformers' normalize
// needs 3 channels.
inline const Image& rgb_input(const Image& img, const io::ImageProcessorConfig& cfg, Image& storage) {
  if (img.format == PixelFormat::RGB) return img;
  check(cfg.do_convert_rgb, "image::preprocess: the image has ", img.channel_count(), " channels and ", cfg.type_name,
        " has do_convert_rgb false (convert with image::to_rgb first)");
  storage = to_rgb(img);
  return storage;
}

// A config built by hand rather than parsed gets the parser's limits too.
inline void check_config(const io::ImageProcessorConfig& cfg) {
  auto in = [](std::int64_t v) { return v >= 1 && v <= io::ImageProcessorLimits::max_size; };
  const auto& s = cfg.size;
  check(!cfg.do_resize || (s.is_shortest_edge() ? in(s.shortest_edge) : in(s.height) && in(s.width)),
        "image::preprocess: size out of range [1, ", io::ImageProcessorLimits::max_size, "]");
  check(!cfg.do_center_crop || (in(cfg.crop_height) && in(cfg.crop_width)), "image::preprocess: crop_size out of range [1, ",
        io::ImageProcessorLimits::max_size, "]");
  check(is_resample(int(cfg.resample)), "image::preprocess: resample ", int(cfg.resample), " is not a Pillow filter");
}

}  // namespace detail

// (height, width) of the pixel_values an h x w image gives.
inline std::pair<std::int64_t, std::int64_t> pixel_values_size(const io::ImageProcessorConfig& cfg, std::int64_t h,
                                                               std::int64_t w) {
  detail::check_config(cfg);
  check(h >= 1 && w >= 1, "image::preprocess: empty image (", w, "x", h, ")");
  if (cfg.do_resize) std::tie(h, w) = detail::resize_target(cfg, h, w);
  if (cfg.do_center_crop) return {cfg.crop_height, cfg.crop_width};
  return {h, w};
}

// pixel_values of one image into out, which holds 3 x H x W floats for
// (H, W) = pixel_values_size(cfg, img.height, img.width).
inline void preprocess_into(const Image& img, const io::ImageProcessorConfig& cfg, float* out) {
  detail::check_config(cfg);
  Image converted, resized;
  const Image* cur = &detail::rgb_input(img, cfg, converted);
  check(cur->pixels.size() == std::size_t(cur->width * cur->height * 3), "image::preprocess: pixel buffer does not match ",
        cur->width, "x", cur->height, "x3");
  if (cfg.do_resize) {
    const auto [h, w] = detail::resize_target(cfg, cur->height, cur->width);
    if (h != cur->height || w != cur->width) {
      resized = resize(*cur, w, h, cfg.resample);
      cur = &resized;
    }
  }
  const auto [oh, ow] = cfg.do_center_crop ? std::pair{cfg.crop_height, cfg.crop_width} : std::pair{cur->height, cur->width};
  // center_crop's window, in source coordinates; outside the source is 0 (its zero padding).
  const std::int64_t top = detail::floor_half(cur->height - oh), left = detail::floor_half(cur->width - ow);
  const detail::ValueTable table = detail::value_table(cfg);
  const std::size_t plane = std::size_t(oh * ow);
  for (std::int64_t y = 0; y < oh; ++y) {
    const std::int64_t sy = y + top;
    const bool row_in = sy >= 0 && sy < cur->height;
    for (std::int64_t x = 0; x < ow; ++x) {
      const std::int64_t sx = x + left;
      const std::uint8_t* p = row_in && sx >= 0 && sx < cur->width ? cur->row(sy) + sx * 3 : nullptr;
      const std::size_t at = std::size_t(y * ow + x);
      for (std::size_t c = 0; c < 3; ++c) out[c * plane + at] = table[c][p ? p[c] : 0];
    }
  }
}

inline PixelValues preprocess(const Image& img, const io::ImageProcessorConfig& cfg) {
  PixelValues pv;
  std::tie(pv.height, pv.width) = pixel_values_size(cfg, img.height, img.width);
  check(pv.height * pv.width <= ResizeLimits::max_pixels, "image::preprocess: pixel_values of ", pv.width, "x",
        pv.height, " exceed the limit of ", ResizeLimits::max_pixels, " pixels");
  pv.data.resize(std::size_t(3 * pv.height * pv.width));
  preprocess_into(img, cfg, pv.data.data());
  return pv;
}

// Appends one image's pixel_values to a batch.
inline void append_pixel_values(strata::PixelBatch& batch, const Image& img, const io::ImageProcessorConfig& cfg) {
  const auto [h, w] = pixel_values_size(cfg, img.height, img.width);
  check(batch.count == 0 || (h == batch.height && w == batch.width), "image::preprocess: image ", batch.count,
        " gives pixel_values of ", w, "x", h, ", the batch holds ", batch.width, "x", batch.height,
        " (images of one batch must give one size)");
  check(h * w <= ResizeLimits::max_pixels, "image::preprocess: pixel_values of ", w, "x", h, " exceed the limit of ",
        ResizeLimits::max_pixels, " pixels");
  const std::size_t n = std::size_t(3 * h * w), before = batch.values.size();
  batch.values.resize(before + n);
  try {
    preprocess_into(img, cfg, batch.values.data() + before);
  } catch (...) {
    batch.values.resize(before);  // the batch stays as it was
    throw;
  }
  batch.channels = 3;
  batch.height = h;
  batch.width = w;
  ++batch.count;
}

inline strata::PixelBatch preprocess_batch(const std::vector<Image>& images, const io::ImageProcessorConfig& cfg) {
  strata::PixelBatch batch;
  for (const Image& img : images) append_pixel_values(batch, img, cfg);
  return batch;
}

}  // namespace strata::image
