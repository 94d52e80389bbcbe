// Activation-sparse FFNs: after a ReLU-family activation most of the
// intermediate activations are exactly zero (the "lazy neuron" observation,
// Li et al. 2023: ~90%+ zeros in trained ReLU transformers), and a zero
// activation contributes nothing to the down projection. These FFNs read
// only the rows of the down projection whose activation is non-zero:
//
//   y[t] = Σ_{i : h[t, i] ≠ 0} h[t, i] · Wdownᵀ[i]     (+ bias)
//
// SparseDown<D> holds Wdown transposed ([intermediate, hidden], one row per
// intermediate unit, in the dense type D) so each non-zero activation reads
// one contiguous row; the cost of the down projection falls with the
// density of the activations, and its result equals the dense product up to
// float summation order. The up (and gate) projections are still dense: which
// units fire is known only after computing them (predicting it, as Deja Vu
// does, is a different primitive).
//
//   SparseMLP<Act, Names>  — MLP<Act, Names> with a sparse down projection
//   SparseGatedFFN<Act>    — GatedFFN<Act> (ReGLU: the zeros come from the gate)
//
// Act must be ReLU or ReLU2 (activations with exact zeros). With quantized
// weights (Quantized<B>) the up / gate projections are quantized and the
// down projection is held dense in B.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/vector.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

// y = h · Wᵀ (+ b) for W [out, in], reading only the rows of Wᵀ whose
// activation is non-zero.
template <class D>
class SparseDown {
 public:
  // Output columns per work item, and tokens per work item in prefill.
  static constexpr std::int64_t kColumns = 256, kTokens = 8;

  void load(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in, bool bias) {
    out_ = src.out();
    in_ = in;
    const std::vector<float> w = read_matrix_f32(ck, src, in);  // [out, in]
    std::vector<float> t(w.size());
    for (std::int64_t n = 0; n < out_; ++n)
      for (std::int64_t k = 0; k < in_; ++k) t[std::size_t(k * out_ + n)] = w[std::size_t(n * in_ + k)];
    wt_ = WeightTensor<D>::from_floats({in_, out_}, t);
    bias_ = bias ? WeightTensor<float>::from_floats({out_}, read_bias_f32(ck, src)) : WeightTensor<float>{};
  }

  // h: [T, in] → y: [T, out].
  void forward(const float* h, std::int64_t T, float* y, ThreadPool& pool) const {
    // The non-zero units of each token, found once (per calling thread: sessions on other threads use their own).
    thread_local std::vector<std::int32_t> nz;
    thread_local std::vector<std::int64_t> start;
    nz.resize(std::size_t(T * in_));
    start.resize(std::size_t(T + 1));
    std::int64_t n = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      start[std::size_t(t)] = n;
      const float* ht = h + t * in_;
      for (std::int64_t i = 0; i < in_; ++i)
        if (ht[i] != 0.0f) nz[std::size_t(n++)] = std::int32_t(i);
    }
    start[std::size_t(T)] = n;
    // The workers see these through pointers: a thread_local named inside the
    // lambda would be each worker's own (empty) one.
    const std::int32_t* units = nz.data();
    const std::int64_t* first = start.data();
    const std::int64_t chunks = (out_ + kColumns - 1) / kColumns, tiles = (T + kTokens - 1) / kTokens;
    pool.parallel_for(tiles * chunks, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t item = b; item < e; ++item) {
        const std::int64_t c0 = item % chunks * kColumns, c1 = std::min(out_, c0 + kColumns), w = c1 - c0;
        const std::int64_t t0 = item / chunks * kTokens, t1 = std::min(T, t0 + kTokens);
        for (std::int64_t t = t0; t < t1; ++t) {
          float* yt = y + t * out_ + c0;
          if (bias_.empty()) std::fill(yt, yt + w, 0.0f);
          else std::copy(bias_.data() + c0, bias_.data() + c1, yt);
          const float* ht = h + t * in_;
          for (std::int64_t j = first[t]; j < first[t + 1]; ++j) {
            const std::int64_t i = units[j];
            const D* row = wt_.row(i) + c0;
            if constexpr (std::is_same_v<D, float>) {
              kernels::axpy(ht[i], row, yt, w);
            } else {
              const float a = ht[i];
              for (std::int64_t c = 0; c < w; ++c) yt[c] += a * widen(row[c]);
            }
          }
        }
      }
    });
  }

  std::int64_t out_features() const { return out_; }
  // Bytes a dense pass would read; a sparse pass reads (density) of them.
  std::size_t bytes() const { return wt_.bytes() + bias_.bytes(); }

 private:
  WeightTensor<D> wt_;  // Wᵀ: [in, out]
  WeightTensor<float> bias_;
  std::int64_t out_ = 0, in_ = 0;
};

template <class Act>
inline constexpr bool has_exact_zeros_v = Act::kind == Activation::ReLU || Act::kind == Activation::ReLU2;

template <class Act, class Names = LlamaMLPNames>
struct SparseMLP {
  static_assert(has_exact_zeros_v<Act>, "SparseMLP needs an activation with exact zeros (ReLU, ReLU2)");

  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check_activation<Act>(c, prefix);
      const std::string p = prefix + ".";
      if constexpr (Names::conv1d)
        up_.load(ck, MatrixSource{{p + Names::up}, {c.intermediate_size}, true}, c.hidden_size, Names::bias, c.quant);
      else
        up_.load(ck, p + Names::up, c.intermediate_size, c.hidden_size, Names::bias, c.quant);
      down_.load(ck, MatrixSource{{p + Names::down}, {c.hidden_size}, Names::conv1d}, c.intermediate_size, Names::bias);
    }

    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool) const {
      up_.forward(xn, T, s.gate, pool);
      Act::apply(s.gate, T * up_.out_features());
      down_.forward(s.gate, T, out, pool);
    }

    std::size_t bytes() const { return up_.bytes() + down_.bytes(); }

   private:
    Linear<W> up_;
    SparseDown<dense_t<W>> down_;
  };
};

template <class Act>
struct SparseGatedFFN {
  static_assert(has_exact_zeros_v<Act>, "SparseGatedFFN needs an activation with exact zeros (ReLU, ReLU2)");

  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check_activation<Act>(c, prefix);
      gate_.load(ck, prefix + ".gate_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      up_.load(ck, prefix + ".up_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      down_.load(ck, MatrixSource{{prefix + ".down_proj"}, {c.hidden_size}, false}, c.intermediate_size, false);
    }

    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool) const {
      gate_.forward(xn, T, s.gate, pool);
      up_.forward(xn, T, s.up, pool);
      Act::gated(s.gate, s.up, T * gate_.out_features(), s.gate);  // zero wherever the gate is
      down_.forward(s.gate, T, out, pool);
    }

    std::size_t bytes() const { return gate_.bytes() + up_.bytes() + down_.bytes(); }

   private:
    Linear<W> gate_, up_;
    SparseDown<dense_t<W>> down_;
  };
};

}  // namespace strata
