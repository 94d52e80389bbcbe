// The packed-weight GEMM/GEMV kernels and the row-major GEMV, on every kernel
// target this CPU supports, against the double-precision reference on the
// same (already rounded) weights.
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/gemm.hpp"
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
        strata::kernels::gemv_rows(x.data(), T, K, w.data(), N, nullptr, y.data(), pool);
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
