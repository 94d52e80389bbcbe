// Activations, element-wise: gated, out = act(gate) · up (the gate of a
// gated FFN; out may alias gate or up), and ungated, out = act(x).
//   SiLU(g)      = g / (1 + exp(-g))                              HF "silu"
//   GELU(g)      = g/2 · (1 + erf(g/√2))                          HF "gelu"
//   GELU_tanh(g) = g/2 · (1 + tanh(√(2/π)·(g + 0.044715·g³)))     HF "gelu_pytorch_tanh", "gelu_new"
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

#include "strata/kernels/dispatch.hpp"

namespace strata::kernels {

inline void silu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  active_kernels().silu_mul(gate, up, n, out);
}

inline void gelu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  active_kernels().gelu_mul(gate, up, n, out);
}

inline void gelu_tanh_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  active_kernels().gelu_tanh_mul(gate, up, n, out);
}

// Ungated: out = act(x); out may alias x.
inline void gelu(const float* x, std::int64_t n, float* out) { active_kernels().gelu(x, n, out); }
inline void gelu_tanh(const float* x, std::int64_t n, float* out) { active_kernels().gelu_tanh(x, n, out); }

// References in double.
inline void silu_mul_ref(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

inline void gelu_mul_ref(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(0.5 * g * (1.0 + std::erf(g / std::numbers::sqrt2)) * up[i]);
  }
}

inline void gelu_tanh_mul_ref(const float* gate, const float* up, std::int64_t n, float* out) {
  const double c = std::sqrt(2.0 / std::numbers::pi);
  for (std::int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    out[i] = float(0.5 * g * (1.0 + std::tanh(c * (g + 0.044715 * g * g * g))) * up[i]);
  }
}

}  // namespace strata::kernels
