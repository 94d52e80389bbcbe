// Normalisations of one vector of n values, computed in float32:
//   RMSNorm:   y = x / sqrt(mean(x²) + eps) · w                (HF LlamaRMSNorm)
//   LayerNorm: y = (x - mean) / sqrt(var + eps) · w + b        (torch.nn.LayerNorm,
//              biased variance; w and/or b may be null: no affine weight / no bias)
#pragma once

#include <cmath>
#include <cstdint>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

inline void rmsnorm_ref(const float* x, const float* w, std::int64_t n, double eps, float* y) {
  double ss = 0;
  for (std::int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / double(n) + eps);
  for (std::int64_t i = 0; i < n; ++i) y[i] = float(x[i] * inv * w[i]);
}

inline void rmsnorm(const float* x, const float* w, std::int64_t n, float eps, float* y) {
  active_kernels().rmsnorm(x, w, n, eps, y);
}

inline void layernorm_ref(const float* x, const float* w, const float* b, std::int64_t n, double eps, float* y) {
  double mean = 0, var = 0;
  for (std::int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= double(n);
  for (std::int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(var / double(n) + eps);
  for (std::int64_t i = 0; i < n; ++i) y[i] = float((x[i] - mean) * inv * (w ? w[i] : 1.0) + (b ? b[i] : 0.0));
}

inline void layernorm(const float* x, const float* w, const float* b, std::int64_t n, float eps, float* y) {
  active_kernels().layernorm(x, w, b, n, eps, y);
}

}  // namespace strata::kernels
