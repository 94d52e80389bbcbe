// Unmasked attention (encoders) as matrix work, templated on the xsimd
// architecture A; the contract is KernelTable::attention_gemm.
//
// For one head of one sequence: the keys are packed once into panels of 16
// keys ([panel][head_dim][16], the layout of packed weights), so the scores
// of a block of queries are a GEMM, S = Q·Kᵀ, on the same register-blocked
// micro-kernel as the projections (kernels/simd/gemm.hpp), with no
// horizontal sums. Each score row then goes through a softmax carrying the
// running max m and sum l across key blocks (FlashAttention-2's online
// softmax, Dao 2023), and the unnormalised probabilities multiply V in a
// second GEMM, O = α·O + P·V, where V's rows are read in place (a row-major
// matrix is a B operand with row stride v_stride and 16-column groups 16
// floats apart). Scores are kept raw and scaled inside the exponent:
// exp((s - m)·scale), the same as softmax(s·scale) for scale > 0.
#pragma once

#include <cstdint>
#include <limits>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"
#include "strata/kernels/simd/gemm.hpp"

namespace strata::simd {

namespace attention_gemm_detail {

inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

#if XSIMD_WITH_AVX512F
// dst[d][r] = src[r][d] for a 16 × 16 block (src rows ss floats apart, dst
// rows 16): unpack pairs, then quads, then 128-bit lanes, then halves.
template <class A>
inline void transpose16(const float* src, std::int64_t ss, float* dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ss);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * 16, r[i]);  // r[i] is column i of src
}
#endif

// Kp[p][d][r] = K[16p + r][d] for keys < n; the lanes of keys past n are 0.
template <class A>
void pack_keys(const float* K, std::int64_t ks, std::int64_t n, std::int64_t hd, float* Kp) {
  constexpr std::int64_t P = kernels::kPanel;
  for (std::int64_t p = 0; p * P < n; ++p) {
    float* dst = Kp + p * hd * P;
    if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512F
      if ((p + 1) * P <= n && hd % P == 0) {  // whole 16 × 16 blocks
        for (std::int64_t d = 0; d < hd; d += P) transpose16<A>(K + p * P * ks + d, ks, dst + d * P);
        continue;
      }
#endif
    }
    for (std::int64_t r = 0; r < P; ++r) {
      const std::int64_t key = p * P + r;
      if (key < n) {
        const float* src = K + key * ks;
        for (std::int64_t d = 0; d < hd; ++d) dst[d * P + r] = src[d];
      } else {
        for (std::int64_t d = 0; d < hd; ++d) dst[d * P + r] = 0.0f;
      }
    }
  }
}

// One row of raw scores s[0, nk) (ncols ≥ nk, a multiple of the vector
// width; the lanes past nk are overwritten): folds the row into its running
// (m, l), leaves exp((s - m_new)·scale) in s (0 past nk) and returns
// exp((m_old - m_new)·scale), the factor the row's output must be scaled by.
template <class A>
float softmax_row(float* s, std::int64_t nk, std::int64_t ncols, float scale, float& m, float& l) {
  using V = vfloat<A>;
  constexpr std::int64_t N = std::int64_t(V::size);
  for (std::int64_t c = nk; c < ncols; ++c) s[c] = kNegInf;
  V vmax(kNegInf);
  for (std::int64_t c = 0; c < ncols; c += N) vmax = xsimd::max(vmax, V::load_unaligned(s + c));
  alignas(64) float lanes[N];
  vmax.store_aligned(lanes);
  float tmax = lanes[0];
  for (std::int64_t i = 1; i < N; ++i) tmax = lanes[i] > tmax ? lanes[i] : tmax;
  const float m_new = m > tmax ? m : tmax;
  const V vm(m_new), vs(scale);
  V sum(0.0f);
  for (std::int64_t c = 0; c < ncols; c += N) {
    const V p = xsimd::exp((V::load_unaligned(s + c) - vm) * vs);  // past nk: exp(-inf) = 0
    p.store_unaligned(s + c);
    sum += p;
  }
  float alpha = 0.0f;  // the first block: no earlier output to scale
  if (m != kNegInf) {
    xsimd::exp(V((m - m_new) * scale)).store_aligned(lanes);
    alpha = lanes[0];
  }
  l = l * alpha + hsum<A>(sum);
  m = m_new;
  return alpha;
}

// S[r][c] += bias[c] / scale for the first nk columns of `rows` rows: the
// scores stay unscaled until the softmax's exponent, so a bias on the scaled
// score is divided by the scale here.
template <class A>
void add_key_bias(float* S, std::int64_t ld, std::int64_t rows, std::int64_t nk, const float* bias, float inv_scale) {
  using V = xsimd::batch<float, A>;
  constexpr std::int64_t N = std::int64_t(V::size);
  const V vi(inv_scale);
  for (std::int64_t r = 0; r < rows; ++r) {
    float* s = S + r * ld;
    std::int64_t c = 0;
    for (; c + N <= nk; c += N) (V::load_unaligned(s + c) + V::load_unaligned(bias + c) * vi).store_unaligned(s + c);
    for (; c < nk; ++c) s[c] += bias[c] * inv_scale;
  }
}

// O[r][d0, d0 + 16·G) (+)= Σ_c P[r][c] · V[c][d0 ...] for `rows` rows: the
// head dimension in groups of 16 columns, each call of the micro-kernel as
// wide as its registers allow. alpha null: O is overwritten (first block).
template <class A>
void pv_groups(const float* Pm, std::int64_t ldp, std::int64_t rows, std::int64_t nk, const float* Vm,
               std::int64_t vs, std::int64_t G, float* O, std::int64_t os, const float* alpha) {
  constexpr std::int64_t P = kernels::kPanel;
  std::int64_t g = 0;
  if constexpr (is_avx512<A>) {  // 24 accumulators: 6 rows × 64 columns, or 12 rows × 32 / 16
    for (; g + 4 <= G; g += 4) gemm_rows<A, 6, 4, float>(Pm, ldp, rows, nk, Vm + g * P, vs, P, O + g * P, os, 4 * P, alpha);
    if (g + 2 <= G) {
      gemm_rows<A, 12, 2, float>(Pm, ldp, rows, nk, Vm + g * P, vs, P, O + g * P, os, 2 * P, alpha);
      g += 2;
    }
  }
  for (; g < G; ++g)
    gemm_rows<A, GemmShape<A>::MR, 1, float>(Pm, ldp, rows, nk, Vm + g * P, vs, P, O + g * P, os, P, alpha);
}

template <class A>
void attention_gemm(const float* Q, std::int64_t qs, std::int64_t nq, const float* K, std::int64_t ks,
                    const float* Vm, std::int64_t vs, std::int64_t n, std::int64_t hd, float scale, float* O,
                    std::int64_t os, float* scratch, const float* key_bias) {
  using S = GemmShape<A>;
  constexpr std::int64_t P = kernels::kPanel, QR = kernels::kAttnGemmQueryRows, KB = kernels::kAttnGemmKeyBlock;
  static_assert(KB % P == 0, "a key block holds whole panels");
  const std::int64_t np = (n + P - 1) / P, ldp = np * P < KB ? np * P : KB;
  float* Kp = scratch;           // [np][hd][16]
  float* Sb = Kp + np * P * hd;  // [QR][ldp]: scores, then probabilities
  pack_keys<A>(K, ks, n, hd, Kp);
  const std::int64_t G = hd / P;  // whole groups of 16 output columns; the rest below
  float m[QR], l[QR], alpha[QR];
  for (std::int64_t q0 = 0; q0 < nq; q0 += QR) {
    const std::int64_t rows = nq - q0 < QR ? nq - q0 : QR;
    const float* Qb = Q + q0 * qs;
    float* Ob = O + q0 * os;
    for (std::int64_t r = 0; r < rows; ++r) {
      m[r] = kNegInf;
      l[r] = 0.0f;
    }
    for (std::int64_t j0 = 0; j0 < n; j0 += KB) {
      const std::int64_t nk = n - j0 < KB ? n - j0 : KB, npk = (nk + P - 1) / P;
      const float* Kb = Kp + (j0 / P) * hd * P;
      // S = Q·Kᵀ over this block's panels (columns past nk hold zero keys).
      std::int64_t p = 0;
      for (; p + S::NP <= npk; p += S::NP)
        gemm_rows<A, S::MR, S::NP, float>(Qb, qs, rows, hd, Kb + p * hd * P, P, hd * P, Sb + p * P, ldp, S::NP * P);
      for (; p < npk; ++p) gemm_rows<A, S::MR, 1, float>(Qb, qs, rows, hd, Kb + p * hd * P, P, hd * P, Sb + p * P, ldp, P);
      if (key_bias) add_key_bias<A>(Sb, ldp, rows, nk, key_bias + j0, 1.0f / scale);
      for (std::int64_t r = 0; r < rows; ++r) alpha[r] = softmax_row<A>(Sb + r * ldp, nk, npk * P, scale, m[r], l[r]);
      const float* Vb = Vm + j0 * vs;
      const float* a = j0 == 0 ? nullptr : alpha;
      pv_groups<A>(Sb, ldp, rows, nk, Vb, vs, G, Ob, os, a);
      for (std::int64_t r = 0; r < rows; ++r)  // a head dimension that is not a multiple of 16
        for (std::int64_t d = G * P; d < hd; ++d) {
          float acc = a ? a[r] * Ob[r * os + d] : 0.0f;
          for (std::int64_t c = 0; c < nk; ++c) acc += Sb[r * ldp + c] * Vb[c * vs + d];
          Ob[r * os + d] = acc;
        }
    }
    for (std::int64_t r = 0; r < rows; ++r) {  // O / l (l ≥ 1: the max term contributes exp(0))
      const float inv = 1.0f / l[r];
      for (std::int64_t d = 0; d < hd; ++d) Ob[r * os + d] *= inv;
    }
  }
}

}  // namespace attention_gemm_detail

template <class A>
void fill_attention_gemm_kernels(kernels::KernelTable& t) {
  t.attention_gemm = &attention_gemm_detail::attention_gemm<A>;
}

}  // namespace strata::simd
