// Multi-head self-attention with any query/KV head ratio (MHA, GQA, MQA),
// composed from policies:
//   PosEnc — Rope<RotateHalf> / Rope<Interleaved>
//   Mask   — Causal, or SlidingWindow (Mistral: a query at position i sees keys
//            at i - window < j <= i)
//   Bias   — NoBias, QKVBias (Qwen2), QKVOBias (Llama attention_bias)
// HF tensor names under the prefix: q_proj, k_proj, v_proj, o_proj.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/attention.hpp"
#include "strata/layers/linear.hpp"

namespace strata {

// A mask policy gives the first position a query at `pos` sees, and the
// same as the attention kernels' window: the positions a query sees counting
// itself, 0 for unlimited.
struct Causal {
  void init(const ModelConfig&) {}
  std::int64_t first_visible(std::int64_t) const { return 0; }
  std::int64_t window() const { return 0; }
};

struct SlidingWindow {
  void init(const ModelConfig& c) {
    check(c.sliding_window > 0, "SlidingWindow attention needs a positive sliding_window in the config");
    window_ = c.sliding_window;
  }
  std::int64_t first_visible(std::int64_t pos) const { return std::max<std::int64_t>(0, pos - window_ + 1); }
  std::int64_t window() const { return window_; }

 private:
  std::int64_t window_ = 0;
};

struct NoBias {
  static constexpr bool qkv = false, o = false;
};
struct QKVBias {
  static constexpr bool qkv = true, o = false;
};
struct QKVOBias {
  static constexpr bool qkv = true, o = true;
};

// One layer's slice of the KV cache: [kv_heads][capacity][head_dim] for K and V.
struct KVLayerView {
  float* k;
  float* v;
  std::int64_t capacity;
  std::int64_t head_dim;
  float* k_at(std::int64_t kv_head, std::int64_t pos) const { return k + (kv_head * capacity + pos) * head_dim; }
  float* v_at(std::int64_t kv_head, std::int64_t pos) const { return v + (kv_head * capacity + pos) * head_dim; }
};

// Scratch for attention over T tokens: q [T, q_dim], k/v [T, kv_dim], ctx [T, q_dim].
struct AttentionScratch {
  float *q, *k, *v, *ctx;
};

// Query rows per prefill work item (the kernel tiles them further).
inline constexpr std::int64_t kAttentionQueryRows = 16;
// A decode split covers at least this many cache positions.
inline constexpr std::int64_t kAttentionMinSplit = 256;

// How many chunks decode splits each head's n visible positions into
// (flash-decoding): enough for about two work items per thread, each chunk at
// least kAttentionMinSplit long; 1 means one work item per head.
inline std::int64_t attention_decode_splits(std::int64_t n, std::int64_t heads, int threads) {
  const std::int64_t want = (2 * std::int64_t(threads) + heads - 1) / heads;
  return std::max<std::int64_t>(1, std::min(want, n / kAttentionMinSplit));
}

template <class PosEnc, class Mask, class Bias = NoBias>
struct SelfAttention {
  template <class W>
  class layer {
   public:
    using pos_encoding = PosEnc;

    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check(Bias::qkv == c.qkv_bias && Bias::o == c.o_bias, prefix,
            ": attention bias policy does not match the config (qkv_bias=", c.qkv_bias, ", o_bias=", c.o_bias, ")");
      heads_ = c.num_heads;
      kv_heads_ = c.num_kv_heads;
      head_dim_ = c.head_dim;
      q_.load(ck, prefix + ".q_proj", c.q_dim(), c.hidden_size, Bias::qkv, c.quant);
      k_.load(ck, prefix + ".k_proj", c.kv_dim(), c.hidden_size, Bias::qkv, c.quant);
      v_.load(ck, prefix + ".v_proj", c.kv_dim(), c.hidden_size, Bias::qkv, c.quant);
      o_.load(ck, prefix + ".o_proj", c.hidden_size, c.q_dim(), Bias::o, c.quant);
      mask_.init(c);
    }

    // xn: [T, hidden] normed input of tokens at positions p0..p0+T-1; the
    // cache already holds positions [0, p0). Appends this step's K/V to the
    // cache and writes the attention output [T, hidden] to out.
    void forward(const float* xn, std::int64_t T, std::int64_t p0, const PosEnc& rope, const float* cos,
                 const float* sin, const KVLayerView& cache, const AttentionScratch& s, float* out,
                 ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, half = hd / 2, qd = heads_ * hd, kvd = kv_heads_ * hd;
      q_.forward(xn, T, s.q, pool);  // q = q_proj(x)
      k_.forward(xn, T, s.k, pool);  // k = k_proj(x)
      v_.forward(xn, T, s.v, pool);  // v = v_proj(x)
      for (std::int64_t t = 0; t < T; ++t) {  // q, k = apply_rotary_pos_emb(q, k, cos, sin)
        const float* c = cos + t * half;
        const float* sn = sin + t * half;
        for (std::int64_t h = 0; h < heads_; ++h) rope.apply(s.q + t * qd + h * hd, c, sn);
        for (std::int64_t g = 0; g < kv_heads_; ++g) {
          float* kk = s.k + t * kvd + g * hd;
          rope.apply(kk, c, sn);
          std::copy(kk, kk + hd, cache.k_at(g, p0 + t));
          const float* vv = s.v + t * kvd + g * hd;
          std::copy(vv, vv + hd, cache.v_at(g, p0 + t));
        }
      }
      // attn_output = softmax(q·kᵀ/√d + mask)·v per query head; head h reads KV head h / group.
      const std::int64_t group = heads_ / kv_heads_, window = mask_.window();
      const float scale = 1.0f / std::sqrt(float(hd));
      if (T > 1) {  // prefill: one work item per (head, block of query rows)
        const std::int64_t blocks = (T + kAttentionQueryRows - 1) / kAttentionQueryRows;
        pool.parallel_for(heads_ * blocks, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) {
            const std::int64_t h = i / blocks, t0 = i % blocks * kAttentionQueryRows, g = h / group;
            kernels::attention_prefill(s.q + t0 * qd + h * hd, qd, std::min(kAttentionQueryRows, T - t0), p0 + t0,
                                       cache.k_at(g, 0), cache.v_at(g, 0), hd, window, scale,
                                       s.ctx + t0 * qd + h * hd, qd);
          }
        });
      } else {
        decode(s.q, p0, cache, group, window, scale, s.ctx, pool);
      }
      o_.forward(s.ctx, T, out, pool);  // o_proj(attn_output)
    }

    std::size_t bytes() const { return q_.bytes() + k_.bytes() + v_.bytes() + o_.bytes(); }

   private:
    // Attention of the one query at `pos` per head (q, ctx: [q_dim]). A long
    // visible range is split into chunks across the threads: a partial state
    // (o, m, l) per (head, chunk), merged per head on this thread.
    void decode(const float* q, std::int64_t pos, const KVLayerView& cache, std::int64_t group, std::int64_t window,
                float scale, float* ctx, ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, first = mask_.first_visible(pos), n = pos - first + 1;
      const std::int64_t splits = attention_decode_splits(n, heads_, pool.size());
      if (splits == 1) {
        pool.parallel_for(heads_, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t h = b; h < e; ++h)
            kernels::attention_prefill(q + h * hd, hd, 1, pos, cache.k_at(h / group, 0), cache.v_at(h / group, 0),
                                       hd, window, scale, ctx + h * hd, hd);
        });
        return;
      }
      // Partial states [heads · splits] of o (hd floats), m and l, per calling
      // thread. It grows only with the split count, which the thread count
      // bounds, so steady-state decoding allocates nothing.
      thread_local std::vector<float> partial;
      const std::int64_t items = heads_ * splits;
      if (std::int64_t(partial.size()) < items * (hd + 2)) partial.resize(std::size_t(items * (hd + 2)));
      float *po = partial.data(), *pm = po + items * hd, *pl = pm + items;
      pool.parallel_for(items, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
          const std::int64_t h = i / splits, c = i % splits, g = h / group;
          const std::int64_t c0 = first + n * c / splits, c1 = first + n * (c + 1) / splits;
          kernels::attention_partial(q + h * hd, cache.k_at(g, c0), cache.v_at(g, c0), c1 - c0, hd, scale,
                                     po + i * hd, pm + i, pl + i);
        }
      });
      for (std::int64_t h = 0; h < heads_; ++h)
        kernels::attention_merge(po + h * splits * hd, pm + h * splits, pl + h * splits, splits, hd, ctx + h * hd);
    }

    Linear<W> q_, k_, v_, o_;
    Mask mask_;
    std::int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  };
};

}  // namespace strata
