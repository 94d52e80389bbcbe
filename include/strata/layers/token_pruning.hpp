// Attentive token pruning with fusion (EViT: Liang et al., "Not All Patches
// are What You Need: Expediting Vision Transformers via Token
// Reorganizations", ICLR 2022), training-free: at a few blocks, between the
// attention and the MLP, each image keeps the ceil(keep_rate · n) of its n
// patch tokens that the class token attends to most (attention averaged over
// heads) and fuses the rest into one token, their sum weighted by that
// attention; later layers run on the kept tokens and the fused one.
//
// The order of the result is EViT's: the class token (and DeiT's
// distillation token, which is kept as the class token is: EViT defines no
// rule for it), the kept tokens from the most attended down, the fused token
// last. Blocks that prune: EViT's (3, 6, 9) of 12 layers, generalised to
// layers L/4, L/2, 3L/4 (integer division, distinct) of L.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/token_reduction.hpp"

namespace strata {

struct TokenPruning {
  double keep_rate = 1.0;  // of the patch tokens, at each pruning block (0, 1]
  bool distill_token = false;

  std::int64_t protected_tokens() const { return 1 + std::int64_t(distill_token); }
  // Tokens kept of m candidates, EViT's math.ceil(keep_rate · m) in double
  // (0.7 · 10 rounds up to 8 there, and so here); at least 1.
  std::int64_t kept(std::int64_t m) const {
    const auto k = std::int64_t(std::ceil(keep_rate * double(m)));
    return std::clamp<std::int64_t>(k, std::min<std::int64_t>(m, 1), m);
  }
  // The blocks that prune, of `layers`.
  static std::vector<std::int64_t> pruning_layers(std::int64_t layers) {
    std::vector<std::int64_t> v{layers / 4, layers / 2, 3 * layers / 4};
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }
};

namespace detail {

// One sequence: x [n, D], attention a [n] (of its first token) → x_out.
inline std::int64_t prune_sequence(const TokenPruning& tp, const float* x, std::int64_t D, const float* a,
                                   std::int64_t n, float* x_out) {
  const std::int64_t p = tp.protected_tokens(), m = n - p, keep = m > 0 ? tp.kept(m) : 0;
  if (m <= 0 || keep >= m) {
    std::copy(x, x + n * D, x_out);
    return n;
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(m));
  std::iota(order.begin(), order.end(), p);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t i, std::int64_t j) { return a[i] > a[j]; });
  std::copy(x, x + p * D, x_out);  // class (and distillation) token
  for (std::int64_t k = 0; k < keep; ++k) {
    const std::int64_t t = order[std::size_t(k)];
    std::copy(x + t * D, x + (t + 1) * D, x_out + (p + k) * D);
  }
  std::vector<double> fused(static_cast<std::size_t>(D), 0.0);  // Σ attention · token over the pruned ones
  for (std::int64_t k = keep; k < m; ++k) {
    const std::int64_t t = order[std::size_t(k)];
    for (std::int64_t c = 0; c < D; ++c) fused[std::size_t(c)] += double(a[t]) * double(x[t * D + c]);
  }
  float* f = x_out + (p + keep) * D;
  for (std::int64_t c = 0; c < D; ++c) f[c] = float(fused[std::size_t(c)]);
  return p + keep + 1;
}

}  // namespace detail

// EViT as a TokenReducer: asks for the class token's attention at the
// pruning blocks and prunes there; counts blocks as they run.
class TokenPruneState final : public TokenReducer {
 public:
  void reset(const TokenPruning& tp, std::int64_t tokens, std::int64_t layers) {
    tp_ = tp;
    layer_ = 0;
    at_ = TokenPruning::pruning_layers(layers);
    attn_.resize(std::size_t(tokens));
  }

  AttentionTaps taps() override { return {nullptr, nullptr, prunes_here() ? attn_.data() : nullptr}; }

  bool reduce(const float* h, std::int64_t D, SequenceSpans& seqs, float* h_out, ThreadPool& pool) override {
    const bool here = prunes_here();
    ++layer_;
    if (!here || tp_.keep_rate >= 1.0) return false;
    SequenceSpans out{{0}, {}};
    for (std::int64_t i = 0; i < seqs.count(); ++i) {
      const std::int64_t n = seqs.len[std::size_t(i)], m = n - tp_.protected_tokens();
      check(seqs.start[std::size_t(i) + 1] - seqs.start[std::size_t(i)] == n, "token pruning: padded sequences");
      out.len.push_back(m <= 0 || tp_.kept(m) >= m ? n : tp_.protected_tokens() + tp_.kept(m) + 1);
      out.start.push_back(out.start.back() + out.len.back());
    }
    pool.parallel_for(seqs.count(), [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        const std::int64_t s0 = seqs.start[std::size_t(i)];
        detail::prune_sequence(tp_, h + s0 * D, D, attn_.data() + s0, seqs.len[std::size_t(i)],
                               h_out + out.start[std::size_t(i)] * D);
      }
    });
    seqs = std::move(out);
    return true;
  }

 private:
  bool prunes_here() const { return std::find(at_.begin(), at_.end(), layer_) != at_.end(); }

  TokenPruning tp_;
  std::vector<std::int64_t> at_;
  std::int64_t layer_ = 0;
  std::vector<float> attn_;
};

}  // namespace strata
