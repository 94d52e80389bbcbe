// RMSNorm layer (HF LlamaRMSNorm): weight "<prefix>.weight" of shape [dim].
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/norm.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

class RMSNorm {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t dim, double eps) {
    weight_ = WeightTensor<float>::load(ck, prefix + ".weight", {dim});
    dim_ = dim;
    eps_ = float(eps);
  }

  // y[t] = rmsnorm(x[t]) for T rows of dim floats.
  void forward(const float* x, std::int64_t T, float* y) const {
    for (std::int64_t t = 0; t < T; ++t) kernels::rmsnorm(x + t * dim_, weight_.data(), dim_, eps_, y + t * dim_);
  }

  std::size_t bytes() const { return weight_.bytes(); }

 private:
  WeightTensor<float> weight_;
  std::int64_t dim_ = 0;
  float eps_ = 1e-6f;
};

}  // namespace strata
