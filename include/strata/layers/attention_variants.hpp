// Policies that vary self-attention beyond its position encoding and mask
// (SelfAttention<PosEnc, Mask, Bias, Names, Score, QKNorm, Gate>):
//
//   Score  — how a query's scaled scores s_j = q·k_j/√d become the weights of
//            the values:
//              Softmax           softmax(s)                       (the fast kernels)
//              ALiBi<Base>       Base(s_j − m_h·(i − j)), per-head slopes m_h
//                                (Press et al. 2022, "Train Short, Test Long")
//              SigmoidAttn       σ(s_j + b), no normalisation (Ramapuram et al.
//                                2024, "Theory, Analysis, and Best Practices for
//                                Sigmoid Self-Attention"); b = -ln(n) by default
//              ClippedSoftmax    clip((ζ − γ)·softmax(s) + γ, 0, 1) (Bondarenko et
//                                al. 2023, "Quantizable Transformers")
//   QKNorm — NoQKNorm, or QKRMSNorm: RMSNorm over each head of q and of k
//            before the rotary embedding (Qwen3, OLMo 2, Gemma 3: q_norm, k_norm)
//   Gate   — NoGate, or HeadGate: each head's output scaled by a gate from the
//            block's normed input, g_h = σ(w_h·x + b_h) (gated attention,
//            Bondarenko et al. 2023; the head-wise gate of Qiu et al. 2025)
//
// Score policies other than Softmax run a generic path (a dot product per
// visible key, the policy's transform, then a weighted sum of the values)
// rather than the tiled softmax kernels: correct on every target, and about
// as fast for decoding, where attention is a small share of the time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/softmax.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/rmsnorm.hpp"

namespace strata {

// ---- Score policies ----
// Interface: init(config); weights(head, pos, first, s, n) turns the scaled
// scores s[0..n) of the query at position pos over the keys at positions
// first .. first + n - 1 (= pos) into the weights of their values, in place.
// `fast` marks the one policy the tiled softmax kernels implement.

struct Softmax {
  static constexpr bool fast = true;
  void init(const ModelConfig&) {}
  void weights(std::int64_t, std::int64_t, std::int64_t, float* s, std::int64_t n) const {
    kernels::softmax_inplace(s, n);
  }
};

// ALiBi slopes for n heads: for n a power of two, m_h = 2^(−8(h+1)/n); else
// the slopes of the largest power of two p < n, then every other slope of 2p
// (the construction of the ALiBi paper's reference code, as BLOOM and MPT use).
inline std::vector<double> alibi_slopes(std::int64_t n) {
  const auto geometric = [](std::int64_t p) {
    std::vector<double> m(std::size_t(p), 0.0);
    const double start = std::pow(2.0, -8.0 / double(p));
    for (std::int64_t h = 0; h < p; ++h) m[std::size_t(h)] = std::pow(start, double(h + 1));
    return m;
  };
  std::int64_t p = 1;
  while (p * 2 <= n) p *= 2;
  std::vector<double> m = geometric(p);
  if (p < n) {
    const std::vector<double> extra = geometric(2 * p);
    for (std::int64_t i = 0; std::int64_t(m.size()) < n; i += 2) m.push_back(extra[std::size_t(i)]);
  }
  return m;
}

template <class Base = Softmax>
struct ALiBi {
  static constexpr bool fast = false;
  void init(const ModelConfig& c) {
    base_.init(c);
    const auto m = alibi_slopes(c.num_heads);
    slopes_.assign(m.begin(), m.end());
  }
  void weights(std::int64_t head, std::int64_t pos, std::int64_t first, float* s, std::int64_t n) const {
    const float m = slopes_[std::size_t(head)];
    for (std::int64_t j = 0; j < n; ++j) s[j] -= m * float(pos - (first + j));  // −m·(i − j)
    base_.weights(head, pos, first, s, n);
  }

 private:
  Base base_;
  std::vector<float> slopes_;
};

struct SigmoidAttn {
  static constexpr bool fast = false;
  void init(const ModelConfig& c) {
    bias_ = float(c.variants.sigmoid_bias.value_or(-std::log(double(c.max_position_embeddings))));
  }
  void weights(std::int64_t, std::int64_t, std::int64_t, float* s, std::int64_t n) const {
    for (std::int64_t j = 0; j < n; ++j) s[j] = 1.0f / (1.0f + std::exp(-(s[j] + bias_)));
  }
  float bias() const { return bias_; }

 private:
  float bias_ = 0;
};

struct ClippedSoftmax {
  static constexpr bool fast = false;
  void init(const ModelConfig& c) {
    gamma_ = float(c.variants.clip_gamma);
    zeta_ = float(c.variants.clip_zeta);
  }
  void weights(std::int64_t, std::int64_t, std::int64_t, float* s, std::int64_t n) const {
    kernels::softmax_inplace(s, n);
    for (std::int64_t j = 0; j < n; ++j) s[j] = std::clamp((zeta_ - gamma_) * s[j] + gamma_, 0.0f, 1.0f);
  }

 private:
  float gamma_ = 0, zeta_ = 1;
};

// ---- QK-norm policies ----

struct NoQKNorm {
  static constexpr bool enabled = false;
  void load(const io::Checkpoint&, const std::string&, const ModelConfig&) {}
  void apply_q(float*) const {}
  void apply_k(float*) const {}
  std::size_t bytes() const { return 0; }
};

// q_norm and k_norm: one RMSNorm over head_dim each, shared by all heads.
struct QKRMSNorm {
  static constexpr bool enabled = true;
  void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
    q_.load(ck, prefix + ".q_norm", c.head_dim, c.norm_eps);
    k_.load(ck, prefix + ".k_norm", c.head_dim, c.norm_eps);
  }
  void apply_q(float* head) const { q_.forward(head, 1, head); }
  void apply_k(float* head) const { k_.forward(head, 1, head); }
  std::size_t bytes() const { return q_.bytes() + k_.bytes(); }

 private:
  RMSNorm q_, k_;
};

// ---- output gates ----

struct NoGate {
  static constexpr bool enabled = false;
  void load(const io::Checkpoint&, const std::string&, const ModelConfig&) {}
  void apply(const float*, std::int64_t, float*, ThreadPool&) const {}
  std::size_t bytes() const { return 0; }
};

// g_proj.weight [heads, hidden] and g_proj.bias [heads]: ctx[t, h, :] *= σ(g_proj(xn[t])[h]).
struct HeadGate {
  static constexpr bool enabled = true;
  void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
    proj_.load(ck, prefix + ".g_proj", c.num_heads, c.hidden_size, true, QuantSpec{});
    heads_ = c.num_heads;
    hd_ = c.head_dim;
  }
  // xn [T, hidden]: the attention's input; ctx [T, heads·head_dim], scaled in place.
  void apply(const float* xn, std::int64_t T, float* ctx, ThreadPool& pool) const {
    thread_local std::vector<float> g;
    if (g.size() < std::size_t(T * heads_)) g.resize(std::size_t(T * heads_));
    proj_.forward(xn, T, g.data(), pool);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t h = 0; h < heads_; ++h) {
        const float gate = 1.0f / (1.0f + std::exp(-g[std::size_t(t * heads_ + h)]));
        float* o = ctx + (t * heads_ + h) * hd_;
        for (std::int64_t d = 0; d < hd_; ++d) o[d] *= gate;
      }
  }
  std::size_t bytes() const { return proj_.bytes(); }

 private:
  Linear<float> proj_;
  std::int64_t heads_ = 0, hd_ = 0;
};

}  // namespace strata
