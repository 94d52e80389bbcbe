// LayerNorm layer (torch.nn.LayerNorm with elementwise affine and bias):
// tensors "<prefix>.weight" and "<prefix>.bias" of shape [dim], or the
// TensorFlow-era names "<prefix>.gamma" / "<prefix>.beta" that published BERT
// checkpoints (bert-base-uncased) still carry and transformers renames at
// load. The same interface as RMSNorm, so blocks take either as their Norm
// policy.
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/norm.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

class LayerNorm {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t dim, double eps) {
    const bool legacy = !ck.find(prefix + ".weight") && ck.find(prefix + ".gamma");
    weight_ = WeightTensor<float>::load(ck, prefix + (legacy ? ".gamma" : ".weight"), {dim});
    bias_ = WeightTensor<float>::load(ck, prefix + (legacy ? ".beta" : ".bias"), {dim});
    dim_ = dim;
    eps_ = float(eps);
  }

  // y[t] = layernorm(x[t]) for T rows of dim floats (y may alias x).
  void forward(const float* x, std::int64_t T, float* y) const {
    for (std::int64_t t = 0; t < T; ++t)
      kernels::layernorm(x + t * dim_, weight_.data(), bias_.data(), dim_, eps_, y + t * dim_);
  }

  std::size_t bytes() const { return weight_.bytes() + bias_.bytes(); }

 private:
  WeightTensor<float> weight_, bias_;
  std::int64_t dim_ = 0;
  float eps_ = 1e-5f;
};

}  // namespace strata
