// Softmax in place, and the selections a sampler makes over logits: argmax
// and top-k.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

// x = exp(x - max) / Σ exp(x - max). A NaN anywhere makes every output NaN
// (as torch.softmax).
inline void softmax_inplace(float* x, std::int64_t n) { active_kernels().softmax(x, n); }

inline void softmax_ref(float* x, std::int64_t n) {
  if (n <= 0) return;
  double m = x[0], sum = 0;
  for (std::int64_t i = 1; i < n; ++i) m = std::max(m, double(x[i]));
  std::vector<double> e(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) sum += e[std::size_t(i)] = std::exp(double(x[i]) - m);
  for (std::int64_t i = 0; i < n; ++i) x[i] = float(e[std::size_t(i)] / sum);
}

// Index of the largest value: the first one on ties (as torch.argmax); if
// there is a NaN, the first NaN (torch and numpy rank NaN as the maximum).
// n <= 0 gives 0.
inline std::int64_t argmax(const float* x, std::int64_t n) { return active_kernels().argmax(x, n); }

inline std::int64_t argmax_ref(const float* x, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) return i;
    if (x[i] > x[best]) best = i;
  }
  return best;
}

// idx[0 .. min(k, n)) = indices of the k largest values, largest first, the
// lower index first among equals; NaN ranks above every number (so
// top_k(k = 1) agrees with argmax). Returns min(k, n) (0 for k <= 0); n < 2³¹.
inline std::int64_t top_k(const float* x, std::int64_t n, std::int64_t k, std::int32_t* idx) {
  return active_kernels().top_k(x, n, k, idx);
}

inline std::int64_t top_k_ref(const float* x, std::int64_t n, std::int64_t k, std::int32_t* idx) {
  if (n <= 0 || k <= 0) return 0;
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[std::size_t(i)] = std::int32_t(i);
  auto before = [&](std::int32_t a, std::int32_t b) {
    const bool na = std::isnan(x[a]), nb = std::isnan(x[b]);
    if (na || nb) return na && !nb;
    return x[a] > x[b];
  };
  std::stable_sort(order.begin(), order.end(), before);  // stable: equal values keep index order
  const std::int64_t m = std::min(k, n);
  std::copy(order.begin(), order.begin() + m, idx);
  return m;
}

}  // namespace strata::kernels
