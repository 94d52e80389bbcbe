// MappedFile: a read-only, private memory mapping of a whole file (POSIX).
//
// The mapping and the file descriptor live as long as the object. An empty
// file is not mapped: data() is nullptr and size() is 0. Only regular files
// are accepted (opening a FIFO or device must not block or read an endless
// stream).
//
// Files that change while mapped: if another process truncates the file,
// touching the lost pages raises SIGBUS, and a rewrite in place shows through
// the mapping. strata therefore reads a checkpoint's bytes only while loading
// (layers copy every tensor into memory of their own, and a loaded model keeps
// no mapping), and check_unchanged() (an fstat on the descriptor kept open
// here) is called before each tensor is read, so a file that shrank since it
// was opened is a strata::Error instead of a crash. Metadata (a safetensors
// header, an index) and the tensors the layers load are read with read() /
// read_into(), which use pread, not the mapping: a file cut short there is an
// error, never a fault. Readers of the mapping itself (quantized-checkpoint
// tensors) can still fault if a shrink races between that check and their
// read: the window is a single tensor's copy, during load only.
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
#include <string>
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
    fd_ = fd;  // kept for check_unchanged()
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  MappedFile(MappedFile&& other) noexcept
      : path_(std::move(other.path_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        fd_(std::exchange(other.fd_, -1)) {}

  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  ~MappedFile() { unmap(); }

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Throws strata::Error if the file no longer has the size it had when it
  // was mapped ("FILE: changed size while loading (was N bytes, now M)").
  // One fstat: cheap enough to call before every tensor is read. A file
  // replaced by rename is not an error: the mapping keeps the old contents.
  void check_unchanged() const {
    if (fd_ < 0) return;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      const int err = errno;
      fail(path_.string(), ": cannot stat: ", std::strerror(err));
    }
    if (st.st_size < 0 || static_cast<std::uintmax_t>(st.st_size) != size_)
      fail(path_.string(), ": changed size while loading (was ", size_, " bytes, now ", st.st_size, ")");
  }

  // n bytes at offset into dst, read with pread (not through the mapping): a
  // file that shrank meanwhile is a strata::Error, not a SIGBUS. offset + n
  // must lie within size().
  void read_into(std::uint64_t offset, std::size_t n, void* dst) const {
    check_range(offset, n);
    auto* out = static_cast<char*>(dst);
    for (std::size_t done = 0; done < n;) {
      const ::ssize_t r = ::pread(fd_, out + done, n - done, static_cast<::off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        const int err = errno;
        fail(path_.string(), ": cannot read: ", std::strerror(err));
      }
      if (r == 0) {  // end of file before offset + n: the file shrank
        check_unchanged();
        fail(path_.string(), ": unexpected end of file at offset ", offset + done);
      }
      done += static_cast<std::size_t>(r);
    }
  }

  // The same, as a string.
  std::string read(std::uint64_t offset, std::size_t n) const {
    check_range(offset, n);  // before allocating n bytes
    std::string out(n, '\0');
    read_into(offset, n, out.data());
    return out;
  }

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
  void check_range(std::uint64_t offset, std::size_t n) const {
    if (offset > size_ || n > size_ - offset)
      fail(path_.string(), ": read of ", n, " bytes at offset ", offset, " is outside the file (", size_, " bytes)");
  }

  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
    data_ = nullptr;
    size_ = 0;
    fd_ = -1;
  }

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace strata::io
