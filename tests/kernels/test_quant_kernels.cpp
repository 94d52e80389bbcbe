// Quantized kernels on every kernel target this CPU supports: the activation
// quantizer equals its scalar reference bit for bit; the integer GEMM/GEMV
// equals the reference exactly where every float step is exact (integer
// inputs, power-of-two scales) and to float tolerance on random data; the
// weight quantizers round-trip within their format's step.
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/quant.hpp"
#include "support/kernel_targets.hpp"
#include "support/random.hpp"

namespace {

namespace k = strata::kernels;
using strata::test::random_vec;

struct Format {
  k::QuantType type;
  std::int64_t group;
  bool asym;
};

const std::vector<Format> kFormats = {{k::QuantType::Q8, 32, false},  {k::QuantType::Q4, 32, false},
                                      {k::QuantType::Q4, 64, false},  {k::QuantType::Q4, 128, false},
                                      {k::QuantType::Q4, 32, true},   {k::QuantType::Q4, 128, true},
                                      {k::QuantType::FP4, 32, false}, {k::QuantType::FP4, 128, false}};

std::string describe(const Format& f) {
  return std::string(k::quant_type_name(f.type)) + " g" + std::to_string(f.group) + (f.asym ? " asym" : "");
}

k::QuantMatrix quantize(const Format& f, const std::vector<float>& w, std::int64_t N, std::int64_t K) {
  k::QuantMatrix qm(f.type, N, K, f.group, f.asym);
  k::quantize_rows(qm, 0, N, w.data());
  return qm;
}

}  // namespace

TEST_CASE("activation quantizer equals the reference bit for bit on every target", "[kernels][quant]") {
  const std::int64_t T = 5, K = 256;
  auto x = random_vec(std::size_t(T * K), 11, 3.0f);
  for (int i = 0; i < 32; ++i) x[std::size_t(32 + i)] = 0.0f;              // an all-zero block
  for (int i = 0; i < 32; ++i) x[std::size_t(64 + i)] = float(i - 16) * 0.5f;  // halves: ties at x·127/8
  x[100] = 1e30f;                                                          // one huge value
  x[200] = -1e-30f;
  std::vector<std::int8_t> qr(x.size());
  std::vector<float> dr(std::size_t(T * K / 32));
  std::vector<std::int32_t> sr(dr.size());
  k::quantize_acts_ref(x.data(), T, K, qr.data(), dr.data(), sr.data());
  for (const auto& target : strata::test::kernel_targets()) {
    INFO(target);
    const auto* t = k::find_kernel_table(target);
    REQUIRE(t);
    std::vector<std::int8_t> q(x.size(), 99);
    std::vector<float> d(dr.size(), NAN);
    std::vector<std::int32_t> s(dr.size(), -1);
    t->quantize_acts(x.data(), T, K, q.data(), d.data(), s.data());
    CHECK(q == qr);
    CHECK(s == sr);
    for (std::size_t i = 0; i < d.size(); ++i) CHECK(d[i] == dr[i]);
  }
  // The reference itself: in range, Σ matches, zero block stays zero.
  for (auto v : qr) CHECK((v >= -127 && v <= 127));
  CHECK(dr[1] == 0.0f);
  CHECK(sr[1] == 0);
}

TEST_CASE("quantized GEMM equals the reference exactly on exact data, every target", "[kernels][quant]") {
  // Integer activations with max |x| = 127 per block make dx = 1 and q = x;
  // power-of-two scales and integer offsets keep every float step exact, so
  // any difference is an error in the integer part.
  std::mt19937 rng(5);
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> shapes = {
      {1, 16, 128}, {1, 17, 256}, {1, 100, 128}, {2, 33, 256}, {5, 64, 128}, {9, 40, 256}, {13, 96, 128}};
  for (const auto& f : kFormats)
    for (auto [T, N, K] : shapes) {
      k::QuantMatrix qm(f.type, N, K, f.group, f.asym);
      std::uniform_int_distribution<int> code(f.type == k::QuantType::Q8 ? 1 : 0, f.type == k::QuantType::Q8 ? 255 : 15);
      std::uniform_int_distribution<int> pow2(-3, 2), off(-8, 8);
      std::vector<std::uint8_t> u(static_cast<std::size_t>(K));
      std::vector<float> d(static_cast<std::size_t>(K / f.group)), m(d.size());
      for (std::int64_t n = 0; n < N; ++n) {
        for (auto& c : u) c = std::uint8_t(code(rng));
        if (n == 0)  // extremes: the largest codes against ±127 activations
          for (std::size_t i = 0; i < u.size(); ++i) u[i] = f.type == k::QuantType::Q8 ? (i % 2 ? 255 : 1) : (i % 2 ? 15 : 0);
        for (auto& s : d) s = std::ldexp(1.0f, pow2(rng));
        for (auto& o : m) o = float(off(rng));
        qm.set_row(n, u.data(), d.data(), m.data());
      }
      std::uniform_int_distribution<int> xv(-127, 127);
      std::vector<float> x(std::size_t(T * K));
      for (auto& v : x) v = float(xv(rng));
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t b = 0; b < K / 32; ++b) x[std::size_t(t * K + b * 32 + (t + b) % 32)] = (b % 2) ? -127.0f : 127.0f;
      k::QuantActs acts;
      acts.ensure(T, K);
      k::quantize_acts_ref(x.data(), T, K, acts.q.data(), acts.d.data(), acts.s.data());
      for (auto dv : acts.d) REQUIRE(dv == 1.0f);
      std::vector<float> ref(std::size_t(T * N));
      k::gemm_quant_ref(acts.view(), qm, ref.data());
      for (const auto& target : strata::test::kernel_targets()) {
        const strata::test::ScopedKernelTarget use(target);
        for (int threads : {1, 2}) {
          INFO(describe(f) << ", " << target << ", " << threads << " threads, T=" << T << " N=" << N << " K=" << K);
          strata::ThreadPool pool(threads);
          std::vector<float> y(ref.size(), NAN);
          k::QuantActs scratch;
          k::gemm_quant(x.data(), T, qm, scratch, y.data(), pool);
          std::int64_t bad = 0;
          for (std::size_t i = 0; i < y.size(); ++i) bad += y[i] != ref[i];
          CHECK(bad == 0);
        }
      }
    }
}

TEST_CASE("quantized GEMM matches the reference to float tolerance on random data", "[kernels][quant]") {
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> shapes = {
      {1, 50, 256}, {3, 33, 128}, {8, 64, 512}, {17, 100, 256}};
  for (const auto& f : kFormats)
    for (auto [T, N, K] : shapes) {
      const auto w = random_vec(std::size_t(N * K), 3, 0.05f);
      const auto x = random_vec(std::size_t(T * K), 4);
      const auto qm = quantize(f, w, N, K);
      k::QuantActs acts;
      acts.ensure(T, K);
      k::quantize_acts_ref(x.data(), T, K, acts.q.data(), acts.d.data(), acts.s.data());
      std::vector<float> ref(std::size_t(T * N));
      k::gemm_quant_ref(acts.view(), qm, ref.data());
      for (const auto& target : strata::test::kernel_targets()) {
        const strata::test::ScopedKernelTarget use(target);
        INFO(describe(f) << ", " << target << ", T=" << T << " N=" << N << " K=" << K);
        strata::ThreadPool pool(2);
        std::vector<float> y(ref.size(), NAN);
        k::QuantActs scratch;
        k::gemm_quant(x.data(), T, qm, scratch, y.data(), pool);
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t n = 0; n < N; ++n) {
            // Bound: a few float roundings of each block term.
            double mag = 0;
            for (std::int64_t kk = 0; kk < K; ++kk) mag += std::abs(double(x[std::size_t(t * K + kk)]) * qm.dequant(n, kk));
            const std::size_t i = std::size_t(t * N + n);
            CHECK(std::abs(double(y[i]) - ref[i]) <= 1e-5 * mag + 1e-6);
          }
      }
    }
}

TEST_CASE("weight quantizers round-trip within one step of their format", "[kernels][quant]") {
  const std::int64_t N = 40, K = 256;
  auto w = random_vec(std::size_t(N * K), 8, 0.02f);
  for (int i = 0; i < 32; ++i) w[std::size_t(i)] = 0.0f;    // a zero group
  for (int i = 32; i < 64; ++i) w[std::size_t(i)] = 0.01f;  // a constant group
  for (const auto& f : kFormats) {
    INFO(describe(f));
    const auto qm = quantize(f, w, N, K);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t g = 0; g < K / f.group; ++g) {
        double amax = 0, lo = 1e30, hi = -1e30;
        for (std::int64_t i = 0; i < f.group; ++i) {
          const double v = w[std::size_t(n * K + g * f.group + i)];
          amax = std::max(amax, std::abs(v));
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        // Largest rounding error the format allows for this group, from the
        // stored scale (q4 sym and fp4 search it): half a step inside the
        // range, and what lies beyond the largest code.
        const double dg = std::abs(double(qm.scale(n, g)));
        double step = 0;
        if (f.type == k::QuantType::Q8) step = amax / 127 / 2;
        else if (f.type == k::QuantType::FP4) step = std::max(2 * dg, amax - 12 * dg);  // top gap 4s→6s is 2s = 4d
        else if (f.asym) step = (hi - lo) / 15 / 2;
        else step = std::max(dg / 2, amax - 7 * dg);
        for (std::int64_t i = 0; i < f.group; ++i) {
          const std::int64_t kk = g * f.group + i;
          CHECK(std::abs(qm.dequant(n, kk) - w[std::size_t(n * K + kk)]) <= step * (1 + 1e-5) + 1e-12);
        }
      }
    // Zeros come back exactly in symmetric formats and in an all-zero group;
    // a constant group to float precision.
    if (!f.asym || f.group == 32)
      for (int i = 0; i < 32; ++i) CHECK(qm.dequant(0, i) == 0.0f);
    if (f.group == 32)
      for (int i = 32; i < 64; ++i) CHECK(std::abs(qm.dequant(0, i) - 0.01f) < 1e-8);
  }
}

TEST_CASE("FP4 codes are E2M1", "[kernels][quant]") {
  // The eight magnitudes and their negatives, at scale 1 (d = 1/2).
  const float vals[] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int c = 0; c < 16; ++c) {
    const float want = (c & 8 ? -1.0f : 1.0f) * vals[c & 7];
    CHECK(0.5f * float(k::kFp4Lut[c] - 12) == want);
    CHECK(float(k::kFp4Twice[c]) / 2 == want);
  }
  // Nearest magnitude, ties to the even code.
  const std::vector<std::pair<float, int>> nearest = {{0.0f, 0}, {0.24f, 0}, {0.25f, 0}, {0.26f, 1}, {0.75f, 2},
                                                      {1.25f, 2}, {1.75f, 4}, {2.5f, 4},  {3.5f, 6},  {5.0f, 6},
                                                      {6.0f, 7},  {9.0f, 7}};
  for (auto [v, code] : nearest) CHECK(k::fp4_nearest_code(v) == code);
  // Values on the grid at scale 1 quantize exactly: s = 1, d = 1/2.
  std::vector<float> w = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  w.resize(32, 0.0f);
  std::vector<std::uint8_t> u(32);
  float d = 0;
  k::quantize_row_fp4(w.data(), 32, 32, u.data(), &d);
  CHECK(d == 0.5f);
  const std::vector<int> want = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15};
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(int(u[i]) == want[i]);
}

TEST_CASE("quantized formats reject bad parameters", "[kernels][quant]") {
  CHECK_THROWS_WITH(k::QuantMatrix(k::QuantType::Q8, 16, 64, 64, false), Catch::Contains("q8 uses groups of 32"));
  CHECK_THROWS_WITH(k::QuantMatrix(k::QuantType::Q4, 16, 64, 48, false), Catch::Contains("32, 64 or 128"));
  CHECK_THROWS_WITH(k::QuantMatrix(k::QuantType::FP4, 16, 64, 32, true), Catch::Contains("only q4"));
  CHECK_THROWS_WITH(k::QuantMatrix(k::QuantType::Q4, 16, 96, 64, false), Catch::Contains("not a multiple of the group size 64"));
}
