// Activation-sparse FFNs: after a ReLU-family activation most of the
// intermediate activations are exactly zero (the "lazy neuron" observation,
// Li et al. 2023: ~90%+ zeros in trained ReLU transformers), and a zero
// activation contributes nothing to the down projection. These FFNs read
// only the rows of the down projection whose activation is non-zero:
//
//   y[t] = Σ_{i : h[t, i] ≠ 0} h[t, i] · Wdownᵀ[i]     (+ bias)
//
// SparseDown<D> holds Wdown once, in the GEMM's packed layout and the dense
// type D, and reads only the columns of non-zero activations (kPanel
// contiguous weights per unit and panel); the cost of the down projection
// falls with the density of the activations, and its result equals the dense
// product up to float summation order. Prefill calls dense enough for the
// GEMM to win run the GEMM on the same weights. The up (and gate) projections are still dense: which
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
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/packed_weights.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

// y = h · Wᵀ (+ b) for W [out, in], reading only the weights of the units
// whose activation is non-zero.
//
// The weight is held once, in the GEMM's packed panel layout
// (kernels/gemm.hpp: panels of kPanel outputs, K-major), where the kPanel
// weights of one input unit in one panel are contiguous: the sparse path
// walks each panel over the fired units only, its kPanel sums in registers;
// a call whose activations are dense enough for the GEMM to be faster (more
// than one token, over kDenseAbove of them non-zero) runs the GEMM on the
// same weights.
template <class D>
class SparseDown {
 public:
  // Panels (of kPanel outputs) per work item of the sparse path.
  static constexpr std::int64_t kPanelsPerItem = 8;
  // Above this fraction of non-zero activations a multi-token call runs the
  // dense GEMM (measured crossover for 32 tokens: 5–10%, bench/RESULTS.md);
  // a single token always takes the sparse path, which wins even at 50%.
  static constexpr double kDenseAbove = 0.05;

  void load(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in, bool bias) {
    out_ = src.out();
    in_ = in;
    packed_ = load_packed<D>(ck, src, in);  // [out, in]
    bias_ = bias ? WeightTensor<float>::from_floats({out_}, read_bias_f32(ck, src)) : WeightTensor<float>{};
  }

  // h: [T, in] → y: [T, out].
  void forward(const float* h, std::int64_t T, float* y, ThreadPool& pool) const {
    // The non-zero units of each token (per calling thread: sessions on other threads use their own).
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
    const float* b = bias_.empty() ? nullptr : bias_.data();
    if (T > 1 && double(n) > kDenseAbove * double(T * in_)) {
      kernels::gemm(h, T, packed_, b, y, pool);
      return;
    }
    // The workers see the lists through pointers: a thread_local named inside
    // the lambda would be each worker's own (empty) one.
    const std::int32_t* units = nz.data();
    const std::int64_t* first = start.data();
    const std::int64_t panels = packed_.panels(), chunks = (panels + kPanelsPerItem - 1) / kPanelsPerItem;
    pool.parallel_for(T * chunks, [&](std::int64_t b0, std::int64_t e0) {
      for (std::int64_t item = b0; item < e0; ++item) {
        const std::int64_t t = item / chunks, p0 = item % chunks * kPanelsPerItem;
        const float* ht = h + t * in_;
        if (p0 + kPanelsPerItem <= panels && (p0 + kPanelsPerItem) * kernels::kPanel <= out_) {
          // A full item: each fired unit's weights in the item's panels are
          // independent loads, its kPanelsPerItem × kPanel sums in registers.
          float acc[kPanelsPerItem][kernels::kPanel];
          for (std::int64_t q = 0; q < kPanelsPerItem; ++q)
            for (std::int64_t c = 0; c < kernels::kPanel; ++c) acc[q][c] = b ? b[(p0 + q) * kernels::kPanel + c] : 0.0f;
          const D* base = packed_.data() + p0 * in_ * kernels::kPanel;
          const std::int64_t stride = in_ * kernels::kPanel;  // one panel
          for (std::int64_t j = first[t]; j < first[t + 1]; ++j) {
            const std::int64_t i = units[j];
            const float a = ht[i];
            const D* wk = base + i * kernels::kPanel;  // W[n0 .. n0 + kPanel, i] of the item's first panel
            for (std::int64_t q = 0; q < kPanelsPerItem; ++q)
              for (std::int64_t c = 0; c < kernels::kPanel; ++c) acc[q][c] += a * widen(wk[q * stride + c]);
          }
          for (std::int64_t q = 0; q < kPanelsPerItem; ++q)
            std::copy(acc[q], acc[q] + kernels::kPanel, y + t * out_ + (p0 + q) * kernels::kPanel);
          continue;
        }
        for (std::int64_t p = p0; p < std::min(panels, p0 + kPanelsPerItem); ++p) {  // the last, partial item
          const std::int64_t n0 = p * kernels::kPanel, m = std::min(kernels::kPanel, out_ - n0);
          float acc[kernels::kPanel];
          for (std::int64_t c = 0; c < kernels::kPanel; ++c) acc[c] = b && c < m ? b[n0 + c] : 0.0f;
          const D* panel = packed_.data() + p * in_ * kernels::kPanel;
          for (std::int64_t j = first[t]; j < first[t + 1]; ++j) {
            const std::int64_t i = units[j];
            const float a = ht[i];
            const D* wk = panel + i * kernels::kPanel;  // W[n0 .. n0 + kPanel, i]
            for (std::int64_t c = 0; c < kernels::kPanel; ++c) acc[c] += a * widen(wk[c]);
          }
          std::copy(acc, acc + m, y + t * out_ + n0);
        }
      }
    });
  }

  std::int64_t out_features() const { return out_; }
  // Bytes a dense pass reads; a sparse pass reads (density) of them.
  std::size_t bytes() const { return packed_.bytes() + bias_.bytes(); }

 private:
  kernels::PackedMatrix<D> packed_;
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
