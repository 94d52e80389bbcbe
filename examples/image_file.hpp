// Image files for the example programs: JPEG and PNG decoded to the pixels
// transformers' load_image gives (PIL.Image.open → ImageOps.exif_transpose →
// convert("RGB"), Pillow 9.4). The library itself reads no image files; this
// header (and image_jpeg.hpp, image_png.hpp, exif_orientation.hpp) needs
// libjpeg(-turbo) and libpng, which only the examples and the tests link.
//
//   Image img = to_rgb(load_image_file("cat.jpg"));
//
// The format comes from the content (JPEG: FF D8 FF; PNG: its 8-byte
// signature), never from the name. The image is returned as decoded (L, LA,
// RGB or RGBA; CMYK JPEGs and palette PNGs already as RGB) with the EXIF
// orientation applied; to_rgb() finishes PIL's convert("RGB"). Every fault is
// a one-line strata::Error naming the file. docs/IMAGES.md, "Image files
// (examples)", lists what is matched and where this differs from PIL.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image_jpeg.hpp"
#include "image_limits.hpp"
#include "image_png.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::image {

// Decodes the bytes of a JPEG or PNG file; `name` is used in error messages.
inline Image decode_image(std::span<const std::uint8_t> bytes, std::string_view name, const ImageLimits& limits = {}) {
  check(bytes.size() <= std::uint64_t(limits.max_file_bytes), name, ": file is ", bytes.size(),
        " bytes, more than the limit of ", limits.max_file_bytes);
  check(!bytes.empty(), name, ": empty file, not a JPEG or PNG image");
  static constexpr std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) return decode_jpeg(bytes, name, limits);
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_sig, 8) == 0) return decode_png(bytes, name, limits);
  fail(name, ": not a JPEG or PNG image (unrecognised content; the file name's extension is not used)");
}

// Reads and decodes a file. Missing files, folders, empty or oversized files
// and unreadable ones are errors that name the path.
inline Image load_image_file(const std::filesystem::path& path, const ImageLimits& limits = {}) {
  const std::string name = path.string();
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is then refused
  // as not a regular file (as are /dev/zero and folders).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(name, ": cannot open image file: ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(name, ": cannot stat image file: ", std::strerror(errno));
  check(!S_ISDIR(st.st_mode), name, ": is a folder, not an image file");
  check(S_ISREG(st.st_mode), name, ": not a regular file");
  check(st.st_size <= limits.max_file_bytes, name, ": file is ", std::int64_t(st.st_size),
        " bytes, more than the limit of ", limits.max_file_bytes);
  check(st.st_size > 0, name, ": empty file, not a JPEG or PNG image");
  std::vector<std::uint8_t> bytes(std::size_t(st.st_size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += std::size_t(n);
  }
  check(got == bytes.size(), name, ": cannot read image file (", got, " of ", bytes.size(),
        " bytes; did it shrink?)");
  return decode_image(bytes, name, limits);
}

}  // namespace strata::image
