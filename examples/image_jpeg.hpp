// JPEG decoding for the example programs (image_file.hpp), with
// libjpeg-turbo and the settings Pillow 9.4 uses (src/libImaging/JpegDecode.c,
// src/PIL/JpegImagePlugin.py):
//   - libjpeg's defaults: JDCT_ISLOW, fancy upsampling, block smoothing; no
//     scaling (PIL only changes these in draft mode, which load_image never uses);
//   - 1 component → L (JCS_GRAYSCALE); 3 → RGB (JCS_RGB, from YCbCr or RGB as
//     libjpeg detects it); 4 → CMYK (JCS_CMYK, from CMYK or YCCK), which PIL
//     reads as "CMYK;I" (every channel inverted: Adobe's polarity, assumed for
//     every 4-component file) and converts to RGB with its cmyk2rgb; other
//     component counts and precisions are refused, as PIL does;
//   - libjpeg warnings (corrupt entropy data) are ignored, as PIL ignores them,
//     so such a file decodes to the same pixels;
//   - a file that ends before the decoder has every scanline is an error
//     ("image file is truncated", as PIL without LOAD_TRUNCATED_IMAGES); one
//     that ends after them (a missing EOI) is accepted, as PIL accepts it.
//
// libjpeg reports errors through error_exit, which must not return: it
// longjmps back into the small functions below (header(), decode()), which
// hold no C++ object with a destructor and call nothing but libjpeg between
// setjmp and the jump. The decompressor is destroyed by Decoder's destructor.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include <jpeglib.h>

#include "exif_orientation.hpp"
#include "image_limits.hpp"
#include "strata/image/image.hpp"

namespace strata::image {

namespace jpeg_detail {

// Everything the libjpeg callbacks touch: plain data, zero-initialised.
struct State {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr err;
  jpeg_source_mgr src;
  jpeg_progress_mgr progress;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
  const std::uint8_t* data;
  std::size_t size;
  long max_scans;
  bool created;    // jpeg_create_decompress has run
  bool rows_done;  // every scanline was read: the end of the data is no longer an error
};

inline const JOCTET fake_eoi[2] = {0xFF, JPEG_EOI};

inline State* state_of(j_common_ptr c) { return static_cast<State*>(c->client_data); }

[[noreturn]] inline void jump_with(State* s, const char* msg) {
  std::snprintf(s->message, sizeof s->message, "%s", msg);
  std::longjmp(s->jump, 1);
}

inline void error_exit(j_common_ptr c) {
  State* s = state_of(c);
  char buf[JMSG_LENGTH_MAX] = {};
  (*c->err->format_message)(c, buf);
  jump_with(s, buf);
}
inline void output_message(j_common_ptr) {}  // warnings: ignored, as PIL ignores them

inline void init_source(j_decompress_ptr) {}
inline void term_source(j_decompress_ptr) {}
// Called only when the decoder needs bytes past the end of the file.
inline boolean fill_input_buffer(j_decompress_ptr c) {
  State* s = state_of(reinterpret_cast<j_common_ptr>(c));
  if (!s->rows_done) jump_with(s, "image file is truncated");
  c->src->next_input_byte = fake_eoi;  // jpeg_finish_decompress looking for EOI
  c->src->bytes_in_buffer = 2;
  return TRUE;
}
inline void skip_input_data(j_decompress_ptr c, long n) {
  if (n <= 0) return;
  jpeg_source_mgr* src = c->src;
  if (std::size_t(n) > src->bytes_in_buffer) {
    src->next_input_byte += src->bytes_in_buffer;
    src->bytes_in_buffer = 0;
    fill_input_buffer(c);
    return;
  }
  src->next_input_byte += n;
  src->bytes_in_buffer -= std::size_t(n);
}

inline void progress_monitor(j_common_ptr c) {
  if (!c->is_decompressor) return;
  const auto* d = reinterpret_cast<j_decompress_ptr>(c);
  State* s = state_of(c);
  if (d->input_scan_number > s->max_scans) jump_with(s, "JPEG has more scans than the limit (ImageLimits::max_jpeg_scans)");
}

// Reads the markers up to the first scan and sets PIL's output colour space.
// False (s->message set) on any libjpeg error.
inline bool header(State* s) {
  if (setjmp(s->jump)) return false;
  jpeg_create_decompress(&s->cinfo);
  s->created = true;
  s->cinfo.client_data = s;
  s->src.next_input_byte = s->data;
  s->src.bytes_in_buffer = s->size;
  s->src.init_source = init_source;
  s->src.fill_input_buffer = fill_input_buffer;
  s->src.skip_input_data = skip_input_data;
  s->src.resync_to_restart = jpeg_resync_to_restart;
  s->src.term_source = term_source;
  s->cinfo.src = &s->src;
  s->progress.progress_monitor = progress_monitor;
  s->cinfo.progress = &s->progress;
  jpeg_save_markers(&s->cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&s->cinfo, TRUE);
  switch (s->cinfo.num_components) {
    case 1: s->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: s->cinfo.out_color_space = JCS_RGB; break;
    case 4: s->cinfo.out_color_space = JCS_CMYK; break;
    default: return true;  // refused by the caller
  }
  jpeg_calc_output_dimensions(&s->cinfo);
  return true;
}

// Decodes every scanline into out (output_height rows of row_bytes).
inline bool decode(State* s, std::uint8_t* out, std::size_t row_bytes) {
  if (setjmp(s->jump)) return false;
  jpeg_start_decompress(&s->cinfo);
  while (s->cinfo.output_scanline < s->cinfo.output_height) {
    JSAMPROW row = out + std::size_t(s->cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&s->cinfo, &row, 1);
  }
  s->rows_done = true;
  jpeg_finish_decompress(&s->cinfo);
  return true;
}

class Decoder {
 public:
  Decoder(std::span<const std::uint8_t> bytes, long max_scans) {
    s_.cinfo.err = jpeg_std_error(&s_.err);
    s_.err.error_exit = error_exit;
    s_.err.output_message = output_message;
    s_.data = bytes.data();
    s_.size = bytes.size();
    s_.max_scans = max_scans;
  }
  ~Decoder() {
    if (s_.created) jpeg_destroy_decompress(&s_.cinfo);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  State* state() { return &s_; }

 private:
  State s_{};
};

// PIL's "CMYK;I" unpacking (inversion) followed by its cmyk2rgb.
inline void cmyk_to_rgb(const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  auto muldiv255 = [](int a, int b) { const int t = a * b + 128; return ((t >> 8) + t) >> 8; };
  auto clip8 = [](int v) { return std::uint8_t(v < 0 ? 0 : v > 255 ? 255 : v); };
  for (std::size_t i = 0; i < n; ++i, in += 4, out += 3) {
    const int nk = 255 - (255 - in[3]);
    for (int ch = 0; ch < 3; ++ch) out[ch] = clip8(nk - muldiv255(255 - in[ch], nk));
  }
}

}  // namespace jpeg_detail

// Decodes a JPEG (the bytes start with FF D8 FF) into L or RGB with its EXIF
// orientation applied. Errors name `name`.
inline Image decode_jpeg(std::span<const std::uint8_t> bytes, std::string_view name, const ImageLimits& limits) {
  jpeg_detail::Decoder dec(bytes, long(limits.max_jpeg_scans));
  jpeg_detail::State* s = dec.state();
  if (!jpeg_detail::header(s)) fail(name, ": bad JPEG: ", s->message);
  const jpeg_decompress_struct& ci = s->cinfo;
  check(ci.data_precision == 8, name, ": cannot handle ", ci.data_precision, "-bit JPEG samples");
  check(ci.num_components == 1 || ci.num_components == 3 || ci.num_components == 4, name, ": cannot handle ",
        ci.num_components, "-component JPEG images");
  check_image_dimensions(name, ci.image_width, ci.image_height, limits);
  check(ci.output_width == ci.image_width && ci.output_height == ci.image_height &&
            ci.output_components == ci.num_components,
        name, ": unexpected JPEG output size");

  int orientation = 1;  // PIL: the first APP1 segment that starts with "Exif\0"
  for (jpeg_saved_marker_ptr m = ci.marker_list; m != nullptr; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 && std::memcmp(m->data, "Exif\0", 5) == 0) {
      orientation = exif_orientation({m->data, m->data_length});
      break;
    }

  const std::int64_t w = ci.image_width, h = ci.image_height;
  Image img;
  if (ci.num_components == 4) {
    std::vector<std::uint8_t> cmyk(std::size_t(w * h * 4));
    if (!jpeg_detail::decode(s, cmyk.data(), std::size_t(w) * 4)) fail(name, ": bad JPEG: ", s->message);
    img = Image(w, h, PixelFormat::RGB);
    jpeg_detail::cmyk_to_rgb(cmyk.data(), img.pixels.data(), std::size_t(w * h));
  } else {
    img = Image(w, h, ci.num_components == 1 ? PixelFormat::L : PixelFormat::RGB);
    if (!jpeg_detail::decode(s, img.pixels.data(), std::size_t(w) * std::size_t(ci.num_components)))
      fail(name, ": bad JPEG: ", s->message);
  }
  return apply_orientation(std::move(img), orientation);
}

}  // namespace strata::image
