// BLAS-1 style vector kernels: dot product, y += a·x, x *= a.
#pragma once

#include <cstdint>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

// Σ a[i]·b[i], accumulated in double (the reference returns the double).
inline double dot_ref(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

inline float dot(const float* a, const float* b, std::int64_t n) { return active_kernels().dot(a, b, n); }

inline void axpy_ref(float a, const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = float(double(y[i]) + double(a) * x[i]);
}

// y += a·x
inline void axpy(float a, const float* x, float* y, std::int64_t n) { active_kernels().axpy(a, x, y, n); }

inline void scale_ref(float* x, float a, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = float(double(x[i]) * a);
}

// x *= a
inline void scale(float* x, float a, std::int64_t n) { active_kernels().scale(x, a, n); }

}  // namespace strata::kernels
