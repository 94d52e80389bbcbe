// Untrusted JSON files (config.json, generation_config.json, tokenizer.json):
// read with a size limit, only if they are regular files, and parsed with
// bounded nesting.
//
// Why the nesting bound: nlohmann's parser and destructor are iterative, but
// printing a value (in an error message) and strata's own readers of nested
// steps (a tokenizer's Sequence of Sequences) recurse once per level, so
// "[[[[..." a few hundred thousand levels deep would overflow the stack.
// Real files nest at most about 6 levels.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "strata/core/error.hpp"

namespace strata::io {

struct JsonLimits {
  // Nesting of arrays and objects.
  static constexpr int max_depth = 64;
};

namespace detail {

// Text from a file, for an error message: control characters escaped (so the
// message stays one line) and cut after max_bytes at a character boundary.
inline std::string printable(std::string_view s, std::size_t max_bytes = 60) {
  std::size_t n = std::min(s.size(), max_bytes);
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  std::string out;
  out.reserve(n + 8);
  for (const char c : s.substr(0, n)) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7F) {
      constexpr char hex[] = "0123456789ABCDEF";
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    } else {
      out += c;
    }
  }
  if (n < s.size()) out += "...";
  return out;
}

// A JSON value for an error message: compact, ASCII, at most ~64 bytes.
inline std::string printable_json(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  if (s.size() > 64) s = s.substr(0, 60) + " ...";
  return s;
}

// nlohmann's message for a parse error quotes the token it stopped in, which
// can be the rest of the file (an unterminated string): cut it short.
inline std::string json_error(const nlohmann::json::exception& e) { return printable(e.what(), 240); }

// Parses JSON text; `where` starts every message ("WHERE: not valid JSON
// (...)", "WHERE: JSON nests deeper than 64 levels").
inline nlohmann::json parse_json_bounded(std::string_view text, const std::string& where,
                                         int max_depth = JsonLimits::max_depth) {
  using json = nlohmann::json;
  int depth = 0;
  auto callback = [&](int, json::parse_event_t event, json&) -> bool {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) {
      if (++depth > max_depth) fail(where, ": JSON nests deeper than ", max_depth, " levels");
    } else if (event == json::parse_event_t::object_end || event == json::parse_event_t::array_end) {
      --depth;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    fail(where, ": not valid JSON (", json_error(e), ")");
  }
}

// The whole of a regular file of at most max_bytes. A path that is missing,
// not a regular file (a folder, a FIFO, a device: opening never blocks) or
// too large is an error.
inline std::string read_file_bounded(const std::filesystem::path& p, std::uint64_t max_bytes) {
  int fd = -1;
  do {
    fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    fail(p.string(), ": cannot open: ", std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    fail(p.string(), ": cannot stat: ", std::strerror(err));
  }
  check(S_ISREG(st.st_mode), p.string(), ": not a regular file");
  check(st.st_size >= 0 && std::uint64_t(st.st_size) <= max_bytes, p.string(), ": file is ", st.st_size,
        " bytes, more than the limit of ", max_bytes);
  std::string out;
  out.reserve(std::size_t(st.st_size));
  char buf[1 << 16];
  for (;;) {  // to the end, however long the file is by now, up to the limit
    const ::ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      fail(p.string(), ": cannot read: ", std::strerror(err));
    }
    if (r == 0) break;
    out.append(buf, std::size_t(r));
    check(out.size() <= max_bytes, p.string(), ": file grew past the limit of ", max_bytes, " bytes while read");
  }
  return out;
}

// Reads and parses a JSON file of at most max_bytes (see read_file_bounded).
inline nlohmann::json read_json_file_bounded(const std::filesystem::path& p, std::uint64_t max_bytes) {
  return parse_json_bounded(read_file_bounded(p, max_bytes), p.string());
}

}  // namespace detail
}  // namespace strata::io
