// y = x · Wᵀ (+ b) with W stored as bfloat16 [out, in] and float32 compute:
// each thread widens a tile of W rows into a small float buffer (exact) and
// multiplies it with Eigen, so W is read once in its compact form.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "strata/core/dtype.hpp"
#include "strata/kernels/matmul.hpp"

namespace strata::kernels {

inline void widen_bf16(const bf16* src, std::int64_t n, float* dst) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i].bits);
}

inline void matmul_wt_ref(const float* x, std::int64_t T, std::int64_t in, const bf16* w, std::int64_t out,
                          const float* bias, float* y) {
  std::vector<float> wf(std::size_t(in * out));
  widen_bf16(w, in * out, wf.data());
  matmul_wt_ref(x, T, in, wf.data(), out, bias, y);
}

inline void matmul_wt(const float* x, std::int64_t T, std::int64_t in, const bf16* w, std::int64_t out,
                      const float* bias, float* y, ThreadPool& pool) {
  constexpr std::int64_t kTileRows = 64;
  pool.parallel_for(
      out,
      [&](std::int64_t o0, std::int64_t o1) {
        thread_local std::vector<float> tile;
        tile.resize(std::size_t(kTileRows * in));
        for (std::int64_t r0 = o0; r0 < o1; r0 += kTileRows) {
          const std::int64_t n = std::min(kTileRows, o1 - r0);
          widen_bf16(w + r0 * in, n * in, tile.data());
          ConstRowMap W(tile.data(), n, in);
          ConstRowMap X(x, T, in);
          Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>> Y(y + r0, T, n, Eigen::OuterStride<>(out));
          Y.noalias() = X * W.transpose();
          if (bias) Y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + r0, n);
        }
      },
      16);
}

}  // namespace strata::kernels
