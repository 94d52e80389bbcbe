// strata-limits: measures this machine's own limits, the ceilings that every
// benchmark reports its figures against (DESIGN.md, "Performance model"): the
// memory read bandwidth and the f32 FMA peak, with the probes of limits.hpp
// (also run by strata-bench in the same process as its model timings).
//
// Output is a human table, or with --json exactly one JSON object line.
//
// Exit status: 0 on success, 1 on a runtime failure (e.g. the buffer cannot be
// allocated), 2 on bad command-line flags.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iomanip>
#include <iostream>
#include <new>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <xsimd/xsimd.hpp>

#include "limits.hpp"
#include "strata/core/error.hpp"
#include "strata/core/thread_pool.hpp"

namespace {

using strata::bench::kGiB;
using strata::bench::kKiB;
using strata::bench::kLanes;
using strata::bench::kMiB;

constexpr std::int64_t kMinThreads = 1;
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::uint64_t kMinBytes = 1 * kMiB;
constexpr std::uint64_t kMaxBytes = 64 * kGiB;
constexpr std::int64_t kMinRepeats = 1;
constexpr std::int64_t kMaxRepeats = 1000;

constexpr std::uint64_t kDefaultBytes = strata::bench::kDefaultBandwidthBytes;
constexpr std::int64_t kDefaultRepeats = 5;

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
  std::set<std::string_view> seen;
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
    // An option given twice (--threads 2 --threads=4) is refused, not overridden.
    if (!seen.insert(name == "-h" ? std::string_view("--help") : name).second) {
      throw UsageError{"option '" + std::string(name) + "' is given more than once"};
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

// ---- output ----------------------------------------------------------------

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

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

int run(const Options& opt) {
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = opt.threads > 0 ? opt.threads : std::min(hw, int(kMaxThreads));
  const std::string cpu = strata::bench::cpu_model_name();
  const char* simd = xsimd::default_arch::name();

  if (threads > hw) {
    std::cerr << "strata-limits: note: " << threads << " threads on " << hw
              << " hardware threads; the figures will understate this machine\n";
  }

  strata::ThreadPool pool(threads);
  strata::bench::BandwidthResult bw;
  try {
    bw = strata::bench::measure_bandwidth(pool, opt.bytes, opt.repeats);
  } catch (const strata::Error& e) {
    strata::fail("--bytes: ", e.what(), "; pass a smaller --bytes");
  }
  const auto fma = strata::bench::measure_fma(pool, opt.repeats);

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
