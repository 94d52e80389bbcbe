// SIMD kernels for quantized projections (formats in kernels/quant.hpp):
// activation quantization to int8 blocks, and y = x · Wᵀ from int8
// activations and 8-bit or 4-bit weight codes with exact integer block dot
// products.
//
// The integer multiply-add of unsigned codes by signed activations:
//   avx512 + VNNI   vpdpbusd: 64 products into 16 int32 lanes per instruction
//   avx512 (no VNNI), avx2
//                   4-bit: vpmaddubsw (pairs ≤ 2·24·127, no saturation) + vpmaddwd
//                   8-bit: the code minus 128 (signed) takes the activation's
//                   sign and |x| becomes the unsigned operand (llama.cpp's
//                   trick), so pairs stay ≤ 2·127·127; the kernel then sums
//                   (u − 128)·x and the zero becomes 0
//   sse4.2          as avx2, 128-bit (SSSE3 instructions)
//   sse2            scalar integer code (no byte multiply-add)
//
// Tiles: MR tokens × NU units of L rows (L = 16 on avx512, 8 on avx2, 4 on
// sse4.2: one panel is 16/L units). For each block of 32 input values the integer
// accumulators start at −zero·Σqx (symmetric formats) and take 8 (Q8) or
// 4 × 2 (4-bit) multiply-adds; the block is then scaled into float
// accumulators: acc += dx · d · isum  (asymmetric: dx · (d · isum + m · Σqx)).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"

namespace strata::simd {

#if defined(__AVX512VNNI__)
inline constexpr bool kHaveVnni = true;
#else
inline constexpr bool kHaveVnni = false;
#endif

// ---- activation quantization ----
template <class A>
void quantize_acts(const float* x, std::int64_t T, std::int64_t K, std::int8_t* q, float* d, std::int32_t* s) {
  using B = vfloat<A>;
  using BI = xsimd::batch<std::int32_t, A>;
  constexpr std::int64_t V = std::int64_t(B::size), Q = kernels::kQBlock;
  const std::int64_t nb = K / Q;
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * K + b * Q;
      B mx(0.0f);
      for (std::int64_t i = 0; i < Q; i += V) mx = xsimd::max(mx, xsimd::abs(B::load_unaligned(xb + i)));
      alignas(64) float lanes[V];
      mx.store_aligned(lanes);
      float amax = 0.0f;
      for (std::int64_t i = 0; i < V; ++i) amax = lanes[i] > amax ? lanes[i] : amax;
      const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      d[t * nb + b] = amax / 127.0f;
      alignas(64) std::int32_t v[Q];
      const B idv(id);
      for (std::int64_t i = 0; i < Q; i += V) xsimd::nearbyint_as_int(B::load_unaligned(xb + i) * idv).store_aligned(v + i);
      BI sum(0);
      for (std::int64_t i = 0; i < Q; i += V) sum += BI::load_aligned(v + i);
      s[t * nb + b] = xsimd::hadd(sum);
      std::int8_t* qb = q + t * K + b * Q;
      for (std::int64_t i = 0; i < Q; ++i) qb[i] = std::int8_t(v[i]);
    }
}

// ---- integer operations per architecture ----
template <class A>
inline constexpr bool kIntSimd = is_avx512<A> || is_fma_avx2<A>;

#if XSIMD_WITH_AVX512BW
template <class A>
struct QOps512 {
  using V = __m512i;
  static constexpr std::int64_t L = 16;  // rows per vector
  static constexpr bool kQ8Signed = !kHaveVnni;  // the emulation sums (u − 128)·x
  static V load(const std::uint8_t* p) { return _mm512_loadu_si512(p); }
  static V bcast(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static V set1(std::int32_t v) { return _mm512_set1_epi32(v); }
  static V lo(V w) { return _mm512_and_si512(w, _mm512_set1_epi8(0x0F)); }
  static V hi(V w) { return _mm512_and_si512(_mm512_srli_epi16(w, 4), _mm512_set1_epi8(0x0F)); }
  static V lut(V table, V idx) { return _mm512_shuffle_epi8(table, idx); }
  static V lut_table(const std::int8_t* t) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
  }
  // acc + Σ4 w·x for unsigned w ≤ 24 (4-bit values)
  static V dot4(V acc, V w, V x) {
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, w, x);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x), _mm512_set1_epi16(1)));
#endif
  }
  // 8-bit codes: VNNI: acc + Σ4 u·x; otherwise acc + Σ4 (u − 128)·x
  static V dot8(V acc, V w, V x) {
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, w, x);
#else
    const V q = _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));
    const __mmask64 neg = _mm512_movepi8_mask(x);
    const V qs = _mm512_mask_sub_epi8(q, neg, _mm512_setzero_si512(), q);
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(x), qs), _mm512_set1_epi16(1)));
#endif
  }
  using F = __m512;
  static F fzero() { return _mm512_setzero_ps(); }
  static F cvt(V v) { return _mm512_cvtepi32_ps(v); }
  static F fload(const float* p) { return _mm512_loadu_ps(p); }
  static F fset1(float v) { return _mm512_set1_ps(v); }
  static F fmul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static void fstore(float* p, F v) { _mm512_storeu_ps(p, v); }
};
#endif

#if XSIMD_WITH_FMA3_AVX2
template <class A>
struct QOps256 {
  using V = __m256i;
  static constexpr std::int64_t L = 8;
  static constexpr bool kQ8Signed = true;
  static V load(const std::uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static V bcast(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  static V set1(std::int32_t v) { return _mm256_set1_epi32(v); }
  static V lo(V w) { return _mm256_and_si256(w, _mm256_set1_epi8(0x0F)); }
  static V hi(V w) { return _mm256_and_si256(_mm256_srli_epi16(w, 4), _mm256_set1_epi8(0x0F)); }
  static V lut(V table, V idx) { return _mm256_shuffle_epi8(table, idx); }
  static V lut_table(const std::int8_t* t) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static V dot4(V acc, V w, V x) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
  }
  static V dot8(V acc, V w, V x) {
    const V q = _mm256_xor_si256(w, _mm256_set1_epi8(char(0x80)));
    return _mm256_add_epi32(
        acc, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(q, x)), _mm256_set1_epi16(1)));
  }
  using F = __m256;
  static F fzero() { return _mm256_setzero_ps(); }
  static F cvt(V v) { return _mm256_cvtepi32_ps(v); }
  static F fload(const float* p) { return _mm256_loadu_ps(p); }
  static F fset1(float v) { return _mm256_set1_ps(v); }
  static F fmul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static void fstore(float* p, F v) { _mm256_storeu_ps(p, v); }
};
#endif

#if XSIMD_WITH_SSE4_2
// SSE4.2 machines have SSSE3's pmaddubsw / psignb / pabsb / pshufb: the same
// scheme as avx2 on 4 rows per register.
template <class A>
struct QOps128 {
  using V = __m128i;
  static constexpr std::int64_t L = 4;
  static constexpr bool kQ8Signed = true;
  static V load(const std::uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
  static V bcast(const std::int8_t* p) {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm_set1_epi32(v);
  }
  static V set1(std::int32_t v) { return _mm_set1_epi32(v); }
  static V lo(V w) { return _mm_and_si128(w, _mm_set1_epi8(0x0F)); }
  static V hi(V w) { return _mm_and_si128(_mm_srli_epi16(w, 4), _mm_set1_epi8(0x0F)); }
  static V lut(V table, V idx) { return _mm_shuffle_epi8(table, idx); }
  static V lut_table(const std::int8_t* t) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(t)); }
  static V dot4(V acc, V w, V x) {
    return _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(w, x), _mm_set1_epi16(1)));
  }
  static V dot8(V acc, V w, V x) {
    const V q = _mm_xor_si128(w, _mm_set1_epi8(char(0x80)));
    return _mm_add_epi32(acc,
                         _mm_madd_epi16(_mm_maddubs_epi16(_mm_abs_epi8(x), _mm_sign_epi8(q, x)), _mm_set1_epi16(1)));
  }
  using F = __m128;
  static F fzero() { return _mm_setzero_ps(); }
  static F cvt(V v) { return _mm_cvtepi32_ps(v); }
  static F fload(const float* p) { return _mm_loadu_ps(p); }
  static F fset1(float v) { return _mm_set1_ps(v); }
  static F fmul(F a, F b) { return _mm_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }  // no FMA on this target
  static void fstore(float* p, F v) { _mm_storeu_ps(p, v); }
};
#endif

// MR tokens (from t0) × NU units starting at unit u0 (unit = L rows).
template <class O, bool Q4, bool ASYM, bool LUT, std::int64_t MR, std::int64_t NU>
inline void qtile(const kernels::QuantActsView& x, std::int64_t t0, const kernels::QuantWeightsView& w, std::int64_t u0,
                  float* y, std::int64_t ldy, std::int64_t ncols) {
  using V = typename O::V;
  using F = typename O::F;
  constexpr std::int64_t L = O::L, U = kernels::kPanel / L, Q = kernels::kQBlock;
  constexpr std::int64_t BB = Q4 ? 256 : 512;
  const std::int64_t K = w.K, nb = K / Q, ng = K / w.group, bpg = w.group / Q;
  const std::int32_t zero = (!Q4 && O::kQ8Signed) ? 0 : w.zero;
  const std::uint8_t* qb[NU];
  const float* db[NU];
  const float* mb[NU];
  for (std::int64_t j = 0; j < NU; ++j) {
    const std::int64_t p = (u0 + j) / U, h = (u0 + j) % U;
    qb[j] = w.q + p * nb * BB + h * L * 4;
    db[j] = w.d + p * ng * kernels::kPanel + h * L;
    mb[j] = ASYM ? w.m + p * ng * kernels::kPanel + h * L : nullptr;
  }
  V table{};
  if constexpr (LUT) table = O::lut_table(w.lut);
  F acc[MR][NU];
  for (std::int64_t m = 0; m < MR; ++m)
    for (std::int64_t j = 0; j < NU; ++j) acc[m][j] = O::fzero();
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::int64_t g = b / bpg;
    V ia[MR][NU];
    const std::int8_t* xq[MR];
    for (std::int64_t m = 0; m < MR; ++m) {
      xq[m] = x.q + (t0 + m) * K + b * Q;
      const V init = ASYM ? O::set1(0) : O::set1(-zero * x.s[(t0 + m) * nb + b]);
      for (std::int64_t j = 0; j < NU; ++j) ia[m][j] = init;
    }
    if constexpr (!Q4) {
      for (std::int64_t c = 0; c < 8; ++c) {
        V wv[NU];
        for (std::int64_t j = 0; j < NU; ++j) wv[j] = O::load(qb[j] + b * BB + c * 64);
        for (std::int64_t m = 0; m < MR; ++m) {
          const V xv = O::bcast(xq[m] + c * 4);
          for (std::int64_t j = 0; j < NU; ++j) ia[m][j] = O::dot8(ia[m][j], wv[j], xv);
        }
      }
    } else {
      for (std::int64_t c = 0; c < 4; ++c) {
        V wl[NU], wh[NU];
        for (std::int64_t j = 0; j < NU; ++j) {
          const V raw = O::load(qb[j] + b * BB + c * 64);
          wl[j] = O::lo(raw);
          wh[j] = O::hi(raw);
          if constexpr (LUT) {
            wl[j] = O::lut(table, wl[j]);
            wh[j] = O::lut(table, wh[j]);
          }
        }
        for (std::int64_t m = 0; m < MR; ++m) {
          const V xl = O::bcast(xq[m] + c * 4), xh = O::bcast(xq[m] + (c + 4) * 4);
          for (std::int64_t j = 0; j < NU; ++j) ia[m][j] = O::dot4(O::dot4(ia[m][j], wl[j], xl), wh[j], xh);
        }
      }
    }
    for (std::int64_t j = 0; j < NU; ++j) {
      const F dv = O::fload(db[j] + g * kernels::kPanel);
      F mv{};
      if constexpr (ASYM) mv = O::fload(mb[j] + g * kernels::kPanel);
      for (std::int64_t m = 0; m < MR; ++m) {
        const std::int64_t xi = (t0 + m) * nb + b;
        F blk;
        if constexpr (ASYM) blk = O::fma(O::cvt(ia[m][j]), dv, O::fmul(mv, O::fset1(float(x.s[xi]))));
        else blk = O::fmul(O::cvt(ia[m][j]), dv);
        acc[m][j] = O::fma(blk, O::fset1(x.d[xi]), acc[m][j]);
      }
    }
  }
  for (std::int64_t m = 0; m < MR; ++m) {
    float* yr = y + (t0 + m) * ldy + u0 * L;
    if (ncols == NU * L) {
      for (std::int64_t j = 0; j < NU; ++j) O::fstore(yr + j * L, acc[m][j]);
    } else {
      alignas(64) float tmp[NU * L];
      for (std::int64_t j = 0; j < NU; ++j) O::fstore(tmp + j * L, acc[m][j]);
      for (std::int64_t c = 0; c < ncols; ++c) yr[c] = tmp[c];
    }
  }
}

template <class O, bool Q4, bool ASYM, bool LUT>
void qgemm_simd(const kernels::QuantActsView& x, const kernels::QuantWeightsView& w, std::int64_t p0, std::int64_t p1,
                float* y, std::int64_t ldy) {
  constexpr std::int64_t L = O::L, U = kernels::kPanel / L;
  constexpr std::int64_t MR = L == 16 ? 4 : 2, NU = L == 4 ? 1 : 2, NU_GEMV = L == 4 ? 2 : 4;
  const std::int64_t u1 = p1 * U;
  auto cols = [&](std::int64_t u, std::int64_t nu) {
    const std::int64_t c = w.N - u * L;
    return c < nu * L ? c : nu * L;
  };
  auto valid = [&](std::int64_t u) { return u * L < w.N; };  // a half-panel past N holds only padding
  if (x.T == 1) {
    std::int64_t u = p0 * U;
    for (; u + NU_GEMV <= u1 && valid(u + NU_GEMV - 1); u += NU_GEMV)
      qtile<O, Q4, ASYM, LUT, 1, NU_GEMV>(x, 0, w, u, y, ldy, cols(u, NU_GEMV));
    for (; u < u1 && valid(u); ++u) qtile<O, Q4, ASYM, LUT, 1, 1>(x, 0, w, u, y, ldy, cols(u, 1));
    return;
  }
  std::int64_t u = p0 * U;
  for (; u + NU <= u1 && valid(u + NU - 1); u += NU) {
    std::int64_t t = 0;
    for (; t + MR <= x.T; t += MR) qtile<O, Q4, ASYM, LUT, MR, NU>(x, t, w, u, y, ldy, cols(u, NU));
    for (; t < x.T; ++t) qtile<O, Q4, ASYM, LUT, 1, NU>(x, t, w, u, y, ldy, cols(u, NU));
  }
  for (; u < u1 && valid(u); ++u) {
    std::int64_t t = 0;
    for (; t + MR <= x.T; t += MR) qtile<O, Q4, ASYM, LUT, MR, 1>(x, t, w, u, y, ldy, cols(u, 1));
    for (; t < x.T; ++t) qtile<O, Q4, ASYM, LUT, 1, 1>(x, t, w, u, y, ldy, cols(u, 1));
  }
}

// Scalar integer kernel for targets without byte multiply-adds.
template <class A, bool Q4>
void qgemm_scalar(const kernels::QuantActsView& x, const kernels::QuantWeightsView& w, std::int64_t p0, std::int64_t p1,
                  float* y, std::int64_t ldy) {
  constexpr std::int64_t P = kernels::kPanel, Q = kernels::kQBlock, BB = Q4 ? 256 : 512;
  const std::int64_t K = w.K, nb = K / Q, ng = K / w.group, bpg = w.group / Q;
  for (std::int64_t p = p0; p < p1; ++p)
    for (std::int64_t r = 0; r < P && p * P + r < w.N; ++r)
      for (std::int64_t t = 0; t < x.T; ++t) {
        float acc = 0.0f;
        for (std::int64_t b = 0; b < nb; ++b) {
          const std::uint8_t* blk = w.q + (p * nb + b) * BB;
          const std::int8_t* xq = x.q + t * K + b * Q;
          std::int32_t isum = 0;
          for (std::int64_t i = 0; i < Q; ++i) {
            const std::int64_t c = i / 4, j = i % 4;
            std::int32_t u;
            if constexpr (Q4) {
              const std::uint8_t byte = blk[(c % 4) * 64 + r * 4 + j];
              u = c < 4 ? (byte & 0x0F) : (byte >> 4);
              if (w.lut) u = w.lut[u];
            } else {
              u = blk[c * 64 + r * 4 + j];
            }
            isum += u * std::int32_t(xq[i]);
          }
          const std::int64_t g = b / bpg, xi = t * nb + b;
          const float dv = w.d[(p * ng + g) * P + r];
          const float blkv = w.m ? dv * float(isum) + w.m[(p * ng + g) * P + r] * float(x.s[xi])
                                 : dv * float(isum - w.zero * x.s[xi]);
          acc += x.d[xi] * blkv;
        }
        y[t * ldy + p * P + r] = acc;
      }
}

template <class O, bool Q4>
void qgemm_pick(const kernels::QuantActsView& x, const kernels::QuantWeightsView& w, std::int64_t p0, std::int64_t p1,
                float* y, std::int64_t ldy) {
  if constexpr (!Q4) qgemm_simd<O, false, false, false>(x, w, p0, p1, y, ldy);
  else if (w.m) qgemm_simd<O, true, true, false>(x, w, p0, p1, y, ldy);
  else if (w.lut) qgemm_simd<O, true, false, true>(x, w, p0, p1, y, ldy);
  else qgemm_simd<O, true, false, false>(x, w, p0, p1, y, ldy);
}

template <class A>
void fill_quant_kernels(kernels::KernelTable& t) {
  t.quantize_acts = &quantize_acts<A>;
  if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512BW
    t.gemm_q8 = &qgemm_pick<QOps512<A>, false>;
    t.gemm_q4 = &qgemm_pick<QOps512<A>, true>;
#endif
  } else if constexpr (is_fma_avx2<A>) {
#if XSIMD_WITH_FMA3_AVX2
    t.gemm_q8 = &qgemm_pick<QOps256<A>, false>;
    t.gemm_q4 = &qgemm_pick<QOps256<A>, true>;
#endif
  } else if constexpr (std::is_base_of_v<xsimd::sse4_2, A>) {
#if XSIMD_WITH_SSE4_2
    t.gemm_q8 = &qgemm_pick<QOps128<A>, false>;
    t.gemm_q4 = &qgemm_pick<QOps128<A>, true>;
#endif
  } else {
    t.gemm_q8 = &qgemm_scalar<A, false>;
    t.gemm_q4 = &qgemm_scalar<A, true>;
  }
}

}  // namespace strata::simd
