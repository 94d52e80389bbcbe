// strata-microbench: Google Benchmark microbenchmarks of every kernel in every
// kernel table this binary and CPU have (kernels::available_kernel_tables()),
// at the sizes real models use, single-threaded (the table's function pointer
// is called directly over the whole range), plus Eigen's f32 GEMV/GEMM on the
// same shapes as a baseline for the packed-weight kernels.
//
// Names are KERNEL/TARGET/SIZE, e.g. gemv_f32/avx512/768x2048 (W is
// [N, K] = [out, in], as torch.nn.Linear.weight) and gemv_f32/eigen/768x2048;
// benchmarks of one kernel and size are listed target after target, so the
// output compares them line by line. Pick some with --benchmark_filter, e.g.
// --benchmark_filter='gemm_.*/768x2048'. A kernel a table leaves null (not
// written yet) is not registered.
//
// Counters: bytes_per_second (the bytes a call must move at least: weights,
// inputs and outputs once) and FLOP/s. FLOPs are nominal per element counts:
// a multiply-add is 2, a compare 1, a transcendental (exp, erf, tanh) 1.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <benchmark/benchmark.h>

#include "strata/core/dtype.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/kernels/gemm.hpp"
#include "strata/kernels/quant.hpp"

namespace {

using strata::bf16;
using strata::f16;
using strata::kernels::KernelTable;
using strata::kernels::PackedMatrix;

// ---- data -------------------------------------------------------------------

std::vector<float> random_floats(std::int64_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

template <class W>
W narrow(float x) {
  if constexpr (std::is_same_v<W, bf16>) return bf16{strata::f32_to_bf16(x)};
  else if constexpr (std::is_same_v<W, f16>) return f16{strata::f32_to_f16(x)};
  else return x;
}

template <class W>
std::vector<W> random_weights(std::int64_t n, std::uint64_t seed) {
  const auto f = random_floats(n, seed, 0.05f);
  std::vector<W> w(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) w[i] = narrow<W>(f[i]);
  return w;
}

// Weights of the last shape asked for, kept between benchmarks: the
// registration order runs every target of one shape in a row, so each matrix
// is made (and packed) once, and only one is alive at a time.
template <class W>
const std::vector<W>& row_major(std::int64_t N, std::int64_t K) {
  static std::int64_t n = -1, k = -1;
  static std::vector<W> w;
  if (n != N || k != K) {
    w = {};
    w = random_weights<W>(N * K, std::uint64_t(N * 7919 + K));
    n = N;
    k = K;
  }
  return w;
}

template <class W>
const PackedMatrix<W>& packed(std::int64_t N, std::int64_t K) {
  static std::int64_t n = -1, k = -1;
  static PackedMatrix<W> m;
  if (n != N || k != K) {
    m = {};
    m = strata::kernels::pack_weights(row_major<W>(N, K).data(), N, K);
    n = N;
    k = K;
  }
  return m;
}

template <class W>
const char* type_name() {
  if constexpr (std::is_same_v<W, bf16>) return "bf16";
  else if constexpr (std::is_same_v<W, f16>) return "f16";
  else return "f32";
}

// ---- counters -----------------------------------------------------------------

void set_counters(benchmark::State& st, double bytes_per_call, double flops_per_call) {
  const double calls = double(st.iterations());
  st.SetBytesProcessed(std::int64_t(bytes_per_call * calls));
  st.counters["FLOP/s"] = benchmark::Counter(flops_per_call * calls, benchmark::Counter::kIsRate);
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), std::move(fn));
}

std::string shape(std::int64_t N, std::int64_t K) { return std::to_string(N) + "x" + std::to_string(K); }

// ---- projections --------------------------------------------------------------

// Weight shapes [N, K] of two model sizes: hidden 768 / ffn 2048 (the ~110M
// benchmark model) and hidden 2048 / ffn 8192 (1B class): q/o, gate/up, down.
const std::vector<std::pair<std::int64_t, std::int64_t>> kProjections = {
    {768, 768}, {2048, 768}, {768, 2048}, {2048, 2048}, {8192, 2048}, {2048, 8192}};
// LM heads [vocab, hidden]: decode only (the prompt pass computes the last position's logits).
const std::vector<std::pair<std::int64_t, std::int64_t>> kHeads = {{32000, 768}, {32000, 2048}};
constexpr std::int64_t kPrefillTokens = 128;

double matmul_bytes(std::int64_t T, std::int64_t N, std::int64_t K, std::size_t w_size) {
  return double(N) * double(K) * double(w_size) + 4.0 * double(T) * double(K + N);
}

// y[T, N] = x[T, K] · Wᵀ with packed W ("gemv" for T = 1, "gemm" for T = 128),
// then Eigen's row-major product on the same f32 shapes.
template <class W>
void register_projections(const std::vector<const KernelTable*>& tables) {
  for (const std::int64_t T : {std::int64_t(1), kPrefillTokens}) {
    const std::string kind = std::string(T == 1 ? "gemv_" : "gemm_") + type_name<W>();
    auto shapes = kProjections;
    if (T == 1) shapes.insert(shapes.end(), kHeads.begin(), kHeads.end());
    for (const auto& [N, K] : shapes) {
      for (const KernelTable* t : tables) {
        const auto fn = strata::kernels::gemm_kernel<W>(*t);
        if (!fn) continue;
        add(kind + "/" + t->target + "/" + shape(N, K), [fn, T, N = N, K = K](benchmark::State& st) {
          const PackedMatrix<W>& w = packed<W>(N, K);
          const auto x = random_floats(T * K, 1);
          std::vector<float> y(static_cast<std::size_t>(T * N));
          for (auto _ : st) {
            fn(x.data(), T, K, w.data(), N, 0, w.panels(), y.data(), N);
            benchmark::DoNotOptimize(y.data());
            benchmark::ClobberMemory();
          }
          set_counters(st, matmul_bytes(T, N, K, sizeof(W)), 2.0 * double(T) * double(N) * double(K));
        });
      }
      if constexpr (std::is_same_v<W, float>) {
        add(kind + "/eigen/" + shape(N, K), [T, N = N, K = K](benchmark::State& st) {
          using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
          const std::vector<float>& w = row_major<float>(N, K);
          const auto x = random_floats(T * K, 1);
          std::vector<float> y(static_cast<std::size_t>(T * N));
          const Eigen::Map<const RowMajor> Wm(w.data(), N, K), Xm(x.data(), T, K);
          Eigen::Map<RowMajor> Ym(y.data(), T, N);
          for (auto _ : st) {
            Ym.noalias() = Xm * Wm.transpose();  // torch.nn.functional.linear(x, W)
            benchmark::DoNotOptimize(y.data());
            benchmark::ClobberMemory();
          }
          set_counters(st, matmul_bytes(T, N, K, sizeof(float)), 2.0 * double(T) * double(N) * double(K));
        });
      }
    }
  }
}

// Quantized projections: q8 (g32), q4 (g32 sym), fp4 (g32), integer dot
// products on int8 activations (quantized outside the timed loop here; the
// activation quantizer has its own row). Bytes: codes + scales + activations.
void register_quant_projections(const std::vector<const KernelTable*>& tables) {
  using strata::kernels::QuantMatrix;
  using strata::QuantType;
  const std::vector<std::pair<QuantType, const char*>> formats = {
      {QuantType::Q8, "q8"}, {QuantType::Q4, "q4"}, {QuantType::FP4, "fp4"}};
  for (const auto& [type, tname] : formats)
    for (const std::int64_t T : {std::int64_t(1), kPrefillTokens}) {
      const std::string kind = std::string(T == 1 ? "gemv_" : "gemm_") + tname;
      for (const auto& [N, K] : kProjections)
        for (const KernelTable* t : tables) {
          const auto fn = type == QuantType::Q8 ? t->gemm_q8 : t->gemm_q4;
          if (!fn) continue;
          add(kind + "/" + t->target + "/" + shape(N, K), [fn, t, type = type, T, N = N, K = K](benchmark::State& st) {
            QuantMatrix w(type, N, K, 32, false);
            const auto wf = random_floats(N * K, 2);
            strata::kernels::quantize_rows(w, 0, N, wf.data());
            const auto x = random_floats(T * K, 1);
            strata::kernels::QuantActs acts;
            acts.ensure(T, K);
            t->quantize_acts(x.data(), T, K, acts.q.data(), acts.d.data(), acts.s.data());
            const auto xv = acts.view();
            const auto wv = w.view();
            std::vector<float> y(static_cast<std::size_t>(T * N));
            for (auto _ : st) {
              fn(xv, wv, 0, w.panels(), y.data(), N);
              benchmark::DoNotOptimize(y.data());
              benchmark::ClobberMemory();
            }
            set_counters(st, double(w.bytes()) + double(T) * (double(K) * 1.25 + 4.0 * double(N)),
                         2.0 * double(T) * double(N) * double(K));
          });
        }
    }
  for (const KernelTable* t : tables)
    for (const std::int64_t T : {std::int64_t(1), kPrefillTokens})
      add(std::string("quantize_acts/") + t->target + "/T" + std::to_string(T) + "x2048", [t, T](benchmark::State& st) {
        const std::int64_t K = 2048;
        const auto x = random_floats(T * K, 1);
        strata::kernels::QuantActs acts;
        acts.ensure(T, K);
        for (auto _ : st) {
          t->quantize_acts(x.data(), T, K, acts.q.data(), acts.d.data(), acts.s.data());
          benchmark::DoNotOptimize(acts.q.data());
          benchmark::ClobberMemory();
        }
        set_counters(st, double(T * K) * 5.25, 0.0);
      });
}

// The row-major GEMV of a tied LM head: logits for one token.
template <class W>
void register_gemv_rows(const std::vector<const KernelTable*>& tables) {
  for (const auto& [N, K] : kHeads) {
    for (const KernelTable* t : tables) {
      const auto fn = strata::kernels::gemv_rows_kernel<W>(*t);
      if (!fn) continue;
      add(std::string("gemv_rows_") + type_name<W>() + "/" + t->target + "/" + shape(N, K),
          [fn, N = N, K = K](benchmark::State& st) {
            const std::vector<W>& w = row_major<W>(N, K);
            const auto x = random_floats(K, 1);
            std::vector<float> y(static_cast<std::size_t>(N));
            for (auto _ : st) {
              fn(x.data(), 1, K, w.data(), 0, N, y.data(), N);
              benchmark::DoNotOptimize(y.data());
              benchmark::ClobberMemory();
            }
            set_counters(st, matmul_bytes(1, N, K, sizeof(W)), 2.0 * double(N) * double(K));
          });
    }
  }
}

// ---- vector kernels -------------------------------------------------------------

// Registers KERNEL/TARGET/<size> for each size and table whose `member` is
// set; body(st, fn, n) runs the timing loop and sets the counters.
template <class Member, class Body>
void register_vector(const std::vector<const KernelTable*>& tables, const char* kernel, Member member,
                     const std::vector<std::int64_t>& sizes, Body body, const char* size_prefix = "") {
  for (const std::int64_t n : sizes) {
    for (const KernelTable* t : tables) {
      const auto fn = t->*member;
      if (!fn) continue;
      add(std::string(kernel) + "/" + t->target + "/" + size_prefix + std::to_string(n),
          [fn, n, body](benchmark::State& st) { body(st, fn, n); });
    }
  }
}

void register_vector_kernels(const std::vector<const KernelTable*>& tables) {
  const std::vector<std::int64_t> hidden = {768, 2048}, ffn = {2048, 8192}, vocab = {32000};

  register_vector(tables, "dot", &KernelTable::dot, {768, 2048, 8192}, [](benchmark::State& st, auto fn, std::int64_t n) {
    const auto a = random_floats(n, 1), b = random_floats(n, 2);
    for (auto _ : st) benchmark::DoNotOptimize(fn(a.data(), b.data(), n));
    set_counters(st, 8.0 * double(n), 2.0 * double(n));
  });
  register_vector(tables, "axpy", &KernelTable::axpy, {768, 2048, 8192}, [](benchmark::State& st, auto fn, std::int64_t n) {
    const auto x = random_floats(n, 1);
    auto y = random_floats(n, 2);
    for (auto _ : st) {
      fn(1e-3f, x.data(), y.data(), n);
      benchmark::ClobberMemory();
    }
    set_counters(st, 12.0 * double(n), 2.0 * double(n));
  });
  register_vector(tables, "scale", &KernelTable::scale, {768, 2048, 8192}, [](benchmark::State& st, auto fn, std::int64_t n) {
    auto x = random_floats(n, 1);
    for (auto _ : st) {
      fn(x.data(), 1.0f, n);
      benchmark::ClobberMemory();
    }
    set_counters(st, 8.0 * double(n), double(n));
  });
  // Sum of squares (2n), then x · rsqrt · w (2n).
  register_vector(tables, "rmsnorm", &KernelTable::rmsnorm, hidden, [](benchmark::State& st, auto fn, std::int64_t n) {
    const auto x = random_floats(n, 1), w = random_floats(n, 2);
    std::vector<float> y(static_cast<std::size_t>(n));
    for (auto _ : st) {
      fn(x.data(), w.data(), n, 1e-5f, y.data());
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
    }
    set_counters(st, 12.0 * double(n), 4.0 * double(n));
  });
  // Mean (n), variance (3n), then (x - mean) · rstd · w + b (4n).
  register_vector(tables, "layernorm", &KernelTable::layernorm, hidden, [](benchmark::State& st, auto fn, std::int64_t n) {
    const auto x = random_floats(n, 1), w = random_floats(n, 2), b = random_floats(n, 3);
    std::vector<float> y(static_cast<std::size_t>(n));
    for (auto _ : st) {
      fn(x.data(), w.data(), b.data(), n, 1e-5f, y.data());
      benchmark::DoNotOptimize(y.data());
      benchmark::ClobberMemory();
    }
    set_counters(st, 16.0 * double(n), 8.0 * double(n));
  });
  // One head of head_dim d = 2·half: each pair is rotated with 4 multiplies and 2 adds.
  const auto rope = [](benchmark::State& st, auto fn, std::int64_t d) {
    const std::int64_t half = d / 2;
    auto v = random_floats(d, 1);
    // Unit rotations, so the repeated in-place rotation keeps v's norm (no
    // overflow, no denormals).
    std::vector<float> c(static_cast<std::size_t>(half)), s(static_cast<std::size_t>(half));
    const auto angle = random_floats(half, 2, 3.0f);
    for (std::size_t i = 0; i < c.size(); ++i) {
      c[i] = std::cos(angle[i]);
      s[i] = std::sin(angle[i]);
    }
    for (auto _ : st) {
      fn(v.data(), c.data(), s.data(), half);
      benchmark::ClobberMemory();
    }
    set_counters(st, 8.0 * double(d) + 8.0 * double(half), 6.0 * double(half));
  };
  register_vector(tables, "rope_rotate_half", &KernelTable::rope_rotate_half, {64, 128}, rope, "hd");
  register_vector(tables, "rope_interleaved", &KernelTable::rope_interleaved, {64, 128}, rope, "hd");
  // Over attention rows (contexts) and the vocabulary: max (n), exp(x - max)
  // (2n), sum (n), scale (n). In place: after the first call it normalises
  // probabilities, the same work on finite values.
  register_vector(tables, "softmax", &KernelTable::softmax, {128, 1024, 4096, 32000},
                  [](benchmark::State& st, auto fn, std::int64_t n) {
                    auto x = random_floats(n, 1, 8.0f);
                    for (auto _ : st) {
                      fn(x.data(), n);
                      benchmark::ClobberMemory();
                    }
                    set_counters(st, 8.0 * double(n), 5.0 * double(n));
                  });
  // act(gate) · up over the FFN width; silu: exp, add, divide, multiply by up.
  const auto gated = [](double flops_per_elem) {
    return [flops_per_elem](benchmark::State& st, auto fn, std::int64_t n) {
      const auto g = random_floats(n, 1, 4.0f), u = random_floats(n, 2);
      std::vector<float> out(static_cast<std::size_t>(n));
      for (auto _ : st) {
        fn(g.data(), u.data(), n, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
      }
      set_counters(st, 12.0 * double(n), flops_per_elem * double(n));
    };
  };
  register_vector(tables, "silu_mul", &KernelTable::silu_mul, ffn, gated(5.0));
  register_vector(tables, "gelu_mul", &KernelTable::gelu_mul, ffn, gated(6.0));            // 0.5·g·(1 + erf(g/√2))·u
  register_vector(tables, "gelu_tanh_mul", &KernelTable::gelu_tanh_mul, ffn, gated(10.0));  // tanh form with g³
  register_vector(tables, "argmax", &KernelTable::argmax, vocab, [](benchmark::State& st, auto fn, std::int64_t n) {
    const auto x = random_floats(n, 1);
    for (auto _ : st) benchmark::DoNotOptimize(fn(x.data(), n));
    set_counters(st, 4.0 * double(n), double(n));
  });
  register_vector(tables, "top_k", &KernelTable::top_k, vocab, [](benchmark::State& st, auto fn, std::int64_t n) {
    constexpr std::int64_t k = 40;  // the sampler's default top-k
    const auto x = random_floats(n, 1);
    std::vector<std::int32_t> idx(k);
    for (auto _ : st) {
      benchmark::DoNotOptimize(fn(x.data(), n, k, idx.data()));
      benchmark::ClobberMemory();
    }
    set_counters(st, 4.0 * double(n), double(n));
  }, "k40/");
}

// ---- attention ------------------------------------------------------------------

void register_attention(const std::vector<const KernelTable*>& tables) {
  // Decode: one query against n cached keys/values of one head (one split of
  // the KV range); q·k and p·v are 2 multiply-adds per key and dimension.
  for (const std::int64_t hd : {64, 128}) {
    for (const std::int64_t n : {128, 1024, 4096}) {
      for (const KernelTable* t : tables) {
        const auto fn = t->attention_partial;
        if (!fn) continue;
        add("attention_partial/" + std::string(t->target) + "/hd" + std::to_string(hd) + "/ctx" + std::to_string(n),
            [fn, hd, n](benchmark::State& st) {
              const auto q = random_floats(hd, 1), K = random_floats(n * hd, 2), V = random_floats(n * hd, 3);
              std::vector<float> o(static_cast<std::size_t>(hd));
              float m = 0, l = 0;
              const float scale = 1.0f / std::sqrt(float(hd));
              for (auto _ : st) {
                fn(q.data(), K.data(), V.data(), n, hd, scale, o.data(), &m, &l);
                benchmark::DoNotOptimize(o.data());
                benchmark::ClobberMemory();
              }
              set_counters(st, 8.0 * double(n * hd) + 8.0 * double(hd), 4.0 * double(n * hd));
            });
      }
    }
  }
  // Prefill: T = 128 new queries of one head, causal, at the end of a
  // context of 128 (the whole prompt) or 1024 positions.
  for (const std::int64_t hd : {64, 128}) {
    for (const std::int64_t ctx : {kPrefillTokens, std::int64_t(1024)}) {
      for (const KernelTable* t : tables) {
        const auto fn = t->attention_prefill;
        if (!fn) continue;
        add("attention_prefill/" + std::string(t->target) + "/hd" + std::to_string(hd) + "/T" +
                std::to_string(kPrefillTokens) + "/ctx" + std::to_string(ctx),
            [fn, hd, ctx](benchmark::State& st) {
              const std::int64_t T = kPrefillTokens, pos0 = ctx - T;
              const auto Q = random_floats(T * hd, 1), K = random_floats(ctx * hd, 2), V = random_floats(ctx * hd, 3);
              std::vector<float> O(static_cast<std::size_t>(T * hd));
              const float scale = 1.0f / std::sqrt(float(hd));
              for (auto _ : st) {
                fn(Q.data(), hd, T, pos0, K.data(), V.data(), hd, 0, scale, O.data(), hd);
                benchmark::DoNotOptimize(O.data());
                benchmark::ClobberMemory();
              }
              double visible = 0;  // Σ over the queries of the keys each sees
              for (std::int64_t i = 0; i < T; ++i) visible += double(pos0 + i + 1);
              set_counters(st, 8.0 * double(ctx * hd) + 8.0 * double(T * hd), 4.0 * double(hd) * visible);
            });
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    const auto& tables = strata::kernels::available_kernel_tables();
    std::string targets;
    for (const KernelTable* t : tables) targets += std::string(targets.empty() ? "" : ", ") + t->target;
    std::fprintf(stderr, "strata-microbench: kernel targets %s (in use by default: %s)\n", targets.c_str(),
                 strata::kernels::active_kernels().target);

    register_projections<float>(tables);
    register_projections<bf16>(tables);
    register_projections<f16>(tables);
    register_gemv_rows<float>(tables);
    register_gemv_rows<bf16>(tables);
    register_gemv_rows<f16>(tables);
    register_quant_projections(tables);
    register_vector_kernels(tables);
    register_attention(tables);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strata-microbench: error: %s\n", e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
