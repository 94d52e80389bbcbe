// Token merging (ToMe: Bolya et al., "Token Merging: Your ViT But Faster",
// ICLR 2023), training-free: in each block, between the attention and the
// MLP, r tokens of every image are merged into others by bipartite soft
// matching on the attention's keys, so each later layer runs on fewer tokens.
//
//   - the tokens alternate into sets A (even positions) and B (odd); each A
//     token's most similar B token (cosine of the keys averaged over heads)
//     is its match; the r A tokens with the most similar matches are merged
//     into them, the rest of A is kept;
//   - merged tokens are size-weighted averages (each token carries how many
//     patches it stands for), and attention adds log(size) to every key's
//     score (proportional attention), so a merged token weighs as the
//     tokens it replaced;
//   - the class token (and DeiT's distillation token) is never merged and
//     stays in front: it is A's first token, excluded from matching, and the
//     kept A tokens stay in their order; the distillation token is B's first,
//     excluded as a match.
//
// The order of the result is ToMe's: the kept A tokens, then B (with the
// distillation token second when there is one). Works on a packed batch:
// each sequence of the stream merges on its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/kernels/vector.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/token_reduction.hpp"

namespace strata {

// What to merge: r tokens per sequence in each block (fewer where a sequence
// is too short: at most half of its unprotected tokens), with the class
// token (and a distillation token) protected.
struct TokenMerging {
  std::int64_t r = 0;
  bool class_token = true;
  bool distill_token = false;

  std::int64_t protected_tokens() const { return std::int64_t(class_token) + std::int64_t(distill_token); }
  // Tokens merged in a sequence of n tokens.
  std::int64_t merged(std::int64_t n) const { return std::max<std::int64_t>(0, std::min(r, (n - protected_tokens()) / 2)); }
};

namespace detail {

// One sequence: x [n, D] rows, size [n], metric [n, m] → x_out [n - r, D], size_out.
inline void merge_sequence(const TokenMerging& tm, const float* x, std::int64_t D, const float* size,
                           const float* metric, std::int64_t m, std::int64_t n, float* x_out, float* size_out) {
  const std::int64_t r = tm.merged(n);
  if (r == 0) {
    std::copy(x, x + n * D, x_out);
    std::copy(size, size + n, size_out);
    return;
  }
  const std::int64_t na = (n + 1) / 2, nb = n / 2;
  // Unit-length keys (metric / ‖metric‖), A then B.
  thread_local std::vector<float> unit;
  unit.resize(std::size_t(n * m));
  for (std::int64_t t = 0; t < n; ++t) {
    const float* k = metric + t * m;
    const float norm = std::sqrt(kernels::dot(k, k, m));
    float* u = unit.data() + ((t % 2 ? na + t / 2 : t / 2) * m);
    for (std::int64_t j = 0; j < m; ++j) u[j] = k[j] / norm;
  }
  const float* ua = unit.data();
  const float* ub = unit.data() + na * m;
  // Each A token's best B match (the first of equal ones).
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  thread_local std::vector<float> best;
  thread_local std::vector<std::int64_t> match, order;
  best.assign(std::size_t(na), kNegInf);
  match.assign(std::size_t(na), 0);
  for (std::int64_t i = (tm.class_token ? 1 : 0); i < na; ++i)
    for (std::int64_t j = (tm.distill_token ? 1 : 0); j < nb; ++j) {
      const float s = kernels::dot(ua + i * m, ub + j * m, m);
      if (s > best[std::size_t(i)]) best[std::size_t(i)] = s, match[std::size_t(i)] = j;
    }
  // A ordered by their best similarity, most similar first: the first r merge.
  order.resize(std::size_t(na));
  std::iota(order.begin(), order.end(), std::int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return best[std::size_t(a)] > best[std::size_t(b)]; });
  if (tm.class_token) std::sort(order.begin() + r, order.end());  // kept A tokens in their order: the class token first
  // B: size-weighted sums of itself and the A tokens merged into it.
  thread_local std::vector<double> acc, acc_size;
  acc.assign(std::size_t(nb * D), 0.0);
  acc_size.assign(std::size_t(nb), 0.0);
  auto add = [&](std::int64_t j, std::int64_t t) {
    const double s = size[t];
    double* a = acc.data() + j * D;
    for (std::int64_t c = 0; c < D; ++c) a[c] += s * double(x[t * D + c]);
    acc_size[std::size_t(j)] += s;
  };
  for (std::int64_t j = 0; j < nb; ++j) add(j, 2 * j + 1);
  for (std::int64_t k = 0; k < r; ++k) {
    const std::int64_t i = order[std::size_t(k)];
    add(match[std::size_t(i)], 2 * i);
  }
  // Output: the kept A tokens, then B (the distillation token, B's first, second).
  std::int64_t row = 0;
  auto put_a = [&](std::int64_t i) {
    std::copy(x + 2 * i * D, x + (2 * i + 1) * D, x_out + row * D);
    size_out[row++] = size[2 * i];
  };
  auto put_b = [&](std::int64_t j) {
    const double s = acc_size[std::size_t(j)];
    for (std::int64_t c = 0; c < D; ++c) x_out[row * D + c] = float(acc[std::size_t(j * D + c)] / s);
    size_out[row++] = float(s);
  };
  std::int64_t first_kept = r;
  if (tm.distill_token) {
    put_a(order[std::size_t(first_kept++)]);
    put_b(0);
  }
  for (std::int64_t k = first_kept; k < na; ++k) put_a(order[std::size_t(k)]);
  for (std::int64_t j = tm.distill_token ? 1 : 0; j < nb; ++j) put_b(j);
}

}  // namespace detail

// Merges each sequence of the packed stream x ([T, D], sizes [T], metric
// [T, m]: the keys averaged over heads) into x_out / size_out and updates
// seqs to the shorter spans. Sequences must be unpadded (len = span).
// Returns false, writing nothing, when no sequence has tokens to merge.
inline bool merge_tokens(const TokenMerging& tm, const float* x, std::int64_t D, const float* size, const float* metric,
                         std::int64_t m, SequenceSpans& seqs, float* x_out, float* size_out, ThreadPool& pool) {
  const std::int64_t n_seq = seqs.count();
  bool any = false;
  for (std::int64_t i = 0; i < n_seq; ++i) any = any || tm.merged(seqs.len[std::size_t(i)]) > 0;
  if (!any || tm.r <= 0) return false;
  SequenceSpans out{{0}, {}};
  for (std::int64_t i = 0; i < n_seq; ++i) {
    const std::int64_t n = seqs.len[std::size_t(i)];
    check(seqs.start[std::size_t(i) + 1] - seqs.start[std::size_t(i)] == n, "token merging: padded sequences");
    out.len.push_back(n - tm.merged(n));
    out.start.push_back(out.start.back() + out.len.back());
  }
  pool.parallel_for(n_seq, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t s0 = seqs.start[std::size_t(i)], o0 = out.start[std::size_t(i)];
      detail::merge_sequence(tm, x + s0 * D, D, size + s0, metric + s0 * m, m, seqs.len[std::size_t(i)],
                             x_out + o0 * D, size_out + o0);
    }
  });
  seqs = std::move(out);
  return true;
}

// ToMe as a TokenReducer: what a forward pass with token merging keeps
// between blocks: each token's size (patches it stands for) and log size
// (the attention's key bias), and the keys averaged over heads. Sizes start
// at 1 (no bias until the first merge).
class TokenMergeState final : public TokenReducer {
 public:
  void reset(const TokenMerging& m, std::int64_t tokens, std::int64_t head_dim) {
    tm_ = m;
    head_dim_ = head_dim;
    merged_ = false;
    size_.assign(std::size_t(tokens), 1.0f);
    size_next_.resize(std::size_t(tokens));
    log_size_.resize(std::size_t(tokens));
    key_mean_.resize(std::size_t(tokens * head_dim));
  }

  AttentionTaps taps() override { return {merged_ ? log_size_.data() : nullptr, key_mean_.data(), nullptr}; }

  bool reduce(const float* h, std::int64_t D, SequenceSpans& seqs, float* h_out, ThreadPool& pool) override {
    if (!merge_tokens(tm_, h, D, size_.data(), key_mean_.data(), head_dim_, seqs, h_out, size_next_.data(), pool))
      return false;
    size_.swap(size_next_);
    for (std::int64_t t = 0; t < seqs.tokens(); ++t) log_size_[std::size_t(t)] = std::log(size_[std::size_t(t)]);
    merged_ = true;
    return true;
  }

 private:
  TokenMerging tm_;
  std::int64_t head_dim_ = 0;
  std::vector<float> size_, size_next_, log_size_, key_mean_;
  bool merged_ = false;
};

}  // namespace strata
