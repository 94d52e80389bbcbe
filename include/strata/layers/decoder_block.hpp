// Decoder blocks:
//   DecoderBlock  — pre-norm residual (Llama family, GPT-2):
//                   h = x + attn(norm1(x));  out = h + ffn(norm2(h))
//   DeepNormBlock — post-norm with the residual scaled up (DeepNet, Wang et al.
//                   2022): h = norm1(α·x + attn(x));  out = norm2(α·h + ffn(h)),
//                   α = (2N)^(1/4) for N layers unless config.json's
//                   strata_variants.deepnorm_alpha says otherwise
// Names gives the HF tensor prefixes of its parts (LlamaNames by default), so
// the same composition loads any checkpoint that follows that naming; in a
// DeepNormBlock attn_norm is the norm after the attention's residual sum.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "strata/layers/attention.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/rmsnorm.hpp"

namespace strata {

struct LlamaNames {
  static constexpr const char* attn_norm = "input_layernorm";
  static constexpr const char* attn = "self_attn";
  static constexpr const char* ffn_norm = "post_attention_layernorm";
  static constexpr const char* ffn = "mlp";
};

// Per-forward scratch of a block, sized for T tokens by the model.
struct BlockScratch {
  float* xn;   // [T, hidden]
  float* tmp;  // [T, hidden]
  AttentionScratch attn;
  FFNScratch ffn;
};

namespace detail {

// The parts of a block and their loading, shared by the block kinds, which
// differ only in how forward() wires them: attention and FFN, each with its
// norm, under the prefixes Names gives.
template <class Norm, class Attn, class FFN, class Names, class W>
class BlockParts {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
    hidden_ = c.hidden_size;
    attn_norm_.load(ck, prefix + "." + Names::attn_norm, c.hidden_size, c.norm_eps);
    attn_.load(ck, prefix + "." + Names::attn, c);
    ffn_norm_.load(ck, prefix + "." + Names::ffn_norm, c.hidden_size, c.norm_eps);
    ffn_.load(ck, prefix + "." + Names::ffn, c);
  }

  std::size_t bytes() const { return attn_norm_.bytes() + attn_.bytes() + ffn_norm_.bytes() + ffn_.bytes(); }

  // Whether both parts apply per-loop LoRA deltas (layers/loop_lora.hpp), as
  // a looped model with strata_variants.loop_lora_rank needs.
  static constexpr bool loop_lora = [] {
    if constexpr (requires { Attn::template layer<W>::loop_lora; } && requires { FFN::template layer<W>::loop_lora; })
      return Attn::template layer<W>::loop_lora && FFN::template layer<W>::loop_lora;
    else return false;
  }();

  // The KV cache the attention needs (rows per KV head for `context`
  // positions; per-slot state): see SelfAttention.
  std::int64_t cache_slots(std::int64_t context) const {
    if constexpr (requires { attn_.cache_slots(context); }) return attn_.cache_slots(context);
    else return context;
  }
  static constexpr bool cache_slot_state = [] {
    if constexpr (requires { Attn::template layer<W>::cache_slot_state; }) return Attn::template layer<W>::cache_slot_state;
    else return false;
  }();

 protected:
  Norm attn_norm_, ffn_norm_;
  typename Attn::template layer<W> attn_;
  typename FFN::template layer<W> ffn_;
  std::int64_t hidden_ = 0;
};

}  // namespace detail

template <class Norm, class Attn, class FFN, class Names = LlamaNames>
struct DecoderBlock {
  using pos_encoding = typename Attn::template layer<float>::pos_encoding;

  template <class W>
  class layer : public detail::BlockParts<Norm, Attn, FFN, Names, W> {
   public:
    // x: [T, hidden] residual stream, updated in place.
    void forward(float* x, std::int64_t T, std::int64_t p0, const pos_encoding& rope, const float* cos,
                 const float* sin, const KVLayerView& cache, const BlockScratch& s, ThreadPool& pool) const {
      const std::int64_t n = T * this->hidden_;
      this->attn_norm_.forward(x, T, s.xn);  // hidden_states = self.input_layernorm(hidden_states)
      this->attn_.forward(s.xn, T, p0, rope, cos, sin, cache, s.attn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] += s.tmp[i];  // hidden_states = residual + hidden_states
      this->ffn_norm_.forward(x, T, s.xn);  // hidden_states = self.post_attention_layernorm(hidden_states)
      this->ffn_.forward(s.xn, T, s.ffn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] += s.tmp[i];
    }
  };
};

template <class Norm, class Attn, class FFN, class Names = LlamaNames>
struct DeepNormBlock {
  using pos_encoding = typename Attn::template layer<float>::pos_encoding;

  template <class W>
  class layer : public detail::BlockParts<Norm, Attn, FFN, Names, W> {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      detail::BlockParts<Norm, Attn, FFN, Names, W>::load(ck, prefix, c);
      alpha_ = float(c.variants.deepnorm_alpha.value_or(std::pow(2.0 * double(c.num_layers), 0.25)));
    }

    // x: [T, hidden] residual stream, updated in place.
    void forward(float* x, std::int64_t T, std::int64_t p0, const pos_encoding& rope, const float* cos,
                 const float* sin, const KVLayerView& cache, const BlockScratch& s, ThreadPool& pool) const {
      const std::int64_t n = T * this->hidden_;
      this->attn_.forward(x, T, p0, rope, cos, sin, cache, s.attn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] = alpha_ * x[i] + s.tmp[i];  // α·x + attn(x)
      this->attn_norm_.forward(x, T, x);
      this->ffn_.forward(x, T, s.ffn, s.tmp, pool);
      for (std::int64_t i = 0; i < n; ++i) x[i] = alpha_ * x[i] + s.tmp[i];
      this->ffn_norm_.forward(x, T, x);
    }

   private:
    float alpha_ = 1;
  };
};

}  // namespace strata
