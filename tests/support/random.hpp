// Reproducible random test data.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace strata::test {

// n values drawn from N(0, scale²) with a fixed seed.
inline std::vector<float> random_vec(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace strata::test
