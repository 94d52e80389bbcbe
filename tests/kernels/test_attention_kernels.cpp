// The attention kernels of every kernel table this binary and CPU have,
// against the double-precision references in kernels/attention.hpp: causal
// and windowed prefill after an existing cache, partial states, and partial
// states merged over a long context.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/attention.hpp"
#include "support/random.hpp"

namespace {

using strata::kernels::KernelTable;

using strata::test::random_vec;

// Q [nq] rows with a stride wider than hd (heads interleaved, rows not
// vector-aligned), K and V for positions [0, pos0 + nq).
struct Case {
  std::int64_t hd, nq, pos0, window, stride;
  std::vector<float> Q, K, V;
  float scale;

  Case(std::int64_t hd_, std::int64_t nq_, std::int64_t pos0_, std::int64_t window_, float q_scale = 1.0f)
      : hd(hd_), nq(nq_), pos0(pos0_), window(window_), stride(3 * hd_ + 1) {
    const auto L = std::size_t(pos0 + nq);
    const auto seed = std::uint32_t(hd * 131 + nq * 7 + pos0 + window);
    Q = random_vec(std::size_t(nq * stride), seed, q_scale);
    K = random_vec(L * std::size_t(hd), seed + 1);
    V = random_vec(L * std::size_t(hd), seed + 2);
    scale = 1.0f / std::sqrt(float(hd));
  }
};

// Runs one table's prefill and the reference; returns the largest difference
// and checks that the kernel leaves O's gaps between rows untouched.
double prefill_error(const KernelTable& t, const Case& c) {
  const float sentinel = 12345.0f;
  std::vector<float> O(std::size_t(c.nq * c.stride), sentinel), ref(O.size(), sentinel);
  // NaN where the rows go: the kernel must not read its output before writing it.
  for (std::int64_t i = 0; i < c.nq; ++i)
    for (std::int64_t d = 0; d < c.hd; ++d) O[std::size_t(i * c.stride + d)] = NAN;
  t.attention_prefill(c.Q.data(), c.stride, c.nq, c.pos0, c.K.data(), c.V.data(), c.hd, c.window, c.scale, O.data(),
                      c.stride);
  strata::kernels::attention_prefill_ref(c.Q.data(), c.stride, c.nq, c.pos0, c.K.data(), c.V.data(), c.hd, c.window,
                                         c.scale, ref.data(), c.stride);
  double worst = 0;
  for (std::size_t i = 0; i < O.size(); ++i) {
    const double e = std::abs(double(O[i]) - double(ref[i]));
    if (!(e <= worst)) worst = e;  // NaN propagates
  }
  return worst;
}

}  // namespace

TEST_CASE("attention_prefill matches the reference on every target", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    REQUIRE(t->attention_prefill != nullptr);
    for (std::int64_t hd : {8, 24, 64, 80, 128})
      for (std::int64_t nq : {1, 2, 3, 7, 8, 9, 16, 17, 31, 37})
        for (std::int64_t pos0 : {0, 1, 29, 70})
          for (std::int64_t window : {0, 7, 40}) {
            const Case c(hd, nq, pos0, window);
            INFO("hd " << hd << ", nq " << nq << ", pos0 " << pos0 << ", window " << window);
            CHECK(prefill_error(*t, c) < 2e-6);
          }
  }
}

TEST_CASE("attention_prefill: head_dim 256, window 1, peaked and long", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    CHECK(prefill_error(*t, Case(256, 37, 11, 0)) < 2e-6);
    CHECK(prefill_error(*t, Case(256, 9, 300, 33)) < 2e-6);
    // Window 1: each query sees only its own position, so O is exactly V.
    const Case w1(64, 20, 5, 1);
    CHECK(prefill_error(*t, w1) == 0.0);
    // Scores ~ N(0, 30²): near one-hot rows, exp underflows to 0 for most keys,
    // and the running max rises late in the row. Float rounding of a score
    // scales with its size, and so does the error.
    CHECK(prefill_error(*t, Case(64, 17, 40, 0, 30.0f)) < 3e-5);
    // A long prompt: many key tiles per query tile, causal and windowed.
    CHECK(prefill_error(*t, Case(80, 300, 0, 0)) < 2e-6);
    CHECK(prefill_error(*t, Case(80, 130, 500, 100)) < 2e-6);
  }
}

TEST_CASE("attention_bidirectional (encoders) matches the reference on every target", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    REQUIRE(t->attention_bidirectional != nullptr);
    for (std::int64_t hd : {8, 24, 32, 64, 80})
      for (std::int64_t nq : {1, 3, 8, 9, 16, 37})
        for (std::int64_t n : {1, 2, 15, 32, 33, 70, 128}) {
          INFO("hd " << hd << ", nq " << nq << ", keys " << n);
          const Case c(hd, nq, n, 0);  // K, V rows: n + nq ≥ n
          const float sentinel = 12345.0f;
          std::vector<float> O(std::size_t(c.nq * c.stride), sentinel), ref(O.size(), sentinel);
          for (std::int64_t i = 0; i < nq; ++i)
            for (std::int64_t d = 0; d < hd; ++d) O[std::size_t(i * c.stride + d)] = NAN;
          t->attention_bidirectional(c.Q.data(), c.stride, nq, c.K.data(), c.V.data(), n, hd, c.scale, O.data(),
                                     c.stride);
          strata::kernels::attention_bidirectional_ref(c.Q.data(), c.stride, nq, c.K.data(), c.V.data(), n, hd,
                                                       c.scale, ref.data(), c.stride);
          double worst = 0;
          for (std::size_t i = 0; i < O.size(); ++i) {
            const double e = std::abs(double(O[i]) - double(ref[i]));
            if (!(e <= worst)) worst = e;
          }
          CHECK(worst < 2e-6);
        }
  }
}

// q, k, v of one head inside fused [T, 3·H + pad] rows, as an encoder's
// projection writes them; the kernel reads them in place.
TEST_CASE("attention_gemm (encoders) matches the reference on every target", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    REQUIRE(t->attention_gemm != nullptr);
    for (std::int64_t hd : {8, 24, 32, 64, 80, 128})
      for (std::int64_t nq : {1, 5, 12, 13, 37, 128})
        for (std::int64_t n : {1, 2, 15, 16, 33, 128, 255, 256, 257, 600}) {
          INFO("hd " << hd << ", nq " << nq << ", keys " << n);
          const std::int64_t H = 3 * hd, stride = 3 * H + 5, rows = std::max(nq, n);
          const auto seed = std::uint32_t(hd * 131 + nq * 7 + n);
          const auto qkv = random_vec(std::size_t(rows * stride), seed);
          const float *Q = qkv.data() + hd, *K = qkv.data() + H + hd, *V = qkv.data() + 2 * H + hd;
          const std::int64_t os = 2 * hd + 3;
          const float sentinel = 12345.0f;
          std::vector<float> O(std::size_t(nq * os), sentinel), ref(O.size(), sentinel);
          for (std::int64_t i = 0; i < nq; ++i)
            for (std::int64_t d = 0; d < hd; ++d) O[std::size_t(i * os + d)] = NAN;  // never read before written
          std::vector<float> scratch(std::size_t(strata::kernels::attention_gemm_scratch_floats(n, hd)), NAN);
          const float scale = 1.0f / std::sqrt(float(hd));
          // Every other case with a key bias (ToMe's log token sizes: 0 .. log 8).
          std::vector<float> bias;
          if ((hd + nq + n) % 2) {
            bias = random_vec(std::size_t(n), seed + 1);
            for (float& b : bias) b = std::log(1.0f + 7.0f * std::abs(b));
          }
          const float* kb = bias.empty() ? nullptr : bias.data();
          INFO((kb ? "with" : "without") << " key bias");
          t->attention_gemm(Q, stride, nq, K, stride, V, stride, n, hd, scale, O.data(), os, scratch.data(), kb);
          strata::kernels::attention_gemm_ref(Q, stride, nq, K, stride, V, stride, n, hd, scale, ref.data(), os, kb);
          double worst = 0;
          for (std::size_t i = 0; i < O.size(); ++i) {
            const double e = std::abs(double(O[i]) - double(ref[i]));
            if (!(e <= worst)) worst = e;
          }
          CHECK(worst < 2e-6);
        }
  }
}

TEST_CASE("attention_partial matches the reference on every target", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    REQUIRE(t->attention_partial != nullptr);
    for (std::int64_t hd : {8, 24, 64, 80, 128})
      for (std::int64_t n : {1, 3, 15, 16, 17, 31, 32, 33, 100, 1000}) {
        INFO("hd " << hd << ", n " << n);
        const auto seed = std::uint32_t(hd * 7 + n);
        const auto q = random_vec(std::size_t(hd), seed, 2.0f), K = random_vec(std::size_t(n * hd), seed + 1),
                   V = random_vec(std::size_t(n * hd), seed + 2);
        const float scale = 1.0f / std::sqrt(float(hd));
        std::vector<float> o(static_cast<std::size_t>(hd), NAN), ref(static_cast<std::size_t>(hd));
        float m = NAN, l = NAN, rm = 0, rl = 0;
        t->attention_partial(q.data(), K.data(), V.data(), n, hd, scale, o.data(), &m, &l);
        strata::kernels::attention_partial_ref(q.data(), K.data(), V.data(), n, hd, scale, ref.data(), &rm, &rl);
        CHECK(std::abs(m - rm) < 1e-5f);
        CHECK(std::abs(l - rl) < 2e-6f * rl);
        double worst = 0;
        for (std::int64_t d = 0; d < hd; ++d)
          worst = std::max(worst, std::abs(double(o[std::size_t(d)]) - ref[std::size_t(d)]) / double(rl));
        CHECK(worst < 2e-6);
      }
  }
}

TEST_CASE("attention_partial on zero rows is the empty state", "[attention]") {
  for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
    INFO(t->target);
    const float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float o[8], m = 0, l = 1;
    for (float& x : o) x = NAN;
    t->attention_partial(q, nullptr, nullptr, 0, 8, 1.0f, o, &m, &l);
    CHECK(m == -INFINITY);
    CHECK(l == 0.0f);
    for (float x : o) CHECK(x == 0.0f);
  }
}

TEST_CASE("attention_partial split over a long context merges to full attention", "[attention]") {
  const std::int64_t n = 1000;
  for (std::int64_t hd : {24, 64, 128}) {
    const auto seed = std::uint32_t(hd);
    const auto q = random_vec(std::size_t(hd), seed, 3.0f), K = random_vec(std::size_t(n * hd), seed + 1),
               V = random_vec(std::size_t(n * hd), seed + 2);
    const float scale = 1.0f / std::sqrt(float(hd));
    // The query at position n - 1 sees all n rows (and, windowed, the last 300).
    for (std::int64_t window : {0, 300}) {
      const std::int64_t first = window ? n - window : 0, len = n - first;
      std::vector<float> want(static_cast<std::size_t>(hd)), got(static_cast<std::size_t>(hd));
      strata::kernels::attention_prefill_ref(q.data(), hd, 1, n - 1, K.data(), V.data(), hd, window, scale,
                                             want.data(), hd);
      for (std::int64_t splits : {1, 2, 3, 7, 16}) {
        INFO("hd " << hd << ", window " << window << ", splits " << splits);
        std::vector<float> o(static_cast<std::size_t>(splits * hd)), m(static_cast<std::size_t>(splits)),
            l(static_cast<std::size_t>(splits));
        auto merged_error = [&](auto&& partial) {
          for (std::int64_t c = 0; c < splits; ++c) {
            const std::int64_t c0 = first + len * c / splits, c1 = first + len * (c + 1) / splits;
            partial(q.data(), K.data() + c0 * hd, V.data() + c0 * hd, c1 - c0, hd, scale, o.data() + c * hd,
                    &m[std::size_t(c)], &l[std::size_t(c)]);
          }
          strata::kernels::attention_merge(o.data(), m.data(), l.data(), splits, hd, got.data());
          double worst = 0;
          for (std::size_t d = 0; d < got.size(); ++d) worst = std::max(worst, std::abs(double(got[d]) - want[d]));
          return worst;
        };
        // The merge alone, on reference partials.
        CHECK(merged_error(strata::kernels::attention_partial_ref) < 1e-6);
        for (const KernelTable* t : strata::kernels::available_kernel_tables()) {
          INFO(t->target);
          CHECK(merged_error(t->attention_partial) < 1e-5);  // scores ~ N(0, 3²)
        }
      }
    }
  }
}

TEST_CASE("attention_merge skips empty partials", "[attention]") {
  // Two states over one row each (v = 1 and v = 3, scores 0 and log 3) and an empty one.
  const float o[3 * 2] = {1, 1, 0, 0, 3, 3};
  const float m[3] = {0.0f, -INFINITY, float(std::log(3.0))};
  const float l[3] = {1.0f, 0.0f, 1.0f};
  float out[2];
  strata::kernels::attention_merge(o, m, l, 3, 2, out);
  // weights 1 and 3: (1·1 + 3·3) / 4
  CHECK(out[0] == Approx(2.5).epsilon(1e-6));
  CHECK(out[1] == Approx(2.5).epsilon(1e-6));
}
