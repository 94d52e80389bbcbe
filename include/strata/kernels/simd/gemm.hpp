// SIMD projections: y = x · Wᵀ with W packed in panels of 16 output rows
// (layout in kernels/kernel_table.hpp), f32 / bf16 / f16 weights, f32 math.
//
// One register-blocked micro-kernel serves decode and prefill: it keeps an
// MR tokens × NP panels tile of outputs in registers and, for each k, loads
// NP·16 weights (widened in registers for 16-bit types) and broadcasts MR
// inputs, doing MR·NP·16 multiply-adds. The weights stream from memory once
// per block of MR tokens, so prefill reuses each loaded weight MR times;
// decode (T = 1) uses MR = 1 with four panels in flight to keep four
// independent accumulator chains.
//
//   target   vector  MR×NP (prefill)  accumulators
//   avx512   16       6×4             24 zmm
//   avx2      8       6×1             12 ymm
//   sse       4       2×1              8 xmm
#pragma once

#include <cstdint>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"

namespace strata::simd {

template <class A>
struct GemmShape {
  static constexpr std::int64_t V = std::int64_t(vfloat<A>::size);
  static constexpr std::int64_t NV = kernels::kPanel / V;  // vectors per panel row
  static constexpr std::int64_t MR = is_avx512<A> ? 6 : (is_avx2<A> ? 6 : 2);
  static constexpr std::int64_t NP = is_avx512<A> ? 4 : 1;
  static constexpr std::int64_t NP_GEMV = is_avx512<A> ? 4 : 2;
};

// acc[m][j] for m < MR rows of x and j < NP·NV vectors of output columns:
// y[m][c] = Σ_k x[m][k] · B(k, c), k in order, one fused multiply-add each.
// x: MR rows of K floats (row stride ldx). B is read in groups of 16
// columns: column 16·p + r of row k at b[p·pstride + k·kstride + r] (packed
// weights: kstride 16, pstride K·16; a row-major matrix: kstride its row
// stride, pstride 16). Writes the tile to y (row stride ldy), columns
// [0, ncols) of the NP·16. With y_scale, the tile accumulates:
// y[m] = y_scale[m] · y[m] + Σ_k ... (the running output of attention).
template <class A, std::int64_t MR, std::int64_t NP, class W>
inline void gemm_tile(const float* x, std::int64_t ldx, std::int64_t K, const W* b, std::int64_t kstride,
                      std::int64_t pstride, float* y, std::int64_t ldy, std::int64_t ncols,
                      const float* y_scale = nullptr) {
  using B = vfloat<A>;
  constexpr std::int64_t V = GemmShape<A>::V, NV = GemmShape<A>::NV, NJ = NP * NV;
  B acc[MR][NJ];
  const bool full = ncols == NJ * V;
  alignas(64) float tmp[NJ * V];
  for (std::int64_t m = 0; m < MR; ++m) {
    if (!y_scale) {
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j] = B(0.0f);
    } else {
      const B s(y_scale[m]);
      const float* ym = y + m * ldy;
      if (!full) {
        for (std::int64_t c = 0; c < NJ * V; ++c) tmp[c] = c < ncols ? ym[c] : 0.0f;
        ym = tmp;
      }
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j] = B::load_unaligned(ym + j * V) * s;
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    B w[NJ];
    for (std::int64_t p = 0; p < NP; ++p)
      for (std::int64_t v = 0; v < NV; ++v) w[p * NV + v] = load_widen<A>(b + p * pstride + k * kstride + v * V);
    for (std::int64_t m = 0; m < MR; ++m) {
      const B xb(x[m * ldx + k]);
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j] = fmadd<A>(xb, w[j], acc[m][j]);
    }
  }
  if (full) {
    for (std::int64_t m = 0; m < MR; ++m)
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j].store_unaligned(y + m * ldy + j * V);
  } else {  // the last panel of a matrix whose row count is not a multiple of 16
    for (std::int64_t m = 0; m < MR; ++m) {
      for (std::int64_t j = 0; j < NJ; ++j) acc[m][j].store_aligned(tmp + j * V);
      for (std::int64_t c = 0; c < ncols; ++c) y[m * ldy + c] = tmp[c];
    }
  }
}

// One tile of `rows` < R + 1 rows (the tail of gemm_rows): the tile shape
// is picked at run time among R, R - 1, ..., 1 rows.
template <class A, std::int64_t R, std::int64_t NP, class W>
inline void gemm_tail(std::int64_t rows, const float* x, std::int64_t ldx, std::int64_t K, const W* b,
                      std::int64_t kstride, std::int64_t pstride, float* y, std::int64_t ldy, std::int64_t ncols,
                      const float* y_scale) {
  if constexpr (R >= 1) {
    if (rows == R) gemm_tile<A, R, NP, W>(x, ldx, K, b, kstride, pstride, y, ldy, ncols, y_scale);
    else gemm_tail<A, R - 1, NP, W>(rows, x, ldx, K, b, kstride, pstride, y, ldy, ncols, y_scale);
  }
}

// Rows [0, T) of x (row stride ldx) in tiles of MR; a tail of r < MR rows
// is one tile of r rows, so the B operand streams once more, not once per
// row. B, y, ncols, y_scale as gemm_tile.
template <class A, std::int64_t MR, std::int64_t NP, class W>
inline void gemm_rows(const float* x, std::int64_t ldx, std::int64_t T, std::int64_t K, const W* b,
                      std::int64_t kstride, std::int64_t pstride, float* y, std::int64_t ldy, std::int64_t ncols,
                      const float* y_scale = nullptr) {
  std::int64_t t = 0;
  for (; t + MR <= T; t += MR)
    gemm_tile<A, MR, NP, W>(x + t * ldx, ldx, K, b, kstride, pstride, y + t * ldy, ldy, ncols,
                            y_scale ? y_scale + t : nullptr);
  if (t < T)
    gemm_tail<A, MR - 1, NP, W>(T - t, x + t * ldx, ldx, K, b, kstride, pstride, y + t * ldy, ldy, ncols,
                                y_scale ? y_scale + t : nullptr);
}

template <class A, class W>
void gemm_packed(const float* x, std::int64_t T, std::int64_t K, const W* panels, std::int64_t N, std::int64_t p0,
                 std::int64_t p1, float* y, std::int64_t ldy) {
  using S = GemmShape<A>;
  constexpr std::int64_t P = kernels::kPanel;
  auto cols = [&](std::int64_t p, std::int64_t np) {
    const std::int64_t c = N - p * P;
    return c < np * P ? c : np * P;
  };
  const std::int64_t ps = K * P;  // packed: column group p at p·K·16, row k at k·16
  std::int64_t p = p0;
  if (T == 1) {  // decode: several panels per pass, one token
    for (; p + S::NP_GEMV <= p1; p += S::NP_GEMV)
      gemm_tile<A, 1, S::NP_GEMV, W>(x, K, K, panels + p * ps, P, ps, y + p * P, ldy, cols(p, S::NP_GEMV));
    for (; p < p1; ++p) gemm_tile<A, 1, 1, W>(x, K, K, panels + p * ps, P, ps, y + p * P, ldy, cols(p, 1));
    return;
  }
  for (; p + S::NP <= p1; p += S::NP)
    gemm_rows<A, S::MR, S::NP, W>(x, K, T, K, panels + p * ps, P, ps, y + p * P, ldy, cols(p, S::NP));
  for (; p < p1; ++p) gemm_rows<A, S::MR, 1, W>(x, K, T, K, panels + p * ps, P, ps, y + p * P, ldy, cols(p, 1));
}

// Row-major W [N, K]: one dot product per output, four rows at a time so four
// accumulator chains run in parallel; x rows are reused from L1.
template <class A, class W>
void gemv_rows(const float* x, std::int64_t T, std::int64_t K, const W* w, std::int64_t n0, std::int64_t n1, float* y,
               std::int64_t ldy) {
  using B = vfloat<A>;
  constexpr std::int64_t V = std::int64_t(B::size);
  const std::int64_t kv = K / V * V;
  for (std::int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * K;
    std::int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
      const W* r0 = w + n * K;
      B a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
      for (std::int64_t k = 0; k < kv; k += V) {
        const B xv = B::load_unaligned(xt + k);
        a0 = fmadd<A>(xv, load_widen<A>(r0 + k), a0);
        a1 = fmadd<A>(xv, load_widen<A>(r0 + K + k), a1);
        a2 = fmadd<A>(xv, load_widen<A>(r0 + 2 * K + k), a2);
        a3 = fmadd<A>(xv, load_widen<A>(r0 + 3 * K + k), a3);
      }
      float s[4] = {hsum<A>(a0), hsum<A>(a1), hsum<A>(a2), hsum<A>(a3)};
      for (std::int64_t k = kv; k < K; ++k)
        for (int r = 0; r < 4; ++r) s[r] += xt[k] * widen_scalar<A>(r0[r * K + k]);
      for (int r = 0; r < 4; ++r) y[t * ldy + n + r] = s[r];
    }
    for (; n < n1; ++n) {
      const W* r = w + n * K;
      B a(0.0f);
      for (std::int64_t k = 0; k < kv; k += V) a = fmadd<A>(B::load_unaligned(xt + k), load_widen<A>(r + k), a);
      float s = hsum<A>(a);
      for (std::int64_t k = kv; k < K; ++k) s += xt[k] * widen_scalar<A>(r[k]);
      y[t * ldy + n] = s;
    }
  }
}

template <class A>
void fill_gemm_kernels(kernels::KernelTable& t) {
  t.gemm_f32 = &gemm_packed<A, float>;
  t.gemm_bf16 = &gemm_packed<A, bf16>;
  t.gemm_f16 = &gemm_packed<A, f16>;
  t.gemv_rows_f32 = &gemv_rows<A, float>;
  t.gemv_rows_bf16 = &gemv_rows<A, bf16>;
  t.gemv_rows_f16 = &gemv_rows<A, f16>;
}

}  // namespace strata::simd
