// bf16 dot-product projections, templated on the xsimd architecture A: y =
// x · Wᵀ with W and x both in bfloat16, products summed in f32 (the contract
// is KernelTable::gemm_bf16_dot; the layout is kernels/gemm_bf16_dot.hpp's
// PackedPairs: panels of 16 output rows, each row's inputs in adjacent pairs).
//
// With AVX512_BF16, one vdpbf16ps multiplies 16 rows × 2 inputs and adds
// both products to 16 f32 accumulators: twice the multiply-adds of an f32 FMA
// per instruction. The register tile is the f32 GEMM's (MR tokens × NP
// panels; kernels/simd/gemm.hpp), stepping over pairs of inputs: one 64-byte
// load per panel, one 32-bit broadcast (an input pair) per token. Elsewhere
// the same arithmetic is emulated (each pair widened to f32 and added with
// two FMAs, odd input first, as the instruction does), so every target runs
// the same kernel and the tests cover it on CPUs without the instruction.
#pragma once

#include <cstdint>
#include <cstring>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"
#include "strata/kernels/simd/gemm.hpp"

namespace strata::simd {

template <class A>
inline constexpr bool kNativeBF16Dot = is_avx512<A> &&
#if defined(__AVX512BF16__)
                                       true;
#else
                                       false;
#endif

namespace bf16_dot_detail {

constexpr std::int64_t kPanel = kernels::kPanel;
constexpr std::int64_t kPairPanel = 2 * kPanel;  // bf16 values per panel per input pair

// acc[m][j]: MR tokens × NP panels of 16 outputs. x: MR rows of 2·K2 bf16
// (row stride ldx values), b: NP panels pstride values apart, each [K2][16][2].
template <class A, std::int64_t MR, std::int64_t NP>
inline void tile(const bf16* x, std::int64_t ldx, std::int64_t K2, const bf16* b, std::int64_t pstride, float* y,
                 std::int64_t ldy, std::int64_t ncols) {
  alignas(64) float out[MR][NP * kPanel];
  if constexpr (kNativeBF16Dot<A>) {
#if defined(__AVX512BF16__)
    __m512 acc[MR][NP];
    for (std::int64_t m = 0; m < MR; ++m)
      for (std::int64_t p = 0; p < NP; ++p) acc[m][p] = _mm512_setzero_ps();
    for (std::int64_t kk = 0; kk < K2; ++kk) {
      __m512i w[NP];
      for (std::int64_t p = 0; p < NP; ++p) w[p] = _mm512_loadu_si512(b + p * pstride + kk * kPairPanel);
      for (std::int64_t m = 0; m < MR; ++m) {
        std::int32_t pair;
        std::memcpy(&pair, x + m * ldx + 2 * kk, sizeof(pair));
        const __m512i xb = _mm512_set1_epi32(pair);
        for (std::int64_t p = 0; p < NP; ++p) acc[m][p] = _mm512_dpbf16_ps(acc[m][p], (__m512bh)xb, (__m512bh)w[p]);
      }
    }
    for (std::int64_t m = 0; m < MR; ++m)
      for (std::int64_t p = 0; p < NP; ++p) _mm512_store_ps(out[m] + p * kPanel, acc[m][p]);
#endif
  } else {
    using B = vfloat<A>;
    using U = xsimd::batch<std::uint32_t, A>;
    constexpr std::int64_t V = std::int64_t(B::size), NV = kPanel / V, NJ = NP * NV;
    B acc[MR][NJ];
    for (std::int64_t m = 0; m < MR; ++m)
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j] = B(0.0f);
    const U hi_mask(0xFFFF0000u);
    for (std::int64_t kk = 0; kk < K2; ++kk) {
      B even[NJ], odd[NJ];  // 16 rows' weights for input 2kk and 2kk + 1
      for (std::int64_t p = 0; p < NP; ++p)
        for (std::int64_t v = 0; v < NV; ++v) {
          const U u = U::load_unaligned(
              reinterpret_cast<const std::uint32_t*>(b + p * pstride + kk * kPairPanel + v * 2 * V));
          even[p * NV + v] = xsimd::bitwise_cast<B>(U(u << 16));
          odd[p * NV + v] = xsimd::bitwise_cast<B>(U(u & hi_mask));
        }
      for (std::int64_t m = 0; m < MR; ++m) {
        const B xe(widen_scalar<A>(x[m * ldx + 2 * kk])), xo(widen_scalar<A>(x[m * ldx + 2 * kk + 1]));
        for (std::int64_t j = 0; j < NJ; ++j) acc[m][j] = fmadd<A>(xe, even[j], fmadd<A>(xo, odd[j], acc[m][j]));
      }
    }
    for (std::int64_t m = 0; m < MR; ++m)
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j].store_aligned(out[m] + j * V);
  }
  for (std::int64_t m = 0; m < MR; ++m)
    for (std::int64_t c = 0; c < ncols; ++c) y[m * ldy + c] = out[m][c];
}

template <class A, std::int64_t R, std::int64_t NP>
inline void tail(std::int64_t rows, const bf16* x, std::int64_t ldx, std::int64_t K2, const bf16* b,
                 std::int64_t pstride, float* y, std::int64_t ldy, std::int64_t ncols) {
  if constexpr (R >= 1) {
    if (rows == R) tile<A, R, NP>(x, ldx, K2, b, pstride, y, ldy, ncols);
    else tail<A, R - 1, NP>(rows, x, ldx, K2, b, pstride, y, ldy, ncols);
  }
}

template <class A, std::int64_t MR, std::int64_t NP>
inline void rows(const bf16* x, std::int64_t ldx, std::int64_t T, std::int64_t K2, const bf16* b,
                 std::int64_t pstride, float* y, std::int64_t ldy, std::int64_t ncols) {
  std::int64_t t = 0;
  for (; t + MR <= T; t += MR) tile<A, MR, NP>(x + t * ldx, ldx, K2, b, pstride, y + t * ldy, ldy, ncols);
  if (t < T) tail<A, MR - 1, NP>(T - t, x + t * ldx, ldx, K2, b, pstride, y + t * ldy, ldy, ncols);
}

// KernelTable::gemm_bf16_dot: panels [p0, p1) of a PackedPairs matrix.
template <class A>
void gemm_bf16_dot(const bf16* x, std::int64_t T, std::int64_t K, const bf16* panels, std::int64_t N,
                   std::int64_t p0, std::int64_t p1, float* y, std::int64_t ldy) {
  using S = GemmShape<A>;
  const std::int64_t K2 = (K + 1) / 2, ldx = 2 * K2, ps = K2 * kPairPanel;
  auto cols = [&](std::int64_t p, std::int64_t np) {
    const std::int64_t c = N - p * kPanel;
    return c < np * kPanel ? c : np * kPanel;
  };
  constexpr std::int64_t MR = kNativeBF16Dot<A> ? 6 : S::MR, NP = kNativeBF16Dot<A> ? 4 : S::NP;
  std::int64_t p = p0;
  if (T == 1) {
    for (; p + S::NP_GEMV <= p1; p += S::NP_GEMV)
      tile<A, 1, S::NP_GEMV>(x, ldx, K2, panels + p * ps, ps, y + p * kPanel, ldy, cols(p, S::NP_GEMV));
    for (; p < p1; ++p) tile<A, 1, 1>(x, ldx, K2, panels + p * ps, ps, y + p * kPanel, ldy, cols(p, 1));
    return;
  }
  for (; p + NP <= p1; p += NP) rows<A, MR, NP>(x, ldx, T, K2, panels + p * ps, ps, y + p * kPanel, ldy, cols(p, NP));
  for (; p < p1; ++p) rows<A, MR, 1>(x, ldx, T, K2, panels + p * ps, ps, y + p * kPanel, ldy, cols(p, 1));
}

// KernelTable::to_bf16: x [T, K] → rows of 2·⌈K/2⌉ bf16, rounded to nearest
// even (NaN stays NaN), a zero after an odd K.
template <class A>
void to_bf16(const float* x, std::int64_t T, std::int64_t K, bf16* out) {
  using B = vfloat<A>;
  using U = xsimd::batch<std::uint32_t, A>;
  constexpr std::int64_t V = std::int64_t(U::size);
  const std::int64_t ld = 2 * ((K + 1) / 2);
  for (std::int64_t t = 0; t < T; ++t) {
    const float* src = x + t * K;
    bf16* dst = out + t * ld;
    std::int64_t k = 0;
    alignas(64) std::uint32_t r[V];
    for (; k + V <= K; k += V) {
      const B f = B::load_unaligned(src + k);
      const U u = xsimd::bitwise_cast<U>(f);
      const U rounded = (u + U(0x7FFFu) + ((u >> 16) & U(1u))) >> 16;
      const U quiet = (u >> 16) | U(0x40u);  // NaN: keep the sign and payload's top bits, quiet
      // The blend on float lanes: xsimd 8.1's select on uint32 AVX-512 batches does not compile at -O0.
      const B picked = xsimd::select(xsimd::isnan(f), xsimd::bitwise_cast<B>(quiet), xsimd::bitwise_cast<B>(rounded));
      xsimd::bitwise_cast<U>(picked).store_aligned(r);
      for (std::int64_t i = 0; i < V; ++i) dst[k + i].bits = std::uint16_t(r[i]);
    }
    for (; k < K; ++k) {
      std::uint32_t u;
      std::memcpy(&u, src + k, 4);
      dst[k].bits = (u & 0x7FFFFFFFu) > 0x7F800000u ? std::uint16_t((u >> 16) | 0x40u)
                                                    : std::uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }
    if (ld > K) dst[K].bits = 0;
  }
}

}  // namespace bf16_dot_detail

template <class A>
void fill_bf16_dot_kernels(kernels::KernelTable& t) {
  t.bf16_dot_native = kNativeBF16Dot<A>;
  t.gemm_bf16_dot = &bf16_dot_detail::gemm_bf16_dot<A>;
  t.to_bf16 = &bf16_dot_detail::to_bf16<A>;
}

}  // namespace strata::simd
