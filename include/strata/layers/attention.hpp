// Multi-head self-attention with any query/KV head ratio (MHA, GQA, MQA),
// composed from policies:
//   PosEnc — Rope<RotateHalf> / Rope<Interleaved>, NoRope
//   Mask   — Causal, or SlidingWindow (Mistral: a query at position i sees keys
//            at i - window < j <= i) over a linear cache; or a bounded cache
//            policy of layers/cache_policies.hpp (RingWindow, SinkWindow,
//            A2SF), whose cache holds a fixed number of slots per KV head
//   Bias   — NoBias, QKVBias (Qwen2), QKVOBias (Llama attention_bias, GPT-2, BERT)
//   Names  — where the projections are in the checkpoint: LlamaAttnNames
//            (q_proj, k_proj, v_proj, o_proj), GPT2AttnNames (one fused Conv1D
//            c_attn, c_proj), BertAttnNames (self.query/key/value fused at
//            load into one projection, output.dense)
//   Score, QKNorm, Gate — the variants of layers/attention_variants.hpp:
//            Softmax / ALiBi<> / SigmoidAttn / ClippedSoftmax, NoQKNorm /
//            QKRMSNorm, NoGate / HeadGate
// BidirectionalAttention (encoders) shares the projections; it attends within
// each sequence of a packed batch, with no cache.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/attention.hpp"
#include "strata/kernels/vector.hpp"
#include "strata/layers/attention_variants.hpp"
#include "strata/layers/cache_policies.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/loop_lora.hpp"

namespace strata {

// A mask policy gives the first position a query at `pos` sees, and the
// same as the attention kernels' window: the positions a query sees counting
// itself, 0 for unlimited.
struct Causal {
  static constexpr bool bounded = false;
  void init(const ModelConfig&) {}
  std::int64_t slots(std::int64_t context) const { return context; }
  std::int64_t first_visible(std::int64_t) const { return 0; }
  std::int64_t window() const { return 0; }
};

struct SlidingWindow {
  static constexpr bool bounded = false;
  std::int64_t slots(std::int64_t context) const { return context; }
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
struct OBias {  // ViT with qkv_bias false: only the output projection has a bias
  static constexpr bool qkv = false, o = true;
};

struct LlamaAttnNames {
  static constexpr const char *q = "q_proj", *k = "k_proj", *v = "v_proj", *o = "o_proj";
  static constexpr const char* qkv = nullptr;  // no fused tensor
  static constexpr bool fuse = false;          // one Linear per projection (GPTQ/AWQ store them so)
  static constexpr bool conv1d = false;
};
struct GPT2AttnNames {
  static constexpr const char *q = nullptr, *k = nullptr, *v = nullptr, *o = "c_proj";
  static constexpr const char* qkv = "c_attn";  // [H, 3H] Conv1D: q, k, v columns
  static constexpr bool fuse = true;
  static constexpr bool conv1d = true;
};
struct BertAttnNames {
  static constexpr const char *q = "self.query", *k = "self.key", *v = "self.value", *o = "output.dense";
  static constexpr const char* qkv = nullptr;
  static constexpr bool fuse = true;  // stacked into one [3H, H] projection at load
  static constexpr bool conv1d = false;
};
struct ViTAttnNames {  // ViTAttention / DeiTAttention: attention.query ... output.dense
  static constexpr const char *q = "attention.query", *k = "attention.key", *v = "attention.value",
                              *o = "output.dense";
  static constexpr const char* qkv = nullptr;
  static constexpr bool fuse = true;
  static constexpr bool conv1d = false;
};

// q, k, v and o projections of one attention layer, as Names stores them.
// fused: one GEMM writes [T, q_dim + 2·kv_dim], split into q, k, v.
template <class W, class Bias, class Names>
class AttnProjections {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
    qd_ = c.q_dim();
    kvd_ = c.kv_dim();
    const std::string p = prefix + ".";
    if constexpr (Names::fuse) {
      const MatrixSource src = Names::qkv ? MatrixSource{{p + Names::qkv}, {qd_ + 2 * kvd_}, Names::conv1d}
                                          : MatrixSource{{p + Names::q, p + Names::k, p + Names::v},
                                                         {qd_, kvd_, kvd_}, Names::conv1d};
      qkv_.load(ck, src, c.hidden_size, Bias::qkv, c.quant);
    } else {
      q_.load(ck, p + Names::q, qd_, c.hidden_size, Bias::qkv, c.quant);
      k_.load(ck, p + Names::k, kvd_, c.hidden_size, Bias::qkv, c.quant);
      v_.load(ck, p + Names::v, kvd_, c.hidden_size, Bias::qkv, c.quant);
    }
    if constexpr (Names::conv1d) o_.load(ck, MatrixSource{{p + Names::o}, {c.hidden_size}, true}, qd_, Bias::o, c.quant);
    else o_.load(ck, p + Names::o, c.hidden_size, qd_, Bias::o, c.quant);
    if (c.variants.loop_lora_rank > 0) {  // Relaxed Recursive Transformers: per-loop deltas on q, k, v, o
      check(!Names::fuse, prefix, ": per-loop LoRA needs separate q/k/v projections (this layout fuses them)");
      lora_[0].load(ck, p + Names::q, qd_, c.hidden_size, c);
      lora_[1].load(ck, p + Names::k, kvd_, c.hidden_size, c);
      lora_[2].load(ck, p + Names::v, kvd_, c.hidden_size, c);
      lora_[3].load(ck, p + Names::o, c.hidden_size, qd_, c);
    }
  }

  // xn [T, hidden] → q [T, q_dim], k, v [T, kv_dim]; `loop`: the pass of a
  // looped model (its LoRA deltas, if any).
  void qkv(const float* xn, std::int64_t T, float* q, float* k, float* v, ThreadPool& pool,
           std::int64_t loop = 0) const {
    if constexpr (Names::fuse) {
      thread_local std::vector<float> fused;  // per calling thread: sessions on other threads use their own
      const std::int64_t n = qd_ + 2 * kvd_;
      if (fused.size() < std::size_t(T * n)) fused.resize(std::max(std::size_t(T * n), fused.size() + fused.size() / 4));
      qkv_.forward(xn, T, fused.data(), pool);
      for (std::int64_t t = 0; t < T; ++t) {
        const float* row = fused.data() + t * n;
        std::copy(row, row + qd_, q + t * qd_);
        std::copy(row + qd_, row + qd_ + kvd_, k + t * kvd_);
        std::copy(row + qd_ + kvd_, row + n, v + t * kvd_);
      }
    } else {
      forward_same_input<W>(xn, T, pool, {{&q_, q}, {&k_, k}, {&v_, v}});  // quantized: x quantized once
      lora_[0].add(xn, T, loop, q, pool);
      lora_[1].add(xn, T, loop, k, pool);
      lora_[2].add(xn, T, loop, v, pool);
    }
  }

  // q, k, v of every token as rows of one buffer (at least T · (q_dim +
  // 2·kv_dim) floats): the fused projection's output as it is (q, k, v side
  // by side in each row), or the separate projections' outputs one after
  // the other. Each is `stride` floats from one token to the next.
  struct Rows {
    const float *q, *k, *v;
    std::int64_t q_stride, k_stride, v_stride;
  };
  Rows qkv_rows(const float* xn, std::int64_t T, float* buf, ThreadPool& pool, std::int64_t loop = 0) const {
    if constexpr (Names::fuse) {
      const std::int64_t n = qd_ + 2 * kvd_;
      qkv_.forward(xn, T, buf, pool);
      return {buf, buf + qd_, buf + qd_ + kvd_, n, n, n};
    } else {
      float *q = buf, *k = buf + T * qd_, *v = k + T * kvd_;
      qkv(xn, T, q, k, v, pool, loop);
      return {q, k, v, qd_, kvd_, kvd_};
    }
  }

  // y = o_proj(ctx) (+ residual: [T, hidden], not aliasing y; fused into the
  // projection unless a per-loop LoRA delta comes between).
  void out(const float* ctx, std::int64_t T, float* y, ThreadPool& pool, std::int64_t loop = 0,
           const float* residual = nullptr) const {
    if (lora_[3].empty()) {
      o_.forward(ctx, T, y, pool, {nullptr, residual});
      return;
    }
    o_.forward(ctx, T, y, pool);
    lora_[3].add(ctx, T, loop, y, pool);
    if (residual)
      for (std::int64_t i = 0; i < T * o_.out_features(); ++i) y[i] += residual[i];
  }

  std::size_t bytes() const {
    std::size_t lora = 0;
    for (const LoopLoRA& l : lora_) lora += l.bytes();
    if constexpr (Names::fuse) return qkv_.bytes() + o_.bytes();
    else return q_.bytes() + k_.bytes() + v_.bytes() + o_.bytes() + lora;
  }

 private:
  Linear<W> q_, k_, v_, qkv_, o_;
  LoopLoRA lora_[4];  // q, k, v, o
  std::int64_t qd_ = 0, kvd_ = 0;
};

// One layer's slice of the KV cache: [kv_heads][capacity][head_dim] for K and
// V, `capacity` rows (slots) per KV head: a row per position for a linear
// cache, a fixed number for the bounded policies (layers/cache_policies.hpp),
// which also keep per slot the position it holds and a score
// ([kv_heads][capacity] each; null for a linear cache).
struct KVLayerView {
  float* k;
  float* v;
  std::int64_t capacity;
  std::int64_t head_dim;
  std::int64_t* pos = nullptr;
  float* score = nullptr;
  float* k_at(std::int64_t kv_head, std::int64_t row) const { return k + (kv_head * capacity + row) * head_dim; }
  float* v_at(std::int64_t kv_head, std::int64_t row) const { return v + (kv_head * capacity + row) * head_dim; }
  std::int64_t* pos_at(std::int64_t kv_head) const { return pos + kv_head * capacity; }
  float* score_at(std::int64_t kv_head) const { return score + kv_head * capacity; }
};

// Scratch for attention over T tokens: q [T, q_dim], k/v [T, kv_dim], ctx [T, q_dim].
struct AttentionScratch {
  float *q, *k, *v, *ctx;
  std::int64_t loop = 0;  // looped depth: the pass over the blocks (selects the per-loop LoRA deltas)
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

template <class PosEnc, class Mask, class Bias = NoBias, class Names = LlamaAttnNames, class Score = Softmax,
          class QKNorm = NoQKNorm, class Gate = NoGate>
struct SelfAttention {
  static_assert(!is_bounded_mask<Mask> || std::is_same_v<Score, Softmax>,
                "the bounded cache policies (RingWindow, SinkWindow, A2SF) attend with softmax scores only");
  template <class W>
  class layer {
   public:
    using pos_encoding = PosEnc;
    // The cache this layer needs: rows per KV head for `context` positions,
    // and whether it keeps per-slot positions and scores.
    static constexpr bool cache_slot_state = is_bounded_mask<Mask>;
    std::int64_t cache_slots(std::int64_t context) const { return mask_.slots(context); }
    // Per-loop LoRA deltas (looped depth) on q, k, v, o: separate projections only.
    static constexpr bool loop_lora = !Names::fuse;

    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check(Bias::qkv == c.qkv_bias && Bias::o == c.o_bias, prefix,
            ": attention bias policy does not match the config (qkv_bias=", c.qkv_bias, ", o_bias=", c.o_bias, ")");
      heads_ = c.num_heads;
      kv_heads_ = c.num_kv_heads;
      head_dim_ = c.head_dim;
      proj_.load(ck, prefix, c);
      mask_.init(c);
      score_.init(c);
      check(QKNorm::enabled || !c.qk_norm, prefix, ": the config asks for QK-norm (", c.model_type,
            ") but the composition has none");
      qk_norm_.load(ck, prefix, c);
      gate_.load(ck, prefix, c);
    }

    // xn: [T, hidden] normed input of tokens at positions p0..p0+T-1; the
    // cache already holds positions [0, p0). Appends this step's K/V to the
    // cache and writes the attention output [T, hidden] to out.
    void forward(const float* xn, std::int64_t T, std::int64_t p0, const PosEnc& rope, const float* cos,
                 const float* sin, const KVLayerView& cache, const AttentionScratch& s, float* out,
                 ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, half = hd / 2, qd = heads_ * hd, kvd = kv_heads_ * hd;
      proj_.qkv(xn, T, s.q, s.k, s.v, pool, s.loop);  // q = q_proj(x), k = k_proj(x), v = v_proj(x)
      for (std::int64_t t = 0; t < T; ++t) {  // q, k = apply_rotary_pos_emb(q_norm(q), k_norm(k), cos, sin)
        const float* c = cos + t * half;
        const float* sn = sin + t * half;
        for (std::int64_t h = 0; h < heads_; ++h) {
          qk_norm_.apply_q(s.q + t * qd + h * hd);
          rope.apply(s.q + t * qd + h * hd, c, sn);
        }
        for (std::int64_t g = 0; g < kv_heads_; ++g) {
          float* kk = s.k + t * kvd + g * hd;
          qk_norm_.apply_k(kk);
          rope.apply(kk, c, sn);
          if constexpr (!is_bounded_mask<Mask>) {
            std::copy(kk, kk + hd, cache.k_at(g, p0 + t));
            const float* vv = s.v + t * kvd + g * hd;
            std::copy(vv, vv + hd, cache.v_at(g, p0 + t));
          }
        }
      }
      // attn_output = softmax(q·kᵀ/√d + mask)·v per query head; head h reads KV head h / group.
      const std::int64_t group = heads_ / kv_heads_;
      const float scale = 1.0f / std::sqrt(float(hd));
      if constexpr (is_bounded_mask<Mask>) {
        attend_slots(s, T, p0, cache, group, scale, pool);
      } else if constexpr (!Score::fast) {  // generic path: one work item per (head, query)
        pool.parallel_for(heads_ * T, [&](std::int64_t b, std::int64_t e) {
          thread_local std::vector<float> scores;
          for (std::int64_t i = b; i < e; ++i) {
            const std::int64_t h = i % heads_, t = i / heads_;
            attend_scored(s.q + t * qd + h * hd, h, p0 + t, cache, h / group, scale, s.ctx + t * qd + h * hd, scores);
          }
        });
      } else if (T > 1) {  // prefill: one work item per (head, block of query rows)
        const std::int64_t blocks = (T + kAttentionQueryRows - 1) / kAttentionQueryRows;
        pool.parallel_for(heads_ * blocks, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) {
            const std::int64_t h = i / blocks, t0 = i % blocks * kAttentionQueryRows, g = h / group;
            kernels::attention_prefill(s.q + t0 * qd + h * hd, qd, std::min(kAttentionQueryRows, T - t0), p0 + t0,
                                       cache.k_at(g, 0), cache.v_at(g, 0), hd, mask_.window(), scale,
                                       s.ctx + t0 * qd + h * hd, qd);
          }
        });
      } else {
        decode(s.q, p0, cache, group, mask_.window(), scale, s.ctx, pool);
      }
      gate_.apply(xn, T, s.ctx, pool);  // attn_output * sigmoid(g_proj(x)) per head
      proj_.out(s.ctx, T, out, pool, s.loop);  // o_proj(attn_output)
    }

    std::size_t bytes() const { return proj_.bytes() + qk_norm_.bytes() + gate_.bytes(); }

   private:
    // The bounded policies: the T tokens one after another, one work item per
    // KV head (its slots, positions and scores are its own). Token t takes a
    // slot (its own position's while slots are free, else the policy's
    // choice), then the group's query heads attend over the occupied slots,
    // rows 0 .. min(pos + 1, slots) - 1; a scoring policy (A2SF) then folds
    // the weights each slot received, summed over the group, into its score.
    void attend_slots(const AttentionScratch& s, std::int64_t T, std::int64_t p0, const KVLayerView& cache,
                      std::int64_t group, float scale, ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, qd = heads_ * hd, kvd = kv_heads_ * hd, slots = cache.capacity;
      pool.parallel_for(kv_heads_, [&](std::int64_t b, std::int64_t e) {
        thread_local std::vector<float> buf;  // weights of one query, their sum over the group
        if (std::int64_t(buf.size()) < 2 * slots) buf.resize(std::size_t(2 * slots));
        float *w = buf.data(), *sum = w + slots;
        for (std::int64_t g = b; g < e; ++g) {
          std::int64_t* spos = cache.pos_at(g);
          float* sscore = cache.score_at(g);
          const float *K = cache.k_at(g, 0), *V = cache.v_at(g, 0);
          for (std::int64_t t = 0; t < T; ++t) {
            const std::int64_t pos = p0 + t;
            const std::int64_t slot = pos < slots ? pos : mask_.slot(pos, slots, spos, sscore);
            std::copy(s.k + t * kvd + g * hd, s.k + t * kvd + (g + 1) * hd, cache.k_at(g, slot));
            std::copy(s.v + t * kvd + g * hd, s.v + t * kvd + (g + 1) * hd, cache.v_at(g, slot));
            spos[slot] = pos;
            sscore[slot] = 0.0f;
            const std::int64_t n = std::min(pos + 1, slots);
            if constexpr (Mask::scores) std::fill(sum, sum + n, 0.0f);
            for (std::int64_t h = g * group; h < (g + 1) * group; ++h) {
              const float* q = s.q + t * qd + h * hd;
              float* out = s.ctx + t * qd + h * hd;
              if constexpr (Mask::scores) {  // softmax weights kept: out = Σ w_j v_j
                for (std::int64_t j = 0; j < n; ++j) w[j] = kernels::dot(q, K + j * hd, hd) * scale;
                kernels::softmax_inplace(w, n);
                std::fill(out, out + hd, 0.0f);
                for (std::int64_t j = 0; j < n; ++j) {
                  kernels::axpy(w[j], V + j * hd, out, hd);
                  sum[j] += w[j];
                }
              } else {
                float m = 0, l = 0;
                kernels::attention_partial(q, K, V, n, hd, scale, out, &m, &l);
                const float inv = 1.0f / l;
                for (std::int64_t d = 0; d < hd; ++d) out[d] *= inv;
              }
            }
            mask_.update(sum, sscore, n);
          }
        }
      });
    }

    // One query at `pos` of head h over its visible keys (KV head g): scores
    // q·k·scale, the Score policy's weights, the weighted sum of values.
    void attend_scored(const float* q, std::int64_t h, std::int64_t pos, const KVLayerView& cache, std::int64_t g,
                       float scale, float* out, std::vector<float>& scores) const {
      const std::int64_t hd = head_dim_, first = mask_.first_visible(pos), n = pos - first + 1;
      if (std::int64_t(scores.size()) < n) scores.resize(std::size_t(n));
      float* sc = scores.data();
      for (std::int64_t j = 0; j < n; ++j) sc[j] = kernels::dot(q, cache.k_at(g, first + j), hd) * scale;
      score_.weights(h, pos, first, sc, n);
      std::fill(out, out + hd, 0.0f);
      for (std::int64_t j = 0; j < n; ++j)
        if (sc[j] != 0.0f) kernels::axpy(sc[j], cache.v_at(g, first + j), out, hd);
    }

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

    AttnProjections<W, Bias, Names> proj_;
    Mask mask_;
    Score score_;
    QKNorm qk_norm_;
    Gate gate_;
    std::int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  };
};

// What token reduction (ToMe, EViT: layers/token_reduction.hpp) asks of an
// encoder attention besides its output, each optional: key_bias, T floats
// added to every score of a key within its sequence (ToMe's proportional
// attention: log of the token's size); key_mean [T, head_dim], each
// token's key averaged over heads (ToMe's similarity); cls_attention [T],
// the attention of each sequence's first token on every token of it,
// averaged over heads (EViT's ranking).
struct AttentionTaps {
  const float* key_bias = nullptr;
  float* key_mean = nullptr;
  float* cls_attention = nullptr;
};

// The sequences of a packed batch: sequence i is tokens [start[i], start[i+1])
// of one token stream (start has one more entry than there are sequences).
// Padded batching is the same with every sequence `padded` tokens long, of
// which the first len[i] are real: attention then ignores the padding keys,
// as an attention mask does.
struct SequenceSpans {
  std::vector<std::int64_t> start;  // size n + 1, start[0] = 0
  std::vector<std::int64_t> len;    // real tokens of each sequence (≤ its span)

  std::int64_t count() const { return std::int64_t(len.size()); }
  std::int64_t tokens() const { return start.empty() ? 0 : start.back(); }
};

// Bidirectional multi-head attention over each sequence of a packed batch
// (BERT): every token sees every real token of its own sequence and nothing
// else, so no [T, T] mask exists and no work is spent across sequences.
template <class Bias = QKVOBias, class Names = BertAttnNames>
struct BidirectionalAttention {
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check(Bias::qkv == c.qkv_bias && Bias::o == c.o_bias, prefix,
            ": attention bias policy does not match the config (qkv_bias=", c.qkv_bias, ", o_bias=", c.o_bias, ")");
      heads_ = c.num_heads;
      head_dim_ = c.head_dim;
      check(c.num_kv_heads == c.num_heads, prefix, ": bidirectional attention needs as many KV heads as heads");
      proj_.load(ck, prefix, c);
    }

    // xn: [T, hidden] of the packed sequences; out: [T, hidden], not
    // aliasing xn (nor residual: out = attention(xn) + residual). s.q holds
    // the q, k, v rows (T · (q_dim + 2·kv_dim) floats), s.ctx the heads'
    // outputs; s.k and s.v are not used. The kernel reads each head's q, k
    // and v where the projection wrote them, one work item per (sequence,
    // head): its keys are packed once for all of its queries.
    //
    //
    // For token reduction (layers/token_reduction.hpp), taps: key_bias is
    // added to every score of a key, key_mean receives the keys averaged
    // over heads, cls_attention each sequence's first query's attention.
    void forward(const float* xn, const SequenceSpans& seqs, const AttentionScratch& s, float* out,
                 ThreadPool& pool, const float* residual = nullptr, const AttentionTaps& taps = {}) const {
      const std::int64_t T = seqs.tokens(), hd = head_dim_, d = heads_ * hd;
      const auto r = proj_.qkv_rows(xn, T, s.q, pool);
      const float* key_bias = taps.key_bias;
      if (float* key_mean = taps.key_mean)
        pool.parallel_for(T, [&](std::int64_t t0, std::int64_t t1) {
          for (std::int64_t t = t0; t < t1; ++t) {
            const float* k = r.k + t * r.k_stride;
            float* m = key_mean + t * hd;
            std::copy(k, k + hd, m);
            for (std::int64_t h = 1; h < heads_; ++h)
              for (std::int64_t j = 0; j < hd; ++j) m[j] += k[h * hd + j];
            for (std::int64_t j = 0; j < hd; ++j) m[j] /= float(heads_);
          }
        }, 16);
      const float scale = 1.0f / std::sqrt(float(hd));  // softmax(q·kᵀ/√d + mask)·v
      std::int64_t longest = 0;
      for (std::int64_t i = 0; i < seqs.count(); ++i) longest = std::max(longest, seqs.len[std::size_t(i)]);
      const std::size_t scratch = std::size_t(kernels::attention_gemm_scratch_floats(longest, hd));
      pool.parallel_for(seqs.count() * heads_, [&](std::int64_t b, std::int64_t e) {
        thread_local AlignedBuffer<float> buf;  // per thread running items; grows to the longest sequence
        if (buf.size() < scratch) buf.resize(scratch);
        for (std::int64_t w = b; w < e; ++w) {
          const std::int64_t h = w % heads_, i = w / heads_;
          const std::int64_t s0 = seqs.start[std::size_t(i)], s1 = seqs.start[std::size_t(i) + 1];
          const std::int64_t n = seqs.len[std::size_t(i)];  // real tokens: padding keys are not attended
          kernels::attention_gemm(r.q + s0 * r.q_stride + h * hd, r.q_stride, s1 - s0, r.k + s0 * r.k_stride + h * hd,
                                  r.k_stride, r.v + s0 * r.v_stride + h * hd, r.v_stride, n, hd, scale,
                                  s.ctx + s0 * d + h * hd, d, buf.data(), key_bias ? key_bias + s0 : nullptr);
        }
      });
      if (taps.cls_attention) first_query_attention(r, seqs, scale, key_bias, taps.cls_attention, pool);
      proj_.out(s.ctx, T, out, pool, 0, residual);
    }

    std::size_t bytes() const { return proj_.bytes(); }

   private:
    // out[t] = the attention probability of the first token of t's sequence
    // on t, averaged over the heads (EViT's class-token attention).
    template <class Rows>
    void first_query_attention(const Rows& r, const SequenceSpans& seqs, float scale, const float* key_bias, float* out,
                               ThreadPool& pool) const {
      const std::int64_t hd = head_dim_;
      pool.parallel_for(seqs.count(), [&](std::int64_t b, std::int64_t e) {
        std::vector<double> p;
        for (std::int64_t i = b; i < e; ++i) {
          const std::int64_t s0 = seqs.start[std::size_t(i)], n = seqs.len[std::size_t(i)];
          std::fill(out + s0, out + seqs.start[std::size_t(i) + 1], 0.0f);
          p.resize(std::size_t(n));
          for (std::int64_t h = 0; h < heads_; ++h) {
            const float* q = r.q + s0 * r.q_stride + h * hd;
            double mx = -INFINITY, sum = 0;
            for (std::int64_t j = 0; j < n; ++j) {
              const float* k = r.k + (s0 + j) * r.k_stride + h * hd;
              double v = double(kernels::dot(q, k, hd)) * scale + (key_bias ? double(key_bias[s0 + j]) : 0.0);
              mx = std::max(mx, p[std::size_t(j)] = v);
            }
            for (double& v : p) sum += (v = std::exp(v - mx));
            for (std::int64_t j = 0; j < n; ++j) out[s0 + j] += float(p[std::size_t(j)] / sum / double(heads_));
          }
        }
      });
    }

    AttnProjections<W, Bias, Names> proj_;
    std::int64_t heads_ = 0, head_dim_ = 0;
  };
};

}  // namespace strata
