// Encoder blocks: bidirectional attention and an MLP around residual adds,
// with the norms after each sublayer (post-norm: BERT, the original
// Transformer) or before it (pre-norm: ViT, DeiT, CLIP). The sublayers are
// policies like a decoder block's; Names says where their tensors are under
// the block's prefix, so another family with other names reuses the block.
#pragma once

#include <cstdint>
#include <utility>
#include <string>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/decoder_block.hpp"
#include "strata/layers/layernorm.hpp"
#include "strata/layers/token_reduction.hpp"

namespace strata {

// Where a post-norm block's parts are, under "<prefix>.": an empty name is
// the block itself (BERT's intermediate.dense and output.dense sit directly
// under encoder.layer.N).
struct BertLayerNames {
  static constexpr const char* attn = "attention";
  static constexpr const char* attn_norm = "attention.output.LayerNorm";
  static constexpr const char* ffn = "";
  static constexpr const char* ffn_norm = "output.LayerNorm";
};

namespace detail {
// The parts of an encoder block, wherever its norms go: attention, MLP and
// their two norms, loaded from "<prefix>.<Names::...>" (an empty name is the
// block itself).
template <class Attn, class FFN, class Norm, class Names, class W>
class EncoderBlockParts {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
    hidden_ = c.hidden_size;
    attn_.load(ck, sub(prefix, Names::attn), c);
    attn_norm_.load(ck, sub(prefix, Names::attn_norm), c.hidden_size, c.norm_eps);
    ffn_.load(ck, sub(prefix, Names::ffn), c);
    ffn_norm_.load(ck, sub(prefix, Names::ffn_norm), c.hidden_size, c.norm_eps);
  }
  std::size_t bytes() const { return attn_.bytes() + attn_norm_.bytes() + ffn_.bytes() + ffn_norm_.bytes(); }

 protected:
  static std::string sub(const std::string& prefix, const char* name) { return *name ? prefix + "." + name : prefix; }
  typename Attn::template layer<W> attn_;
  Norm attn_norm_, ffn_norm_;
  typename FFN::template layer<W> ffn_;
  std::int64_t hidden_ = 0;
};
}  // namespace detail

// A post-norm residual block (BERT, the original Transformer):
//   h = norm1(x + attn(x));  out = norm2(h + ffn(h))
template <class Attn, class FFN, class Norm = LayerNorm, class Names = BertLayerNames>
struct EncoderBlock {
  template <class W>
  class layer : public detail::EncoderBlockParts<Attn, FFN, Norm, Names, W> {
    using P = detail::EncoderBlockParts<Attn, FFN, Norm, Names, W>;

   public:
    // x: [T, hidden] of the packed sequences, updated in place. The residual
    // adds are fused into the output projections (s.tmp = dense(...) + x),
    // and the norms split rows across the pool.
    void forward(float* x, const SequenceSpans& seqs, const BlockScratch& s, ThreadPool& pool) const {
      const std::int64_t T = seqs.tokens();
      P::attn_.forward(x, seqs, s.attn, s.tmp, pool, x);  // self_outputs = self.attention(hidden_states) + input
      P::attn_norm_.forward(s.tmp, T, x, pool);           // LayerNorm(dense(ctx) + input_tensor)
      P::ffn_.forward(x, T, s.ffn, s.tmp, pool, x);       // output.dense(gelu(intermediate.dense(h))) + h
      P::ffn_norm_.forward(s.tmp, T, x, pool);
    }
  };
};

// Where a ViT / DeiT layer's parts are under "<prefix>." (ViTLayer: the
// attention under "attention", its norms "layernorm_before" and
// "layernorm_after", intermediate.dense and output.dense directly under it).
struct ViTLayerNames {
  static constexpr const char* attn = "attention";
  static constexpr const char* attn_norm = "layernorm_before";
  static constexpr const char* ffn = "";
  static constexpr const char* ffn_norm = "layernorm_after";
};

// A pre-norm residual block (ViT, DeiT, CLIP's encoder layers):
//   h = x + attn(norm1(x));  out = h + ffn(norm2(h))
template <class Attn, class FFN, class Norm = LayerNorm, class Names = ViTLayerNames>
struct PreNormEncoderBlock {
  template <class W>
  class layer : public detail::EncoderBlockParts<Attn, FFN, Norm, Names, W> {
    using P = detail::EncoderBlockParts<Attn, FFN, Norm, Names, W>;

   public:
    // x: [T, hidden] of the packed sequences, updated in place; s.xn and
    // s.tmp hold [T, hidden] each. The residual adds are fused into the
    // output projections.
    void forward(float* x, const SequenceSpans& seqs, const BlockScratch& s, ThreadPool& pool) const {
      const std::int64_t T = seqs.tokens();
      P::attn_norm_.forward(x, T, s.xn, pool);
      P::attn_.forward(s.xn, seqs, s.attn, s.tmp, pool, x);  // h = attention(layernorm_before(x)) + x
      P::ffn_norm_.forward(s.tmp, T, s.xn, pool);
      P::ffn_.forward(s.xn, T, s.ffn, x, pool, s.tmp);  // out = output.dense(act(intermediate.dense(layernorm_after(h)))) + h
    }

    // The same with token reduction (layers/token_reduction.hpp: ToMe,
    // EViT): the attention adds or returns what the reducer asks (taps),
    // then the reducer may shorten the sequences (seqs shrink; x's first
    // seqs.tokens() rows hold the result) before the MLP.
    void forward(float* x, SequenceSpans& seqs, const BlockScratch& s, ThreadPool& pool, TokenReducer& red) const {
      std::int64_t T = seqs.tokens();
      P::attn_norm_.forward(x, T, s.xn, pool);
      P::attn_.forward(s.xn, seqs, s.attn, s.tmp, pool, x, red.taps());
      float* h = s.tmp;  // x + attention
      float* hn = s.xn;
      if (red.reduce(s.tmp, P::hidden_, seqs, s.xn, pool)) {
        std::swap(h, hn);
        T = seqs.tokens();
      }
      P::ffn_norm_.forward(h, T, hn, pool);
      P::ffn_.forward(hn, T, s.ffn, x, pool, h);
    }
  };
};

}  // namespace strata
