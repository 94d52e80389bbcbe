// PNG decoding for the example programs (image_file.hpp), with libpng, giving
// the pixels Pillow 9.4 gives (src/PIL/PngImagePlugin.py, then convert("RGB")):
//   - gray 1/2/4/8-bit → L (1-bit 0/255, 2-bit ×85, 4-bit ×17, as PIL unpacks
//     "1", "L;2", "L;4"); 16-bit gray is PIL mode "I", whose convert("RGB")
//     clips the value to 0..255 (65535 → 255, 100 → 100), not the high byte:
//     that is what load_image gives, so that is what this gives;
//   - RGB / RGBA 8-bit as stored; 16-bit: the high byte of each sample
//     ("RGB;16B", "RGBA;16B"); gray+alpha 8-bit → LA; 16-bit → LA of the high
//     bytes (PIL: RGBA "LA;16B", the same RGB);
//   - palette 1/2/4/8-bit → RGB through PLTE; an index past the palette is
//     gray (i, i, i) (PIL's palette starts as a ramp); tRNS is ignored, as
//     convert("RGB") drops it; tRNS on gray/RGB is ignored too;
//   - interlaced (Adam7) images; gamma, ICC profiles, sBIT are not applied
//     (PIL applies none of them).
// CRCs: a bad CRC before the image data is an error (PIL: "broken PNG file");
// IDAT and the chunks after it are not checked, and an error after the last
// row (a missing IEND, a bad chunk) is ignored, as PIL ignores them. Data
// that ends before the last row: "image file is truncated".
//
// libpng reports errors through png_error → our error function, which
// longjmps back into header() / decode() / finish() below; those hold no C++
// object with a destructor. Decoder's destructor frees the read struct.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include <png.h>

#include "exif_orientation.hpp"
#include "image_limits.hpp"
#include "strata/image/image.hpp"

namespace strata::image {

namespace png_detail {

struct State {
  png_structp png;
  png_infop info;
  const std::uint8_t* data;
  std::size_t size, pos;
  char message[256];
};

inline State* state_of(png_structp p) { return static_cast<State*>(png_get_error_ptr(p)); }

inline void error_fn(png_structp p, png_const_charp msg) {
  State* s = state_of(p);
  std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "libpng error");
  png_longjmp(p, 1);
}
inline void warning_fn(png_structp, png_const_charp) {}  // PIL prints nothing either

inline void read_fn(png_structp p, png_bytep out, std::size_t n) {
  State* s = static_cast<State*>(png_get_io_ptr(p));
  if (n > s->size - s->pos) png_error(p, "image file is truncated");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

// Signature, IHDR and the chunks up to the image data.
inline bool header(State* s) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_read_fn(s->png, s, read_fn);
  png_set_user_limits(s->png, 0x7fffffffU, 0x7fffffffU);  // ImageLimits decides, from IHDR, before this
  png_set_chunk_malloc_max(s->png, 8u << 20);               // one ancillary chunk (text, iCCP, eXIf): at most 8 MB
  png_set_chunk_cache_max(s->png, 1000);
  png_set_crc_action(s->png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);  // PIL checks every CRC up to IDAT
  png_read_info(s->png, s->info);
  return true;
}

// Every row into rows (Adam7 passes merged), samples unpacked to bytes.
inline bool decode(State* s, png_bytepp rows, std::size_t row_bytes) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_set_crc_action(s->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);  // PIL reads IDAT without CRCs
  if (png_get_bit_depth(s->png, s->info) < 8) png_set_packing(s->png);
  png_set_interlace_handling(s->png);
  png_read_update_info(s->png, s->info);
  if (png_get_rowbytes(s->png, s->info) != row_bytes) png_error(s->png, "unexpected row size");
  png_read_image(s->png, rows);
  return true;
}

// The chunks after the image data (an eXIf may be there). An error here is
// ignored by the caller: PIL stops reading at one and keeps the image.
inline bool finish(State* s) {
  if (setjmp(png_jmpbuf(s->png))) return false;
  png_read_end(s->png, s->info);
  return true;
}

class Decoder {
 public:
  Decoder(std::span<const std::uint8_t> bytes) {
    s_.data = bytes.data();
    s_.size = bytes.size();
    s_.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s_, error_fn, warning_fn);
    if (s_.png != nullptr) s_.info = png_create_info_struct(s_.png);
  }
  ~Decoder() {
    if (s_.png != nullptr) png_destroy_read_struct(&s_.png, s_.info ? &s_.info : nullptr, nullptr);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  State* state() { return &s_; }
  bool ok() const { return s_.png != nullptr && s_.info != nullptr; }

 private:
  State s_{};
};

inline std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

// How many of the bytes libpng may see. libpng allocates some chunks (eXIf)
// at their declared length before reading them, so a chunk claiming more
// bytes than the file holds never reaches it: before the image data that is
// a truncated file (PIL fails there too); after it (a chunk that is not
// IDAT), the file is cut where that chunk starts, as PIL stops reading there.
// An IDAT claiming too much is left to libpng, which reads it piecewise.
inline std::size_t usable_bytes(std::span<const std::uint8_t> b, std::string_view name) {
  std::size_t at = 8;
  bool seen_idat = false;
  while (b.size() - at >= 8) {
    const std::uint64_t len = be32(b.data() + at);
    const bool idat = std::memcmp(b.data() + at + 4, "IDAT", 4) == 0;
    seen_idat = seen_idat || idat;
    if (len + 12 > b.size() - at) {
      if (idat) return b.size();
      if (seen_idat) return at;
      fail(name, ": bad PNG: image file is truncated (a chunk of ", len, " bytes with ", b.size() - at,
           " bytes left)");
    }
    at += std::size_t(len) + 12;
  }
  return b.size();
}

// PIL 9.4's getexif for a PNG without eXIf: a "Raw profile type exif" text
// chunk (ImageMagick's hex dump; the lines after the first three). Empty when
// absent or not hex (PIL raises there; the loader ignores it).
inline std::vector<std::uint8_t> raw_profile_exif(std::string_view text) {
  std::size_t at = 0;
  for (int line = 0; line < 3; ++line) {
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) return {};
    at = nl + 1;
  }
  std::vector<std::uint8_t> out;
  int hi = -1;
  for (std::size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') continue;  // the lines are joined
    if (hi < 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f')) continue;  // bytes.fromhex skips spaces between bytes
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) return {};
    if (hi < 0) hi = v;
    else out.push_back(std::uint8_t(hi << 4 | v)), hi = -1;
  }
  if (hi >= 0) return {};
  return out;
}

// PIL 9.4 with no orientation in the EXIF: re.search(r'tiff:Orientation(="|>)([0-9])')
// in an iTXt "XML:com.adobe.xmp".
inline int xmp_orientation(std::string_view xmp) {
  static constexpr std::string_view key = "tiff:Orientation";
  for (std::size_t at = xmp.find(key); at != std::string_view::npos; at = xmp.find(key, at + 1)) {
    std::size_t p = at + key.size();
    if (p < xmp.size() && xmp[p] == '>') p += 1;
    else if (p + 1 < xmp.size() && xmp[p] == '=' && xmp[p + 1] == '"') p += 2;
    else continue;
    if (p < xmp.size() && xmp[p] >= '0' && xmp[p] <= '9') {
      const int o = xmp[p] - '0';
      return o >= 2 && o <= 8 ? o : 1;
    }
  }
  return 0;  // no tag
}

// The orientation PIL's exif_transpose would use for this PNG.
inline int orientation(State* s) {
  png_uint_32 n = 0;
  png_bytep exif = nullptr;
  bool has_block = false, has_tag = false;
  int found = 1;
  if (png_get_eXIf_1(s->png, s->info, &n, &exif) != 0 && exif != nullptr) {
    has_block = true;
    found = exif_orientation({exif, n}, &has_tag);
  }
  png_textp text = nullptr;
  int num_text = 0;
  png_get_text(s->png, s->info, &text, &num_text);
  if (!has_block) {
    for (int i = 0; i < num_text; ++i)
      if (text[i].key != nullptr && std::strcmp(text[i].key, "Raw profile type exif") == 0) {
        const std::size_t len = text[i].compression > 0 ? text[i].itxt_length : text[i].text_length;
        const std::vector<std::uint8_t> block = raw_profile_exif({text[i].text, len});
        found = exif_orientation(block, &has_tag);
        break;
      }
  }
  if (has_tag) return found;
  for (int i = 0; i < num_text; ++i)
    if (text[i].key != nullptr && std::strcmp(text[i].key, "XML:com.adobe.xmp") == 0) {
      const std::size_t len = text[i].compression > 0 ? text[i].itxt_length : text[i].text_length;
      const int o = xmp_orientation({text[i].text, len});
      if (o != 0) return o;
    }
  return 1;
}

}  // namespace png_detail

// Decodes a PNG (the bytes start with its signature) into L, LA, RGB or RGBA
// with its EXIF orientation applied. Errors name `name`.
inline Image decode_png(std::span<const std::uint8_t> bytes, std::string_view name, const ImageLimits& limits) {
  // The size, from IHDR (the first chunk), before libpng allocates anything.
  if (bytes.size() >= 24 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0)
    check_image_dimensions(name, png_detail::be32(bytes.data() + 16), png_detail::be32(bytes.data() + 20), limits);
  png_detail::Decoder dec(bytes.first(png_detail::usable_bytes(bytes, name)));
  check(dec.ok(), name, ": cannot create a PNG decoder");
  png_detail::State* s = dec.state();
  if (!png_detail::header(s)) fail(name, ": bad PNG: ", s->message);

  const std::int64_t w = png_get_image_width(s->png, s->info), h = png_get_image_height(s->png, s->info);
  check_image_dimensions(name, w, h, limits);
  const int bits = png_get_bit_depth(s->png, s->info), type = png_get_color_type(s->png, s->info);
  int samples = 0;
  switch (type) {
    case PNG_COLOR_TYPE_GRAY: case PNG_COLOR_TYPE_PALETTE: samples = 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: samples = 2; break;
    case PNG_COLOR_TYPE_RGB: samples = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: samples = 4; break;
    default: fail(name, ": bad PNG: color type ", type);
  }
  const int sample_bytes = bits == 16 ? 2 : 1;
  const std::size_t row_bytes = std::size_t(w) * std::size_t(samples * sample_bytes);
  std::vector<std::uint8_t> raw(row_bytes * std::size_t(h));
  std::vector<png_bytep> rows(static_cast<std::size_t>(h));
  for (std::int64_t y = 0; y < h; ++y) rows[std::size_t(y)] = raw.data() + std::size_t(y) * row_bytes;
  if (!png_detail::decode(s, rows.data(), row_bytes)) fail(name, ": bad PNG: ", s->message);
  png_detail::finish(s);  // errors after the last row are ignored (as PIL)
  const int orientation = png_detail::orientation(s);

  const std::size_t n = std::size_t(w * h);
  const std::uint8_t* in = raw.data();
  Image img;
  if (type == PNG_COLOR_TYPE_PALETTE) {
    png_colorp pal = nullptr;
    int num = 0;
    png_get_PLTE(s->png, s->info, &pal, &num);
    img = Image(w, h, PixelFormat::RGB);
    std::uint8_t* out = img.pixels.data();
    for (std::size_t i = 0; i < n; ++i, out += 3) {
      const int k = in[i];
      if (pal != nullptr && k < num) out[0] = pal[k].red, out[1] = pal[k].green, out[2] = pal[k].blue;
      else out[0] = out[1] = out[2] = std::uint8_t(k);
    }
  } else if (type == PNG_COLOR_TYPE_GRAY) {
    img = Image(w, h, PixelFormat::L);
    std::uint8_t* out = img.pixels.data();
    const int scale = bits == 1 ? 255 : bits == 2 ? 85 : bits == 4 ? 17 : 1;
    for (std::size_t i = 0; i < n; ++i) {
      if (bits == 16) {
        const unsigned v = unsigned(in[2 * i]) << 8 | in[2 * i + 1];
        out[i] = std::uint8_t(v > 255 ? 255 : v);  // PIL "I" → RGB clips
      } else {
        out[i] = std::uint8_t(in[i] * scale);
      }
    }
  } else {
    const PixelFormat f = samples == 2 ? PixelFormat::LA : samples == 3 ? PixelFormat::RGB : PixelFormat::RGBA;
    img = Image(w, h, f);
    const std::size_t count = n * std::size_t(samples);
    std::uint8_t* out = img.pixels.data();
    for (std::size_t i = 0; i < count; ++i) out[i] = in[i * std::size_t(sample_bytes)];  // 16-bit: the high byte
  }
  return apply_orientation(std::move(img), orientation);
}

}  // namespace strata::image
