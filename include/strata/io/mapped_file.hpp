// MappedFile: a read-only, private memory mapping of a whole file (POSIX).
//
// The mapping lives as long as the object; the file descriptor is closed as
// soon as the mapping exists. An empty file is not mapped: data() is nullptr
// and size() is 0. Only regular files are accepted (opening a FIFO or device
// must not block or read an endless stream).
//
// Caveat of every mmap reader: if another process truncates the file while it
// is mapped, touching the lost pages raises SIGBUS. Model files are expected
// to stay unchanged while loaded.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "strata/core/error.hpp"

namespace strata::io {

class MappedFile {
 public:
  MappedFile() = default;

  explicit MappedFile(std::filesystem::path path) : path_(std::move(path)) {
    int fd = -1;
    do {
      fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      const int err = errno;
      fail(path_.string(), ": cannot open: ", std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      fail(path_.string(), ": cannot stat: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(path_.string(), ": not a regular file");
    }
    if (st.st_size < 0 ||
        static_cast<std::uintmax_t>(st.st_size) > std::numeric_limits<std::size_t>::max()) {
      ::close(fd);
      fail(path_.string(), ": file size ", st.st_size, " cannot be mapped");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        size_ = 0;
        fail(path_.string(), ": cannot mmap ", st.st_size, " bytes: ", std::strerror(err));
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  MappedFile(MappedFile&& other) noexcept
      : path_(std::move(other.path_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}

  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  ~MappedFile() { unmap(); }

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Asks the kernel to start reading the whole file in (MADV_WILLNEED). A hint
  // only: failures are ignored.
  void prefetch() const {
    if (data_ != nullptr) ::madvise(const_cast<std::byte*>(data_), size_, MADV_WILLNEED);
  }

  // Drops this process's pages of [p, p + n), a range inside this mapping,
  // once its contents were copied elsewhere (weights re-laid out at load):
  // only whole pages inside the range, so neighbouring data stays resident.
  // The mapping stays valid; a later read faults the pages back in from the
  // file. A hint only: failures are ignored.
  void release(const std::byte* p, std::size_t n) const {
    if (data_ == nullptr || p < data_ || n > size_ || p - data_ > std::ptrdiff_t(size_ - n)) return;
    const auto page = std::uintptr_t(::sysconf(_SC_PAGESIZE));
    const std::uintptr_t b = (std::uintptr_t(p) + page - 1) / page * page, e = (std::uintptr_t(p) + n) / page * page;
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
  }

 private:
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace strata::io
