// The vector kernels of every kernel table this binary and CPU have, against
// the double-precision references in kernels/*.hpp: sizes around the vector
// width (tails), misaligned pointers, guard values past the end, and special
// values (ties, NaN, ±inf, large arguments).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/activation.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/kernels/norm.hpp"
#include "strata/kernels/rope.hpp"
#include "strata/kernels/softmax.hpp"
#include "strata/kernels/vector.hpp"

namespace k = strata::kernels;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kGuard = 12345.0f;
constexpr std::int64_t kGuardLen = 16;

std::vector<float> randn(std::int64_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> zeros(std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

// n floats one float past a 64-byte boundary (so no load is aligned), with
// guard values before and after that a kernel must not touch.
class Guarded {
 public:
  explicit Guarded(const std::vector<float>& init)
      : n_(std::int64_t(init.size())), buf_(std::size_t(n_ + 2 * kGuardLen + 16), kGuard) {
    auto addr = reinterpret_cast<std::uintptr_t>(buf_.data() + kGuardLen);
    off_ = kGuardLen + std::int64_t((64 - addr % 64) % 64 / sizeof(float)) + 1;
    for (std::int64_t i = 0; i < n_; ++i) buf_[std::size_t(off_ + i)] = init[std::size_t(i)];
  }
  float* data() { return buf_.data() + off_; }
  float operator[](std::int64_t i) const { return buf_[std::size_t(off_ + i)]; }
  std::vector<float> values() const { return {buf_.begin() + off_, buf_.begin() + off_ + n_}; }
  bool guards_intact() const {
    for (std::int64_t i = 0; i < std::int64_t(buf_.size()); ++i)
      if ((i < off_ || i >= off_ + n_) && buf_[std::size_t(i)] != kGuard) return false;
    return true;
  }

 private:
  std::int64_t n_, off_ = 0;
  std::vector<float> buf_;
};

// Sizes around one and four vector widths (the body/tail boundaries of the
// kernels), and larger ones.
std::vector<std::int64_t> sizes_for(const k::KernelTable& t) {
  const std::int64_t V = t.vector_bytes / std::int64_t(sizeof(float));
  std::vector<std::int64_t> s{1, 2, 3, 100, 1000, 4099};
  for (std::int64_t n : {V - 1, V, V + 1, 2 * V + 3, 4 * V - 1, 4 * V, 4 * V + 1, 8 * V + 5})
    if (n > 3) s.push_back(n);
  return s;
}

// |got[i] - want[i]| <= tol(i) for every element (with a message naming the
// first element that is not).
template <class Tol>
void check_close(const std::vector<float>& got, const std::vector<float>& want, Tol tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - want[i]), allowed = tol(i);
    if (!(err <= allowed)) {
      INFO("element " << i << " of " << got.size() << ": got " << got[i] << ", want " << want[i] << ", allowed error "
                      << allowed);
      CHECK(err <= allowed);
      return;
    }
  }
}

// Relative tolerance: |got - want| <= rel·|want|.
void check_close(const std::vector<float>& got, const std::vector<float>& want, double rel) {
  check_close(got, want, [&](std::size_t i) { return rel * std::abs(double(want[i])); });
}

}  // namespace

TEST_CASE("every table fills every vector kernel", "[vector]") {
  REQUIRE(!k::available_kernel_tables().empty());
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    CHECK(t->dot);
    CHECK(t->axpy);
    CHECK(t->scale);
    CHECK(t->rmsnorm);
    CHECK(t->layernorm);
    CHECK(t->rope_rotate_half);
    CHECK(t->rope_interleaved);
    CHECK(t->softmax);
    CHECK(t->silu_mul);
    CHECK(t->gelu_mul);
    CHECK(t->gelu_tanh_mul);
    CHECK(t->argmax);
    CHECK(t->top_k);
  }
}

TEST_CASE("dot, axpy and scale match the references", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      INFO("n " << n);
      const auto av = randn(n, 1), bv = randn(n, 2);
      Guarded a(av), b(bv);
      double mag = 0;  // Σ|a·b|: the scale of the rounding error
      for (std::int64_t i = 0; i < n; ++i) mag += std::abs(double(av[std::size_t(i)]) * bv[std::size_t(i)]);
      CHECK(std::abs(t->dot(a.data(), b.data(), n) - k::dot_ref(av.data(), bv.data(), n)) <= 2e-7 * mag + 1e-30);

      auto want = bv;
      k::axpy_ref(-0.75f, av.data(), want.data(), n);
      t->axpy(-0.75f, a.data(), b.data(), n);
      // Without FMA a·x is rounded too: half an ulp of |a·x|, one of the
      // result (its own rounding and the reference's).
      check_close(b.values(), want, [&](std::size_t i) {
        return 6e-8 * (0.75 * std::abs(double(av[i])) + 2 * std::abs(double(want[i])));
      });
      CHECK(b.guards_intact());

      want = av;
      k::scale_ref(want.data(), 1.0f / 3.0f, n);
      t->scale(a.data(), 1.0f / 3.0f, n);
      check_close(a.values(), want, 0.0);  // one rounding, as the reference: exact
      CHECK(a.guards_intact());
    }
    CHECK(t->dot(nullptr, nullptr, 0) == 0.0f);
  }
}

TEST_CASE("rmsnorm matches the reference on every table", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      INFO("n " << n);
      const auto xv = randn(n, 3, 3.0f), wv = randn(n, 4);
      Guarded x(xv), w(wv), y(zeros(n));
      auto want = zeros(n);
      t->rmsnorm(x.data(), w.data(), n, 1e-6f, y.data());
      k::rmsnorm_ref(xv.data(), wv.data(), n, 1e-6, want.data());
      check_close(y.values(), want, 4e-7);
      CHECK(y.guards_intact());
    }
    // All zeros: 0 / sqrt(eps) = 0.
    std::vector<float> x(37, 0.0f), w(37, 2.0f), y(37, 1.0f);
    t->rmsnorm(x.data(), w.data(), 37, 1e-5f, y.data());
    for (float v : y) CHECK(v == 0.0f);
  }
}

TEST_CASE("layernorm matches the reference with and without weight and bias", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      // A mean far from 0 checks the variance is not taken as E[x²] - E[x]².
      auto xv = randn(n, 5, 2.0f);
      for (auto& v : xv) v += 100.0f;
      const auto wv = randn(n, 6), bv = randn(n, 7);
      Guarded x(xv), w(wv), b(bv);
      for (int mode = 0; mode < 4; ++mode) {
        INFO("n " << n << (mode & 1 ? " weight" : "") << (mode & 2 ? " bias" : ""));
        const float* wp = mode & 1 ? w.data() : nullptr;
        const float* bp = mode & 2 ? b.data() : nullptr;
        Guarded y(zeros(n));
        auto want = zeros(n);
        t->layernorm(x.data(), wp, bp, n, 1e-5f, y.data());
        k::layernorm_ref(xv.data(), mode & 1 ? wv.data() : nullptr, mode & 2 ? bv.data() : nullptr, n, 1e-5,
                         want.data());
        check_close(y.values(), want, [&](std::size_t i) {
          return 5e-7 * (std::abs(double(want[i])) + (mode & 1 ? std::abs(double(wv[i])) : 1.0));
        });
        CHECK(y.guards_intact());
      }
    }
    // Constant input: variance 0, the output is the bias.
    std::vector<float> x(19, 4.5f), b(19), y(19);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = float(i);
    t->layernorm(x.data(), nullptr, b.data(), 19, 1e-5f, y.data());
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == b[i]);
  }
}

TEST_CASE("rope (rotate-half and interleaved) matches the references", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t half : sizes_for(*t)) {
      INFO("half " << half);
      const auto v0 = randn(2 * half, 8, 2.0f), ang = randn(half, 9, 3.0f);
      auto cv = zeros(half), sv = zeros(half);
      for (std::size_t i = 0; i < cv.size(); ++i) {
        cv[i] = float(std::cos(double(ang[i])));
        sv[i] = float(std::sin(double(ang[i])));
      }
      Guarded c(cv), s(sv);
      {
        Guarded v(v0);
        auto want = v0;
        t->rope_rotate_half(v.data(), c.data(), s.data(), half);
        k::rope_rotate_half_ref(want.data(), cv.data(), sv.data(), half);
        // x0·cos - x1·sin may cancel: rounding relative to |x0| + |x1|.
        check_close(v.values(), want, [&](std::size_t i) {
          const std::size_t p = i < std::size_t(half) ? i : i - std::size_t(half);
          return 1.5e-7 * (std::abs(double(v0[p])) + std::abs(double(v0[p + std::size_t(half)])));
        });
        CHECK(v.guards_intact());
      }
      {
        Guarded v(v0);
        auto want = v0;
        t->rope_interleaved(v.data(), c.data(), s.data(), half);
        k::rope_interleaved_ref(want.data(), cv.data(), sv.data(), half);
        check_close(v.values(), want, [&](std::size_t i) {
          const std::size_t p = i & ~std::size_t(1);
          return 1.5e-7 * (std::abs(double(v0[p])) + std::abs(double(v0[p + 1])));
        });
        CHECK(v.guards_intact());
      }
    }
  }
}

TEST_CASE("softmax matches the reference", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      INFO("n " << n);
      auto xv = randn(n, 10, 4.0f);
      xv[std::size_t(n / 2)] = 30.0f;  // one large logit: most outputs far below 1
      Guarded x(xv);
      auto want = xv;
      t->softmax(x.data(), n);
      k::softmax_ref(want.data(), n);
      // x - max is rounded to float (half an ulp of |x - max|, which exp
      // turns into that relative error), then a few ulps from exp and 1/Σ.
      check_close(x.values(), want, [&](std::size_t i) {
        return std::abs(double(want[i])) * (1e-6 + 6e-8 * std::abs(double(xv[i]) - 30.0));
      });
      CHECK(x.guards_intact());
    }
    // -inf logits get exactly 0; large logits do not overflow; n = 1 gives 1.
    std::vector<float> x{1000.0f, -kInf, 999.0f, -kInf, 1000.0f};
    t->softmax(x.data(), 5);
    const double e = std::exp(-1.0), z = 2 + e;
    CHECK(x[0] == Approx(1 / z).epsilon(1e-6));
    CHECK(x[2] == Approx(e / z).epsilon(1e-6));
    CHECK(x[1] == 0.0f);
    CHECK(x[3] == 0.0f);
    float one = -3.0f;
    t->softmax(&one, 1);
    CHECK(one == 1.0f);
    // A NaN makes every output NaN.
    std::vector<float> nan_row{0.5f, kNaN, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f};
    t->softmax(nan_row.data(), std::int64_t(nan_row.size()));
    for (float p : nan_row) CHECK(std::isnan(p));
  }
}

TEST_CASE("silu, gelu and gelu_tanh gated products match the references", "[vector]") {
  using Kernel = void (*)(const float*, const float*, std::int64_t, float*);
  struct Case {
    const char* name;
    Kernel k::KernelTable::*fast;
    Kernel ref;
    double rel_out, rel_gu;  // tolerance: rel_out·|want| + rel_gu·|g·u|
  };
  // SiLU has no cancellation: a few ulps of the result. GELU's 1 + erf and
  // 1 + tanh cancel for negative g, leaving rounding relative to |g·u|.
  const Case cases[] = {{"silu", &k::KernelTable::silu_mul, &k::silu_mul_ref, 5e-7, 0},
                        {"gelu", &k::KernelTable::gelu_mul, &k::gelu_mul_ref, 0, 4e-7},
                        {"gelu_tanh", &k::KernelTable::gelu_tanh_mul, &k::gelu_tanh_mul_ref, 0, 4e-7}};
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    for (const Case& c : cases) {
      INFO(t->target << " " << c.name);
      for (std::int64_t n : sizes_for(*t)) {
        INFO("n " << n);
        auto gv = randn(n, 11, 4.0f);
        const auto uv = randn(n, 12);
        gv[0] = n % 2 ? 60.0f : -60.0f;  // saturated: g·u, or 0
        Guarded g(gv), u(uv), y(zeros(n));
        auto want = zeros(n);
        (t->*c.fast)(g.data(), u.data(), n, y.data());
        c.ref(gv.data(), uv.data(), n, want.data());
        const auto got = y.values();
        check_close(got, want, [&](std::size_t i) {
          return c.rel_out * std::abs(double(want[i])) + c.rel_gu * std::abs(double(gv[i]) * uv[i]);
        });
        CHECK(y.guards_intact());
        // In place (out = gate), as GatedFFN calls it.
        (t->*c.fast)(g.data(), u.data(), n, g.data());
        CHECK(g.values() == got);
      }
    }
  }
}

TEST_CASE("ungated gelu and gelu_tanh match the references", "[vector]") {
  using Kernel = void (*)(const float*, std::int64_t, float*);
  using Ref = void (*)(const float*, const float*, std::int64_t, float*);
  const std::pair<Kernel k::KernelTable::*, Ref> cases[] = {{&k::KernelTable::gelu, &k::gelu_mul_ref},
                                                            {&k::KernelTable::gelu_tanh, &k::gelu_tanh_mul_ref}};
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    for (const auto& [fast, ref] : cases) {
      INFO(t->target << (fast == &k::KernelTable::gelu ? " gelu" : " gelu_tanh"));
      for (std::int64_t n : sizes_for(*t)) {
        INFO("n " << n);
        auto xv = randn(n, 21, 4.0f);
        xv[0] = n % 2 ? 60.0f : -60.0f;
        const std::vector<float> ones(xv.size(), 1.0f);
        Guarded x(xv), y(zeros(n));
        auto want = zeros(n);
        (t->*fast)(x.data(), n, y.data());
        ref(xv.data(), ones.data(), n, want.data());  // act(x) · 1
        const auto got = y.values();
        check_close(got, want, [&](std::size_t i) { return 4e-7 * std::abs(double(xv[i])) + 1e-30; });
        CHECK(y.guards_intact());
        (t->*fast)(x.data(), n, x.data());  // in place, as the MLP calls it
        CHECK(x.values() == got);
      }
    }
  }
}

TEST_CASE("argmax: first index of the maximum, first NaN if any", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      INFO("n " << n);
      auto xv = randn(n, 13);
      Guarded x(xv);
      CHECK(t->argmax(x.data(), n) == k::argmax_ref(xv.data(), n));
      // Ties: the maximum at every position from p on; the first is p.
      for (std::int64_t p : {std::int64_t(0), n / 3, n - 1}) {
        auto tie = xv;
        for (std::int64_t i = p; i < n; i += 1 + i % 3) tie[std::size_t(i)] = 50.0f;
        CHECK(t->argmax(tie.data(), n) == p);
        CHECK(k::argmax_ref(tie.data(), n) == p);
        auto nan = tie;  // a NaN after the maximum wins over it
        nan[std::size_t(n - 1)] = kNaN;
        if (n > 1) nan[std::size_t(n / 2)] = kNaN;
        CHECK(t->argmax(nan.data(), n) == k::argmax_ref(nan.data(), n));
        CHECK(t->argmax(nan.data(), n) == (n > 1 ? n / 2 : 0));
      }
      std::vector<float> ninf(std::size_t(n), -kInf);
      CHECK(t->argmax(ninf.data(), n) == 0);
      ninf[std::size_t(n - 1)] = kInf;
      CHECK(t->argmax(ninf.data(), n) == n - 1);
    }
    CHECK(t->argmax(nullptr, 0) == 0);
  }
}

TEST_CASE("top_k: the k largest, largest first, lower index first on ties", "[vector]") {
  for (const k::KernelTable* t : k::available_kernel_tables()) {
    INFO(t->target);
    for (std::int64_t n : sizes_for(*t)) {
      // Values rounded to quarters, so ties are common.
      auto xv = randn(n, 14, 2.0f);
      for (auto& v : xv) v = std::round(v * 4) / 4;
      Guarded x(xv);
      for (std::int64_t kk : {std::int64_t(1), std::int64_t(2), std::int64_t(5), std::int64_t(40), n - 1, n, n + 3}) {
        if (kk <= 0) continue;
        INFO("n " << n << " k " << kk);
        std::vector<std::int32_t> got(std::size_t(kk) + 1, -7), want(std::size_t(kk) + 1, -7);
        const std::int64_t m = std::min(kk, n);
        CHECK(t->top_k(x.data(), n, kk, got.data()) == m);
        CHECK(k::top_k_ref(xv.data(), n, kk, want.data()) == m);
        CHECK(got == want);  // includes the untouched slots past m
        CHECK(got[0] == t->argmax(x.data(), n));
      }
    }
    // Increasing values defeat the skip test on every block; k = 3 of 1000.
    std::vector<float> up(1000);
    for (std::size_t i = 0; i < up.size(); ++i) up[i] = float(i) * 0.5f;
    std::int32_t idx[3];
    REQUIRE(t->top_k(up.data(), 1000, 3, idx) == 3);
    CHECK((idx[0] == 999 && idx[1] == 998 && idx[2] == 997));
    // NaN ranks first, then +inf; -0 and +0 are equal (index order).
    std::vector<float> special(70, -1.0f);
    special[3] = -0.0f;
    special[2] = 0.0f;
    special[40] = kInf;
    special[50] = kNaN;
    special[9] = kNaN;
    std::int32_t top5[5];
    REQUIRE(t->top_k(special.data(), 70, 5, top5) == 5);
    CHECK(top5[0] == 9);
    CHECK(top5[1] == 50);
    CHECK(top5[2] == 40);
    CHECK(top5[3] == 2);
    CHECK(top5[4] == 3);
    std::vector<std::int32_t> ref5(5);
    k::top_k_ref(special.data(), 70, 5, ref5.data());
    CHECK(std::vector<std::int32_t>(top5, top5 + 5) == ref5);
    // All NaN: the first k in order; k NaNs found early end the scan.
    std::vector<float> nans(100, kNaN);
    REQUIRE(t->top_k(nans.data(), 100, 4, top5) == 4);
    CHECK((top5[0] == 0 && top5[1] == 1 && top5[2] == 2 && top5[3] == 3));
    std::vector<float> late = up;
    late[300] = late[7] = late[999] = kNaN;
    REQUIRE(t->top_k(late.data(), 1000, 2, top5) == 2);
    CHECK((top5[0] == 7 && top5[1] == 300));
    CHECK(t->top_k(up.data(), 1000, 0, idx) == 0);
    CHECK(t->top_k(up.data(), 0, 3, idx) == 0);
  }
}

TEST_CASE("the front-end functions run the active table", "[vector]") {
  const k::KernelTable& t = k::active_kernels();
  const auto x = randn(301, 15), w = randn(301, 16);
  std::vector<float> a(301), b(301);
  k::rmsnorm(x.data(), w.data(), 301, 1e-6f, a.data());
  t.rmsnorm(x.data(), w.data(), 301, 1e-6f, b.data());
  CHECK(a == b);
  k::silu_mul(x.data(), w.data(), 301, a.data());
  t.silu_mul(x.data(), w.data(), 301, b.data());
  CHECK(a == b);
  CHECK(k::dot(x.data(), w.data(), 301) == t.dot(x.data(), w.data(), 301));
  CHECK(k::argmax(x.data(), 301) == t.argmax(x.data(), 301));
}
