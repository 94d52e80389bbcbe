// Rotary position embedding applied to one head vector of length 2·half, given
// cos/sin of the angles pos·inv_freq[i] for i < half.
#pragma once

#include <cstdint>

namespace strata::kernels {

// HF layout: pairs (x[i], x[i + half]); q·cos + rotate_half(q)·sin.
inline void rope_rotate_half(float* v, const float* cos, const float* sin, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    const float x0 = v[i], x1 = v[i + half];
    v[i] = x0 * cos[i] - x1 * sin[i];
    v[i + half] = x1 * cos[i] + x0 * sin[i];
  }
}

// GPT-J / original Meta layout: pairs (x[2i], x[2i + 1]).
inline void rope_interleaved(float* v, const float* cos, const float* sin, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    const float x0 = v[2 * i], x1 = v[2 * i + 1];
    v[2 * i] = x0 * cos[i] - x1 * sin[i];
    v[2 * i + 1] = x1 * cos[i] + x0 * sin[i];
  }
}

}  // namespace strata::kernels
