// The packed-weight GEMM/GEMV kernels and the row-major GEMV, on every kernel
// target this CPU supports, against the double-precision reference on the
// same (already rounded) weights.
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/activation.hpp"
#include "strata/kernels/gemm.hpp"
#include "strata/kernels/gemm_bf16_dot.hpp"
#include "strata/layers/weights.hpp"
#include "support/kernel_targets.hpp"
#include "support/random.hpp"

namespace {

using strata::test::random_vec;

// Worst |got - want| relative to the size of the terms: Σ|x·w| bounds the
// rounding error of any summation order.
template <class W>
double worst_rel_error(const std::vector<float>& x, std::int64_t T, std::int64_t K, const std::vector<W>& w,
                       std::int64_t N, const std::vector<float>& y) {
  std::vector<float> ref(y.size());
  strata::kernels::matmul_ref(x.data(), T, K, w.data(), N, nullptr, ref.data());
  double worst = 0;
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t n = 0; n < N; ++n) {
      double mag = 0;
      for (std::int64_t k = 0; k < K; ++k) mag += std::abs(double(x[t * K + k]) * strata::kernels::widen_ref(w[n * K + k]));
      const double e = std::abs(double(y[t * N + n]) - ref[t * N + n]) / (mag + 1e-30);
      worst = std::max(worst, e);
    }
  return worst;
}

template <class W>
void check_all_shapes() {
  // T: decode (1), partial tiles (2, 5, 7, 13), several full ones and
  // several row blocks; N: a partial last panel (1, 17, 33, 100), exact
  // panels (16, 64); K: odd sizes.
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> shapes = {
      {1, 1, 1}, {1, 17, 3}, {1, 100, 257}, {1, 64, 768}, {2, 33, 5},   {5, 16, 31},
      {7, 100, 64}, {13, 33, 100}, {24, 64, 48}, {37, 50, 130}, {128, 96, 200},
      {301, 33, 1100}};  // more rows than two row blocks (kernels::gemm_row_block(1100) = 96): blocks of 96, then 13
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    for (int threads : {1, 2}) {
      strata::ThreadPool pool(threads);
      for (auto [T, N, K] : shapes) {
        INFO(target << ", " << threads << " threads, T=" << T << " N=" << N << " K=" << K);
        const auto x = random_vec(std::size_t(T * K), 1);
        const auto wf = random_vec(std::size_t(N * K), 2, 0.1f);
        std::vector<W> w(wf.size());
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = strata::narrow<W>(wf[i]);
        const auto packed = strata::kernels::pack_weights(w.data(), N, K);
        std::vector<float> y(std::size_t(T * N), NAN);
        strata::kernels::gemm(x.data(), T, packed, nullptr, y.data(), pool);
        CHECK(worst_rel_error(x, T, K, w, N, y) < 1e-5);
        std::fill(y.begin(), y.end(), NAN);
        strata::kernels::gemv_rows(x.data(), T, K, w.data(), N, {}, y.data(), pool);
        CHECK(worst_rel_error(x, T, K, w, N, y) < 1e-5);
      }
    }
  }
}

}  // namespace

TEST_CASE("packed f32 GEMM/GEMV match the reference on every target", "[kernels][gemm]") { check_all_shapes<float>(); }
TEST_CASE("packed bf16 GEMM/GEMV match the reference on every target", "[kernels][gemm]") {
  check_all_shapes<strata::bf16>();
}
TEST_CASE("packed f16 GEMM/GEMV match the reference on every target", "[kernels][gemm]") {
  check_all_shapes<strata::f16>();
}

TEST_CASE("bias is added per output feature", "[kernels][gemm]") {
  strata::ThreadPool pool(2);
  const std::int64_t T = 3, N = 21, K = 10;
  const auto x = random_vec(std::size_t(T * K), 3), w = random_vec(std::size_t(N * K), 4), b = random_vec(std::size_t(N), 5);
  std::vector<float> y(std::size_t(T * N)), ref(y.size());
  strata::kernels::gemm(x.data(), T, strata::kernels::pack_weights(w.data(), N, K), b.data(), y.data(), pool);
  strata::kernels::matmul_ref(x.data(), T, K, w.data(), N, b.data(), ref.data());
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(ref[i]).margin(1e-5));
}

TEST_CASE("the panel layout holds W[n, k] at panel n/16, row k, lane n%16", "[kernels][gemm]") {
  const std::int64_t N = 35, K = 3;
  std::vector<float> w(std::size_t(N * K));
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(i);
  const auto p = strata::kernels::pack_weights(w.data(), N, K);
  REQUIRE(p.panels() == 3);
  CHECK(p.data()[0] == 0.0f);                    // W[0, 0]
  CHECK(p.data()[1] == float(1 * K));            // W[1, 0]
  CHECK(p.data()[16] == 1.0f);                   // W[0, 1]
  CHECK(p.data()[2 * K * 16 + 2] == float(34 * K));  // W[34, 0] in panel 2, lane 2
  CHECK(p.data()[2 * K * 16 + 3] == 0.0f);       // padding row
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) CHECK(p.at(n, k) == w[std::size_t(n * K + k)]);
}

TEST_CASE("16-bit widening is exact for every bit pattern on every target", "[kernels][gemm][dtype]") {
  // A 1-row GEMV with x = 1 reads each weight back through the kernel's
  // widening path (hardware F16C / AVX-512 conversions, shifts for bf16).
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    strata::ThreadPool pool(1);
    std::vector<strata::f16> h;
    std::vector<strata::bf16> b;
    for (std::uint32_t bits = 0; bits < 65536; ++bits) {
      const auto u = std::uint16_t(bits);
      const bool f16_nan = (u & 0x7c00u) == 0x7c00u && (u & 0x3ffu);
      const bool bf16_nan = (u & 0x7f80u) == 0x7f80u && (u & 0x7fu);
      const bool f16_inf = (u & 0x7fffu) == 0x7c00u, bf16_inf = (u & 0x7fffu) == 0x7f80u;
      if (!f16_nan && !f16_inf) h.push_back(strata::f16{u});
      if (!bf16_nan && !bf16_inf) b.push_back(strata::bf16{u});
    }
    const float one = 1.0f;
    auto check_type = [&](const auto& w) {
      using W = typename std::decay_t<decltype(w)>::value_type;
      const auto N = std::int64_t(w.size());
      std::vector<float> y(w.size());
      strata::kernels::gemm(&one, 1, strata::kernels::pack_weights(w.data(), N, 1), nullptr, y.data(), pool);
      std::int64_t bad = 0;
      for (std::int64_t n = 0; n < N; ++n) bad += y[std::size_t(n)] != float(strata::kernels::widen_ref(w[std::size_t(n)]));
      INFO(target << " " << strata::weight_type_name<W>());
      CHECK(bad == 0);
    };
    check_type(h);
    check_type(b);
  }
}

TEST_CASE("GEMM row blocks: long inputs run in L2-sized blocks of whole tiles", "[kernels][gemm]") {
  CHECK(strata::kernels::gemm_row_block(1100) == 96);  // the minimum
  CHECK(strata::kernels::gemm_row_block(384) == 168);  // 256 KiB of rows, a multiple of 6
  CHECK(strata::kernels::gemm_row_block(64) == 1020);
}

// The epilogue (kernels/epilogue.hpp) applied per thread block gives the same
// bits as the separate passes it replaces: bias, then the activation, then
// the residual, over the whole output.
TEST_CASE("a fused epilogue equals bias, activation and residual applied after the GEMM", "[kernels][gemm]") {
  auto act = [](float* y, std::int64_t n) { strata::kernels::gelu(y, n, y); };
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    for (int threads : {1, 2}) {
      strata::ThreadPool pool(threads);
      for (auto [T, N, K] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 40, 33}, {13, 100, 64}, {301, 72, 300}}) {
        INFO(target << ", " << threads << " threads, T=" << T << " N=" << N << " K=" << K);
        const auto x = random_vec(std::size_t(T * K), 1), w = random_vec(std::size_t(N * K), 2, 0.1f);
        const auto bias = random_vec(std::size_t(N), 3), residual = random_vec(std::size_t(T * N), 4);
        const auto packed = strata::kernels::pack_weights(w.data(), N, K);
        std::vector<float> want(std::size_t(T * N)), got(want.size(), NAN), rows(want.size(), NAN);
        strata::kernels::gemm(x.data(), T, packed, bias.data(), want.data(), pool);
        strata::kernels::gelu(want.data(), T * N, want.data());
        for (std::size_t i = 0; i < want.size(); ++i) want[i] += residual[i];
        const strata::kernels::GemmEpilogue epi{bias.data(), +act, residual.data()};
        strata::kernels::gemm(x.data(), T, packed, epi, got.data(), pool);
        CHECK(got == want);
        // The row-major path: the same epilogue, the same per-element order.
        strata::kernels::gemv_rows(x.data(), T, K, w.data(), N, epi, rows.data(), pool);
        std::vector<float> plain(want.size());
        strata::kernels::gemv_rows(x.data(), T, K, w.data(), N, {bias.data(), nullptr, nullptr}, plain.data(), pool);
        strata::kernels::gelu(plain.data(), T * N, plain.data());
        for (std::size_t i = 0; i < plain.size(); ++i) plain[i] += residual[i];
        CHECK(rows == plain);
      }
    }
  }
}

// ---- bf16 dot products (kernels/gemm_bf16_dot.hpp) ----

TEST_CASE("to_bf16 rounds like f32_to_bf16 on every target", "[kernels][gemm][dtype]") {
  std::vector<float> x = {0.0f, -0.0f, 1.0f, -1.5f, 1e-40f, -1e-40f, 3.0e38f, INFINITY, -INFINITY, NAN, -NAN};
  // Ties and near-ties around bf16 steps: 1 + k·2^-8 ± 2^-9 (±ε).
  for (int k = 0; k < 8; ++k)
    for (float e : {-1e-7f, 0.0f, 1e-7f}) x.push_back(1.0f + float(k) / 256.0f + 1.0f / 512.0f + e);
  const auto r = random_vec(999, 5, 1000.0f);
  x.insert(x.end(), r.begin(), r.end());
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    INFO(target);
    for (std::int64_t K : {std::int64_t(x.size()), std::int64_t(x.size()) - 1}) {  // even and odd rows
      const std::int64_t T = 1, ld = 2 * ((K + 1) / 2);
      std::vector<strata::bf16> out(std::size_t(ld), strata::bf16{0xABCD});
      strata::kernels::active_kernels().to_bf16(x.data(), T, K, out.data());
      for (std::int64_t k = 0; k < K; ++k) REQUIRE(out[std::size_t(k)].bits == strata::f32_to_bf16(x[std::size_t(k)]));
      if (ld > K) CHECK(out[std::size_t(K)].bits == 0);
    }
  }
}

TEST_CASE("the paired bf16 layout holds W[n, k] at panel n/16, pair k/2, lane n%16, k%2", "[kernels][gemm]") {
  const std::int64_t N = 37, K = 7;
  std::vector<strata::bf16> w(std::size_t(N * K));
  for (std::size_t i = 0; i < w.size(); ++i) w[i].bits = std::uint16_t(i + 1);
  strata::kernels::PackedPairs p(N, K);
  for (std::int64_t n = 0; n < N; ++n) p.set_row(n, w.data() + n * K);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) REQUIRE(p.at(n, k).bits == w[std::size_t(n * K + k)].bits);
  const std::int64_t k2 = (K + 1) / 2;
  CHECK(p.data()[((1 * k2 + 2) * 16 + 3) * 2 + 1].bits == w[std::size_t((16 + 3) * K + 5)].bits);  // W[19, 5]
  CHECK(p.data()[((0 * k2 + 3) * 16 + 0) * 2 + 1].bits == 0);  // past an odd K: zero
  CHECK(p.bytes() == std::size_t(3 * 16 * 2 * k2 * 2));
}

TEST_CASE("bf16 dot-product GEMM matches its reference on every target", "[kernels][gemm]") {
  const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> shapes = {
      {1, 1, 1}, {1, 17, 3}, {1, 100, 257}, {1, 64, 768}, {2, 33, 5}, {5, 16, 31}, {7, 100, 64},
      {13, 33, 100}, {24, 64, 48}, {37, 50, 130}, {128, 96, 200}, {301, 33, 1100}};
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    for (int threads : {1, 2}) {
      strata::ThreadPool pool(threads);
      for (auto [T, N, K] : shapes) {
        INFO(target << " (native " << strata::kernels::bf16_dot_native() << "), " << threads << " threads, T=" << T
                    << " N=" << N << " K=" << K);
        const auto x = random_vec(std::size_t(T * K), 1);
        const auto wf = random_vec(std::size_t(N * K), 2, 0.1f);
        std::vector<strata::bf16> w(wf.size());
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = strata::narrow<strata::bf16>(wf[i]);
        strata::kernels::PackedPairs p(N, K);
        for (std::int64_t n = 0; n < N; ++n) p.set_row(n, w.data() + n * K);
        std::vector<float> y(std::size_t(T * N), NAN), ref(y.size());
        strata::kernels::gemm_bf16_dot(x.data(), T, p, {}, y.data(), pool);
        strata::kernels::matmul_bf16_dot_ref(x.data(), T, K, w.data(), N, ref.data());
        double worst = 0;  // relative to Σ|x·w|, as worst_rel_error
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t n = 0; n < N; ++n) {
            double mag = 0;
            for (std::int64_t k = 0; k < K; ++k) mag += std::abs(double(x[std::size_t(t * K + k)]) * wf[std::size_t(n * K + k)]);
            worst = std::max(worst, std::abs(double(y[std::size_t(t * N + n)]) - ref[std::size_t(t * N + n)]) / (mag + 1e-30));
          }
        CHECK(worst < 1e-5);
      }
    }
  }
}
