// RMSNorm layers: weight "<prefix>.weight" of shape [dim].
//   RMSNorm      — y = x / rms(x) · w        (HF LlamaRMSNorm; Zhang & Sennrich 2019)
//   GemmaRMSNorm — y = x / rms(x) · (1 + w)  (HF GemmaRMSNorm: the stored weight is
//                  an offset from 1, so a zero-initialised norm is the identity)
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/norm.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

template <bool OnePlus>
class RMSNormT {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t dim, double eps) {
    weight_ = WeightTensor<float>::load(ck, prefix + ".weight", {dim});
    if constexpr (OnePlus) {  // 1 + w once at load, then the plain kernel (w + 1 exactly as Gemma's float32 sum)
      float* w = weight_.mutable_data();
      for (std::int64_t i = 0; i < dim; ++i) w[i] = 1.0f + w[i];
    }
    dim_ = dim;
    eps_ = float(eps);
  }

  // y[t] = rmsnorm(x[t]) for T rows of dim floats (y may alias x).
  void forward(const float* x, std::int64_t T, float* y) const {
    for (std::int64_t t = 0; t < T; ++t) kernels::rmsnorm(x + t * dim_, weight_.data(), dim_, eps_, y + t * dim_);
  }

  std::size_t bytes() const { return weight_.bytes(); }

 private:
  WeightTensor<float> weight_;
  std::int64_t dim_ = 0;
  float eps_ = 1e-6f;
};

using RMSNorm = RMSNormT<false>;
using GemmaRMSNorm = RMSNormT<true>;

}  // namespace strata
