// Numerically stable softmax in place, and argmax.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace strata::kernels {

inline void softmax_inplace(float* x, std::int64_t n) {
  if (n <= 0) return;
  const float m = *std::max_element(x, x + n);
  float sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (std::int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// Index of the largest value; the first one on ties (as torch.argmax).
inline std::int64_t argmax(const float* x, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace strata::kernels
