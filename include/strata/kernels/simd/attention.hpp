// SIMD attention kernels, templated on the xsimd architecture A. The contract
// (arguments, masking) is in kernels/kernel_table.hpp; the double-precision
// references are in kernels/attention.hpp.
//
// Both kernels stream the keys in tiles of kKeyTile rows with an online
// softmax per query (FlashAttention-2, Dao 2023, Algorithm 1): a running max
// m, a running sum l = Σ exp(s - m) and an unnormalised output
// o = Σ exp(s - m)·v. When a tile raises m, the old l and o are scaled by
// exp(m_old - m_new) first. Scores exist only for the current tile
// ([kQueryTile][kKeyTile] floats on the stack), and the output rows themselves
// hold o while it accumulates, so any head_dim works and nothing is allocated.
//
//   scores:  pairs of query rows against half a vector's width of keys (an
//            odd row against a whole width), one accumulator per (row, key)
//            over head_dim, all reduced together (sum_rows);
//   P·V:     kQueryTile rows (or one row, several head_dim chunks) of o in
//            registers, each value row loaded once per tile and broadcast
//            probabilities fused in with fmadd.
#pragma once

#include <cstdint>
#include <limits>

#include "strata/kernels/kernel_table.hpp"
#include "strata/kernels/simd/arch.hpp"

namespace strata::simd {

namespace attention_detail {

inline constexpr int kQueryTile = 8;  // query rows sharing one key/value tile
inline constexpr int kKeyTile = 32;   // keys per tile: a multiple of every vector width (4, 8, 16)
inline constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// exp of one float through the vector exp (no std::exp in per-target code).
template <class A>
inline float exp_scalar(float x) {
  alignas(64) float t[vfloat<A>::size];
  xsimd::exp(vfloat<A>(x)).store_aligned(t);
  return t[0];
}

// Lane i of the result = the sum of the lanes of rows[i], for vfloat::size
// rows. xsimd 8.1's AVX-512 haddp permutes its result (rows 2-5 and 10-13
// come out of order), so AVX-512 folds each row to 8 lanes and uses the AVX
// haddp on the two halves.
template <class A>
inline vfloat<A> sum_rows(const vfloat<A>* rows) {
  if constexpr (is_avx512<A>) {
#if XSIMD_WITH_AVX512F
    using H = xsimd::batch<float, xsimd::avx2>;
    H half[16];
    for (int i = 0; i < 16; ++i) {
      const __m512 r = rows[i];
      half[i] = H(_mm256_add_ps(_mm512_castps512_ps256(r),
                                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1))));
    }
    const __m256 lo = xsimd::haddp(half), hi = xsimd::haddp(half + 8);
    return vfloat<A>(_mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1)));
#endif
  } else {
    return xsimd::haddp(rows);
  }
}

// Scores of RQ query rows against NK = vfloat::size / RQ keys:
// s[r][c] = scale · q_r · k_c. The RQ·NK dot products accumulate side by side
// (each key chunk loaded once for the RQ rows) and are reduced together.
// Strided: key c is the cache row k[0] + c·hd, reached by stepping one
// pointer (16 row pointers would not stay in registers); otherwise k[c].
template <class A, int RQ, bool Strided>
inline void score_group(const float* const* q, const float* const* k, std::int64_t hd, float scale, float* const* s) {
  using V = vfloat<A>;
  constexpr int N = int(V::size), NK = N / RQ;
  const std::int64_t hd_vec = hd - hd % N;
  V acc[N];
  for (int i = 0; i < N; ++i) acc[i] = V(0.0f);
  for (std::int64_t d = 0; d < hd_vec; d += N) {
    V qv[RQ];
    for (int r = 0; r < RQ; ++r) qv[r] = V::load_unaligned(q[r] + d);
    const float* kp = k[0] + d;
    for (int c = 0; c < NK; ++c) {
      const V kv = V::load_unaligned(Strided ? kp : k[c] + d);
      if constexpr (Strided) kp += hd;
      for (int r = 0; r < RQ; ++r) acc[r * NK + c] = fmadd<A>(qv[r], kv, acc[r * NK + c]);
    }
  }
  alignas(64) float sums[N];
  sum_rows<A>(acc).store_aligned(sums);
  for (int r = 0; r < RQ; ++r)
    for (int c = 0; c < NK; ++c) {
      const float* kc = Strided ? k[0] + c * hd : k[c];
      float x = sums[r * NK + c];
      for (std::int64_t d = hd_vec; d < hd; ++d) x += q[r][d] * kc[d];  // head_dim tail
      s[r][c] = x * scale;
    }
}

// Scores of rows [0, nr) against N consecutive keys (or fewer, repeated)
// at k: rows in pairs against half a vector's width of keys each, an odd
// last row against a whole width.
template <class A, bool Strided>
inline void score_columns(const float* Q, std::int64_t q_stride, int nr, const float* const* k, std::int64_t hd,
                          float scale, float* S) {
  constexpr int N = int(vfloat<A>::size), H = N / 2;
  int r = 0;
  for (; r + 2 <= nr; r += 2) {
    const float* q[2] = {Q + r * q_stride, Q + (r + 1) * q_stride};
    for (int h = 0; h < N; h += H) {
      const float* kh[H];
      for (int c = 0; c < H; ++c) kh[c] = Strided ? k[0] + (h + c) * hd : k[h + c];
      float* s[2] = {S + r * kKeyTile + h, S + (r + 1) * kKeyTile + h};
      score_group<A, 2, Strided>(q, kh, hd, scale, s);
    }
  }
  if (r < nr) {
    const float* q[1] = {Q + r * q_stride};
    float* s[1] = {S + r * kKeyTile};
    score_group<A, 1, Strided>(q, k, hd, scale, s);
  }
}

// S[r][c] = scale · Q_r · K_{j0 + c} for rows r < nr and columns c < nk
// rounded up to the vector width (S rows are kKeyTile floats apart). Columns
// past nk repeat key nk - 1; the caller masks them.
template <class A>
void tile_scores(const float* Q, std::int64_t q_stride, int nr, const float* K, std::int64_t j0, int nk,
                 std::int64_t hd, float scale, float* S) {
  constexpr int N = int(vfloat<A>::size);
  for (int c0 = 0; c0 < nk; c0 += N) {
    if (c0 + N <= nk) {
      const float* k[1] = {K + (j0 + c0) * hd};
      score_columns<A, true>(Q, q_stride, nr, k, hd, scale, S + c0);
    } else {
      const float* k[N];
      for (int c = 0; c < N; ++c) k[c] = K + (j0 + (c0 + c < nk ? c0 + c : nk - 1)) * hd;
      score_columns<A, false>(Q, q_stride, nr, k, hd, scale, S + c0);
    }
  }
}

// Sets S[c] = -inf outside the visible columns [lo, hi) of a row of ncols.
template <class A>
inline void mask_row(float* s, int ncols, std::int64_t lo, std::int64_t hi) {
  for (int c = 0; c < ncols; ++c)
    if (c < lo || c >= hi) s[c] = kNegInf;
}

// Folds one row of tile scores (ncols, a multiple of the vector width) into
// the row's running (m, l): turns the scores into exp(s - m_new) in place and
// returns the factor exp(m_old - m_new) the row's o must be scaled by. A row
// that sees nothing in this tile becomes zeros and keeps its state.
template <class A>
float softmax_tile_row(float* s, int ncols, float& m, float& l) {
  using V = vfloat<A>;
  constexpr int N = int(V::size);
  V vmax(kNegInf);
  for (int c = 0; c < ncols; c += N) vmax = xsimd::max(vmax, V::load_aligned(s + c));
  alignas(64) float lanes[N];
  vmax.store_aligned(lanes);
  float tmax = lanes[0];
  for (int i = 1; i < N; ++i) tmax = lanes[i] > tmax ? lanes[i] : tmax;
  if (tmax == kNegInf) {
    for (int c = 0; c < ncols; c += N) V(0.0f).store_aligned(s + c);
    return 1.0f;
  }
  const float m_new = m > tmax ? m : tmax;
  const float alpha = m_new == m ? 1.0f : exp_scalar<A>(m - m_new);  // exp(-inf) = 0 on the first tile
  const V vm(m_new);
  V sum(0.0f);
  for (int c = 0; c < ncols; c += N) {
    const V p = xsimd::exp(V::load_aligned(s + c) - vm);  // masked: exp(-inf) = 0
    p.store_aligned(s + c);
    sum += p;
  }
  l = l * alpha + hsum<A>(sum);
  m = m_new;
  return alpha;
}

// o_r[d .. d + D·N) = alpha_r · o_r + Σ_{c < nk} P[r][c] · V_c for R rows:
// R·D accumulators in registers, each value chunk loaded once for all rows.
// A single row alternates keys between two sets of accumulators, so that
// enough independent FMA chains are in flight.
template <class A, int R, int D>
inline void pv_chunk(const float* P, const float* alpha, const float* Vt, int nk, std::int64_t hd, float* const* o,
                     std::int64_t d) {
  using V = vfloat<A>;
  constexpr int N = int(V::size), KS = R == 1 ? 2 : 1;
  V acc[KS][R][D];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < D; ++i) {
      acc[0][r][i] = V::load_unaligned(o[r] + d + i * N) * V(alpha[r]);
      for (int k = 1; k < KS; ++k) acc[k][r][i] = V(0.0f);
    }
  int c = 0;
  for (; c + KS <= nk; c += KS)
    for (int k = 0; k < KS; ++k) {
      const float* v = Vt + (c + k) * hd + d;
      for (int r = 0; r < R; ++r) {
        const V p(P[r * kKeyTile + c + k]);
        for (int i = 0; i < D; ++i) acc[k][r][i] = fmadd<A>(p, V::load_unaligned(v + i * N), acc[k][r][i]);
      }
    }
  for (; c < nk; ++c) {
    const float* v = Vt + c * hd + d;
    for (int r = 0; r < R; ++r) {
      const V p(P[r * kKeyTile + c]);
      for (int i = 0; i < D; ++i) acc[0][r][i] = fmadd<A>(p, V::load_unaligned(v + i * N), acc[0][r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < D; ++i) {
      for (int k = 1; k < KS; ++k) acc[0][r][i] += acc[k][r][i];
      acc[0][r][i].store_unaligned(o[r] + d + i * N);
    }
}

// The whole head_dim of o for R rows: chunks of D vectors (one row takes
// four, 8 chains with the two key sets; AVX-512 has the registers for two
// with a full query tile), then single vectors, then scalars.
template <class A, int R>
void pv_rows(const float* P, const float* alpha, const float* Vt, int nk, std::int64_t hd, float* const* o) {
  constexpr int N = int(vfloat<A>::size);
  constexpr int D = R == 1 ? 4 : (is_avx512<A> ? 2 : 1);
  std::int64_t d = 0;
  for (; d + D * N <= hd; d += D * N) pv_chunk<A, R, D>(P, alpha, Vt, nk, hd, o, d);
  for (; d + N <= hd; d += N) pv_chunk<A, R, 1>(P, alpha, Vt, nk, hd, o, d);
  for (; d < hd; ++d)
    for (int r = 0; r < R; ++r) {
      float acc = o[r][d] * alpha[r];
      for (int c = 0; c < nk; ++c) acc += P[r * kKeyTile + c] * Vt[c * hd + d];
      o[r][d] = acc;
    }
}

// nr ≤ kQueryTile query rows at positions p0 .. p0 + nr - 1; see
// KernelTable::attention_prefill. With n_all > 0 there is no causal mask:
// every row sees keys [0, n_all) (KernelTable::attention_bidirectional; p0
// and window are then unused).
template <class A>
void prefill_block(const float* Q, std::int64_t q_stride, int nr, std::int64_t p0, const float* K, const float* Vc,
                   std::int64_t hd, std::int64_t window, float scale, float* O, std::int64_t o_stride,
                   std::int64_t n_all = 0) {
  using V = vfloat<A>;
  constexpr int N = int(V::size);
  static_assert(kKeyTile % N == 0, "a key tile holds whole vectors");
  alignas(64) float S[kQueryTile * kKeyTile];
  float m[kQueryTile], l[kQueryTile], alpha[kQueryTile];
  float* o[kQueryTile];
  for (int r = 0; r < nr; ++r) {
    o[r] = O + r * o_stride;
    for (std::int64_t d = 0; d < hd; ++d) o[r][d] = 0.0f;
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  // Row r sees keys [lo_r, p0 + r] with lo_r = p0 + r - window + 1 (or 0);
  // the tiles cover the union of those ranges, so no tile is masked for all rows.
  const std::int64_t p_last = n_all > 0 ? n_all - 1 : p0 + nr - 1;
  const std::int64_t k_lo = n_all <= 0 && window > 0 && p0 - window + 1 > 0 ? p0 - window + 1 : 0;
  for (std::int64_t j0 = k_lo; j0 <= p_last; j0 += kKeyTile) {
    const int nk = int(p_last - j0 + 1 < kKeyTile ? p_last - j0 + 1 : kKeyTile);
    const int ncols = (nk + N - 1) / N * N;
    tile_scores<A>(Q, q_stride, nr, K, j0, nk, hd, scale, S);
    // Masking is needed only on the diagonal, at the window's edge and for padding.
    const bool all_visible =
        nk == ncols && (n_all > 0 || (j0 + nk - 1 <= p0 && (window <= 0 || j0 >= p_last - window + 1)));
    for (int r = 0; r < nr; ++r) {
      float* s = S + r * kKeyTile;
      if (n_all > 0) {
        if (!all_visible) mask_row<A>(s, ncols, -1, nk);  // only the padding lanes
      } else if (!all_visible) {
        const std::int64_t p = p0 + r, lo = window > 0 ? p - window + 1 - j0 : -1;
        mask_row<A>(s, ncols, lo, p - j0 + 1 < nk ? p - j0 + 1 : nk);
      }
      alpha[r] = softmax_tile_row<A>(s, ncols, m[r], l[r]);
    }
    if (nr == kQueryTile) {
      pv_rows<A, kQueryTile>(S, alpha, Vc + j0 * hd, nk, hd, o);
    } else {
      for (int r = 0; r < nr; ++r) pv_rows<A, 1>(S + r * kKeyTile, alpha + r, Vc + j0 * hd, nk, hd, o + r);
    }
  }
  for (int r = 0; r < nr; ++r) {  // o / l; every row sees at least its own position, so l > 0
    const float inv = 1.0f / l[r];
    std::int64_t d = 0;
    for (; d + N <= hd; d += N) (V::load_unaligned(o[r] + d) * V(inv)).store_unaligned(o[r] + d);
    for (; d < hd; ++d) o[r][d] *= inv;
  }
}

template <class A>
void attention_prefill(const float* Q, std::int64_t q_stride, std::int64_t nq, std::int64_t pos0, const float* K,
                       const float* V, std::int64_t hd, std::int64_t window, float scale, float* O,
                       std::int64_t o_stride) {
  for (std::int64_t i = 0; i < nq; i += kQueryTile) {
    const int nr = int(nq - i < kQueryTile ? nq - i : kQueryTile);
    prefill_block<A>(Q + i * q_stride, q_stride, nr, pos0 + i, K, V, hd, window, scale, O + i * o_stride,
                     o_stride);
  }
}

template <class A>
void attention_bidirectional(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K, const float* V,
                             std::int64_t n, std::int64_t hd, float scale, float* O, std::int64_t o_stride) {
  for (std::int64_t i = 0; i < nq; i += kQueryTile) {
    const int nr = int(nq - i < kQueryTile ? nq - i : kQueryTile);
    prefill_block<A>(Q + i * q_stride, q_stride, nr, 0, K, V, hd, 0, scale, O + i * o_stride, o_stride, n);
  }
}

// One query over n rows, no mask: the partial state (o, m, l) of
// KernelTable::attention_partial. n = 0 gives o = 0, m = -inf, l = 0.
template <class A>
void attention_partial(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t hd, float scale,
                       float* o, float* m, float* l) {
  constexpr int N = int(vfloat<A>::size);
  alignas(64) float S[kKeyTile];
  float mm = kNegInf, ll = 0.0f;
  for (std::int64_t d = 0; d < hd; ++d) o[d] = 0.0f;
  for (std::int64_t j0 = 0; j0 < n; j0 += kKeyTile) {
    const int nk = int(n - j0 < kKeyTile ? n - j0 : kKeyTile);
    const int ncols = (nk + N - 1) / N * N;
    tile_scores<A>(q, 0, 1, K, j0, nk, hd, scale, S);
    if (nk != ncols) mask_row<A>(S, ncols, 0, nk);
    const float alpha = softmax_tile_row<A>(S, ncols, mm, ll);
    pv_rows<A, 1>(S, &alpha, V + j0 * hd, nk, hd, &o);
  }
  *m = mm;
  *l = ll;
}

}  // namespace attention_detail

template <class A>
void fill_attention_kernels(kernels::KernelTable& t) {
  t.attention_prefill = &attention_detail::attention_prefill<A>;
  t.attention_partial = &attention_detail::attention_partial<A>;
  t.attention_bidirectional = &attention_detail::attention_bidirectional<A>;
}

}  // namespace strata::simd
