// Rotary position embedding applied in place to one head vector of length
// 2·half, given cos/sin of the angles pos·inv_freq[i] for i < half.
#pragma once

#include <cstdint>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

// HF layout: pairs (x[i], x[i + half]); q·cos + rotate_half(q)·sin.
inline void rope_rotate_half(float* v, const float* cos, const float* sin, std::int64_t half) {
  active_kernels().rope_rotate_half(v, cos, sin, half);
}

// GPT-J / original Meta layout: pairs (x[2i], x[2i + 1]).
inline void rope_interleaved(float* v, const float* cos, const float* sin, std::int64_t half) {
  active_kernels().rope_interleaved(v, cos, sin, half);
}

// References in double: the pair (x0, x1) at positions (i0, i1) becomes
// (x0·cos - x1·sin, x1·cos + x0·sin).
inline void rope_rotate_half_ref(float* v, const float* cos, const float* sin, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    const double x0 = v[i], x1 = v[i + half];
    v[i] = float(x0 * cos[i] - x1 * sin[i]);
    v[i + half] = float(x1 * cos[i] + x0 * sin[i]);
  }
}

inline void rope_interleaved_ref(float* v, const float* cos, const float* sin, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    const double x0 = v[2 * i], x1 = v[2 * i + 1];
    v[2 * i] = float(x0 * cos[i] - x1 * sin[i]);
    v[2 * i + 1] = float(x1 * cos[i] + x0 * sin[i]);
  }
}

}  // namespace strata::kernels
