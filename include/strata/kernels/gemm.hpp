// Projections y[T, N] = x[T, K] · W[N, K]ᵀ (+ b), as torch.nn.Linear: the
// front-end of the SIMD kernels in kernels/simd/gemm.hpp.
//
// PackedMatrix<W> holds W re-laid out once, at load, in panels of 16 output
// rows (see kernels/kernel_table.hpp); gemm() splits the panels across the
// thread pool, so each thread streams a disjoint part of W (decode) or
// computes all T tokens for its columns (prefill). gemv_rows() is the path for
// weights that must stay row-major (a tied embedding used as the LM head).
// W is float, bf16 or f16; math is f32 throughout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "strata/core/aligned_buffer.hpp"
#include "strata/core/dtype.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/kernels/epilogue.hpp"

namespace strata::kernels {

inline double widen_ref(float x) { return x; }
inline double widen_ref(bf16 x) { return bf16_to_f32(x.bits); }
inline double widen_ref(f16 x) { return f16_to_f32(x.bits); }

template <class W>
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(std::int64_t N, std::int64_t K) : n_(N), k_(K), buf_(std::size_t((N + kPanel - 1) / kPanel * kPanel * K)) {}

  const W* data() const { return buf_.data(); }
  W* data() { return buf_.data(); }
  std::int64_t rows() const { return n_; }  // N: output features
  std::int64_t cols() const { return k_; }  // K: input features
  std::int64_t panels() const { return (n_ + kPanel - 1) / kPanel; }
  bool empty() const { return n_ == 0; }
  std::size_t bytes() const { return buf_.size() * sizeof(W); }

  // W[n, k], read back from the packed layout: the definition of the layout.
  W at(std::int64_t n, std::int64_t k) const { return buf_[index(n, k)]; }

  // Where W[n, k] is stored. Within a panel the rows are adjacent for each
  // k, so W[n .. n + m, k] (rows of one panel) are m consecutive elements.
  W* slot(std::int64_t n, std::int64_t k) { return buf_.data() + index(n, k); }

  // Writes the block W[n0 + i, k0 + j] = src[i * ld + j], i < m, j < kb, of m
  // rows of one panel (n0 % 16 + m <= 16): a transpose of the block into the
  // panel's interleaved rows, in cache when the block is (16 × 64 at most).
  void set_block(std::int64_t n0, std::int64_t m, std::int64_t k0, std::int64_t kb, const W* src, std::int64_t ld) {
    W* dst = slot(n0, k0);
    for (std::int64_t j = 0; j < kb; ++j)
      for (std::int64_t i = 0; i < m; ++i) dst[j * kPanel + i] = src[i * ld + j];
  }

  // Writes row n (K values of type W) into its panel.
  void set_row(std::int64_t n, const W* row) { set_block(n, 1, 0, k_, row, k_); }

 private:
  std::size_t index(std::int64_t n, std::int64_t k) const {
    return std::size_t(((n / kPanel) * k_ + k) * kPanel + n % kPanel);
  }

  std::int64_t n_ = 0, k_ = 0;
  AlignedBuffer<W> buf_;  // panels() × K × 16, padding rows zero
};

// Columns of the blocks a packer transposes at a time (16 rows × 64).
inline constexpr std::int64_t kPackBlock = 64;

// Packs a row-major W [N, K], a panel and kPackBlock columns at a time.
template <class W>
PackedMatrix<W> pack_weights(const W* w, std::int64_t N, std::int64_t K) {
  PackedMatrix<W> p(N, K);
  for (std::int64_t n0 = 0; n0 < N; n0 += kPanel)
    for (std::int64_t k0 = 0; k0 < K; k0 += kPackBlock)
      p.set_block(n0, std::min(kPanel, N - n0), k0, std::min(kPackBlock, K - k0), w + n0 * K + k0, K);
  return p;
}

// The table's projection kernel for weight type W.
template <class W>
auto gemm_kernel(const KernelTable& t) {
  if constexpr (std::is_same_v<W, float>) return t.gemm_f32;
  else if constexpr (std::is_same_v<W, bf16>) return t.gemm_bf16;
  else return t.gemm_f16;
}
template <class W>
auto gemv_rows_kernel(const KernelTable& t) {
  if constexpr (std::is_same_v<W, float>) return t.gemv_rows_f32;
  else if constexpr (std::is_same_v<W, bf16>) return t.gemv_rows_bf16;
  else return t.gemv_rows_f16;
}

// Rows of x a GEMM call covers at once: the kernel streams them once per
// group of panels, so a block of rows should stay in the core's L2 (about
// kGemmRowBlockBytes of it) while every panel passes; the weights then stream
// once per block. Long inputs (a packed batch of texts, thousands of tokens)
// run block after block; prompts of a few hundred tokens in one call.
inline constexpr std::int64_t kGemmRowBlockBytes = 256 * 1024;
inline constexpr std::int64_t kGemmMinRowBlock = 96;

inline std::int64_t gemm_row_block(std::int64_t K) {
  return std::max<std::int64_t>(kGemmMinRowBlock, kGemmRowBlockBytes / (std::int64_t(sizeof(float)) * K) / 6 * 6);
}

namespace detail {
// The threading of a projection on panels: rows in blocks of row_block
// (gemm_row_block; T in one block when short), each block's panels split
// across the pool in grains of 2 (32 columns: one prefill tile on AVX-512);
// kernel(t0, rows, p0, p1) computes rows [t0, t0 + rows) of panels [p0, p1)
// into y [T, N], then that thread applies the epilogue to the same block.
template <class Kernel>
void for_panel_blocks(std::int64_t T, std::int64_t row_block, std::int64_t N, std::int64_t panels,
                      const GemmEpilogue& epi, float* y, ThreadPool& pool, Kernel kernel) {
  const std::int64_t block = T > 2 * row_block ? row_block : T;
  for (std::int64_t t0 = 0; t0 < T; t0 += block) {
    const std::int64_t rows = std::min(block, T - t0);
    pool.parallel_for(
        panels,
        [&](std::int64_t p0, std::int64_t p1) {
          kernel(t0, rows, p0, p1);
          apply_epilogue(epi, y, N, t0, t0 + rows, p0 * kPanel, std::min(N, p1 * kPanel));
        },
        2);
  }
}
}  // namespace detail

// y[T, N] = act(x[T, K] · Wᵀ + bias) + residual with packed W (kernels/epilogue.hpp):
// each thread applies the epilogue to the block it has just computed.
template <class W>
void gemm(const float* x, std::int64_t T, const PackedMatrix<W>& w, const GemmEpilogue& epi, float* y,
          ThreadPool& pool) {
  const auto fn = gemm_kernel<W>(active_kernels());
  const std::int64_t K = w.cols(), N = w.rows();
  detail::for_panel_blocks(T, gemm_row_block(K), N, w.panels(), epi, y, pool,
                           [&](std::int64_t t0, std::int64_t rows, std::int64_t p0, std::int64_t p1) {
                             fn(x + t0 * K, rows, K, w.data(), N, p0, p1, y + t0 * N, N);
                           });
}

// y[T, N] = x[T, K] · Wᵀ (+ bias) with packed W.
template <class W>
void gemm(const float* x, std::int64_t T, const PackedMatrix<W>& w, const float* bias, float* y, ThreadPool& pool) {
  GemmEpilogue epi;
  epi.bias = bias;
  gemm(x, T, w, epi, y, pool);
}

// y[T, N] = act(x[T, K] · Wᵀ + bias) + residual with row-major W [N, K].
template <class W>
void gemv_rows(const float* x, std::int64_t T, std::int64_t K, const W* w, std::int64_t N, const GemmEpilogue& epi,
               float* y, ThreadPool& pool) {
  const auto fn = gemv_rows_kernel<W>(active_kernels());
  pool.parallel_for(
      N,
      [&](std::int64_t n0, std::int64_t n1) {
        fn(x, T, K, w, n0, n1, y, N);
        apply_epilogue(epi, y, N, 0, T, n0, n1);
      },
      16);
}

// Scalar reference in double precision, on row-major W.
template <class W>
void matmul_ref(const float* x, std::int64_t T, std::int64_t K, const W* w, std::int64_t N, const float* bias,
                float* y) {
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t n = 0; n < N; ++n) {
      double acc = bias ? bias[n] : 0.0;
      for (std::int64_t k = 0; k < K; ++k) acc += double(x[t * K + k]) * widen_ref(w[n * K + k]);
      y[t * N + n] = float(acc);
    }
}

}  // namespace strata::kernels
