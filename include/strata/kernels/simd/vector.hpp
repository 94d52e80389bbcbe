// SIMD vector kernels: dot/axpy/scale, norms, RoPE, softmax, gated
// activations, argmax and top-k (contracts in kernels/kernel_table.hpp,
// scalar references beside the front-ends in kernels/*.hpp).
//
// A tail (n not a multiple of the vector width V) runs through the same SIMD
// code on a padded copy in a stack buffer, so tail elements get exactly the
// body's arithmetic and no scalar libm call is needed (see simd/arch.hpp for
// why kernels here call no ordinary inline function). Reductions keep four
// accumulators so four dependency chains run in parallel. NaN tests use
// xsimd::isnan: xsimd 8.1's float `!=` is ordered on AVX and AVX-512 (false
// for NaN) but unordered on SSE.
#pragma once

#include <cstdint>
#include <limits>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"

namespace strata::simd {

// The kernels sit in their own namespace (simd::vec::dot<A>, ...) so other
// kernel families can call them without name clashes.
namespace vec {
namespace detail {

template <class A>
inline constexpr std::int64_t kWidth = std::int64_t(vfloat<A>::size);

// The first r (< V) floats at p; the other lanes hold `fill`.
template <class A>
inline vfloat<A> load_part(const float* p, std::int64_t r, float fill = 0.0f) {
  alignas(64) float tmp[vfloat<A>::size];
  for (std::int64_t i = 0; i < kWidth<A>; ++i) tmp[i] = i < r ? p[i] : fill;
  return vfloat<A>::load_aligned(tmp);
}

// Stores the first r (< V) lanes of v at p.
template <class A>
inline void store_part(float* p, const vfloat<A>& v, std::int64_t r) {
  alignas(64) float tmp[vfloat<A>::size];
  v.store_aligned(tmp);
  for (std::int64_t i = 0; i < r; ++i) p[i] = tmp[i];
}

template <class A>
inline float hmax(const vfloat<A>& v) {
  alignas(64) float tmp[vfloat<A>::size];
  v.store_aligned(tmp);
  float m = tmp[0];
  for (std::int64_t i = 1; i < kWidth<A>; ++i) m = m < tmp[i] ? tmp[i] : m;
  return m;
}

// Σ f(x[i]) for a lane-wise f that maps the padding value 0 to 0.
template <class A, class F>
inline float sum_map(const float* x, std::int64_t n, F f) {
  using B = vfloat<A>;
  constexpr std::int64_t V = kWidth<A>;
  B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  std::int64_t i = 0;
  for (; i + 4 * V <= n; i += 4 * V) {
    s0 += f(B::load_unaligned(x + i));
    s1 += f(B::load_unaligned(x + i + V));
    s2 += f(B::load_unaligned(x + i + 2 * V));
    s3 += f(B::load_unaligned(x + i + 3 * V));
  }
  for (; i + V <= n; i += V) s0 += f(B::load_unaligned(x + i));
  if (i < n) s1 += f(load_part<A>(x + i, n - i));
  return hsum<A>((s0 + s1) + (s2 + s3));
}

// out[i] = f(a[i], b[i]); out may alias a or b.
template <class A, class F>
inline void map2(const float* a, const float* b, std::int64_t n, float* out, F f) {
  using B = vfloat<A>;
  constexpr std::int64_t V = kWidth<A>;
  std::int64_t i = 0;
  for (; i + V <= n; i += V) f(B::load_unaligned(a + i), B::load_unaligned(b + i)).store_unaligned(out + i);
  if (i < n) store_part<A>(out + i, f(load_part<A>(a + i, n - i), load_part<A>(b + i, n - i)), n - i);
}

// Swizzle patterns for the interleaved RoPE (lane j of an n-lane batch).
struct SwapPairs {  // (x0, x1, x2, x3, ...) → (x1, x0, x3, x2, ...)
  static constexpr std::uint32_t get(std::uint32_t j, std::uint32_t) { return j ^ 1u; }
};
struct DupLow {  // (c0, c1, ...) → (c0, c0, c1, c1, ...) from the low half
  static constexpr std::uint32_t get(std::uint32_t j, std::uint32_t) { return j / 2; }
};
struct DupHigh {  // the same from the high half
  static constexpr std::uint32_t get(std::uint32_t j, std::uint32_t n) { return n / 2 + j / 2; }
};

// Ranking for argmax/top-k: x[i] before x[j] if larger, NaN before every
// number, and the lower index first among equals (and among NaNs).
template <class A>
inline bool ranks_before(const float* x, std::int32_t i, std::int32_t j) {
  const float a = x[i], b = x[j];
  if (a > b) return true;
  if (a < b) return false;
  const bool na = a != a, nb = b != b;
  if (na != nb) return na;
  return i < j;
}

// Restores the heap below `pos` in idx[0, m): a heap whose top ranks last
// (the worst kept candidate), each parent ranking after its children.
template <class A>
inline void sift_down(const float* x, std::int32_t* idx, std::int64_t m, std::int64_t pos) {
  const std::int32_t v = idx[pos];
  for (;;) {
    std::int64_t c = 2 * pos + 1;
    if (c >= m) break;
    if (c + 1 < m && ranks_before<A>(x, idx[c], idx[c + 1])) ++c;  // the child that ranks later
    if (!ranks_before<A>(x, v, idx[c])) break;
    idx[pos] = idx[c];
    pos = c;
  }
  idx[pos] = v;
}

}  // namespace detail

template <class A>
float dot(const float* a, const float* b, std::int64_t n) {
  using B = vfloat<A>;
  using detail::load_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  std::int64_t i = 0;
  for (; i + 4 * V <= n; i += 4 * V) {
    s0 = fmadd<A>(B::load_unaligned(a + i), B::load_unaligned(b + i), s0);
    s1 = fmadd<A>(B::load_unaligned(a + i + V), B::load_unaligned(b + i + V), s1);
    s2 = fmadd<A>(B::load_unaligned(a + i + 2 * V), B::load_unaligned(b + i + 2 * V), s2);
    s3 = fmadd<A>(B::load_unaligned(a + i + 3 * V), B::load_unaligned(b + i + 3 * V), s3);
  }
  for (; i + V <= n; i += V) s0 = fmadd<A>(B::load_unaligned(a + i), B::load_unaligned(b + i), s0);
  if (i < n) s1 = fmadd<A>(load_part<A>(a + i, n - i), load_part<A>(b + i, n - i), s1);
  return hsum<A>((s0 + s1) + (s2 + s3));
}

// y += a·x
template <class A>
void axpy(float a, const float* x, float* y, std::int64_t n) {
  const vfloat<A> va(a);
  detail::map2<A>(x, y, n, y, [&](const vfloat<A>& xv, const vfloat<A>& yv) { return fmadd<A>(va, xv, yv); });
}

// x *= a
template <class A>
void scale(float* x, float a, std::int64_t n) {
  const vfloat<A> va(a);
  detail::map2<A>(x, x, n, x, [&](const vfloat<A>& xv, const vfloat<A>&) { return xv * va; });
}

// y = x / sqrt(mean(x²) + eps) * w   (HF LlamaRMSNorm: x · rsqrt(var + eps), then · weight)
template <class A>
void rmsnorm(const float* x, const float* w, std::int64_t n, float eps, float* y) {
  using B = vfloat<A>;
  if (n <= 0) return;
  const float ss = detail::sum_map<A>(x, n, [](const B& v) { return v * v; });
  const B inv = B(1.0f) / xsimd::sqrt(B(ss / float(n) + eps));
  detail::map2<A>(x, w, n, y, [&](const B& xv, const B& wv) { return xv * inv * wv; });
}

// y = (x - mean) / sqrt(var + eps) · w + b with the biased variance
// (torch.nn.LayerNorm); w, b may be null. Two passes for the statistics: a
// first mean m0, then d = x - m0 with Σd and Σd² (the corrected two-pass
// algorithm), so neither a large mean nor its rounding spoils the variance.
template <class A>
void layernorm(const float* x, const float* w, const float* b, std::int64_t n, float eps, float* y) {
  using B = vfloat<A>;
  using detail::load_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  if (n <= 0) return;
  const float m0 = detail::sum_map<A>(x, n, [](const B& v) { return v; }) / float(n);
  const B vm0(m0);
  B s0(0.0f), s1(0.0f), q0(0.0f), q1(0.0f);
  std::int64_t i = 0;
  for (; i + 2 * V <= n; i += 2 * V) {
    const B d0 = B::load_unaligned(x + i) - vm0, d1 = B::load_unaligned(x + i + V) - vm0;
    s0 += d0;
    s1 += d1;
    q0 = fmadd<A>(d0, d0, q0);
    q1 = fmadd<A>(d1, d1, q1);
  }
  for (; i + V <= n; i += V) {
    const B d = B::load_unaligned(x + i) - vm0;
    s0 += d;
    q0 = fmadd<A>(d, d, q0);
  }
  if (i < n) {  // padding lanes hold m0: d = 0
    const B d = load_part<A>(x + i, n - i, m0) - vm0;
    s1 += d;
    q1 = fmadd<A>(d, d, q1);
  }
  const float dm = hsum<A>(s0 + s1) / float(n);
  const float var_raw = hsum<A>(q0 + q1) / float(n) - dm * dm;
  const float var = var_raw > 0.0f ? var_raw : 0.0f;
  const B vdm(dm), inv = B(1.0f) / xsimd::sqrt(B(var + eps));
  auto apply = [&](const float* xp, const float* wp, const float* bp, std::int64_t r) {
    const bool full = r == V;
    B v = (((full ? B::load_unaligned(xp) : load_part<A>(xp, r)) - vm0) - vdm) * inv;  // x - mean
    if (wp) v *= full ? B::load_unaligned(wp) : load_part<A>(wp, r);
    if (bp) v += full ? B::load_unaligned(bp) : load_part<A>(bp, r);
    return v;
  };
  for (i = 0; i + V <= n; i += V) apply(x + i, w ? w + i : nullptr, b ? b + i : nullptr, V).store_unaligned(y + i);
  if (i < n) detail::store_part<A>(y + i, apply(x + i, w ? w + i : nullptr, b ? b + i : nullptr, n - i), n - i);
}

// Pairs (v[i], v[i + half]): v[i] = x0·cos - x1·sin, v[i + half] = x1·cos + x0·sin.
template <class A>
void rope_rotate_half(float* v, const float* cos, const float* sin, std::int64_t half) {
  using B = vfloat<A>;
  using detail::load_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  auto rotate = [](const B& x0, const B& x1, const B& c, const B& s, B& y0, B& y1) {
    y0 = fmadd<A>(x0, c, -(x1 * s));
    y1 = fmadd<A>(x1, c, x0 * s);
  };
  std::int64_t i = 0;
  B y0, y1;
  for (; i + V <= half; i += V) {
    rotate(B::load_unaligned(v + i), B::load_unaligned(v + i + half), B::load_unaligned(cos + i),
           B::load_unaligned(sin + i), y0, y1);
    y0.store_unaligned(v + i);
    y1.store_unaligned(v + i + half);
  }
  if (i < half) {
    const std::int64_t r = half - i;
    rotate(load_part<A>(v + i, r), load_part<A>(v + i + half, r), load_part<A>(cos + i, r), load_part<A>(sin + i, r),
           y0, y1);
    detail::store_part<A>(v + i, y0, r);
    detail::store_part<A>(v + i + half, y1, r);
  }
}

// Pairs (v[2i], v[2i + 1]). One step takes V angles and rotates 2V values:
// each value batch is v·(c0, c0, c1, c1, ...) + swap_pairs(v)·(-s0, s0, -s1, s1, ...).
template <class A>
void rope_interleaved(float* v, const float* cos, const float* sin, std::int64_t half) {
  using B = vfloat<A>;
  using U = xsimd::batch<std::uint32_t, A>;
  using detail::load_part;
  using detail::store_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  constexpr auto swap = xsimd::make_batch_constant<U, detail::SwapPairs>();
  constexpr auto dup_lo = xsimd::make_batch_constant<U, detail::DupLow>();
  constexpr auto dup_hi = xsimd::make_batch_constant<U, detail::DupHigh>();
  alignas(64) float sign_lanes[vfloat<A>::size];
  for (std::int64_t j = 0; j < V; ++j) sign_lanes[j] = j % 2 ? 1.0f : -1.0f;
  const B sign = B::load_aligned(sign_lanes);
  // Rotates v0 (pairs 0 .. V/2-1 of the step) and v1 (pairs V/2 .. V-1).
  auto rotate = [&](B& v0, B& v1, const B& c, const B& s) {
    v0 = fmadd<A>(v0, xsimd::swizzle(c, dup_lo), xsimd::swizzle(v0, swap) * (xsimd::swizzle(s, dup_lo) * sign));
    v1 = fmadd<A>(v1, xsimd::swizzle(c, dup_hi), xsimd::swizzle(v1, swap) * (xsimd::swizzle(s, dup_hi) * sign));
  };
  std::int64_t i = 0;
  for (; i + V <= half; i += V) {
    B v0 = B::load_unaligned(v + 2 * i), v1 = B::load_unaligned(v + 2 * i + V);
    rotate(v0, v1, B::load_unaligned(cos + i), B::load_unaligned(sin + i));
    v0.store_unaligned(v + 2 * i);
    v1.store_unaligned(v + 2 * i + V);
  }
  if (i < half) {  // r < V pairs: 2r values over the two batches
    const std::int64_t r = half - i, n0 = 2 * r < V ? 2 * r : V, n1 = 2 * r - n0;
    float* p = v + 2 * i;
    B v0 = n0 == V ? B::load_unaligned(p) : load_part<A>(p, n0);
    B v1 = n1 > 0 ? load_part<A>(p + V, n1) : B(0.0f);
    rotate(v0, v1, load_part<A>(cos + i, r), load_part<A>(sin + i, r));
    if (n0 == V) v0.store_unaligned(p);
    else store_part<A>(p, v0, n0);
    if (n1 > 0) store_part<A>(p + V, v1, n1);
  }
}

// x = exp(x - max) / Σ exp(x - max). A NaN anywhere makes every output NaN
// (as torch.softmax); a row of -inf gives NaN too.
template <class A>
void softmax(float* x, std::int64_t n) {
  using B = vfloat<A>;
  using detail::load_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (n <= 0) return;
  B m0(kNegInf), m1(kNegInf), m2(kNegInf), m3(kNegInf);
  std::int64_t i = 0;
  for (; i + 4 * V <= n; i += 4 * V) {
    m0 = xsimd::max(m0, B::load_unaligned(x + i));
    m1 = xsimd::max(m1, B::load_unaligned(x + i + V));
    m2 = xsimd::max(m2, B::load_unaligned(x + i + 2 * V));
    m3 = xsimd::max(m3, B::load_unaligned(x + i + 3 * V));
  }
  for (; i + V <= n; i += V) m0 = xsimd::max(m0, B::load_unaligned(x + i));
  if (i < n) m1 = xsimd::max(m1, load_part<A>(x + i, n - i, kNegInf));
  const B m(detail::hmax<A>(xsimd::max(xsimd::max(m0, m1), xsimd::max(m2, m3))));

  B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
  auto expo = [&](float* p, B& s) {
    const B e = xsimd::exp(B::load_unaligned(p) - m);
    e.store_unaligned(p);
    s += e;
  };
  for (i = 0; i + 4 * V <= n; i += 4 * V) {
    expo(x + i, s0);
    expo(x + i + V, s1);
    expo(x + i + 2 * V, s2);
    expo(x + i + 3 * V, s3);
  }
  for (; i + V <= n; i += V) expo(x + i, s0);
  if (i < n) {  // padding lanes: exp(-inf - m) = 0
    const B e = xsimd::exp(load_part<A>(x + i, n - i, kNegInf) - m);
    detail::store_part<A>(x + i, e, n - i);
    s1 += e;
  }
  scale<A>(x, 1.0f / hsum<A>((s0 + s1) + (s2 + s3)), n);
}

// out = SiLU(gate) · up, SiLU(g) = g / (1 + exp(-g))   (HF ACT2FN["silu"])
template <class A>
void silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  using B = vfloat<A>;
  detail::map2<A>(gate, up, n, out,
                         [](const B& g, const B& u) { return g / (B(1.0f) + xsimd::exp(-g)) * u; });
}

namespace detail {
// GELU(g) = g/2 · (1 + erf(g/√2))   (HF ACT2FN["gelu"])
template <class A>
vfloat<A> gelu_erf(const vfloat<A>& g) {
  using B = vfloat<A>;
  return B(0.5f) * g * (B(1.0f) + xsimd::erf(g * B(0.70710678118654752f)));
}
// GELU_tanh(g) = g/2 · (1 + tanh(√(2/π)·(g + 0.044715·g³)))   (HF "gelu_pytorch_tanh", "gelu_new")
template <class A>
vfloat<A> gelu_tanh(const vfloat<A>& g) {
  using B = vfloat<A>;
  const B inner = B(0.79788456080286536f) * fmadd<A>(B(0.044715f) * g, g * g, g);
  return B(0.5f) * g * (B(1.0f) + xsimd::tanh(inner));
}
}  // namespace detail

// out = GELU(gate) · up
template <class A>
void gelu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  using B = vfloat<A>;
  detail::map2<A>(gate, up, n, out, [](const B& g, const B& u) { return detail::gelu_erf<A>(g) * u; });
}

// out = GELU_tanh(gate) · up
template <class A>
void gelu_tanh_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  using B = vfloat<A>;
  detail::map2<A>(gate, up, n, out, [](const B& g, const B& u) { return detail::gelu_tanh<A>(g) * u; });
}

// out = GELU(x), out = GELU_tanh(x): the ungated MLPs' activations.
template <class A>
void gelu(const float* x, std::int64_t n, float* out) {
  using B = vfloat<A>;
  detail::map2<A>(x, x, n, out, [](const B& g, const B&) { return detail::gelu_erf<A>(g); });
}

template <class A>
void gelu_tanh(const float* x, std::int64_t n, float* out) {
  using B = vfloat<A>;
  detail::map2<A>(x, x, n, out, [](const B& g, const B&) { return detail::gelu_tanh<A>(g); });
}

// Index of the largest value, the first one on ties (torch.argmax); if x
// holds a NaN, the first NaN (torch and numpy treat NaN as the maximum).
// n <= 0 gives 0. Two passes: the maximum (and whether a NaN occurs), then
// the first position holding it.
template <class A>
std::int64_t argmax(const float* x, std::int64_t n) {
  using B = vfloat<A>;
  using detail::load_part;
  constexpr std::int64_t V = detail::kWidth<A>;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  if (n <= 0) return 0;
  B m0(kNegInf), m1(kNegInf), m2(kNegInf), m3(kNegInf);
  auto nan = xsimd::isnan(B(0.0f));  // all false
  std::int64_t i = 0;
  for (; i + 4 * V <= n; i += 4 * V) {
    const B a = B::load_unaligned(x + i), b = B::load_unaligned(x + i + V);
    const B c = B::load_unaligned(x + i + 2 * V), d = B::load_unaligned(x + i + 3 * V);
    m0 = xsimd::max(m0, a);
    m1 = xsimd::max(m1, b);
    m2 = xsimd::max(m2, c);
    m3 = xsimd::max(m3, d);
    nan = nan | (xsimd::isnan(a) | xsimd::isnan(b)) | (xsimd::isnan(c) | xsimd::isnan(d));
  }
  for (; i + V <= n; i += V) {
    const B a = B::load_unaligned(x + i);
    m0 = xsimd::max(m0, a);
    nan = nan | xsimd::isnan(a);
  }
  if (i < n) {
    const B a = load_part<A>(x + i, n - i, kNegInf);
    m1 = xsimd::max(m1, a);
    nan = nan | xsimd::isnan(a);
  }
  const bool has_nan = xsimd::any(nan);
  const float m = detail::hmax<A>(xsimd::max(xsimd::max(m0, m1), xsimd::max(m2, m3)));
  const B vm(m);
  auto hit = [&](const B& a) { return has_nan ? xsimd::isnan(a) : a == vm; };
  for (i = 0; i + V <= n; i += V)
    if (xsimd::any(hit(B::load_unaligned(x + i)))) break;
  for (; i < n; ++i)
    if (has_nan ? x[i] != x[i] : x[i] == m) return i;
  return 0;  // not reached: some element holds m (or is the NaN)
}

// Indices of the k largest values, largest first, the lower index first
// among equals; NaN ranks above every number (so top_k(k = 1) = argmax).
// Returns min(k, n); n < 2³¹. A heap of the best k seen so far (its top the
// worst of them) lives in idx itself. Values come in index order, so a later
// value enters only if strictly above the top (or NaN): SIMD compares skip
// the blocks of 4V values (then the vectors) holding none, which for k ≪ n
// is nearly all of them. The heap is then sorted in place.
template <class A>
std::int64_t top_k(const float* x, std::int64_t n, std::int64_t k, std::int32_t* idx) {
  using B = vfloat<A>;
  using detail::sift_down;
  constexpr std::int64_t V = detail::kWidth<A>;
  if (n <= 0 || k <= 0) return 0;
  const std::int64_t m = k < n ? k : n;
  for (std::int64_t i = 0; i < m; ++i) idx[i] = std::int32_t(i);
  for (std::int64_t p = m / 2 - 1; p >= 0; --p) sift_down<A>(x, idx, m, p);

  // Later values enter if !(v <= top): above the top, or NaN. Once the top
  // is NaN (k NaNs kept) nothing later ranks above it and the scan ends.
  float top = x[idx[0]];
  auto offer = [&](std::int64_t j) {
    if (x[j] <= top || top != top) return;
    idx[0] = std::int32_t(j);
    sift_down<A>(x, idx, m, 0);
    top = x[idx[0]];
  };
  auto above = [&](const float* p) { return !(B::load_unaligned(p) <= B(top)); };
  std::int64_t i = m;
  for (; i + 4 * V <= n && top == top; i += 4 * V) {
    if (!xsimd::any((above(x + i) | above(x + i + V)) | (above(x + i + 2 * V) | above(x + i + 3 * V)))) continue;
    for (std::int64_t q = i; q < i + 4 * V; q += V)  // test each vector again: the top rises
      if (xsimd::any(above(x + q)))
        for (std::int64_t j = q; j < q + V; ++j) offer(j);
  }
  for (; i < n; ++i) offer(i);

  for (std::int64_t e = m - 1; e > 0; --e) {  // heap sort: the worst goes last
    const std::int32_t worst = idx[0];
    idx[0] = idx[e];
    idx[e] = worst;
    sift_down<A>(x, idx, e, 0);
  }
  return m;
}

}  // namespace vec

template <class A>
void fill_vector_kernels(kernels::KernelTable& t) {
  t.dot = &vec::dot<A>;
  t.axpy = &vec::axpy<A>;
  t.scale = &vec::scale<A>;
  t.rmsnorm = &vec::rmsnorm<A>;
  t.layernorm = &vec::layernorm<A>;
  t.rope_rotate_half = &vec::rope_rotate_half<A>;
  t.rope_interleaved = &vec::rope_interleaved<A>;
  t.softmax = &vec::softmax<A>;
  t.silu_mul = &vec::silu_mul<A>;
  t.gelu_mul = &vec::gelu_mul<A>;
  t.gelu_tanh_mul = &vec::gelu_tanh_mul<A>;
  t.gelu = &vec::gelu<A>;
  t.gelu_tanh = &vec::gelu_tanh<A>;
  t.argmax = &vec::argmax<A>;
  t.top_k = &vec::top_k<A>;
}

}  // namespace strata::simd
