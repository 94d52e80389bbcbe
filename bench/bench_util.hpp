// What the synthetic-model benchmarks (strata-variant-bench, -cache-bench,
// -ffn-bench, -cross-bench) share: a random-weight checkpoint written to a
// folder of their own that is removed when they exit, timing, medians, a
// token stream, the one-line error exit.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "strata/io/safetensors_writer.hpp"

namespace strata::bench {

// F32 tensors, generated while the file is written: matrices uniform in
// ±0.05 (each from its own seed, so adding a tensor leaves the others as they
// were), vectors a constant (norm weights 1, biases 0).
class RandomTensors {
 public:
  void mat(std::string name, std::int64_t rows, std::int64_t cols) {
    t_.push_back({std::move(name), DType::F32, {rows, cols}, [s = seed_++](std::byte* dst, std::size_t n) {
                    std::uint64_t x = s * 0x9E3779B97F4A7C15ull;
                    float* f = reinterpret_cast<float*>(dst);
                    for (std::size_t i = 0; i < n / 4; ++i) {
                      x = x * 6364136223846793005ull + 1442695040888963407ull;
                      f[i] = (float(x >> 40) / float(1 << 24) - 0.5f) * 0.1f;
                    }
                  }});
  }
  void vec(std::string name, std::int64_t n, float value) {
    t_.push_back({std::move(name), DType::F32, {n}, [value](std::byte* dst, std::size_t bytes) {
                    std::fill_n(reinterpret_cast<float*>(dst), bytes / 4, value);
                  }});
  }
  // Writes DIR/model.safetensors (DIR created).
  void write(const std::filesystem::path& dir) const {
    std::filesystem::create_directories(dir);
    io::write_safetensors(dir / "model.safetensors", t_);
  }

 private:
  std::vector<io::TensorToWrite> t_;
  std::uint64_t seed_ = 1;
};

// A folder under the temporary directory named after the tool and the
// process, removed (with what is in it) when this goes out of scope.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tool)
      : path(std::filesystem::temp_directory_path() / (tool + "-" + std::to_string(::getpid()))) {}
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// n token ids spread over [0, vocab): the same stream in every benchmark.
inline std::vector<std::int32_t> token_stream(std::int64_t n, std::int64_t vocab) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 7919 + 13) % std::size_t(vocab));
  return ids;
}

// A tool's main: run() and its exit status, or its error on one line and 1.
template <class Run>
int guarded_main(const char* tool, Run&& run) {
  try {
    return run();
  } catch (const std::exception& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace strata::bench
