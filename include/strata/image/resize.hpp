// strata::image::resize: Pillow's Image.resize(size, resample) for 8-bit L
// and RGB images, bit for bit. Pillow 9.4's libImaging/Resample.c (the
// filters) and Geometry.c (NEAREST) are the spec; docs/IMAGES.md lists the
// rules and how they were checked against Pillow itself.
//
// The filters run as two separable passes, horizontal first, each rounded
// and clipped to 8 bits. A pass whose size does not change is skipped, and a
// resize to the same size is a copy. When downscaling, a filter's support is
// widened by the scale factor (antialiasing). Each output's weights are
// normalized to sum to 1, then converted to fixed point with 22 fractional
// bits; the passes are integer multiply-adds.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/image/image.hpp"
#include "strata/image/resample.hpp"

namespace strata::image {

struct ResizeLimits {
  // Pixels of the output, and of the intermediate image between the passes
  // (output width x input rows used): 8192 x 8192, 192 MB as RGB.
  static constexpr std::int64_t max_pixels = std::int64_t(1) << 26;
};

namespace detail {

// v rounded to a double here, so that the compiler cannot fuse the product it
// holds into a multiply-add (GCC does across statements with -march=native).
// Pillow's build (baseline x86-64) has no FMA, and a fused product can move a
// weight by one fixed-point step.
inline double unfused(double v) {
#if defined(__GNUC__) || defined(__clang__)
  __asm__ volatile("" : "+m"(v));
#endif
  return v;
}

// The filters, as functions of the distance in input pixels (divided by the
// scale factor when downscaling). Pillow's constants and order of operations
// are kept: they decide the last bit of a weight.
inline double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }

inline double bilinear_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * std::numbers::pi;
  // Pillow writes the window's constants as floats (0.54f, 0.46f).
  return std::sin(x) / x * (double(0.54f) + unfused(double(0.46f) * std::cos(x)));
}

// Keys' cubic convolution with a = -0.5.
inline double bicubic_filter(double x) {
  x = std::fabs(x);
  if (x < 1.0) {  // ((a + 2) x - (a + 3)) x x + 1
    const double p = unfused(1.5 * x) - 2.5;
    return unfused(p * x * x) + 1.0;
  }
  if (x < 2.0) {  // (((x - 5) x + 8) x - 4) a
    const double p = unfused((x - 5.0) * x) + 8.0;
    return (unfused(p * x) - 4.0) * -0.5;
  }
  return 0.0;
}

inline double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * std::numbers::pi;
  return std::sin(x) / x;
}

inline double lanczos_filter(double x) { return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }

struct Filter {
  double (*fn)(double);
  double support;  // half-width in input pixels at scale 1
};

inline Filter filter_of(Resample r) {
  switch (r) {
    case Resample::Box: return {box_filter, 0.5};
    case Resample::Bilinear: return {bilinear_filter, 1.0};
    case Resample::Hamming: return {hamming_filter, 1.0};
    case Resample::Bicubic: return {bicubic_filter, 2.0};
    case Resample::Lanczos: return {lanczos_filter, 3.0};
    case Resample::Nearest: break;
  }
  fail("image::resize: resample filter ", int(r), " has no weights");
}

// Fixed-point weights: 32 bits less 8 for the pixel and 2 for the overshoot
// of filters with negative lobes (Pillow's PRECISION_BITS).
inline constexpr int precision_bits = 32 - 8 - 2;
inline constexpr std::uint32_t half_step = std::uint32_t(1) << (precision_bits - 1);

// One pass's weights: output i reads inputs first[i] .. first[i] + count[i] - 1
// with the weights k[offset[i] ..]. Stored back to back (not in a table of
// the widest window), so a large downscale costs memory in proportion to the
// input, not input x output.
struct Coefficients {
  std::vector<std::int32_t> first, count;
  std::vector<std::size_t> offset;
  std::vector<std::int32_t> k;
};

inline Coefficients make_coefficients(std::int64_t in_size, std::int64_t out_size, Resample r) {
  const Filter f = filter_of(r);
  // Pillow passes the box (0, 0, width, height) as floats; exact below 2^24.
  const double scale = double(float(in_size)) / double(out_size);
  const double filterscale = std::max(scale, 1.0);  // widened support when downscaling
  const double support = f.support * filterscale;
  const double inv_filterscale = 1.0 / filterscale;

  Coefficients c;
  c.first.resize(std::size_t(out_size));
  c.count.resize(std::size_t(out_size));
  c.offset.resize(std::size_t(out_size));
  std::vector<double> w;
  for (std::int64_t i = 0; i < out_size; ++i) {
    const double center = unfused((double(i) + 0.5) * scale);
    // Window rounded to whole pixels (truncating, as Pillow's int casts do), clipped to the input.
    const std::int64_t lo = std::max<std::int64_t>(0, std::int64_t(center - support + 0.5));
    const std::int64_t hi = std::min<std::int64_t>(in_size, std::int64_t(center + support + 0.5));
    const std::int64_t n = hi - lo;  // >= 1: the center is inside the input
    w.assign(std::size_t(n), 0.0);
    double sum = 0.0;
    for (std::int64_t t = 0; t < n; ++t) {
      w[std::size_t(t)] = f.fn((double(lo + t) - center + 0.5) * inv_filterscale);
      sum += w[std::size_t(t)];
    }
    c.first[std::size_t(i)] = std::int32_t(lo);
    c.count[std::size_t(i)] = std::int32_t(n);
    c.offset[std::size_t(i)] = c.k.size();
    for (double v : w) {
      if (sum != 0.0) v /= sum;
      const double scaled = v * double(std::int64_t(1) << precision_bits);
      c.k.push_back(std::int32_t(v < 0 ? -0.5 + scaled : 0.5 + scaled));  // round half away from zero
    }
  }
  return c;
}

// Pillow accumulates in a 32-bit int; unsigned arithmetic wraps the same way
// without undefined behaviour. The sum >> 22 is then clipped to 0..255.
inline std::uint8_t clip8(std::uint32_t acc) {
  const std::int32_t v = static_cast<std::int32_t>(acc) >> precision_bits;
  return std::uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass: out row y from in row y0 + y.
template <int C>
void resample_rows(const Image& in, std::int64_t y0, const Coefficients& co, Image& out) {
  for (std::int64_t y = 0; y < out.height; ++y) {
    const std::uint8_t* src = in.row(y0 + y);
    std::uint8_t* dst = out.row(y);
    for (std::int64_t x = 0; x < out.width; ++x) {
      const std::int32_t* k = co.k.data() + co.offset[std::size_t(x)];
      const std::uint8_t* s = src + std::int64_t(co.first[std::size_t(x)]) * C;
      const std::int32_t n = co.count[std::size_t(x)];
      std::uint32_t acc[C];
      for (int c = 0; c < C; ++c) acc[c] = half_step;
      for (std::int32_t t = 0; t < n; ++t, s += C)
        for (int c = 0; c < C; ++c) acc[c] += std::uint32_t(s[c]) * std::uint32_t(k[t]);
      for (int c = 0; c < C; ++c) dst[x * C + c] = clip8(acc[c]);
    }
  }
}

// Vertical pass: out row y from in rows first[y] - y0 ..; whole rows at a
// time, so the inner loop runs along contiguous bytes (vectorizable).
inline void resample_columns(const Image& in, std::int64_t y0, const Coefficients& co, Image& out) {
  const std::size_t n = std::size_t(out.width * out.channel_count());
  std::vector<std::uint32_t> acc(n);
  for (std::int64_t y = 0; y < out.height; ++y) {
    std::fill(acc.begin(), acc.end(), half_step);
    const std::int32_t* k = co.k.data() + co.offset[std::size_t(y)];
    for (std::int32_t t = 0; t < co.count[std::size_t(y)]; ++t) {
      const std::uint8_t* s = in.row(co.first[std::size_t(y)] - y0 + t);
      const std::uint32_t kt = std::uint32_t(k[t]);
      for (std::size_t i = 0; i < n; ++i) acc[i] += std::uint32_t(s[i]) * kt;
    }
    std::uint8_t* dst = out.row(y);
    for (std::size_t i = 0; i < n; ++i) dst[i] = clip8(acc[i]);
  }
}

// NEAREST, as Pillow's affine scaling: the source coordinate of output pixel
// i is 0.5 * step + i * step, accumulated by repeated addition (as Pillow
// does, so the rounding matches), and truncated. An output whose source falls
// outside the input stays 0, as in Pillow.
inline std::vector<std::int64_t> nearest_sources(std::int64_t in_size, std::int64_t out_size) {
  const double step = double(float(in_size)) / double(out_size);
  std::vector<std::int64_t> src(std::size_t(out_size), -1);
  double pos = 0.0 + step * 0.5;
  for (std::int64_t i = 0; i < out_size; ++i, pos += step) {
    const std::int64_t s = pos < 0.0 ? -1 : std::int64_t(pos);
    if (s >= 0 && s < in_size) src[std::size_t(i)] = s;
  }
  return src;
}

inline Image resize_nearest(const Image& in, std::int64_t width, std::int64_t height) {
  Image out(width, height, in.format);
  const int c = in.channel_count();
  const auto xs = nearest_sources(in.width, width);
  const auto ys = nearest_sources(in.height, height);
  for (std::int64_t y = 0; y < height; ++y) {
    if (ys[std::size_t(y)] < 0) continue;
    const std::uint8_t* src = in.row(ys[std::size_t(y)]);
    std::uint8_t* dst = out.row(y);
    for (std::int64_t x = 0; x < width; ++x) {
      if (xs[std::size_t(x)] < 0) continue;
      for (int k = 0; k < c; ++k) dst[x * c + k] = src[xs[std::size_t(x)] * c + k];
    }
  }
  return out;
}

inline void check_resize_args(const Image& in, std::int64_t width, std::int64_t height, Resample r) {
  check(in.format == PixelFormat::L || in.format == PixelFormat::RGB, "image::resize: only L and RGB images (",
        in.channel_count(), " channels given; Pillow premultiplies alpha for LA and RGBA: convert with to_rgb first)");
  check(!in.empty() && in.pixels.size() == std::size_t(in.width * in.height * in.channel_count()),
        "image::resize: pixel buffer does not match ", in.width, "x", in.height, "x", in.channel_count());
  check(is_resample(int(r)), "image::resize: resample ", int(r), " is not a Pillow filter (0..5)");
  check(width >= 1 && height >= 1, "image::resize: output size ", width, "x", height, " must be at least 1x1");
  check(width <= ResizeLimits::max_pixels && height <= ResizeLimits::max_pixels &&
            width * height <= ResizeLimits::max_pixels,
        "image::resize: output size ", width, "x", height, " exceeds the limit of ", ResizeLimits::max_pixels,
        " pixels");
}

}  // namespace detail

// `in` resized to width x height with filter r, as Pillow's
// Image.resize((width, height), r) gives it for an L or RGB image.
inline Image resize(const Image& in, std::int64_t width, std::int64_t height, Resample r) {
  detail::check_resize_args(in, width, height, r);
  if (width == in.width && height == in.height) return in;  // Pillow: a copy
  if (r == Resample::Nearest) return detail::resize_nearest(in, width, height);

  const bool horizontal = width != in.width, vertical = height != in.height;
  const detail::Coefficients rows = vertical ? detail::make_coefficients(in.height, height, r) : detail::Coefficients{};
  // The horizontal pass covers only the input rows the vertical pass reads.
  const std::int64_t y0 = vertical ? rows.first.front() : 0;
  const std::int64_t y1 = vertical ? std::int64_t(rows.first.back()) + rows.count.back() : in.height;
  Image tmp;
  if (horizontal) {
    check(width * (y1 - y0) <= ResizeLimits::max_pixels, "image::resize: ", in.width, "x", in.height, " to ", width,
          "x", height, " needs an intermediate image over the limit of ", ResizeLimits::max_pixels, " pixels");
    const detail::Coefficients cols = detail::make_coefficients(in.width, width, r);
    tmp = Image(width, y1 - y0, in.format);
    if (in.format == PixelFormat::L) detail::resample_rows<1>(in, y0, cols, tmp);
    else detail::resample_rows<3>(in, y0, cols, tmp);
    if (!vertical) return tmp;
  }
  const Image& src = horizontal ? tmp : in;
  Image out(src.width, height, in.format);
  detail::resample_columns(src, horizontal ? y0 : 0, rows, out);
  return out;
}

}  // namespace strata::image
