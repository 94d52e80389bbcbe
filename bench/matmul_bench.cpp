// strata-matmul-bench: the matrix work of an encoder at its real shapes, with
// the pool's threads, each row against this machine's f32 FMA peak measured
// in the same run with the same threads:
//   - projections y[M, N] = x[M, K] · Wᵀ (kernels::gemm on packed weights; and
//     on bf16 dot products, kernels::gemm_bf16_dot, with the weights rounded
//     to bf16, native where the CPU has AVX512_BF16, else emulated)
//     for the q/k/v, output, up and down shapes of MiniLM (hidden 384),
//     BERT-base / ViT-B (768) and BERT-large / ViT-L (1024), M from 16 to 4096
//     rows, beside Eigen's product of the same shapes (Eigen uses OpenMP
//     threads when the build has OpenMP, else one thread: the tool says which);
//   - bidirectional attention (kernels::attention_gemm) of 12 heads at 128 to
//     512 tokens, head_dim 32 and 64, one work item per (sequence, head), beside
//     the tiled kernel it replaced for encoders (attention_bidirectional).
//
//   strata-matmul-bench [--threads N] [--seconds 0.3] [--only gemm|attention] [--no-eigen]
//
// Prints a Markdown table; GFLOP/s counts 2 per multiply-add (attention:
// 4·n²·head_dim per head and sequence, the two products).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "limits.hpp"
#include "strata/core/aligned_buffer.hpp"
#include "strata/kernels/attention.hpp"
#include "strata/kernels/gemm.hpp"
#include "strata/kernels/gemm_bf16_dot.hpp"

namespace {

using strata::ThreadPool;

constexpr const char* kUsage =
    "usage: strata-matmul-bench [--threads N] [--seconds 0.3] [--only gemm|attention] [--no-eigen]\n";

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Runs f until `seconds` have passed (at least 3 calls, after one warm-up);
// returns the best seconds per call.
template <class F>
double best_seconds(double seconds, F&& f) {
  f();
  double best = 1e30, total = 0;
  for (int calls = 0; calls < 3 || total < seconds; ++calls) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
  }
  return best;
}

struct Shape {
  const char* what;
  std::int64_t N, K;
};

void gemm_rows(ThreadPool& pool, double peak, double seconds, bool eigen) {
  const std::vector<Shape> shapes = {
      {"MiniLM q/k/v", 1152, 384},  {"MiniLM out", 384, 384},     {"MiniLM up", 1536, 384},
      {"MiniLM down", 384, 1536},   {"base q/k/v", 2304, 768},    {"base out", 768, 768},
      {"base up", 3072, 768},       {"base down", 768, 3072},     {"large q/k/v", 3072, 1024},
      {"large out", 1024, 1024},    {"large up", 4096, 1024},     {"large down", 1024, 4096}};
  std::printf("\n| projection | M | N | K | strata f32 GFLOP/s | %% of peak | Eigen GFLOP/s | %% of peak | strata / Eigen "
              "| strata bf16 dot GFLOP/s | bf16 / f32 |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Shape& s : shapes) {
    const auto w = random_floats(std::size_t(s.N * s.K), 1);
    const auto packed = strata::kernels::pack_weights(w.data(), s.N, s.K);
    strata::kernels::PackedPairs pairs(s.N, s.K);
    std::vector<strata::bf16> row(std::size_t(s.K));
    for (std::int64_t n = 0; n < s.N; ++n) {
      for (std::int64_t k = 0; k < s.K; ++k) row[std::size_t(k)].bits = strata::f32_to_bf16(w[std::size_t(n * s.K + k)]);
      pairs.set_row(n, row.data());
    }
    for (const std::int64_t M : {16, 128, 256, 1024, 4096}) {
      const auto x = random_floats(std::size_t(M * s.K), 2);
      std::vector<float> y(std::size_t(M * s.N));
      const double flop = 2.0 * double(M) * double(s.N) * double(s.K);
      const double ours = flop / best_seconds(seconds, [&] { strata::kernels::gemm(x.data(), M, packed, nullptr, y.data(), pool); }) / 1e9;
      const double dot = flop / best_seconds(seconds, [&] { strata::kernels::gemm_bf16_dot(x.data(), M, pairs, {}, y.data(), pool); }) / 1e9;
      double theirs = 0;
      if (eigen) {
        using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        const Eigen::Map<const RowMajor> Wm(w.data(), s.N, s.K), Xm(x.data(), M, s.K);
        Eigen::Map<RowMajor> Ym(y.data(), M, s.N);
        theirs = flop / best_seconds(seconds, [&] { Ym.noalias() = Xm * Wm.transpose(); }) / 1e9;  // F.linear(x, W)
      }
      std::printf("| %s | %lld | %lld | %lld | %.1f | %.1f%% | %s | %s | %s | %.1f | %.2fx |\n", s.what, static_cast<long long>(M),
                  static_cast<long long>(s.N), static_cast<long long>(s.K), ours, 100.0 * ours / peak,
                  eigen ? std::to_string(int(theirs + 0.5)).c_str() : "-",
                  eigen ? (std::to_string(int(100.0 * theirs / peak + 0.5)) + "%").c_str() : "-",
                  eigen ? (std::to_string(ours / theirs).substr(0, 4) + "x").c_str() : "-", dot, dot / ours);
      std::fflush(stdout);
    }
  }
}

void attention_rows(ThreadPool& pool, double peak, double seconds) {
  std::printf("\n| attention | tokens | head_dim | sequences × heads | attention_gemm GFLOP/s | %% of peak | "
              "tiled (before) GFLOP/s | %% of peak |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  constexpr std::int64_t heads = 12;
  for (const std::int64_t hd : {32, 64})
    for (const std::int64_t n : {16, 128, 256, 512}) {
      const std::int64_t seqs = std::max<std::int64_t>(1, 4096 / n / 4), H = heads * hd, T = seqs * n;
      const auto qkv = random_floats(std::size_t(T * 3 * H), 3);
      std::vector<float> ctx(std::size_t(T * H)), k(std::size_t(T * H)), v(std::size_t(T * H));
      for (std::int64_t t = 0; t < T; ++t)  // head-major copies for the tiled kernel
        for (std::int64_t h = 0; h < heads; ++h)
          for (std::int64_t d = 0; d < hd; ++d) {
            k[std::size_t((h * T + t) * hd + d)] = qkv[std::size_t(t * 3 * H + H + h * hd + d)];
            v[std::size_t((h * T + t) * hd + d)] = qkv[std::size_t(t * 3 * H + 2 * H + h * hd + d)];
          }
      const float scale = 1.0f / std::sqrt(float(hd));
      const double flop = 4.0 * double(n) * double(n) * double(hd) * double(heads * seqs);
      const auto scratch = std::size_t(strata::kernels::attention_gemm_scratch_floats(n, hd));
      const double ours = flop / best_seconds(seconds, [&] {
                            pool.parallel_for(seqs * heads, [&](std::int64_t b, std::int64_t e) {
                              thread_local strata::AlignedBuffer<float> buf;
                              if (buf.size() < scratch) buf.resize(scratch);
                              for (std::int64_t i = b; i < e; ++i) {
                                const std::int64_t s = i / heads, h = i % heads, r0 = s * n;
                                const float* q = qkv.data() + r0 * 3 * H + h * hd;
                                strata::kernels::attention_gemm(q, 3 * H, n, q + H, 3 * H, q + 2 * H, 3 * H, n, hd,
                                                                scale, ctx.data() + r0 * H + h * hd, H, buf.data());
                              }
                            });
                          }) / 1e9;
      const double before = flop / best_seconds(seconds, [&] {
                              pool.parallel_for(seqs * heads * ((n + 15) / 16), [&](std::int64_t b, std::int64_t e) {
                                for (std::int64_t i = b; i < e; ++i) {
                                  const std::int64_t blocks = (n + 15) / 16, blk = i % blocks, h = i / blocks % heads,
                                                     s = i / blocks / heads, q0 = s * n + blk * 16;
                                  strata::kernels::attention_bidirectional(
                                      qkv.data() + q0 * 3 * H + h * hd, 3 * H, std::min<std::int64_t>(16, n - blk * 16),
                                      k.data() + (h * T + s * n) * hd, v.data() + (h * T + s * n) * hd, n, hd, scale,
                                      ctx.data() + q0 * H + h * hd, H);
                                }
                              });
                            }) / 1e9;
      std::printf("| bidirectional | %lld | %lld | %lld × %lld | %.1f | %.1f%% | %.1f | %.1f%% |\n",
                  static_cast<long long>(n), static_cast<long long>(hd), static_cast<long long>(seqs),
                  static_cast<long long>(heads), ours, 100.0 * ours / peak, before, 100.0 * before / peak);
      std::fflush(stdout);
    }
}

int run(int argc, char** argv) {
  using strata::check;
  strata::cli::Args a(argc, argv);
  int threads = 0;
  double seconds = 0.3;
  std::string only;
  bool eigen = true;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--seconds") seconds = a.number(f, 0.001, 60);
    else if (f == "--only") {
      only = a.value(f);
      check(only == "gemm" || only == "attention", "--only: '", only, "' is not one of gemm, attention");
    } else if (f == "--no-eigen") eigen = false;
    else check(false, "unknown option '", f, "' (see --help)");
  }
  ThreadPool pool(threads);
#if defined(_OPENMP)
  omp_set_num_threads(pool.size());
  const int eigen_threads = pool.size();
#else
  const int eigen_threads = 1;
#endif
  const auto fma = strata::bench::measure_fma(pool, 3);
  std::printf("strata-matmul-bench: %s, %d threads (Eigen: %d), kernels %s (bf16 dot products: %s); f32 FMA peak "
              "%.1f GFLOP/s (same threads, this run)\n",
              strata::bench::cpu_model_name().c_str(), pool.size(), eigen_threads,
              strata::kernels::active_kernels().target,
              strata::kernels::bf16_dot_native() ? "AVX512_BF16" : "emulated", fma.best_gflop_s);
  if (only.empty() || only == "gemm") gemm_rows(pool, fma.best_gflop_s, seconds, eigen);
  if (only.empty() || only == "attention") attention_rows(pool, fma.best_gflop_s, seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-matmul-bench", [&] { return run(argc, argv); });
}
