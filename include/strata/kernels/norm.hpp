// RMSNorm: y = x / sqrt(mean(x²) + eps) * w   (HF LlamaRMSNorm, computed in float32)
#pragma once

#include <cmath>
#include <cstdint>

namespace strata::kernels {

inline void rmsnorm_ref(const float* x, const float* w, std::int64_t n, double eps, float* y) {
  double ss = 0;
  for (std::int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
  for (std::int64_t i = 0; i < n; ++i) y[i] = float(x[i] * inv * w[i]);
}

inline void rmsnorm(const float* x, const float* w, std::int64_t n, float eps, float* y) {
  float ss = 0;
  for (std::int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

}  // namespace strata::kernels
