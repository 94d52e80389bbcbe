// Linear<W>: y = x · Wᵀ + b, as torch.nn.Linear, with weights of type W
// (float, or bf16 stored / f32 computed). Tensors "<prefix>.weight" [out, in]
// and, when asked for, "<prefix>.bias" [out].
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/matmul.hpp"
#include "strata/kernels/matmul_bf16.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

template <class W = float>
class Linear {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t in, bool bias) {
    weight_ = WeightTensor<W>::load(ck, prefix + ".weight", {out, in});
    if (bias) bias_ = WeightTensor<float>::load(ck, prefix + ".bias", {out});
    out_ = out;
    in_ = in;
  }

  // Uses an already loaded tensor (a tied embedding) as the weight.
  void share(const WeightTensor<W>& w) {
    weight_ = WeightTensor<W>{};
    shared_ = &w;
    out_ = w.dim(0);
    in_ = w.dim(1);
  }

  // x: [T, in] → y: [T, out]
  void forward(const float* x, std::int64_t T, float* y, ThreadPool& pool) const {
    kernels::matmul_wt(x, T, in_, weights().data(), out_, bias_.empty() ? nullptr : bias_.data(), y, pool);
  }

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  const WeightTensor<W>& weights() const { return shared_ ? *shared_ : weight_; }
  std::size_t bytes() const { return (shared_ ? 0 : weight_.bytes()) + bias_.bytes(); }

 private:
  WeightTensor<W> weight_;
  const WeightTensor<W>* shared_ = nullptr;
  WeightTensor<float> bias_;
  std::int64_t out_ = 0, in_ = 0;
};

}  // namespace strata
