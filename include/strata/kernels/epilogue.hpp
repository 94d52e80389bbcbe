// What a projection does to its outputs before they leave the threads that
// computed them: y = act(x·Wᵀ + bias) + residual, each part optional. The
// projections (kernels/gemm.hpp, kernels/quant.hpp) apply it to each block
// of rows × columns a thread has just written, while the block is still in
// that core's cache, so the bias, the activation of an MLP and the residual
// add of a block run on every thread instead of in serial passes over the
// whole output afterwards. The order of operations per element is that of
// the separate passes, so results are the same bit for bit.
#pragma once

#include <cstdint>

namespace strata::kernels {

struct GemmEpilogue {
  const float* bias = nullptr;                          // [N], added first
  void (*act)(float* y, std::int64_t n) = nullptr;      // then in place on a row segment
  const float* residual = nullptr;                      // [T, N] (row stride N), added last; never aliases y

  bool empty() const { return !bias && !act && !residual; }
};

// Applies e to rows [t0, t1) × columns [c0, c1) of y [T, N] (row stride N).
inline void apply_epilogue(const GemmEpilogue& e, float* y, std::int64_t N, std::int64_t t0, std::int64_t t1,
                           std::int64_t c0, std::int64_t c1) {
  if (e.empty() || c0 >= c1) return;
  for (std::int64_t t = t0; t < t1; ++t) {
    float* row = y + t * N;
    if (e.bias)
      for (std::int64_t c = c0; c < c1; ++c) row[c] += e.bias[c];
    if (e.act) e.act(row + c0, c1 - c0);
    if (e.residual) {
      const float* r = e.residual + t * N;
      for (std::int64_t c = c0; c < c1; ++c) row[c] += r[c];
    }
  }
}

}  // namespace strata::kernels
