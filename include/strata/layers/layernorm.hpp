// LayerNorm layers (torch.nn.LayerNorm with an elementwise affine weight):
//   LayerNorm       — weight and bias: "<prefix>.weight" and "<prefix>.bias" of
//                     shape [dim], or the TensorFlow-era names "<prefix>.gamma" /
//                     "<prefix>.beta" that published BERT checkpoints
//                     (bert-base-uncased) still carry and transformers renames at load;
//   LayerNormNoBias — weight only (nn.LayerNorm(bias=False): Cohere, OLMo-style
//                     bias-free models).
// The same interface as RMSNorm, so blocks take any of them as their Norm policy.
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/norm.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

template <bool Bias>
class LayerNormT {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t dim, double eps) {
    const bool legacy = !ck.find(prefix + ".weight") && ck.find(prefix + ".gamma");
    weight_ = WeightTensor<float>::load(ck, prefix + (legacy ? ".gamma" : ".weight"), {dim});
    if constexpr (Bias) bias_ = WeightTensor<float>::load(ck, prefix + (legacy ? ".beta" : ".bias"), {dim});
    dim_ = dim;
    eps_ = float(eps);
  }

  // y[t] = layernorm(x[t]) for T rows of dim floats (y may alias x).
  void forward(const float* x, std::int64_t T, float* y) const {
    const float* b = Bias ? bias_.data() : nullptr;
    for (std::int64_t t = 0; t < T; ++t) kernels::layernorm(x + t * dim_, weight_.data(), b, dim_, eps_, y + t * dim_);
  }
  // The same, rows split across the pool (an encoder's thousands of tokens).
  void forward(const float* x, std::int64_t T, float* y, ThreadPool& pool) const {
    pool.parallel_for(
        T, [&](std::int64_t t0, std::int64_t t1) { forward(x + t0 * dim_, t1 - t0, y + t0 * dim_); }, 16);
  }

  std::size_t bytes() const { return weight_.bytes() + bias_.bytes(); }

 private:
  WeightTensor<float> weight_, bias_;
  std::int64_t dim_ = 0;
  float eps_ = 1e-5f;
};

using LayerNorm = LayerNormT<true>;
using LayerNormNoBias = LayerNormT<false>;

}  // namespace strata
