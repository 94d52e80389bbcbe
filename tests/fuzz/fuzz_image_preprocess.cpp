// Fuzz target: preprocessor_config.json and a small image. The bytes before the
// first NUL are the config; after it, 5 bytes give the image (width and height
// 1..64, pixel format L/LA/RGB/RGBA, and a resize size 1..64 x 1..64) and the
// rest its pixels (repeated to fill it; zeros if there are none). Parses the
// config; if it is accepted, checks it is within ImageProcessorLimits, then
// resizes the image with the config's filter and runs preprocess when the
// config's sizes keep the work small (sizes are capped here, not in the
// library, whose own limit is 2^26 pixels). Any outcome but success or
// strata::Error is a finding.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "strata/image/processor.hpp"
#include "strata/image/resize.hpp"
#include "strata/io/preprocessor_config.hpp"

namespace {

using strata::image::Image;
using strata::image::PixelFormat;

// Work per input stays below this many output pixels (resize or crop).
constexpr std::int64_t max_fuzz_pixels = std::int64_t(1) << 16;

void check_accepted(const strata::io::ImageProcessorConfig& c) {
  using L = strata::io::ImageProcessorLimits;
  auto in = [](std::int64_t v) { return v >= 1 && v <= L::max_size; };
  const auto& s = c.size;
  if (s.is_shortest_edge() ? !in(s.shortest_edge) : !(in(s.height) && in(s.width)))
    strata::fuzz::invariant_failed("accepted size out of its limits");
  if (c.kind != strata::io::ImageProcessorKind::CLIP && c.do_resize && s.is_shortest_edge())
    strata::fuzz::invariant_failed("ViT/DeiT config accepted with a shortest_edge size");
  if (c.do_center_crop && !(in(c.crop_height) && in(c.crop_width)))
    strata::fuzz::invariant_failed("accepted crop_size out of its limits");
  if (c.kind == strata::io::ImageProcessorKind::ViT && c.do_center_crop)
    strata::fuzz::invariant_failed("ViT config with a center crop");
  if (!strata::image::is_resample(int(c.resample))) strata::fuzz::invariant_failed("accepted resample out of 0..5");
  if (!(c.rescale_factor > 0) || !std::isfinite(c.rescale_factor))
    strata::fuzz::invariant_failed("accepted rescale_factor not positive");
  for (int i = 0; i < 3; ++i)
    if (!std::isfinite(c.image_mean[i]) || !(c.image_std[i] >= 1e-6) || !(c.image_std[i] <= 1e6))
      strata::fuzz::invariant_failed("accepted image_mean / image_std out of range");
}

Image make_image(std::string_view b) {
  auto at = [&](std::size_t i) { return i < b.size() ? static_cast<std::uint8_t>(b[i]) : std::uint8_t(0); };
  const PixelFormat formats[] = {PixelFormat::L, PixelFormat::LA, PixelFormat::RGB, PixelFormat::RGBA};
  Image img(at(0) % 64 + 1, at(1) % 64 + 1, formats[at(2) % 4]);
  const std::string_view px = b.size() > 5 ? b.substr(5) : std::string_view();
  for (std::size_t i = 0; i < img.pixels.size() && !px.empty(); ++i)
    img.pixels[i] = static_cast<std::uint8_t>(px[i % px.size()]);
  return img;
}

void run(const strata::io::ImageProcessorConfig& cfg, const Image& img, std::int64_t rw, std::int64_t rh) {
  check_accepted(cfg);
  if (img.format == PixelFormat::L || img.format == PixelFormat::RGB) {
    const Image r = strata::image::resize(img, rw, rh, cfg.resample);
    if (r.width != rw || r.height != rh || r.format != img.format || r.pixels.size() != std::size_t(rw * rh * r.channel_count()))
      strata::fuzz::invariant_failed("resize gave the wrong shape");
  }
  if (cfg.do_resize) {
    const auto [h, w] = strata::image::detail::resize_target(cfg, img.height, img.width);
    if (h * w > max_fuzz_pixels) return;
  }
  const auto [ph, pw] = strata::image::pixel_values_size(cfg, img.height, img.width);
  if (ph * pw > max_fuzz_pixels) return;
  const auto pv = strata::image::preprocess(img, cfg);
  if (pv.height != ph || pv.width != pw || pv.data.size() != std::size_t(3 * ph * pw))
    strata::fuzz::invariant_failed("pixel_values of the wrong shape");
  for (const float v : pv.data) {
    if (!std::isfinite(v)) strata::fuzz::invariant_failed("pixel_values not finite");
    if (!cfg.do_rescale && !cfg.do_normalize && !(v >= 0 && v <= 255 && v == std::floor(v)))
      strata::fuzz::invariant_failed("raw pixel_values not 8-bit values");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = bytes.find('\0');
  const std::string_view config = bytes.substr(0, nul);
  const std::string_view tail = nul == std::string_view::npos ? std::string_view() : bytes.substr(nul + 1);
  const Image img = make_image(tail);
  auto at = [&](std::size_t i) { return i < tail.size() ? static_cast<std::uint8_t>(tail[i]) : std::uint8_t(0); };
  const std::int64_t rw = at(3) % 64 + 1, rh = at(4) % 64 + 1;
  strata::fuzz::expect_ok_or_error([&] {
    const auto j = strata::io::detail::parse_json_bounded(config, "preprocessor_config.json");
    run(strata::io::parse_preprocessor_config(j, "preprocessor_config.json"), img, rw, rh);
  });
  return 0;
}
