// A heap array aligned to a cache line (64 bytes), for packed weights and
// kernel scratch that SIMD code loads with aligned instructions.
//
// Buffers of kArenaBytes and more (weight matrices, embedding tables) come
// from the huge-page arena (huge_page_arena.hpp): fresh memory in 2 MiB
// transparent huge pages shared back to back with the buffers allocated
// before and after, which reads as zeros without being cleared. Smaller ones
// come from aligned_alloc and are cleared. Under AddressSanitizer every
// buffer comes from aligned_alloc, so that overflows of it are caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "strata/core/huge_page_arena.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define STRATA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRATA_ASAN 1
#endif
#endif

namespace strata {

template <class T>
class AlignedBuffer {
 public:
  static constexpr std::size_t kAlign = 64;
#if defined(STRATA_ASAN)
  static constexpr std::size_t kArenaBytes = SIZE_MAX;
#else
  static constexpr std::size_t kArenaBytes = std::size_t{64} << 10;
#endif

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { resize(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { release(); }

  // Discards the contents; new elements are zero bytes.
  void resize(std::size_t n) {
    release();
    if (n == 0) return;
    // n * sizeof(T), rounded up to kAlign, must not wrap around.
    if (n > (SIZE_MAX - kAlign) / sizeof(T)) throw std::bad_alloc();
    const std::size_t b = bytes(n);
    if (b >= kArenaBytes) {
      p_ = static_cast<T*>(detail::HugePageArena::instance().allocate(b));
    } else {
      p_ = static_cast<T*>(std::aligned_alloc(kAlign, b));
      if (!p_) throw std::bad_alloc();
      std::memset(static_cast<void*>(p_), 0, b);
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
  static std::size_t bytes(std::size_t n) { return (n * sizeof(T) + kAlign - 1) / kAlign * kAlign; }

  void release() noexcept {
    if (p_ != nullptr && bytes(n_) >= kArenaBytes) detail::HugePageArena::instance().deallocate(p_, bytes(n_));
    else std::free(p_);
    p_ = nullptr;
    n_ = 0;
  }

  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace strata
