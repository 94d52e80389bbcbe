// Activations, element-wise: gated, out = act(gate) · up (the gate of a
// gated FFN; out may alias gate or up), and ungated, out = act(x).
//   SiLU(g)      = g / (1 + exp(-g))                              HF "silu"
//   GELU(g)      = g/2 · (1 + erf(g/√2))                          HF "gelu"
//   GELU_tanh(g) = g/2 · (1 + tanh(√(2/π)·(g + 0.044715·g³)))     HF "gelu_pytorch_tanh", "gelu_new"
//   ReLU(g)      = max(g, 0)                                      HF "relu"
//   ReLU²(g)     = max(g, 0)²                                     HF "relu2"
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

// ReLU and squared ReLU (Primer, So et al. 2021), gated and ungated. Plain
// loops that the compiler vectorises for whatever target includes them: a
// max and a multiply per element, no transcendental for a SIMD kernel to
// speed up. out may alias the inputs.
inline void relu_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = (gate[i] > 0.0f ? gate[i] : 0.0f) * up[i];
}
inline void relu(const float* x, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
inline void relu2_mul(const float* gate, const float* up, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float r = gate[i] > 0.0f ? gate[i] : 0.0f;
    out[i] = r * r * up[i];
  }
}
inline void relu2(const float* x, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float r = x[i] > 0.0f ? x[i] : 0.0f;
    out[i] = r * r;
  }
}

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
