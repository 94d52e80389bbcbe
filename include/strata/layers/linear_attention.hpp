// Causal linear attention (Katharopoulos et al. 2020, "Transformers are RNNs:
// Fast Autoregressive Transformers with Linear Attention"): softmax(q·k)
// replaced by a feature map φ, so a query at t reads a running state rather
// than every key:
//
//   out_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t),  S_t = Σ_{j≤t} φ(k_j) v_jᵀ,  z_t = Σ_{j≤t} φ(k_j)
//
// LinearAttention<FeatureMap, Bias, Names> has SelfAttention's forward
// signature, so DecoderBlock composes it (with NoRope: there is no position
// encoding; order enters through the causal sums). Projections are Llama's
// (q_proj, k_proj, v_proj, o_proj); with GQA the query heads of a group read
// their KV head's state. No 1/√d scaling (the feature map replaces it).
//
// The state of one (layer, KV head) is S [head_dim][head_dim] (row i: Σ
// φ(k)_i v) and z [head_dim], head_dim + 1 rows of head_dim floats, stored
// in the session's KV cache: rows 0 .. r-1 in its K rows and r .. head_dim in
// its V rows, r = ceil((head_dim + 1) / 2) slots per KV head, whatever the
// context (cache_slots). A forward at position 0 clears it.
//
// Prefill of a chunk of T tokens uses the parallel form: each query combines
// the state carried in from earlier calls with the chunk's own keys up to
// itself (a masked T × T product), then the chunk is folded into the state.
// Decode (T = 1) is the recurrent form: fold the token in, then read. Both
// compute the same sums; tests hold them within 1e-5.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/vector.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/rope.hpp"

namespace strata {

// φ(x) = elu(x) + 1: x + 1 for x > 0, exp(x) otherwise; always positive.
struct EluPlusOne {
  static void apply(float* x, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] + 1.0f : std::exp(x[i]);
  }
};

template <class FeatureMap = EluPlusOne, class Bias = NoBias, class Names = LlamaAttnNames>
struct LinearAttention {
  template <class W>
  class layer {
   public:
    using pos_encoding = NoRope;
    static constexpr bool cache_slot_state = false;

    // Rows per KV head the state takes in the cache (K rows, then V rows), for any context.
    std::int64_t cache_slots(std::int64_t) const { return (head_dim_ + 2) / 2; }

    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check(Bias::qkv == c.qkv_bias && Bias::o == c.o_bias, prefix,
            ": attention bias policy does not match the config (qkv_bias=", c.qkv_bias, ", o_bias=", c.o_bias, ")");
      heads_ = c.num_heads;
      kv_heads_ = c.num_kv_heads;
      head_dim_ = c.head_dim;
      proj_.load(ck, prefix, c);
    }

    // xn: [T, hidden] normed input of the tokens at positions p0 .. p0 + T - 1;
    // the cache holds the state after positions [0, p0). Updates the state and
    // writes the attention output [T, hidden] to out.
    void forward(const float* xn, std::int64_t T, std::int64_t p0, const NoRope&, const float*, const float*,
                 const KVLayerView& cache, const AttentionScratch& s, float* out, ThreadPool& pool) const {
      const std::int64_t hd = head_dim_, qd = heads_ * hd, kvd = kv_heads_ * hd, group = heads_ / kv_heads_;
      check(cache.capacity == cache_slots(0), "LinearAttention: the KV cache has ", cache.capacity,
            " rows per KV head; its state needs ", cache_slots(0));
      proj_.qkv(xn, T, s.q, s.k, s.v, pool);  // q = q_proj(x), k = k_proj(x), v = v_proj(x)
      FeatureMap::apply(s.q, T * qd);          // φ(q), φ(k)
      FeatureMap::apply(s.k, T * kvd);
      const std::int64_t r = cache_slots(0);
      pool.parallel_for(kv_heads_, [&](std::int64_t b, std::int64_t e) {
        thread_local std::vector<float> a;  // φ(q_t)·φ(k_j) of one query over the chunk
        if (std::int64_t(a.size()) < T) a.resize(std::size_t(T));
        for (std::int64_t g = b; g < e; ++g) {
          const auto row = [&](std::int64_t i) { return i < r ? cache.k_at(g, i) : cache.v_at(g, i - r); };
          float* z = row(hd);
          if (p0 == 0)
            for (std::int64_t i = 0; i <= hd; ++i) std::fill(row(i), row(i) + hd, 0.0f);
          const auto fold = [&](std::int64_t t) {  // S += φ(k_t) v_tᵀ, z += φ(k_t)
            const float* fk = s.k + t * kvd + g * hd;
            const float* v = s.v + t * kvd + g * hd;
            for (std::int64_t i = 0; i < hd; ++i) kernels::axpy(fk[i], v, row(i), hd);
            for (std::int64_t i = 0; i < hd; ++i) z[i] += fk[i];
          };
          if (T == 1) fold(0);  // recurrent: the state then includes this token
          for (std::int64_t h = g * group; h < (g + 1) * group; ++h)
            for (std::int64_t t = 0; t < T; ++t) {
              const float* fq = s.q + t * qd + h * hd;
              float* o = s.ctx + t * qd + h * hd;
              std::fill(o, o + hd, 0.0f);
              for (std::int64_t i = 0; i < hd; ++i) kernels::axpy(fq[i], row(i), o, hd);  // φ(q)ᵀ S
              float den = kernels::dot(fq, z, hd);                                        // φ(q)ᵀ z
              if (T > 1) {  // parallel: the chunk's keys up to t, on top of the carried state
                for (std::int64_t j = 0; j <= t; ++j) a[std::size_t(j)] = kernels::dot(fq, s.k + j * kvd + g * hd, hd);
                for (std::int64_t j = 0; j <= t; ++j) {
                  kernels::axpy(a[std::size_t(j)], s.v + j * kvd + g * hd, o, hd);
                  den += a[std::size_t(j)];
                }
              }
              const float inv = 1.0f / den;
              for (std::int64_t d = 0; d < hd; ++d) o[d] *= inv;
            }
          if (T > 1)
            for (std::int64_t t = 0; t < T; ++t) fold(t);
        }
      });
      proj_.out(s.ctx, T, out, pool);  // o_proj(attn_output)
    }

    std::size_t bytes() const { return proj_.bytes(); }

   private:
    AttnProjections<W, Bias, Names> proj_;
    std::int64_t heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  };
};

}  // namespace strata
