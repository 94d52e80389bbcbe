// Gated activations: out = act(gate) * up, element-wise.
#pragma once

#include <cmath>
#include <cstdint>

namespace strata::kernels {

// SiLU(x) = x * sigmoid(x)
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

inline void silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

inline void silu_mul_ref(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

}  // namespace strata::kernels
