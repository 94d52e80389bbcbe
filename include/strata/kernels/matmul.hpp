// y[T, out] = x[T, in] · W[out, in]ᵀ (+ b): the projection every Linear layer
// does, with W in PyTorch's row-major [out, in] layout. T = 1 is the decode
// GEMV, T > 1 the prefill GEMM. Work is split over output features across the
// pool so each thread streams a disjoint slice of W.
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "strata/core/thread_pool.hpp"

namespace strata::kernels {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned>;
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned>;

// Scalar reference, accumulating in double: the yardstick for the fast path.
inline void matmul_wt_ref(const float* x, std::int64_t T, std::int64_t in, const float* w, std::int64_t out,
                          const float* bias, float* y) {
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (std::int64_t i = 0; i < in; ++i) acc += double(x[t * in + i]) * double(w[o * in + i]);
      y[t * out + o] = float(acc);
    }
}

inline void matmul_wt(const float* x, std::int64_t T, std::int64_t in, const float* w, std::int64_t out,
                      const float* bias, float* y, ThreadPool& pool) {
  // Slices of 16 rows keep each thread's part of W cache-line aligned.
  pool.parallel_for(
      out,
      [&](std::int64_t o0, std::int64_t o1) {
        const std::int64_t n = o1 - o0;
        ConstRowMap W(w + o0 * in, n, in);
        if (T == 1) {
          Eigen::Map<const Eigen::VectorXf> xv(x, in);
          Eigen::Map<Eigen::VectorXf> yv(y + o0, n);
          yv.noalias() = W * xv;
          if (bias) yv += Eigen::Map<const Eigen::VectorXf>(bias + o0, n);
        } else {
          ConstRowMap X(x, T, in);
          Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>> Y(y + o0, T, n, Eigen::OuterStride<>(out));
          Y.noalias() = X * W.transpose();
          if (bias) Y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + o0, n);
        }
      },
      16);
}

}  // namespace strata::kernels
