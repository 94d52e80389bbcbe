// Linear<W>: y = x · Wᵀ + b, as torch.nn.Linear, with weights of type W
// (float; bf16 or f16 stored with f32 compute). Tensors "<prefix>.weight"
// [out, in] and, when asked for, "<prefix>.bias" [out].
//
// A loaded weight is packed once into the panel layout of kernels/gemm.hpp.
// A shared weight (a tied embedding as LM head) stays row-major in place, so
// the embedding table is not stored twice.
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/gemm.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

template <class W = float>
class Linear {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t in, bool bias) {
    packed_ = load_packed<W>(ck, prefix + ".weight", out, in);
    shared_ = nullptr;
    if (bias) bias_ = WeightTensor<float>::load(ck, prefix + ".bias", {out});
    out_ = out;
    in_ = in;
  }

  // Uses an already loaded row-major tensor (a tied embedding) as the weight.
  void share(const WeightTensor<W>& w) {
    packed_ = kernels::PackedMatrix<W>{};
    shared_ = &w;
    out_ = w.dim(0);
    in_ = w.dim(1);
  }

  // x: [T, in] → y: [T, out]
  void forward(const float* x, std::int64_t T, float* y, ThreadPool& pool) const {
    const float* b = bias_.empty() ? nullptr : bias_.data();
    if (shared_) kernels::gemv_rows(x, T, in_, shared_->data(), out_, b, y, pool);
    else kernels::gemm(x, T, packed_, b, y, pool);
  }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  // Bytes of weights one forward call reads (a shared weight included).
  std::size_t bytes() const { return std::size_t(out_ * in_) * sizeof(W) + bias_.bytes(); }

 private:
  kernels::PackedMatrix<W> packed_;
  const WeightTensor<W>* shared_ = nullptr;
  WeightTensor<float> bias_;
  std::int64_t out_ = 0, in_ = 0;
};

}  // namespace strata
