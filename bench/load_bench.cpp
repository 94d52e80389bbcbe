// strata-load-bench: how fast a checkpoint loads from the page cache, and how
// much memory loading takes next to what the loaded model keeps.
//
//   strata-load-bench --model DIR [--weights f32|bf16|f16] [--threads N] [--repeats 5] [--warmup 1]
//
// Encoders (config.json model_type bert) load with load_encoder, everything
// else with load_causal_lm. One untimed load first (--warmup) brings the
// files into the page cache (and the code and allocator into a steady
// state); then each of R repeats times one load, from the call to the
// returned model. --warmup 0 --repeats 1 times the first load of a process,
// which also pays for memory the OS has not handed to it before. Reported: the
// best and the median seconds, GB/s = the checkpoint's tensor bytes / seconds
// (best and median), and per load, from /proc/self/status:
//
//   model bytes = RssAnon after the load − RssAnon before it (what the model
//                 keeps resident, freed heap returned with malloc_trim first)
//   peak        = VmHWM during the load − VmRSS before it (VmHWM is reset
//                 before each load through /proc/self/clear_refs); it counts
//                 the checkpoint's mapped pages while they are resident
//   peak ratio  = peak / model bytes (the largest of the repeats)
//
// and the model's weight_bytes() (bytes read per forward) for reference.
// One line on stdout; errors are one line on stderr, exit 1.
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/models/encoder.hpp"
#include "strata/models/llama.hpp"

namespace {

constexpr const char* kUsage =
    "usage: strata-load-bench --model DIR [--weights f32|bf16|f16] [--threads N] [--repeats 5] [--warmup 1]\n"
    "  --threads N  loading threads, 1..1024 (LoadOptions::threads; default: one per hardware thread)\n"
    "  --warmup W   untimed loads first, 0..100 (default 1: the page cache warm)\n";

// A field of /proc/self/status in bytes ("VmHWM:  1234 kB"); -1 if absent.
long long status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

// Resets VmHWM to the current RSS; false where the kernel does not allow it.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}

struct LoadRun {
  double seconds = 0;
  long long model_bytes = 0, peak_bytes = -1;
  std::size_t weight_bytes = 0;
  std::string name;
};

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  std::string model_dir;
  WeightType wt = WeightType::F32;
  std::int64_t repeats = 5, warmup = 1;
  int threads = 0;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--model") model_dir = a.value(f);
    else if (f == "--weights") wt = cli::weight_type_flag(a, f);
    else if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--repeats") repeats = a.integer(f, 1, 1000);
    else if (f == "--warmup") warmup = a.integer(f, 0, 100);
    else fail("unknown option '", f, "' (see --help)");
  }
  check(!model_dir.empty(), "--model DIR is required");
  const bool encoder = load_model_config(model_dir).is_encoder();
  const double ck_bytes = double(io::Checkpoint::open(model_dir).total_bytes());
  LoadOptions lo;
  lo.threads = threads;

  auto load_once = [&]() {
    LoadRun r;
    ::malloc_trim(0);
    const bool peak_known = reset_peak_rss();
    const long long rss0 = status_bytes("VmRSS"), anon0 = status_bytes("RssAnon");
    std::shared_ptr<const void> keep;
    r.seconds = bench::seconds([&] {
      if (encoder) {
        auto m = load_encoder(model_dir, wt, lo);
        r.weight_bytes = m->weight_bytes();
        r.name = m->name();
        keep = m;
      } else {
        auto m = load_causal_lm(model_dir, wt, lo);
        r.weight_bytes = m->weight_bytes();
        r.name = m->name();
        keep = m;
      }
    });
    if (peak_known) r.peak_bytes = status_bytes("VmHWM") - rss0;
    ::malloc_trim(0);
    r.model_bytes = status_bytes("RssAnon") - anon0;
    return r;
  };

  for (std::int64_t i = 0; i < warmup; ++i) load_once();  // untimed: the page cache
  std::vector<double> secs;
  LoadRun last;
  double worst_ratio = -1, worst_peak = 0;
  for (std::int64_t i = 0; i < repeats; ++i) {
    last = load_once();
    secs.push_back(last.seconds);
    if (last.peak_bytes >= 0 && last.model_bytes > 0 &&
        double(last.peak_bytes) / double(last.model_bytes) > worst_ratio) {
      worst_ratio = double(last.peak_bytes) / double(last.model_bytes);
      worst_peak = double(last.peak_bytes);
    }
  }
  const double best = *std::min_element(secs.begin(), secs.end()), med = bench::median(secs);
  char ratio[64] = "n/a (clear_refs refused)";
  if (worst_ratio >= 0) std::snprintf(ratio, sizeof ratio, "%.1f MB = %.3f", worst_peak / 1e6, worst_ratio);
  std::printf(
      "model %s | %s | checkpoint %.1f MB | load best %.3f s (%.2f GB/s), median %.3f s (%.2f GB/s) | "
      "model %.1f MB resident, weight_bytes %.1f MB | peak RSS during load / model %s | %d threads, %lld repeats\n",
      last.name.c_str(), encoder ? "load_encoder" : "load_causal_lm", ck_bytes / 1e6, best, ck_bytes / best / 1e9, med,
      ck_bytes / med / 1e9, double(last.model_bytes) / 1e6, double(last.weight_bytes) / 1e6, ratio,
      threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency())), static_cast<long long>(repeats));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return strata::bench::guarded_main("strata-load-bench", [&] { return run(argc, argv); }); }
