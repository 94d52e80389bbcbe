// EXIF orientation (tag 0x0112) for the example programs' image loader: a
// small, bounds-checked reader of the TIFF structure inside an EXIF block,
// and the transposition PIL's ImageOps.exif_transpose applies (Pillow 9.4).
//
// What counts as an orientation follows Pillow 9.4's Exif/ImageFileDirectory_v2
// (checked against it by tests/reference/make_image_file_fixtures.py):
//   - the block may start with "Exif\0\0" (stripped); then an 8-byte TIFF
//     header: "II*\0" / "MM\0*" (or the swapped "II\0*" / "MM*\0" PIL also
//     accepts), the first two bytes giving the byte order; a BigTIFF header or
//     anything else means no orientation;
//   - only IFD0 is read, entry by entry; an entry whose value lies outside the
//     block ends the directory (the entries before it stay), as PIL's
//     "Corrupt EXIF data" does; the last 0x0112 entry wins;
//   - the value is the first element, of an integer type (SHORT, LONG, SBYTE,
//     SSHORT, SLONG, LONG8, IFD) or a number type that equals an integer
//     (RATIONAL 12/2, FLOAT 6.0): PIL compares with ==, so those rotate too.
//     BYTE, ASCII and UNDEFINED values are strings to PIL and do nothing.
// Where PIL raises on malformed EXIF (a header that is not TIFF, seen on a
// PNG, or a JPEG with a JFIF dpi), the loader ignores the block instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "strata/image/image.hpp"

namespace strata::image {

namespace exif_detail {

class Reader {
 public:
  Reader(std::span<const std::uint8_t> b, bool big_endian) : b_(b), be_(big_endian) {}
  // Each returns nullopt when [at, at + n) is not inside the block.
  std::optional<std::uint64_t> uint(std::uint64_t at, int n) const {
    if (at > b_.size() || std::uint64_t(n) > b_.size() - at) return std::nullopt;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t byte = b_[std::size_t(at) + std::size_t(be_ ? i : n - 1 - i)];
      v = (v << 8) | byte;
    }
    return v;
  }
  std::size_t size() const { return b_.size(); }

 private:
  std::span<const std::uint8_t> b_;
  bool be_;
};

// Bytes per element of each TIFF type PIL loads (0: a type PIL skips).
inline int type_size(std::uint32_t type) {
  switch (type) {
    case 1: case 2: case 6: case 7: return 1;  // BYTE ASCII SBYTE UNDEFINED
    case 3: case 8: return 2;                  // SHORT SSHORT
    case 4: case 9: case 11: case 13: return 4;  // LONG SLONG FLOAT IFD
    case 5: case 10: case 12: case 16: return 8;  // RATIONAL SRATIONAL DOUBLE LONG8
    default: return 0;
  }
}

// The first element of a value as PIL would compare it with 2..8, or nullopt.
inline std::optional<double> first_number(const Reader& r, std::uint32_t type, std::uint64_t at) {
  auto u = [&](int n) { return r.uint(at, n); };
  switch (type) {
    case 3: case 4: case 13: case 16: {
      const auto v = u(type == 3 ? 2 : type == 16 ? 8 : 4);
      if (!v) return std::nullopt;
      return double(*v);
    }
    case 6: { const auto v = u(1); if (!v) return std::nullopt; return double(std::int8_t(std::uint8_t(*v))); }
    case 8: { const auto v = u(2); if (!v) return std::nullopt; return double(std::int16_t(std::uint16_t(*v))); }
    case 9: { const auto v = u(4); if (!v) return std::nullopt; return double(std::int32_t(std::uint32_t(*v))); }
    case 5: case 10: {
      const auto n = r.uint(at, 4), d = r.uint(at + 4, 4);
      if (!n || !d || *d == 0) return std::nullopt;  // PIL: n/0 is nan, equal to nothing
      if (type == 5) return double(*n) / double(*d);
      return double(std::int32_t(std::uint32_t(*n))) / double(std::int32_t(std::uint32_t(*d)));
    }
    case 11: {
      const auto v = u(4);
      if (!v) return std::nullopt;
      const std::uint32_t bits = std::uint32_t(*v);
      float f;
      std::memcpy(&f, &bits, 4);
      return double(f);
    }
    case 12: {
      const auto v = u(8);
      if (!v) return std::nullopt;
      const std::uint64_t bits = *v;
      double f;
      std::memcpy(&f, &bits, 8);
      return f;
    }
    default: return std::nullopt;  // BYTE, ASCII, UNDEFINED: bytes/str to PIL
  }
}

}  // namespace exif_detail

// The orientation (2..8) an EXIF block asks for, or 1 (none, unknown or
// malformed). *has_tag (if given) says whether IFD0 holds a 0x0112 entry PIL
// loads, whatever its value (PIL then looks no further, e.g. at XMP). Never
// reads outside `block`.
inline int exif_orientation(std::span<const std::uint8_t> block, bool* has_tag = nullptr) {
  if (has_tag != nullptr) *has_tag = false;
  using exif_detail::Reader;
  static constexpr std::uint8_t prefix[6] = {'E', 'x', 'i', 'f', 0, 0};
  if (block.size() >= 6 && std::memcmp(block.data(), prefix, 6) == 0) block = block.subspan(6);
  if (block.size() < 8) return 1;
  const std::uint8_t* h = block.data();
  bool be;
  if (h[0] == 'I' && h[1] == 'I' && ((h[2] == 0x2A && h[3] == 0) || (h[2] == 0 && h[3] == 0x2A))) be = false;
  else if (h[0] == 'M' && h[1] == 'M' && ((h[2] == 0 && h[3] == 0x2A) || (h[2] == 0x2A && h[3] == 0))) be = true;
  else return 1;  // not TIFF, or BigTIFF (which PIL cannot read from an 8-byte header either)
  const Reader r(block, be);
  const std::uint64_t ifd = *r.uint(4, 4);
  const auto count = r.uint(ifd, 2);
  if (!count) return 1;
  std::optional<double> value;
  for (std::uint64_t i = 0; i < *count; ++i) {
    const std::uint64_t e = ifd + 2 + 12 * i;
    if (!r.uint(e + 8, 4)) break;  // a 12-byte entry past the end: the directory ends
    const std::uint32_t tag = std::uint32_t(*r.uint(e, 2)), type = std::uint32_t(*r.uint(e + 2, 2));
    const std::uint64_t n = *r.uint(e + 4, 4);
    const int unit = exif_detail::type_size(type);
    if (unit == 0) continue;
    const std::uint64_t size = n * std::uint64_t(unit);  // < 2^35
    std::uint64_t at = e + 8;
    if (size > 4) {
      at = *r.uint(e + 8, 4);
      if (at > r.size() || size > r.size() - at) break;  // PIL: "Truncated File Read" ends the directory
    }
    if (size == 0) continue;
    if (tag == 0x0112) {
      value = exif_detail::first_number(r, type, at);
      if (has_tag != nullptr) *has_tag = true;
    }
  }
  if (!value) return 1;
  for (int o = 2; o <= 8; ++o)
    if (*value == double(o)) return o;
  return 1;
}

// ImageOps.exif_transpose for orientation o (1..8): 2 mirror, 3 rotate 180,
// 4 flip, 5 transpose, 6 rotate 90° clockwise (PIL's ROTATE_270), 7
// transverse, 8 rotate 90° counter-clockwise (ROTATE_90).
inline Image apply_orientation(Image in, int o) {
  if (o < 2 || o > 8) return in;
  const bool swap = o >= 5;
  const std::int64_t W = in.width, H = in.height;
  Image out(swap ? H : W, swap ? W : H, in.format);
  const int c = in.channel_count();
  for (std::int64_t y = 0; y < out.height; ++y) {
    std::uint8_t* d = out.row(y);
    for (std::int64_t x = 0; x < out.width; ++x, d += c) {
      std::int64_t sx = 0, sy = 0;
      switch (o) {
        case 2: sx = W - 1 - x, sy = y; break;
        case 3: sx = W - 1 - x, sy = H - 1 - y; break;
        case 4: sx = x, sy = H - 1 - y; break;
        case 5: sx = y, sy = x; break;
        case 6: sx = y, sy = H - 1 - x; break;
        case 7: sx = W - 1 - y, sy = H - 1 - x; break;
        case 8: sx = W - 1 - y, sy = x; break;
      }
      std::memcpy(d, in.row(sy) + sx * c, std::size_t(c));
    }
  }
  return out;
}

}  // namespace strata::image
