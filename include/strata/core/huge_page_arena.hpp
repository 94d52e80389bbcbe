// Memory for large aligned buffers (a model's weights), carved one after
// another from 2 MiB-aligned anonymous mappings advised as transparent huge
// pages (MADV_HUGEPAGE; Linux's default "madvise" mode grants them).
//
// Why: writing a buffer the first time costs a page fault per page. On some
// virtual machines a 4 KiB fault costs ~10-15 us and faults do not run in
// parallel (measured on a 2-core AMD EPYC firecracker VM: 0.55 s for 200 MB
// of 4 KiB pages, the same with 2 threads), so a model's memory cost more to fault
// in than to fill; one fault per 2 MiB makes it ~50x cheaper, and a forward
// pass that streams the weights misses the TLB less. Giving each buffer a
// mapping of its own would leave its last partial 2 MiB in small pages (or
// waste the rest of a huge page); carving buffers back to back from shared
// regions lets them share huge pages instead.
//
// How: a region is max(64 MiB, the request rounded up to 2 MiB), mapped
// fresh, so every byte handed out reads as zero; requests are served from
// the current region's unused end (64-byte aligned), and a request that does
// not fit opens a new region (the old one's unused end is never touched, so
// it costs address space only). A region counts its live buffers: freeing a
// buffer hands the whole pages inside it back to the OS (MADV_DONTNEED), and
// the last one unmaps the region. Space is never reused within a region, so
// buffers that live long (a model) and short (scratch) in one region keep
// only address space alive, not memory. One process-wide arena with a mutex:
// allocations are few (load time) and large.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace strata::detail {

class HugePageArena {
 public:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  static constexpr std::size_t kRegionBytes = std::size_t{64} << 20;
  static constexpr std::size_t kAlign = 64;

  // The process's arena (never destroyed: buffers in static or thread-local
  // objects may be freed after any static destructor ran).
  static HugePageArena& instance() {
    static HugePageArena* arena = new HugePageArena();
    return *arena;
  }

  // `bytes` of zeros, 64-byte aligned. Throws std::bad_alloc.
  void* allocate(std::size_t bytes) {
    if (bytes > SIZE_MAX - kRegionBytes) throw std::bad_alloc();
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    const std::lock_guard<std::mutex> lock(mu_);
    if (current_ == nullptr || current_->size - current_->used < bytes)
      current_ = open_region(std::max(kRegionBytes, (bytes + kHugePage - 1) / kHugePage * kHugePage));
    void* p = reinterpret_cast<void*>(current_->base + current_->used);
    current_->used += bytes;
    ++current_->live;
    return p;
  }

  // Frees what allocate(bytes) returned.
  void deallocate(void* p, std::size_t bytes) noexcept {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::lock_guard<std::mutex> lock(mu_);
    for (auto it = regions_.begin(); it != regions_.end(); ++it) {
      Region& r = **it;
      if (a < r.base || a >= r.base + r.size) continue;
      if (--r.live == 0) {
        ::munmap(reinterpret_cast<void*>(r.base), r.size);
        if (current_ == &r) current_ = nullptr;
        regions_.erase(it);
      } else {  // the pages only this buffer covered leave the resident set
        const std::uintptr_t b = (a + page_ - 1) / page_ * page_, e = (a + bytes) / page_ * page_;
        if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
      }
      return;
    }
  }

 private:
  struct Region {
    std::uintptr_t base = 0;
    std::size_t size = 0, used = 0, live = 0;
  };

  HugePageArena() : page_(std::size_t(::sysconf(_SC_PAGESIZE))) {}

  // A fresh mapping of `size` bytes (a multiple of 2 MiB) on a 2 MiB
  // boundary: map 2 MiB more, then unmap what lies outside.
  Region* open_region(std::size_t size) {
    regions_.reserve(regions_.size() + 1);  // nothing may throw once the mapping exists
    auto r = std::make_unique<Region>();
    const std::size_t span = size + kHugePage;
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto b = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t a = (b + kHugePage - 1) / kHugePage * kHugePage;
    if (a > b) ::munmap(raw, a - b);
    if (b + span > a + size) ::munmap(reinterpret_cast<void*>(a + size), b + span - (a + size));
#ifdef MADV_HUGEPAGE
    ::madvise(reinterpret_cast<void*>(a), size, MADV_HUGEPAGE);  // a hint: failure leaves small pages
#endif
    r->base = a;
    r->size = size;
    regions_.push_back(std::move(r));
    return regions_.back().get();
  }

  std::mutex mu_;
  std::size_t page_;
  std::vector<std::unique_ptr<Region>> regions_;
  Region* current_ = nullptr;  // where allocations go; nullptr: open a new region
};

}  // namespace strata::detail
