// Linear<W>: y = x · Wᵀ + b, as torch.nn.Linear, with weights of type W
// (float; bf16 or f16 stored with f32 compute). Tensors "<prefix>.weight"
// [out, in] and, when asked for, "<prefix>.bias" [out].
//
// A loaded weight is packed once into the panel layout of kernels/gemm.hpp.
// A shared weight (a tied embedding as LM head) stays row-major in place, so
// the embedding table is not stored twice.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/io/hf_config.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/kernels/gemm.hpp"
#include "strata/kernels/gemm_bf16_dot.hpp"
#include "strata/kernels/quant.hpp"
#include "strata/layers/packed_weights.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

// What a caller fuses into a projection after its own bias: y = act(y), then
// y += residual ([T, out], not aliasing y). Applied by each thread to the
// block it computed (kernels/epilogue.hpp).
struct LinearPost {
  void (*act)(float* y, std::int64_t n) = nullptr;
  const float* residual = nullptr;
};

template <class W = float>
class Linear {
 public:
  // `quant` is for quantized weight types (Linear<Quantized<B>>); a dense
  // Linear reads "<prefix>.weight" whatever it says, and takes only its
  // bf16_dot (bf16 weights then move into the paired layout).
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t in, bool bias,
            const QuantSpec& quant = {}) {
    load(ck, MatrixSource{{prefix}, {out}}, in, bias, quant);
  }

  // A fused and/or transposed weight (MatrixSource), with the stacked biases.
  void load(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in, bool bias, const QuantSpec& quant = {}) {
    packed_ = load_packed<W>(ck, src, in);
    shared_ = nullptr;
    out_ = src.out();
    in_ = in;
    bias_ = bias ? WeightTensor<float>::from_floats({out_}, read_bias_f32(ck, src)) : WeightTensor<float>{};
    pair_up(quant);
  }

  // Uses an already loaded row-major tensor (a tied embedding) as the weight.
  void share(const WeightTensor<W>& w) {
    packed_ = kernels::PackedMatrix<W>{};
    pairs_ = kernels::PackedPairs{};
    shared_ = &w;
    out_ = w.dim(0);
    in_ = w.dim(1);
  }

  // x: [T, in] → y: [T, out] (then `post`)
  void forward(const float* x, std::int64_t T, float* y, ThreadPool& pool, const LinearPost& post = {}) const {
    const kernels::GemmEpilogue epi{bias_.empty() ? nullptr : bias_.data(), post.act, post.residual};
    if (shared_) kernels::gemv_rows(x, T, in_, shared_->data(), out_, epi, y, pool);
    else if (!pairs_.empty()) kernels::gemm_bf16_dot(x, T, pairs_, epi, y, pool);
    else kernels::gemm(x, T, packed_, epi, y, pool);
  }

  // Whether forward() runs on bf16 dot products (QuantSpec::bf16_dot).
  bool bf16_dot() const { return !pairs_.empty(); }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  // Bytes of weights one forward call reads (a shared weight included).
  std::size_t bytes() const { return std::size_t(out_ * in_) * sizeof(W) + bias_.bytes(); }

 private:
  // bf16 weights that compute on bf16 dot products move from the panel
  // layout into the paired one (kernels/gemm_bf16_dot.hpp) once loaded.
  void pair_up(const QuantSpec& quant) {
    pairs_ = kernels::PackedPairs{};
    if constexpr (std::is_same_v<W, bf16>) {
      if (!quant.bf16_dot) return;
      pairs_ = kernels::PackedPairs(out_, in_);
      std::vector<bf16> row(static_cast<std::size_t>(in_));
      for (std::int64_t n = 0; n < out_; ++n) {
        for (std::int64_t k = 0; k < in_; ++k) row[std::size_t(k)] = packed_.at(n, k);
        pairs_.set_row(n, row.data());
      }
      packed_ = kernels::PackedMatrix<W>{};
    } else {
      check(!quant.bf16_dot, "bf16 dot products need bf16 weights (the loader converts them)");
    }
  }

  kernels::PackedMatrix<W> packed_;
  kernels::PackedPairs pairs_;
  const WeightTensor<W>* shared_ = nullptr;
  WeightTensor<float> bias_;
  std::int64_t out_ = 0, in_ = 0;
};

// ---- quantized projections ----

// The weight type of a model whose projections are quantized (the format is
// chosen at run time: QuantSpec); B is the dense type of what stays
// unquantized (embeddings, LM head, layers left out).
template <class B>
struct Quantized {
  using dense = B;
};

template <class W>
struct dense_type {
  using type = W;
};
template <class B>
struct dense_type<Quantized<B>> {
  using type = B;
};
template <class W>
using dense_t = typename dense_type<W>::type;

template <class W>
inline constexpr bool is_quantized_v = false;
template <class B>
inline constexpr bool is_quantized_v<Quantized<B>> = true;

// Whether a projection is one the spec keeps dense (a name containing one of keep_dense).
inline bool keeps_dense(const QuantSpec& q, const std::string& prefix) {
  for (const auto& k : q.keep_dense)
    if (prefix.find(k) != std::string::npos) return true;
  return false;
}

// Linear<Quantized<B>>: y = x · Wᵀ + b with W in a quantized format, read
// from a GPTQ / AWQ / strata checkpoint or quantized at load from a dense
// one; a projection the spec keeps dense (or whose input size is not a
// multiple of the group) runs as Linear<B>.
template <class B>
class Linear<Quantized<B>> {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t in, bool bias,
            const QuantSpec& q) {
    qm_ = kernels::QuantMatrix{};
    perm_.clear();
    bias_ = bias ? WeightTensor<float>::load(ck, prefix + ".bias", {out}) : WeightTensor<float>{};
    out_ = out;
    in_ = in;
    const bool wanted = q.enabled && !keeps_dense(q, prefix);
    if (wanted && q.source != QuantSpec::Source::Dense) {
      const char* marker = q.source == QuantSpec::Source::Strata ? ".qcodes" : ".qweight";
      if (ck.find(prefix + marker)) {
        pack(q.source == QuantSpec::Source::GPTQ  ? io::read_gptq(ck, prefix, out, in, q)
             : q.source == QuantSpec::Source::AWQ ? io::read_awq(ck, prefix, out, in, q)
                                                  : io::read_strata_quant(ck, prefix, out, in, q));
        return;
      }
      check(ck.find(prefix + ".weight") != nullptr, ck.source(), ": tensor \"", prefix, marker,
            "\" is missing from the checkpoint");
    } else if (wanted && in % q.group == 0) {
      quantize_at_load(ck, prefix, q);
      return;
    }
    dense_.load(ck, prefix, out, in, false);
  }

  // A fused and/or transposed weight (MatrixSource) of a dense checkpoint,
  // quantized at load as the spec asks; GPTQ / AWQ store no such tensors.
  void load(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in, bool bias, const QuantSpec& q) {
    qm_ = kernels::QuantMatrix{};
    perm_.clear();
    out_ = src.out();
    in_ = in;
    bias_ = bias ? WeightTensor<float>::from_floats({out_}, read_bias_f32(ck, src)) : WeightTensor<float>{};
    const std::string name = src.describe();
    const bool wanted = q.enabled && !keeps_dense(q, name);
    check(!wanted || q.source == QuantSpec::Source::Dense, ck.source(), ": ", name,
          ": quantized checkpoints (", q.describe(), ") of fused or Conv1D projections are not supported");
    if (wanted && in % q.group == 0) {
      const std::vector<float> w = read_matrix_f32(ck, src, in);
      quantize_rows_from(ck.source() + ": tensor \"" + name + ".weight\"", q, [&](std::int64_t n, float* row) {
        std::copy(w.begin() + n * in, w.begin() + (n + 1) * in, row);
      });
      return;
    }
    dense_.load(ck, src, in, false);
  }

  // Uses an already loaded row-major tensor (a tied embedding), dense.
  void share(const WeightTensor<B>& w) {
    qm_ = kernels::QuantMatrix{};
    dense_.share(w);
    out_ = w.dim(0);
    in_ = w.dim(1);
  }

  // Whether forward_quantized() may take an input quantized once for several
  // projections of the same input: quantized, and no GPTQ act-order
  // permutation of the input of its own.
  bool shares_input() const { return !qm_.empty() && perm_.empty(); }

  // forward() on x already quantized into `acts` (shares_input() must hold).
  void forward_quantized(const kernels::QuantActs& acts, float* y, ThreadPool& pool, const LinearPost& post = {}) const {
    check(shares_input(), "forward_quantized: this projection does not take a shared quantized input");
    kernels::gemm_quant(acts, qm_, y, pool, {bias_.empty() ? nullptr : bias_.data(), post.act, post.residual});
  }

  // x: [T, in] → y: [T, out] (then `post`)
  void forward(const float* x, std::int64_t T, float* y, ThreadPool& pool, const LinearPost& post = {}) const {
    const kernels::GemmEpilogue epi{bias_.empty() ? nullptr : bias_.data(), post.act, post.residual};
    if (qm_.empty()) {
      dense_.forward(x, T, y, pool);  // its own bias is empty: ours is applied below
      if (!epi.empty()) kernels::apply_epilogue(epi, y, out_, 0, T, 0, out_);
    } else {
      // Per calling thread: sessions on other threads use their own.
      thread_local kernels::QuantActs acts;
      thread_local std::vector<float> permuted;
      const float* in = x;
      if (!perm_.empty()) {  // GPTQ act order: inputs in the order the groups were packed
        permuted.resize(std::size_t(T * in_));
        for (std::int64_t t = 0; t < T; ++t)
          for (std::int64_t j = 0; j < in_; ++j) permuted[std::size_t(t * in_ + j)] = x[t * in_ + perm_[std::size_t(j)]];
        in = permuted.data();
      }
      kernels::gemm_quant(in, T, qm_, acts, y, pool, epi);
    }
  }

  bool quantized() const { return !qm_.empty(); }
  const kernels::QuantMatrix& matrix() const { return qm_; }
  // W[n, k] as the model computes with it (dequantized), in input order k.
  void dequantize(std::vector<float>& w) const {
    check(quantized(), "dequantize: this projection is not quantized");
    w.assign(std::size_t(out_ * in_), 0.0f);
    std::vector<float> row(static_cast<std::size_t>(in_));
    for (std::int64_t n = 0; n < out_; ++n) {
      qm_.dequantize_row(n, row.data());
      for (std::int64_t j = 0; j < in_; ++j)
        w[std::size_t(n * in_ + (perm_.empty() ? j : perm_[std::size_t(j)]))] = row[std::size_t(j)];
    }
  }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  std::size_t bytes() const {
    return (qm_.empty() ? dense_.bytes() : qm_.bytes() + perm_.size() * sizeof(std::int32_t)) + bias_.bytes();
  }

 private:
  void pack(const io::QuantRows& r) {
    qm_ = kernels::QuantMatrix(r.type, r.N, r.K, r.group, r.asym);
    const std::int64_t ng = r.K / r.group;
    for (std::int64_t n = 0; n < r.N; ++n)
      qm_.set_row(n, r.codes.data() + n * r.K, r.d.data() + n * ng, r.asym ? r.m.data() + n * ng : nullptr);
    perm_ = r.perm;
  }

  void quantize_at_load(const io::Checkpoint& ck, const std::string& prefix, const QuantSpec& q) {
    const std::string name = prefix + ".weight";
    const io::TensorView& t = ck.require(name, {out_, in_});
    ck.check_unchanged(t);
    quantize_rows_from(t.file.string() + ": tensor \"" + name + "\"", q, [&](std::int64_t n, float* row) {
      read_elements<float>(ck, t, std::size_t(n * in_), std::size_t(in_), row);
    });
  }

  // Quantizes rows [0, out) that read_row(n, dst) provides in float, on the
  // calling thread: a model loads its projections in parallel
  // (LoadOptions::threads). The scale searches of q4 / fp4 cost ~50
  // operations a weight. A non-finite weight is an error naming the first one.
  template <class ReadRow>
  void quantize_rows_from(const std::string& what, const QuantSpec& q, ReadRow read_row) {
    qm_ = kernels::QuantMatrix(q.type, out_, in_, q.group, q.asym);
    std::vector<float> row(static_cast<std::size_t>(in_));
    for (std::int64_t n = 0; n < out_; ++n) {
      read_row(n, row.data());
      for (std::int64_t k = 0; k < in_; ++k)
        if (!std::isfinite(row[std::size_t(k)]))
          fail(what, " holds a non-finite value at [", n, ", ", k, "], which cannot be quantized");
      kernels::quantize_rows(qm_, n, 1, row.data());
    }
  }

  kernels::QuantMatrix qm_;
  std::vector<std::int32_t> perm_;
  Linear<B> dense_;
  WeightTensor<float> bias_;
  std::int64_t out_ = 0, in_ = 0;
};

// Projections that read the same input x [T, in] (q/k/v, gate/up), each into
// its own y: quantized ones quantize x once for all of them (int8 blocks
// depend only on x), instead of once per projection; results are the same.
template <class W>
struct SameInput {
  const Linear<W>* proj;
  float* y;
};
template <class W>
void forward_same_input(const float* x, std::int64_t T, ThreadPool& pool, std::initializer_list<SameInput<W>> outs) {
  if constexpr (is_quantized_v<W>) {
    bool shared = true;
    for (const auto& o : outs) shared = shared && o.proj->shares_input();
    if (shared && outs.size() > 0) {
      thread_local kernels::QuantActs acts;  // per calling thread, as Linear's own
      kernels::quantize_input(x, T, outs.begin()->proj->in_features(), acts);
      for (const auto& o : outs) o.proj->forward_quantized(acts, o.y, pool);
      return;
    }
  }
  for (const auto& o : outs) o.proj->forward(x, T, o.y, pool);
}

}  // namespace strata
