// strata-limits: measures this machine's own limits, the ceilings that every
// benchmark reports its figures against (DESIGN.md, "Performance model"):
//
//   * memory read bandwidth: streaming SIMD reads of a buffer much larger than
//     the last-level cache, split across the threads (each thread reads its
//     own contiguous slice, whose pages it touched first);
//   * f32 FMA peak: register-resident chains of independent SIMD fused
//     multiply-adds on every thread (an FMA counts as 2 FLOPs).
//
// Each figure is the best of several timed repeats after a warm-up pass.
// Output is a human table, or with --json exactly one JSON object line.
//
// Exit status: 0 on success, 1 on a runtime failure (e.g. the buffer cannot be
// allocated), 2 on bad command-line flags.
#include <algorithm>
#include <array>
#include <chrono>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "strata/core/thread_pool.hpp"

namespace {

using Batch = xsimd::batch<float>;
constexpr std::size_t kLanes = Batch::size;
constexpr std::size_t kBatchBytes = kLanes * sizeof(float);

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

constexpr std::int64_t kMinThreads = 1;
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::uint64_t kMinBytes = 1 * kMiB;
constexpr std::uint64_t kMaxBytes = 64 * kGiB;
constexpr std::int64_t kMinRepeats = 1;
constexpr std::int64_t kMaxRepeats = 1000;

constexpr std::uint64_t kDefaultBytes = 1 * kGiB;
constexpr std::int64_t kDefaultRepeats = 5;

// Read loop: independent accumulators, so the adds never limit the loop.
constexpr std::size_t kReadAccumulators = 8;
constexpr std::size_t kReadChunkBytes = kReadAccumulators * kBatchBytes;
constexpr std::size_t kPageBytes = 4096;
constexpr std::uint64_t kMinPassBytes = 256 * (1024 * 1024);

// FMA loop: enough independent chains to cover latency x throughput (2 FMA
// pipes x 4-5 cycles on current x86 cores) while staying in registers: 32
// vector registers with AVX-512 (and on AArch64), 16 with AVX2.
constexpr std::size_t kFmaChains = kBatchBytes >= 64 ? 16 : 12;
constexpr double kFmaTargetSeconds = 0.2;

// Keeps results alive so the compiler cannot drop the work that produced them.
volatile double g_sink = 0.0;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- command line -----------------------------------------------------------

struct Options {
  int threads = 0;  // 0: one per hardware thread
  std::uint64_t bytes = kDefaultBytes;
  int repeats = int(kDefaultRepeats);
  bool json = false;
};

struct UsageError {
  std::string message;
};

void print_usage(std::ostream& os) {
  os << "Usage: strata-limits [--threads N] [--bytes SIZE] [--repeats N] [--json]\n"
        "\n"
        "Measures this machine's memory read bandwidth and f32 FMA peak, the\n"
        "limits that strata's benchmarks are reported against.\n"
        "\n"
        "Options:\n"
        "  --threads N    threads to use, 1..1024 (default: all hardware threads)\n"
        "  --bytes SIZE   buffer read by the bandwidth test, 1 MiB..64 GiB; a plain\n"
        "                 byte count or with a K, M or G suffix (KiB, MiB, GiB)\n"
        "                 (default: 1G; keep it far above the last-level cache)\n"
        "  --repeats N    timed repeats of each test, best one reported, 1..1000\n"
        "                 (default: 5)\n"
        "  --json         print one JSON object line instead of the table:\n"
        "                 {\"cpu\", \"threads\", \"simd\", \"read_bandwidth_gb_s\",\n"
        "                  \"fma_peak_gflop_s\", \"bytes\", \"repeats\"}\n"
        "  --help         print this help and exit\n"
        "\n"
        "Bandwidth is in GB/s (1e9 bytes/s); the FMA peak in GFLOP/s, counting a\n"
        "fused multiply-add as 2 FLOPs.\n";
}

// Leading decimal digits of text; UINT64_MAX if they overflow. nullopt if
// there are none. *rest receives what follows them.
std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::string_view* rest) {
  std::uint64_t value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ptr == first) return std::nullopt;
  if (ec == std::errc::result_out_of_range) value = UINT64_MAX;
  *rest = std::string_view(ptr, std::size_t(last - ptr));
  return value;
}

std::int64_t parse_count(std::string_view flag, std::string_view text, std::int64_t lo,
                         std::int64_t hi) {
  std::string_view rest;
  const bool negative = !text.empty() && text.front() == '-';
  auto v = parse_unsigned(negative ? text.substr(1) : text, &rest);
  if (!v || !rest.empty()) {
    throw UsageError{std::string(flag) + ": expected an integer, got '" + std::string(text) + "'"};
  }
  if (negative || *v < std::uint64_t(lo) || *v > std::uint64_t(hi)) {
    throw UsageError{std::string(flag) + ": " + std::string(text) + " is out of range [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "]"};
  }
  return std::int64_t(*v);
}

std::uint64_t parse_bytes(std::string_view flag, std::string_view text) {
  const std::string range = " is out of range [1 MiB, 64 GiB]";
  std::string_view rest;
  if (!text.empty() && text.front() == '-') {
    throw UsageError{std::string(flag) + ": " + std::string(text) + range};
  }
  auto v = parse_unsigned(text, &rest);
  if (!v) {
    throw UsageError{std::string(flag) + ": expected a byte count (e.g. 1073741824, 512M, 1G), got '" +
                     std::string(text) + "'"};
  }
  std::uint64_t mult = 1;
  if (rest == "k" || rest == "K") {
    mult = kKiB;
  } else if (rest == "m" || rest == "M") {
    mult = kMiB;
  } else if (rest == "g" || rest == "G") {
    mult = kGiB;
  } else if (!rest.empty()) {
    throw UsageError{std::string(flag) + ": expected a byte count (e.g. 1073741824, 512M, 1G), got '" +
                     std::string(text) + "'"};
  }
  if (*v > kMaxBytes / mult || *v * mult < kMinBytes) {
    throw UsageError{std::string(flag) + ": " + std::string(text) + range};
  }
  return *v * mult;
}

Options parse_args(int argc, char** argv, bool* help) {
  Options opt;
  *help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (arg.starts_with("--")) {
      if (auto eq = arg.find('='); eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        inline_value = arg.substr(eq + 1);
      }
    }
    auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError{std::string(name) + ": missing value"};
      return argv[++i];
    };
    auto no_value = [&] {
      if (inline_value) throw UsageError{std::string(name) + ": takes no value"};
    };
    if (name == "--threads") {
      opt.threads = int(parse_count(name, value(), kMinThreads, kMaxThreads));
    } else if (name == "--bytes") {
      opt.bytes = parse_bytes(name, value());
    } else if (name == "--repeats") {
      opt.repeats = int(parse_count(name, value(), kMinRepeats, kMaxRepeats));
    } else if (name == "--json") {
      no_value();
      opt.json = true;
    } else if (name == "--help" || name == "-h") {
      no_value();
      *help = true;
    } else {
      throw UsageError{"unknown option '" + std::string(arg) + "' (see --help)"};
    }
  }
  return opt;
}

// ---- machine description ----------------------------------------------------

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (trim(line.substr(0, colon)) == "model name") {
      std::string name = trim(line.substr(colon + 1));
      if (!name.empty()) return name;
    }
  }
  return "unknown";
}

// MemAvailable from /proc/meminfo in bytes, if it can be read.
std::optional<std::uint64_t> available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * kKiB;
  }
  return std::nullopt;
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

float horizontal_sum(const Batch& b) {
  alignas(64) std::array<float, kLanes> lanes{};
  b.store_aligned(lanes.data());
  float s = 0.0f;
  for (float x : lanes) s += x;
  return s;
}

// ---- memory read bandwidth --------------------------------------------------

struct AlignedBuffer {
  float* data = nullptr;
  explicit AlignedBuffer(std::uint64_t bytes) {
    // aligned_alloc needs the size to be a multiple of the alignment.
    const std::uint64_t rounded = (bytes + kPageBytes - 1) / kPageBytes * kPageBytes;
    data = static_cast<float*>(std::aligned_alloc(kPageBytes, std::size_t(rounded)));
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// Sums n floats (n a multiple of kReadAccumulators * kLanes, p 64-byte aligned).
[[gnu::noinline]] float read_sum(const float* p, std::size_t n) {
  std::array<Batch, kReadAccumulators> acc;
  acc.fill(Batch(0.0f));
  for (std::size_t i = 0; i < n; i += kReadAccumulators * kLanes) {
    for (std::size_t k = 0; k < kReadAccumulators; ++k) {
      acc[k] += Batch::load_aligned(p + i + k * kLanes);
    }
  }
  for (std::size_t k = 1; k < kReadAccumulators; ++k) acc[0] += acc[k];
  return horizontal_sum(acc[0]);
}

struct BandwidthResult {
  double best_gb_s = 0.0;
  double worst_gb_s = 0.0;
  std::uint64_t bytes = 0;  // bytes actually read per pass
};

BandwidthResult measure_bandwidth(strata::ThreadPool& pool, std::uint64_t requested_bytes,
                                  int repeats) {
  const int threads = pool.size();
  // Each thread's slice is a whole number of pages where possible, so that its
  // pages are first-touched by the thread that later reads them.
  std::uint64_t granule = kPageBytes;
  if (requested_bytes / std::uint64_t(threads) < granule) granule = kReadChunkBytes;
  const std::uint64_t slice_bytes = requested_bytes / std::uint64_t(threads) / granule * granule;
  const std::uint64_t total_bytes = slice_bytes * std::uint64_t(threads);
  const std::size_t slice_floats = std::size_t(slice_bytes / sizeof(float));

  if (auto avail = available_memory(); avail && total_bytes > *avail) {
    strata::fail("--bytes: a ", total_bytes, "-byte buffer does not fit in available memory (",
                 *avail, " bytes); pass a smaller --bytes");
  }
  AlignedBuffer buf(total_bytes);
  if (buf.data == nullptr) {
    strata::fail("cannot allocate the ", total_bytes, "-byte bandwidth buffer; pass a smaller --bytes");
  }

  // Worker t always runs part t of a parallel_for over [0, threads) with grain
  // 1, so the thread that first touches a slice is the one that reads it.
  std::vector<double> sums(std::size_t(threads) * 8, 0.0);  // 64 bytes apart
  pool.parallel_for(threads, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      float* p = buf.data + std::size_t(t) * slice_floats;
      for (std::size_t i = 0; i < slice_floats; ++i) p[i] = float(i & 15) * 0.25f;
    }
  });

  // A small --bytes would time little more than waking the pool, so each
  // timed pass reads the buffer enough times to move >= kMinPassBytes (once
  // for the default 1 GiB).
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

// ---- f32 FMA peak -------------------------------------------------------------

// One fused multiply-add x * y + z. xsimd 8.1 has no AVX-512 fma kernel: its
// generic fallback is x * y + z on batches, which GCC contracts into vfmadd
// but clang (-ffp-contract=on) emits as a separate multiply and add. So the
// AVX-512 case calls the intrinsic itself; the others go through xsimd, which
// has real FMA kernels for fma3 (SSE/AVX/AVX2) and NEON.
[[gnu::always_inline]] inline Batch fmadd(const Batch& x, const Batch& y, const Batch& z) {
#if defined(__AVX512F__)
  if constexpr (kBatchBytes == 64) {
    return Batch(_mm512_fmadd_ps(x, y, z));
  } else {
    return xsimd::fma(x, y, z);
  }
#else
  return xsimd::fma(x, y, z);
#endif
}

template <std::size_t... K>
[[gnu::always_inline]] inline void fma_step(std::array<Batch, kFmaChains>& acc, const Batch& a,
                                            const Batch& b, std::index_sequence<K...>) {
  ((acc[K] = fmadd(acc[K], a, b)), ...);
}

// Runs `iters` rounds of kFmaChains independent FMAs and returns their sum.
// With a < 1 the chains converge to b / (1 - a): finite, never denormal.
[[gnu::noinline]] float fma_chains(std::int64_t iters, float a_in, float b_in) {
  const Batch a(a_in), b(b_in);
  std::array<Batch, kFmaChains> acc;
  for (std::size_t k = 0; k < kFmaChains; ++k) acc[k] = Batch(1.0f + 0.01f * float(k));
  for (std::int64_t i = 0; i < iters; ++i) {
    fma_step(acc, a, b, std::make_index_sequence<kFmaChains>{});
  }
  for (std::size_t k = 1; k < kFmaChains; ++k) acc[0] += acc[k];
  return horizontal_sum(acc[0]);
}

// Read through volatiles so the compiler cannot fold the chains at build time.
volatile float g_fma_a = 0.999999f;
volatile float g_fma_b = 1e-6f;

struct FmaResult {
  double best_gflop_s = 0.0;
  double worst_gflop_s = 0.0;
};

FmaResult measure_fma(strata::ThreadPool& pool, int repeats) {
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

  const double flops_per_pass =
      double(threads) * double(iters) * double(kFmaChains) * double(kLanes) * 2.0;
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

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

int run(const Options& opt) {
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = opt.threads > 0 ? opt.threads : std::min(hw, int(kMaxThreads));
  const std::string cpu = cpu_model_name();
  const char* simd = xsimd::default_arch::name();

  if (threads > hw) {
    std::cerr << "strata-limits: note: " << threads << " threads on " << hw
              << " hardware threads; the figures will understate this machine\n";
  }

  strata::ThreadPool pool(threads);
  const BandwidthResult bw = measure_bandwidth(pool, opt.bytes, opt.repeats);
  const FmaResult fma = measure_fma(pool, opt.repeats);

  if (opt.json) {
    std::cout << "{\"cpu\": \"" << json_escape(cpu) << "\", \"threads\": " << threads
              << ", \"simd\": \"" << json_escape(simd) << "\", \"read_bandwidth_gb_s\": "
              << fixed(bw.best_gb_s, 2) << ", \"fma_peak_gflop_s\": " << fixed(fma.best_gflop_s, 2)
              << ", \"bytes\": " << bw.bytes << ", \"repeats\": " << opt.repeats << "}\n";
  } else {
    const auto row = [](const char* k, const std::string& v) {
      std::cout << "  " << std::left << std::setw(18) << k << v << "\n";
    };
    std::cout << "strata-limits: this machine's limits\n";
    row("cpu", cpu);
    row("hardware threads", std::to_string(hw));
    row("threads used", std::to_string(threads));
    row("simd", std::string(simd) + " (" + std::to_string(kLanes) + " x f32)");
    row("buffer", fixed(double(bw.bytes) / double(kMiB), 1) + " MiB, best of " +
                      std::to_string(opt.repeats) + " after a warm-up");
    row("read bandwidth", fixed(bw.best_gb_s, 2) + " GB/s   (worst repeat " +
                              fixed(bw.worst_gb_s, 2) + ")");
    row("f32 FMA peak", fixed(fma.best_gflop_s, 2) + " GFLOP/s   (worst repeat " +
                            fixed(fma.worst_gflop_s, 2) + ")");
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bool help = false;
  try {
    opt = parse_args(argc, argv, &help);
  } catch (const UsageError& e) {
    std::cerr << "strata-limits: " << e.message << "\n";
    return 2;
  }
  if (help) {
    print_usage(std::cout);
    return 0;
  }
  try {
    return run(opt);
  } catch (const std::bad_alloc&) {
    std::cerr << "strata-limits: out of memory; pass a smaller --bytes\n";
  } catch (const std::system_error& e) {
    std::cerr << "strata-limits: cannot start threads: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "strata-limits: " << e.what() << "\n";
  }
  return 1;
}
