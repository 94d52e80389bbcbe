// Helpers shared by the SIMD kernels, templated on the xsimd architecture A.
// Everything in kernels/simd/ is a template on A (so a translation unit built
// for one target emits only symbols of that target; see cmake/StrataDispatch)
// and uses no non-template inline function of the standard library.
//
// xsimd 8.1 gaps filled here with per-architecture overloads:
//   - fmadd: xsimd's avx512f fma is the generic x*y+z (fused by GCC's default
//     -ffp-contract=fast, but not by clang), so AVX-512 calls the intrinsic;
//   - load_widen: 16-bit floats (bf16, f16) to a float batch in registers.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "strata/core/dtype.hpp"

namespace strata::simd {

template <class A>
using vfloat = xsimd::batch<float, A>;

#if defined(__F16C__)
inline constexpr bool kHaveF16C = true;  // every AVX2 CPU we target has F16C; the build says so with -mf16c
#else
inline constexpr bool kHaveF16C = false;
#endif

// ---- which family an architecture belongs to (arch structs are declared
// whatever the flags; the intrinsics below are only reached where enabled) ----
template <class A>
inline constexpr bool is_avx512 = std::is_base_of_v<xsimd::avx512f, A>;
template <class A>
inline constexpr bool is_avx2 = std::is_base_of_v<xsimd::avx2, A>;
template <class A>
inline constexpr bool is_fma_avx2 = std::is_base_of_v<xsimd::fma3<xsimd::avx2>, A>;
// SSE2 and its successors up to SSE4.2, whose batches hold 4 floats (AVX
// archs also derive from sse2 in xsimd, hence the width test).
template <class A>
inline constexpr bool is_sse2_4wide = std::is_base_of_v<xsimd::sse2, A> && xsimd::batch<float, A>::size == 4;

template <class A>
constexpr const char* target_name() {
  if constexpr (is_avx512<A>) return "avx512";
  else if constexpr (is_fma_avx2<A>) return "avx2";
  else if constexpr (std::is_base_of_v<xsimd::sse4_2, A>) return "sse4.2";
  else if constexpr (std::is_base_of_v<xsimd::sse2, A>) return "sse2";
  else return "generic";
}

// ---- fused multiply-add: a*b + c ----
template <class A>
inline vfloat<A> fmadd(const vfloat<A>& a, const vfloat<A>& b, const vfloat<A>& c) {
  if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512F
    return vfloat<A>(_mm512_fmadd_ps(a, b, c));
#endif
  } else if constexpr (is_fma_avx2<A>) {
#if XSIMD_WITH_FMA3_AVX2
    return vfloat<A>(_mm256_fmadd_ps(a, b, c));
#endif
  } else {
    return a * b + c;  // targets without FMA: two roundings
  }
}

template <class A>
inline float hsum(const vfloat<A>& v) {
  return xsimd::hadd(v);
}

// Scalar widening written as templates on A, so a per-target translation
// unit never emits an ordinary inline function (see the note at the top).
template <class A>
inline float widen_scalar(bf16 h) {
  std::uint32_t b = std::uint32_t(h.bits) << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
template <class A>
inline float widen_scalar(f16 h) {
  const std::uint32_t sign = std::uint32_t(h.bits & 0x8000u) << 16;
  const std::uint32_t exp = (h.bits >> 10) & 0x1fu;
  std::uint32_t mant = h.bits & 0x3ffu, b;
  if (exp == 0x1f) {
    b = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    b = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    b = sign;
  } else {  // subnormal: normalise the mantissa
    std::uint32_t e = 0;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      ++e;
    }
    b = sign | ((113u - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
template <class A>
inline float widen_scalar(float x) {
  return x;
}

// ---- 16-bit float loads, widened to one float batch ----
// Fallback for targets without a conversion instruction sequence.
template <class A, class H>
inline vfloat<A> load_widen_scalar(const H* p) {
  alignas(64) float tmp[vfloat<A>::size];
  for (std::size_t i = 0; i < vfloat<A>::size; ++i) tmp[i] = widen_scalar<A>(p[i]);
  return vfloat<A>::load_aligned(tmp);
}

// bf16 → f32 is exact: the 16 bits become the high half of the float.
template <class A>
inline vfloat<A> load_widen(const bf16* p) {
  if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512F
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return vfloat<A>(_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
#endif
  } else if constexpr (is_avx2<A>) {
#if XSIMD_WITH_AVX2
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return vfloat<A>(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
#endif
  } else if constexpr (is_sse2_4wide<A>) {
#if XSIMD_WITH_SSE2
    // Interleaving zeros below each value puts it in the high half of a lane.
    const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    return vfloat<A>(_mm_castsi128_ps(_mm_unpacklo_epi16(_mm_setzero_si128(), h)));
#endif
  } else {
    return load_widen_scalar<A>(p);
  }
}

// f16 → f32 is exact; AVX-512 and F16C convert in hardware. SSE2 moves the
// exponent and mantissa into float position and multiplies by 2^112, which
// rebiases normals and normalises subnormals exactly; inf/NaN get the float
// all-ones exponent.
template <class A>
inline vfloat<A> load_widen(const f16* p) {
  if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512F
    return vfloat<A>(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#endif
  } else if constexpr (is_avx2<A> && kHaveF16C) {
#if XSIMD_WITH_AVX2 && defined(__F16C__)
    return vfloat<A>(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#endif
  } else if constexpr (is_sse2_4wide<A>) {
#if XSIMD_WITH_SSE2
    const __m128i h = _mm_unpacklo_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_setzero_si128());
    const __m128i sign = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16);
    const __m128i em = _mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13);
    const __m128 scaled = _mm_mul_ps(_mm_castsi128_ps(em), _mm_castsi128_ps(_mm_set1_epi32(0x77800000)));  // 2^112
    const __m128i is_special = _mm_cmpeq_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7c00)), _mm_set1_epi32(0x7c00));
    const __m128i special = _mm_or_si128(em, _mm_set1_epi32(0x7f800000));  // inf, NaN (payload kept)
    const __m128i bits = _mm_or_si128(_mm_andnot_si128(is_special, _mm_castps_si128(scaled)), _mm_and_si128(is_special, special));
    return vfloat<A>(_mm_castsi128_ps(_mm_or_si128(bits, sign)));
#endif
  } else {
    return load_widen_scalar<A>(p);
  }
}

template <class A>
inline vfloat<A> load_widen(const float* p) {
  return vfloat<A>::load_unaligned(p);
}

}  // namespace strata::simd
