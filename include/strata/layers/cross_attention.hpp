// Cross-attention for encoder-decoder use, and the decoder block that
// composes it:
//   CrossAttention<Bias, Names> — queries from the decoder's normed hidden
//       states, keys and values from an encoder output (the "memory", [S,
//       hidden]); every query sees every memory position: softmax(q·kᵀ/√d)·v
//       per head, no mask, no positions, then o_proj. MHA, GQA and MQA as in
//       SelfAttention (query head h reads KV head h / (heads / kv_heads)).
//       Its K/V depend on the memory only, so they are computed once per
//       memory (set_memory, into a cross KV cache: runtime/kv_cache.hpp
//       CrossKVCache) and read by every prefill and decode step after it.
//   CrossDecoderBlock<Norm, SelfAttn, CrossAttn, FFN, Names> — pre-norm
//       (Whisper / T5 decoder layers):
//         h = x + self_attn(norm1(x))
//         h = h + cross_attn(norm_c(h), memory)
//         out = h + ffn(norm2(h))
//       LlamaCrossNames: model.layers.N.{input_layernorm, self_attn,
//       cross_attn_layernorm, cross_attn.{q,k,v,o}_proj,
//       post_attention_layernorm, mlp}.
// The memory's width is the decoder's hidden_size.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/layers/attention.hpp"
#include "strata/layers/decoder_block.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/rmsnorm.hpp"
#include "strata/layers/rope.hpp"

namespace strata {

template <class Bias = NoBias, class Names = LlamaAttnNames>
struct CrossAttention {
  static_assert(!Names::fuse, "CrossAttention projects queries and keys/values from different inputs: it needs "
                              "separate q/k/v projections (LlamaAttnNames)");
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      heads_ = c.num_heads;
      kv_heads_ = c.num_kv_heads;
      head_dim_ = c.head_dim;
      const std::string p = prefix + ".";
      q_.load(ck, p + Names::q, c.q_dim(), c.hidden_size, Bias::qkv, c.quant);
      k_.load(ck, p + Names::k, c.kv_dim(), c.hidden_size, Bias::qkv, c.quant);
      v_.load(ck, p + Names::v, c.kv_dim(), c.hidden_size, Bias::qkv, c.quant);
      o_.load(ck, p + Names::o, c.hidden_size, c.q_dim(), Bias::o, c.quant);
    }

    // memory [S, hidden] → the cross K/V of this layer: cache.k_at(g, j) =
    // k_proj(memory[j]) of KV head g (likewise v), cache.capacity == S.
    // k, v: scratch of [S, kv_dim] floats each.
    void set_memory(const float* memory, std::int64_t S, const KVLayerView& cache, float* k, float* v,
                    ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, kvd = kv_heads_ * hd;
      k_.forward(memory, S, k, pool);  // key_states = k_proj(encoder_hidden_states)
      v_.forward(memory, S, v, pool);  // value_states = v_proj(encoder_hidden_states)
      for (std::int64_t j = 0; j < S; ++j)  // head-major: each KV head's rows contiguous for the kernel
        for (std::int64_t g = 0; g < kv_heads_; ++g) {
          std::copy(k + j * kvd + g * hd, k + j * kvd + (g + 1) * hd, cache.k_at(g, j));
          std::copy(v + j * kvd + g * hd, v + j * kvd + (g + 1) * hd, cache.v_at(g, j));
        }
    }

    // xn: [T, hidden] normed decoder states; cache: this layer's cross K/V
    // (capacity = memory positions). Writes [T, hidden] to out. Uses s.q and
    // s.ctx ([T, q_dim]) only.
    void forward(const float* xn, std::int64_t T, const KVLayerView& cache, const AttentionScratch& s, float* out,
                 ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, qd = heads_ * hd, S = cache.capacity, group = heads_ / kv_heads_;
      const float scale = 1.0f / std::sqrt(float(hd));
      q_.forward(xn, T, s.q, pool);  // query_states = q_proj(hidden_states)
      // attn_output = softmax(q·kᵀ/√d)·v over all S memory positions.
      const std::int64_t splits = T == 1 ? attention_decode_splits(S, heads_, pool.size()) : 1;
      if (splits > 1) {  // one query, a long memory: (head, chunk) partial states merged per head
        thread_local std::vector<float> partial;  // per calling thread; grows with the thread count only
        const std::int64_t items = heads_ * splits;
        if (std::int64_t(partial.size()) < items * (hd + 2)) partial.resize(std::size_t(items * (hd + 2)));
        float *po = partial.data(), *pm = po + items * hd, *pl = pm + items;
        pool.parallel_for(items, [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) {
            const std::int64_t h = i / splits, c = i % splits, g = h / group;
            const std::int64_t c0 = S * c / splits, c1 = S * (c + 1) / splits;
            kernels::attention_partial(s.q + h * hd, cache.k_at(g, c0), cache.v_at(g, c0), c1 - c0, hd, scale,
                                       po + i * hd, pm + i, pl + i);
          }
        });
        for (std::int64_t h = 0; h < heads_; ++h)
          kernels::attention_merge(po + h * splits * hd, pm + h * splits, pl + h * splits, splits, hd, s.ctx + h * hd);
        o_.forward(s.ctx, T, out, pool);  // o_proj(attn_output)
        return;
      }
      // Otherwise one work item per (head, block of queries).
      const std::int64_t blocks = (T + kAttentionQueryRows - 1) / kAttentionQueryRows;
      pool.parallel_for(heads_ * blocks, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) {
          const std::int64_t h = i / blocks, t0 = i % blocks * kAttentionQueryRows, g = h / group;
          kernels::attention_bidirectional(s.q + t0 * qd + h * hd, qd, std::min(kAttentionQueryRows, T - t0),
                                           cache.k_at(g, 0), cache.v_at(g, 0), S, hd, scale,
                                           s.ctx + t0 * qd + h * hd, qd);
        }
      });
      o_.forward(s.ctx, T, out, pool);  // o_proj(attn_output)
    }

    std::size_t bytes() const { return q_.bytes() + k_.bytes() + v_.bytes() + o_.bytes(); }

   private:
    Linear<W> q_, k_, v_, o_;
    std::int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  };
};

struct LlamaCrossNames : LlamaNames {
  static constexpr const char* cross_norm = "cross_attn_layernorm";
  static constexpr const char* cross = "cross_attn";
};

template <class Norm, class SelfAttn, class CrossAttn, class FFN, class Names = LlamaCrossNames>
struct CrossDecoderBlock {
  using pos_encoding = typename SelfAttn::template layer<float>::pos_encoding;

  template <class W>
  class layer : public detail::BlockParts<Norm, SelfAttn, FFN, Names, W> {
    using Parts = detail::BlockParts<Norm, SelfAttn, FFN, Names, W>;

   public:
    // CausalLM passes this block its cross K/V and refuses to run it without a memory.
    static constexpr bool cross_attention = true;
    // The cross K/V are cached once per memory, for every pass alike: no per-loop LoRA.
    static constexpr bool loop_lora = false;

    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      Parts::load(ck, prefix, c);
      cross_norm_.load(ck, prefix + "." + Names::cross_norm, c.hidden_size, c.norm_eps);
      cross_.load(ck, prefix + "." + Names::cross, c);
    }

    std::size_t bytes() const { return Parts::bytes() + cross_norm_.bytes() + cross_.bytes(); }

    // See CrossAttention::set_memory.
    void set_memory(const float* memory, std::int64_t S, const KVLayerView& cross, float* k, float* v,
                    ThreadPool& pool) const {
      cross_.set_memory(memory, S, cross, k, v, pool);
    }

    // x: [T, hidden] residual stream, updated in place; cross: this layer's
    // cross K/V, computed by set_memory.
    void forward(float* x, std::int64_t T, std::int64_t p0, const pos_encoding& rope, const float* cos,
                 const float* sin, const KVLayerView& cache, const KVLayerView& cross, const BlockScratch& s,
                 ThreadPool& pool) const {
      const std::int64_t n = T * this->hidden_;
      this->attn_norm_.forward(x, T, s.xn);  // hidden_states = self.input_layernorm(hidden_states)
      this->attn_.forward(s.xn, T, p0, rope, cos, sin, cache, s.attn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] += s.tmp[i];
      cross_norm_.forward(x, T, s.xn);  // hidden_states = self.cross_attn_layernorm(hidden_states)
      cross_.forward(s.xn, T, cross, s.attn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] += s.tmp[i];
      this->ffn_norm_.forward(x, T, s.xn);  // hidden_states = self.post_attention_layernorm(hidden_states)
      this->ffn_.forward(s.xn, T, s.ffn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] += s.tmp[i];
    }

   private:
    Norm cross_norm_;
    typename CrossAttn::template layer<W> cross_;
  };
};

// A Llama decoder layer with cross-attention after its self-attention.
using LlamaCrossBlock =
    CrossDecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, CrossAttention<>, GatedFFN<SiLU>>;

}  // namespace strata
