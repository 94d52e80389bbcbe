// This machine's own limits, the ceilings that every benchmark reports its
// figures against (DESIGN.md, "Performance model"), shared by strata-limits
// and strata-bench:
//
//   * memory read bandwidth: streaming SIMD reads of a buffer much larger than
//     the last-level cache, split across the threads (each thread reads its
//     own contiguous slice, whose pages it touched first);
//   * f32 FMA peak: register-resident chains of independent SIMD fused
//     multiply-adds on every thread (an FMA counts as 2 FLOPs).
//
// Each figure is the best of several timed repeats after a warm-up pass.
// Also: the CPU's model name, for reports.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "strata/core/error.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/kernels/simd/arch.hpp"

namespace strata::bench {

using Arch = xsimd::default_arch;  // the widest target the compiler was told (-march=native)
using Batch = simd::vfloat<Arch>;
inline constexpr std::size_t kLanes = Batch::size;
inline constexpr std::size_t kBatchBytes = kLanes * sizeof(float);

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

// Default size of the bandwidth buffer: far above any last-level cache.
inline constexpr std::uint64_t kDefaultBandwidthBytes = 1 * kGiB;

namespace detail {

// Read loop: independent accumulators, so the adds never limit the loop.
inline constexpr std::size_t kReadAccumulators = 8;
inline constexpr std::size_t kReadChunkBytes = kReadAccumulators * kBatchBytes;
inline constexpr std::size_t kPageBytes = 4096;
inline constexpr std::uint64_t kMinPassBytes = 256 * kMiB;

// FMA loop: enough independent chains to cover latency x throughput (2 FMA
// pipes x 4-5 cycles on current x86 cores) while staying in registers: 32
// vector registers with AVX-512 (and on AArch64), 16 with AVX2.
inline constexpr std::size_t kFmaChains = kBatchBytes >= 64 ? 16 : 12;
inline constexpr double kFmaTargetSeconds = 0.2;

// Keeps results alive so the compiler cannot drop the work that produced them.
inline volatile double g_sink = 0.0;
// Read through volatiles so the compiler cannot fold the FMA chains at build time.
inline volatile float g_fma_a = 0.999999f;
inline volatile float g_fma_b = 1e-6f;

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

inline std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

// A page-aligned heap buffer of floats, left uninitialised (each thread
// first-touches its own slice).
struct PageBuffer {
  float* data = nullptr;
  explicit PageBuffer(std::uint64_t bytes) {
    // aligned_alloc needs the size to be a multiple of the alignment.
    const std::uint64_t rounded = (bytes + kPageBytes - 1) / kPageBytes * kPageBytes;
    data = static_cast<float*>(std::aligned_alloc(kPageBytes, std::size_t(rounded)));
  }
  ~PageBuffer() { std::free(data); }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
};

// Sums n floats (n a multiple of kReadAccumulators * kLanes, p 64-byte aligned).
[[gnu::noinline]] inline float read_sum(const float* p, std::size_t n) {
  std::array<Batch, kReadAccumulators> acc;
  acc.fill(Batch(0.0f));
  for (std::size_t i = 0; i < n; i += kReadAccumulators * kLanes) {
    for (std::size_t k = 0; k < kReadAccumulators; ++k) acc[k] += Batch::load_aligned(p + i + k * kLanes);
  }
  for (std::size_t k = 1; k < kReadAccumulators; ++k) acc[0] += acc[k];
  return simd::hsum<Arch>(acc[0]);
}

template <std::size_t... K>
[[gnu::always_inline]] inline void fma_step(std::array<Batch, kFmaChains>& acc, const Batch& a, const Batch& b,
                                            std::index_sequence<K...>) {
  ((acc[K] = simd::fmadd<Arch>(acc[K], a, b)), ...);
}

// Runs `iters` rounds of kFmaChains independent FMAs and returns their sum.
// With a < 1 the chains converge to b / (1 - a): finite, never denormal.
[[gnu::noinline]] inline float fma_chains(std::int64_t iters, float a_in, float b_in) {
  const Batch a(a_in), b(b_in);
  std::array<Batch, kFmaChains> acc;
  for (std::size_t k = 0; k < kFmaChains; ++k) acc[k] = Batch(1.0f + 0.01f * float(k));
  for (std::int64_t i = 0; i < iters; ++i) fma_step(acc, a, b, std::make_index_sequence<kFmaChains>{});
  for (std::size_t k = 1; k < kFmaChains; ++k) acc[0] += acc[k];
  return simd::hsum<Arch>(acc[0]);
}

}  // namespace detail

// "model name" from /proc/cpuinfo (what lscpu prints), or "unknown".
inline std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (detail::trim(line.substr(0, colon)) == "model name") {
      std::string name = detail::trim(line.substr(colon + 1));
      if (!name.empty()) return name;
    }
  }
  return "unknown";
}

// MemAvailable from /proc/meminfo in bytes, if it can be read.
inline std::optional<std::uint64_t> available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * kKiB;
  }
  return std::nullopt;
}

struct BandwidthResult {
  double best_gb_s = 0.0;  // 1e9 bytes/s
  double worst_gb_s = 0.0;
  std::uint64_t bytes = 0;  // bytes actually read per pass
};

// Read bandwidth with all of the pool's threads over a buffer of about
// `requested_bytes` (>= 1 MiB), best of `repeats` after a warm-up. Throws
// strata::Error if the buffer does not fit in available memory.
inline BandwidthResult measure_bandwidth(ThreadPool& pool, std::uint64_t requested_bytes, int repeats) {
  using namespace detail;
  const int threads = pool.size();
  // Each thread's slice is a whole number of pages where possible, so that its
  // pages are first-touched by the thread that later reads them.
  std::uint64_t granule = kPageBytes;
  if (requested_bytes / std::uint64_t(threads) < granule) granule = kReadChunkBytes;
  const std::uint64_t slice_bytes = requested_bytes / std::uint64_t(threads) / granule * granule;
  const std::uint64_t total_bytes = slice_bytes * std::uint64_t(threads);
  const std::size_t slice_floats = std::size_t(slice_bytes / sizeof(float));
  check(total_bytes > 0, "bandwidth buffer of ", requested_bytes, " bytes is too small for ", threads, " threads");

  if (auto avail = available_memory(); avail && total_bytes > *avail) {
    fail("a ", total_bytes, "-byte bandwidth buffer does not fit in available memory (", *avail, " bytes)");
  }
  PageBuffer buf(total_bytes);
  check(buf.data != nullptr, "cannot allocate the ", total_bytes, "-byte bandwidth buffer");

  // Worker t always runs part t of a parallel_for over [0, threads) with grain
  // 1, so the thread that first touches a slice is the one that reads it.
  std::vector<double> sums(std::size_t(threads) * 8, 0.0);  // 64 bytes apart
  pool.parallel_for(threads, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      float* p = buf.data + std::size_t(t) * slice_floats;
      for (std::size_t i = 0; i < slice_floats; ++i) p[i] = float(i & 15) * 0.25f;
    }
  });

  // A small buffer would time little more than waking the pool, so each
  // timed pass reads it enough times to move >= kMinPassBytes (once for the
  // default 1 GiB).
  const int sweeps = int((kMinPassBytes + total_bytes - 1) / total_bytes);
  auto pass = [&] {
    const auto t0 = Clock::now();
    pool.parallel_for(threads, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t t = b; t < e; ++t) {
        const float* p = buf.data + std::size_t(t) * slice_floats;
        float s = 0.0f;
        for (int k = 0; k < sweeps; ++k) {
          // The buffer "may have changed", so every sweep really reads it
          // (read_sum is pure, and the compiler knows it).
          asm volatile("" : : "r"(p) : "memory");
          s += read_sum(p, slice_floats);
        }
        sums[std::size_t(t) * 8] = s;
      }
    });
    const double s = seconds_since(t0);
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += sums[std::size_t(t) * 8];
    g_sink = g_sink + total;
    return double(total_bytes) * double(sweeps) / s / 1e9;
  };

  pass();  // warm-up
  BandwidthResult r;
  r.bytes = total_bytes;
  r.worst_gb_s = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const double gb_s = pass();
    r.best_gb_s = std::max(r.best_gb_s, gb_s);
    r.worst_gb_s = std::min(r.worst_gb_s, gb_s);
  }
  return r;
}

struct FmaResult {
  double best_gflop_s = 0.0;
  double worst_gflop_s = 0.0;
};

// f32 FMA peak with all of the pool's threads, best of `repeats` (each about
// 0.2 s) after a warm-up.
inline FmaResult measure_fma(ThreadPool& pool, int repeats) {
  using namespace detail;
  const int threads = pool.size();
  const float a = g_fma_a, b = g_fma_b;

  // Calibrate on one thread: grow the loop until it runs >= 20 ms, then scale
  // it to ~kFmaTargetSeconds.
  std::int64_t iters = 1 << 16;
  double s = 0.0;
  for (;;) {
    const auto t0 = Clock::now();
    g_sink = g_sink + fma_chains(iters, a, b);
    s = seconds_since(t0);
    if (s >= 0.02 || iters >= (std::int64_t(1) << 40)) break;
    iters *= 4;
  }
  iters = std::max<std::int64_t>(1 << 16, std::int64_t(double(iters) * kFmaTargetSeconds / s));

  const double flops_per_pass = double(threads) * double(iters) * double(kFmaChains) * double(kLanes) * 2.0;
  std::vector<double> sums(std::size_t(threads) * 8, 0.0);
  auto pass = [&] {
    const auto t0 = Clock::now();
    pool.parallel_for(threads, [&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t t = lo; t < hi; ++t) sums[std::size_t(t) * 8] = fma_chains(iters, a, b);
    });
    const double secs = seconds_since(t0);
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += sums[std::size_t(t) * 8];
    g_sink = g_sink + total;
    return flops_per_pass / secs / 1e9;
  };

  pass();  // warm-up (also settles any wide-vector frequency change)
  FmaResult r;
  r.worst_gflop_s = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const double g = pass();
    r.best_gflop_s = std::max(r.best_gflop_s, g);
    r.worst_gflop_s = std::min(r.worst_gflop_s, g);
  }
  return r;
}

}  // namespace strata::bench
