// Attention over one KV head's cache rows ([position][head_dim], positions
// from 0): softmax(q·Kᵀ·scale + mask)·V, as HF's eager_attention_forward
// computes it per head, with the causal (optionally sliding-window) mask.
//   attention_prefill — nq queries at consecutive positions, normalised output;
//   attention_partial — one query over a run of rows, the unnormalised state
//                       (o, m, l) of a split of the KV range (flash-decoding);
//   attention_merge   — the normalised output from k such partial states;
//   attention_bidirectional — queries over all rows, no mask (a few queries:
//                       cross-attention);
//   attention_gemm    — a whole sequence's queries over all its rows, no mask,
//                       rows strided (encoders: read in the fused q/k/v output).
// The fast kernels come from the active KernelTable (kernels/simd/attention.hpp);
// the _ref functions are plain double-precision code for the tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

// Queries at positions pos0 .. pos0 + nq - 1 (rows q_stride floats apart);
// the query at p sees positions [max(0, p - window + 1), p] (window 0: all of
// [0, p]). O rows are o_stride floats apart and must not overlap Q, K or V.
inline void attention_prefill(const float* Q, std::int64_t q_stride, std::int64_t nq, std::int64_t pos0,
                              const float* K, const float* V, std::int64_t hd, std::int64_t window, float scale,
                              float* O, std::int64_t o_stride) {
  active_kernels().attention_prefill(Q, q_stride, nq, pos0, K, V, hd, window, scale, O, o_stride);
}

// One query over n rows (all visible): m = max score, l = Σ exp(s - m),
// o = Σ exp(s - m)·v (hd floats). n = 0 gives m = -inf, l = 0, o = 0.
inline void attention_partial(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t hd,
                              float scale, float* o, float* m, float* l) {
  active_kernels().attention_partial(q, K, V, n, hd, scale, o, m, l);
}

// nq queries (rows q_stride floats apart), each over all n ≥ 1 rows of K and
// V with no mask (encoders); O rows o_stride floats apart.
inline void attention_bidirectional(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                                    const float* V, std::int64_t n, std::int64_t hd, float scale, float* O,
                                    std::int64_t o_stride) {
  active_kernels().attention_bidirectional(Q, q_stride, nq, K, V, n, hd, scale, O, o_stride);
}

// nq queries over n ≥ 1 keys, no mask; rows of Q, K, V, O strided. Allocates
// nothing: `scratch` holds attention_gemm_scratch_floats(n, hd) floats (one
// per thread). key_bias: n floats added to each key's scaled score, or null.
// KernelTable::attention_gemm has the algorithm.
inline void attention_gemm(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                           std::int64_t k_stride, const float* V, std::int64_t v_stride, std::int64_t n,
                           std::int64_t hd, float scale, float* O, std::int64_t o_stride, float* scratch,
                           const float* key_bias = nullptr) {
  active_kernels().attention_gemm(Q, q_stride, nq, K, k_stride, V, v_stride, n, hd, scale, O, o_stride, scratch,
                                  key_bias);
}

// Combines k partial states of one query (o: k rows of hd floats; m, l: k
// values) into the normalised output: with M = max m_i and w_i = exp(m_i - M),
// out = Σ w_i·o_i / Σ w_i·l_i. Empty partials (l = 0) contribute nothing; at
// least one must be non-empty.
inline void attention_merge(const float* o, const float* m, const float* l, std::int64_t k, std::int64_t hd,
                            float* out) {
  float M = -INFINITY;
  for (std::int64_t i = 0; i < k; ++i)
    if (l[i] > 0) M = std::max(M, m[i]);
  float L = 0;
  std::fill(out, out + hd, 0.0f);
  for (std::int64_t i = 0; i < k; ++i) {
    if (!(l[i] > 0)) continue;
    const float w = std::exp(m[i] - M);
    L += w * l[i];
    for (std::int64_t d = 0; d < hd; ++d) out[d] += w * o[i * hd + d];
  }
  const float inv = 1.0f / L;
  for (std::int64_t d = 0; d < hd; ++d) out[d] *= inv;
}

// ---- double-precision references ----

inline void attention_prefill_ref(const float* Q, std::int64_t q_stride, std::int64_t nq, std::int64_t pos0,
                                  const float* K, const float* V, std::int64_t hd, std::int64_t window, float scale,
                                  float* O, std::int64_t o_stride) {
  std::vector<double> s;
  for (std::int64_t i = 0; i < nq; ++i) {
    const std::int64_t p = pos0 + i, first = window > 0 ? std::max<std::int64_t>(0, p - window + 1) : 0;
    const float* q = Q + i * q_stride;
    s.assign(std::size_t(p - first + 1), 0.0);
    double mx = -INFINITY;
    for (std::int64_t j = first; j <= p; ++j) {
      double dot = 0;
      for (std::int64_t d = 0; d < hd; ++d) dot += double(q[d]) * K[j * hd + d];
      mx = std::max(mx, s[std::size_t(j - first)] = dot * scale);
    }
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (std::int64_t d = 0; d < hd; ++d) {
      double acc = 0;
      for (std::int64_t j = first; j <= p; ++j) acc += s[std::size_t(j - first)] * V[j * hd + d];
      O[i * o_stride + d] = float(acc / sum);
    }
  }
}

inline void attention_bidirectional_ref(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                                        const float* V, std::int64_t n, std::int64_t hd, float scale, float* O,
                                        std::int64_t o_stride) {
  // Query i at "position" n - 1 with no window sees every row: the causal reference, one query at a time.
  for (std::int64_t i = 0; i < nq; ++i)
    attention_prefill_ref(Q + i * q_stride, q_stride, 1, n - 1, K, V, hd, 0, scale, O + i * o_stride, o_stride);
}

// Unmasked attention with strided rows, in double: the reference of attention_gemm.
inline void attention_gemm_ref(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                               std::int64_t k_stride, const float* V, std::int64_t v_stride, std::int64_t n,
                               std::int64_t hd, float scale, float* O, std::int64_t o_stride,
                               const float* key_bias = nullptr) {
  std::vector<double> s(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < nq; ++i) {
    double mx = -INFINITY;
    for (std::int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (std::int64_t d = 0; d < hd; ++d) dot += double(Q[i * q_stride + d]) * K[j * k_stride + d];
      mx = std::max(mx, s[std::size_t(j)] = dot * scale + (key_bias ? double(key_bias[j]) : 0.0));
    }
    double sum = 0;
    for (double& x : s) sum += (x = std::exp(x - mx));
    for (std::int64_t d = 0; d < hd; ++d) {
      double acc = 0;
      for (std::int64_t j = 0; j < n; ++j) acc += s[std::size_t(j)] * V[j * v_stride + d];
      O[i * o_stride + d] = float(acc / sum);
    }
  }
}

inline void attention_partial_ref(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t hd,
                                  float scale, float* o, float* m, float* l) {
  std::vector<double> s(static_cast<std::size_t>(n));
  double mx = -INFINITY;
  for (std::int64_t j = 0; j < n; ++j) {
    double dot = 0;
    for (std::int64_t d = 0; d < hd; ++d) dot += double(q[d]) * K[j * hd + d];
    mx = std::max(mx, s[std::size_t(j)] = dot * scale);
  }
  double sum = 0;
  for (double& x : s) sum += (x = std::exp(x - mx));
  for (std::int64_t d = 0; d < hd; ++d) {
    double acc = 0;
    for (std::int64_t j = 0; j < n; ++j) acc += s[std::size_t(j)] * V[j * hd + d];
    o[d] = float(acc);
  }
  *m = float(mx);
  *l = float(sum);
}

}  // namespace strata::kernels
