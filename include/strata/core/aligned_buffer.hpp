// A heap array aligned to a cache line (64 bytes), for packed weights and
// kernel scratch that SIMD code loads with aligned instructions.
//
// Large buffers (kMapBytes and up: weight matrices, embedding tables) are
// mapped from the OS on their own, aligned to 2 MiB and advised as
// transparent huge pages (MADV_HUGEPAGE; Linux's default "madvise" mode
// grants them), so writing one the first time takes a page fault per 2 MiB
// rather than per 4 KiB, and reading it in a forward pass misses the TLB
// less. A fresh mapping reads as zeros, so it is not cleared again, and
// freeing it returns its memory to the OS at once. The last partial 2 MiB of
// a buffer stays in small pages: no memory is committed past its end.
// Smaller buffers come from aligned_alloc and are cleared.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace strata {

template <class T>
class AlignedBuffer {
 public:
  static constexpr std::size_t kAlign = 64;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  static constexpr std::size_t kMapBytes = kHugePage;  // buffers this large are mapped (above)

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
      mapped_ = std::exchange(o.mapped_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { release(); }

  // Discards the contents; new elements are zero bytes.
  void resize(std::size_t n) {
    release();
    if (n == 0) return;
    // n * sizeof(T), rounded up to kAlign, must not wrap around.
    if (n > (SIZE_MAX - kHugePage) / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    if (bytes >= kMapBytes) {
      map(bytes);
    } else {
      p_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
      if (!p_) throw std::bad_alloc();
      std::memset(static_cast<void*>(p_), 0, bytes);
    }
    n_ = n;
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T& operator[](std::size_t i) { return p_[i]; }
  const T& operator[](std::size_t i) const { return p_[i]; }

 private:
  // An anonymous mapping of `bytes` (rounded up to whole pages) starting on a
  // 2 MiB boundary: map 2 MiB more, then unmap what lies outside.
  void map(std::size_t bytes) {
    const auto page = std::size_t(::sysconf(_SC_PAGESIZE));
    const std::size_t len = (bytes + page - 1) / page * page, span = len + kHugePage;
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto b = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t a = (b + kHugePage - 1) / kHugePage * kHugePage;
    if (a > b) ::munmap(raw, a - b);
    if (b + span > a + len) ::munmap(reinterpret_cast<void*>(a + len), b + span - (a + len));
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(a), len, MADV_HUGEPAGE);  // a hint: failure leaves small pages
#endif
    p_ = reinterpret_cast<T*>(a);
    mapped_ = len;
  }

  void release() noexcept {
    if (mapped_ != 0) ::munmap(static_cast<void*>(p_), mapped_);
    else std::free(p_);
    p_ = nullptr;
    n_ = 0;
    mapped_ = 0;
  }

  T* p_ = nullptr;
  std::size_t n_ = 0;
  std::size_t mapped_ = 0;  // bytes mapped with mmap; 0: from aligned_alloc
};

}  // namespace strata
