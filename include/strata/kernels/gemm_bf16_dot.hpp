// Projections on bf16 dot products: y[T, N] = bf16(x)[T, K] · Wᵀ with W in
// bfloat16 and products summed in f32 (AVX512_BF16's vdpbf16ps where the CPU
// has it, the same arithmetic emulated elsewhere: KernelTable::gemm_bf16_dot).
// The front-end of kernels/simd/gemm_bf16_dot.hpp.
//
// PackedPairs holds W re-laid out once, at load, for the instruction: panels
// of 16 output rows as for the f32 kernels (kernels/gemm.hpp), but each row's
// inputs in adjacent pairs, panel[k / 2][r][k % 2] = W[16·p + r][k], so one
// 64-byte load holds 16 rows × 2 inputs; an odd K gets a zero input. The
// activations are rounded to bf16 once per call (KernelTable::to_bf16), in a
// buffer of the calling thread, before the panels are split across the pool.
//
// Numerics: the weights are bf16 either way (a bf16 checkpoint, or f32
// rounded at load); what this path adds is the rounding of the activations to
// bf16 (8 significant bits) at every projection input. tests/kernels and
// tests/models bound its error against f32.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "strata/core/aligned_buffer.hpp"
#include "strata/core/dtype.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/kernels/epilogue.hpp"
#include "strata/kernels/gemm.hpp"

namespace strata::kernels {

class PackedPairs {
 public:
  PackedPairs() = default;
  PackedPairs(std::int64_t N, std::int64_t K)
      : n_(N), k_(K), buf_(std::size_t((N + kPanel - 1) / kPanel * kPanel * 2 * ((K + 1) / 2))) {}

  const bf16* data() const { return buf_.data(); }
  std::int64_t rows() const { return n_; }
  std::int64_t cols() const { return k_; }
  std::int64_t panels() const { return (n_ + kPanel - 1) / kPanel; }
  bool empty() const { return n_ == 0; }
  std::size_t bytes() const { return buf_.size() * sizeof(bf16); }

  // W[n, k], read back from the layout.
  bf16 at(std::int64_t n, std::int64_t k) const { return buf_[index(n, k)]; }
  // Writes row n (K bf16 values) into its panel.
  void set_row(std::int64_t n, const bf16* row) {
    for (std::int64_t k = 0; k < k_; ++k) buf_[index(n, k)] = row[k];
  }

 private:
  std::size_t index(std::int64_t n, std::int64_t k) const {
    const std::int64_t k2 = (k_ + 1) / 2;
    return std::size_t((((n / kPanel) * k2 + k / 2) * kPanel + n % kPanel) * 2 + k % 2);
  }
  std::int64_t n_ = 0, k_ = 0;
  AlignedBuffer<bf16> buf_;  // panels() × ⌈K/2⌉ × 16 × 2, padding zero
};

// Whether bf16 projections should run on bf16 dot products by default: the
// active kernel table has the instruction (elsewhere the emulation is slower
// than f32 math on bf16 weights).
inline bool bf16_dot_native() { return active_kernels().bf16_dot_native; }

// y[T, N] = act(bf16(x) · Wᵀ + bias) + residual (kernels/epilogue.hpp).
inline void gemm_bf16_dot(const float* x, std::int64_t T, const PackedPairs& w, const GemmEpilogue& epi, float* y,
                          ThreadPool& pool) {
  const KernelTable& kt = active_kernels();
  const std::int64_t K = w.cols(), N = w.rows(), ld = 2 * ((K + 1) / 2);
  thread_local AlignedBuffer<bf16> xb;  // per calling thread: sessions on other threads use their own
  if (xb.size() < std::size_t(T * ld)) xb.resize(std::size_t(T * ld));
  bf16* xq = xb.data();
  pool.parallel_for(
      T, [&](std::int64_t t0, std::int64_t t1) { kt.to_bf16(x + t0 * K, t1 - t0, K, xq + t0 * ld); }, 64);
  // Row blocks as the f32 GEMM (kernels/gemm.hpp), of bf16 rows half the bytes.
  detail::for_panel_blocks(T, 2 * gemm_row_block(K), N, w.panels(), epi, y, pool,
                           [&](std::int64_t t0, std::int64_t rows, std::int64_t p0, std::int64_t p1) {
                             kt.gemm_bf16_dot(xq + t0 * ld, rows, K, w.data(), N, p0, p1, y + t0 * N, N);
                           });
}

// Reference in double: x rounded to bf16 as the kernels do, W row-major bf16.
inline void matmul_bf16_dot_ref(const float* x, std::int64_t T, std::int64_t K, const bf16* w, std::int64_t N,
                                float* y) {
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (std::int64_t k = 0; k < K; ++k)
        acc += double(bf16_to_f32(f32_to_bf16(x[t * K + k]))) * double(bf16_to_f32(w[n * K + k].bits));
      y[t * N + n] = float(acc);
    }
}

}  // namespace strata::kernels
