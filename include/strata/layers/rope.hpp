// Rotary position embeddings (RoFormer, arXiv:2104.09864) as a policy:
// Rope<Layout> where Layout says which elements form a rotating pair.
//   RotateHalf  — HF transformers layout: (x[i], x[i + d/2])
//   Interleaved — GPT-J / original Meta layout: (x[2i], x[2i + 1])
// Frequencies inv_freq[i] = theta^(-2i/d), optionally rescaled as Llama 3.1
// does ("llama3" rope_scaling).
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "strata/io/hf_config.hpp"
#include "strata/kernels/rope.hpp"

namespace strata {

struct RotateHalf {
  static void apply(float* v, const float* cos, const float* sin, std::int64_t half) {
    kernels::rope_rotate_half(v, cos, sin, half);
  }
};

struct Interleaved {
  static void apply(float* v, const float* cos, const float* sin, std::int64_t half) {
    kernels::rope_interleaved(v, cos, sin, half);
  }
};

// Inverse frequencies for head_dim `dim`, mirroring transformers'
// _compute_default_rope_parameters and _compute_llama3_parameters.
inline std::vector<double> rope_inv_freq(std::int64_t dim, double theta, const RopeScaling& scaling) {
  const std::int64_t half = dim / 2;
  std::vector<double> inv(std::size_t(half), 0.0);
  for (std::int64_t i = 0; i < half; ++i) inv[std::size_t(i)] = 1.0 / std::pow(theta, double(2 * i) / double(dim));
  if (scaling.kind == RopeScaling::Kind::Llama3) {
    const double old_len = double(scaling.original_max_position_embeddings);
    const double low_wavelen = old_len / scaling.low_freq_factor;
    const double high_wavelen = old_len / scaling.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;  // high frequency: unchanged
      if (wavelen > low_wavelen) {           // low frequency: slowed down by factor
        f /= scaling.factor;
        continue;
      }
      const double smooth =
          (old_len / wavelen - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor);
      f = (1.0 - smooth) * f / scaling.factor + smooth * f;
    }
  }
  return inv;
}

template <class Layout>
class Rope {
 public:
  void init(std::int64_t head_dim, double theta, const RopeScaling& scaling) {
    half_ = head_dim / 2;
    inv_freq_ = rope_inv_freq(head_dim, theta, scaling);
  }

  std::int64_t half() const { return half_; }

  // cos/sin tables for positions [p0, p0 + T): [T, half] each. Angles are
  // formed in double so long contexts keep their precision.
  void tables(std::int64_t p0, std::int64_t T, float* cos, float* sin) const {
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < half_; ++i) {
        const double a = double(p0 + t) * inv_freq_[std::size_t(i)];
        cos[t * half_ + i] = float(std::cos(a));
        sin[t * half_ + i] = float(std::sin(a));
      }
  }

  // Rotates one head vector with the tables of its position.
  void apply(float* v, const float* cos, const float* sin) const { Layout::apply(v, cos, sin, half_); }

 private:
  std::int64_t half_ = 0;
  std::vector<double> inv_freq_;
};

// No positional encoding inside attention (NoPE, Kazemnejad et al. 2023; and
// models whose positions are learned embeddings added to the input, GPT-2):
// the same interface as Rope, doing nothing.
class NoRope {
 public:
  void init(std::int64_t, double, const RopeScaling&) {}
  void tables(std::int64_t, std::int64_t, float*, float*) const {}
  void apply(float*, const float*, const float*) const {}
};

}  // namespace strata
