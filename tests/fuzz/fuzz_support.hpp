// Helpers shared by the libFuzzer harnesses in tests/fuzz/: an input as a
// file (an anonymous memfd, or a file in a per-process temp folder) and the
// one rule every harness follows: strata::Error is a correct answer to bad
// input; any other exception escapes and is a finding (libFuzzer reports it,
// the replay runner exits non-zero).
#pragma once

#include <stdlib.h>    // mkdtemp
#include <sys/mman.h>  // memfd_create
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "strata/core/error.hpp"

namespace strata::fuzz {

// Stops the run with a message: for broken invariants (a finding).
[[noreturn]] inline void invariant_failed(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz invariant failed: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
  std::abort();
}

// Writes all of [data, data + size) to fd at offset 0 after truncating it.
inline void rewrite_fd(int fd, const std::uint8_t* data, std::size_t size) {
  if (::ftruncate(fd, 0) != 0) invariant_failed("ftruncate failed");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) invariant_failed("pwrite failed");
    done += static_cast<std::size_t>(n);
  }
}

// One anonymous in-memory file for the whole process, reached by a path
// (/proc/self/fd/N) as the loaders expect.
class MemFile {
 public:
  MemFile() {
    fd_ = ::memfd_create("strata-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) invariant_failed("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  // Replaces the contents; returns the path to open.
  const std::filesystem::path& write(const std::uint8_t* data, std::size_t size) {
    rewrite_fd(fd_, data, size);
    return path_;
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

// A per-process temp folder, removed when the process exits normally.
class TempFolder {
 public:
  TempFolder() {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "strata-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) invariant_failed("mkdtemp failed", tmpl);
    path_ = tmpl;
  }
  ~TempFolder() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::FILE* f = std::fopen(p.c_str(), "wb");
  if (f == nullptr) invariant_failed("cannot create", p.string());
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size())
    invariant_failed("cannot write", p.string());
  if (std::fclose(f) != 0) invariant_failed("cannot close", p.string());
}

inline void remove_file(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

// Longest error message accepted: one line that names what is wrong, not a
// dump of the input.
inline constexpr std::size_t max_message_bytes = 2048;

// Runs f(); a strata::Error (the loader refusing the input) is fine if its
// message is one non-empty line of bounded length.
template <class F>
void expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const strata::Error& e) {
    const std::string_view msg = e.what();
    if (msg.empty()) invariant_failed("empty error message");
    if (msg.find('\n') != std::string_view::npos || msg.find('\r') != std::string_view::npos)
      invariant_failed("error message is not one line", std::string(msg.substr(0, 300)));
    if (msg.size() > max_message_bytes)
      invariant_failed("error message is too long", std::to_string(msg.size()) + " bytes: " + std::string(msg.substr(0, 300)));
  }
}

}  // namespace strata::fuzz
