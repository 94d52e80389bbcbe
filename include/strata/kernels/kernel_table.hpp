// The table of kernels: one function pointer per kernel, filled for one CPU
// target (kernels/simd/*.hpp, templated on the xsimd architecture) and chosen
// once at start-up (kernels/dispatch.hpp). Every kernel here has a scalar
// reference beside its front-end, and the tests run each table this CPU
// supports against those references.
//
// Packed weights ("panel" layout, kernels/gemm.hpp): a weight matrix W [N, K]
// (PyTorch [out, in]) is stored as ceil(N / 16) panels of 16 output rows,
// each panel K × 16 values with the 16 rows interleaved (panel[k][r] =
// W[16·p + r][k]); rows past N are zero. One layout serves the GEMV (decode)
// and the GEMM (prefill) on every target.
#pragma once

#include <cstdint>

#include "strata/core/dtype.hpp"

namespace strata::kernels {

inline constexpr std::int64_t kPanel = 16;  // output rows per packed panel
inline constexpr std::int64_t kQBlock = 32;  // values per quantized block (activations and weights)

// Quantized weights in the panel layout (kernels/quant.hpp has the format).
// Every stored code u stands for w = d · (val(u) − zero), or, with per-group
// offsets (m non-null), w = d · val(u) + m; val is the identity except for
// FP4 (lut). d and m are [panel][group][16].
struct QuantWeightsView {
  std::int64_t N = 0, K = 0, group = 0;  // group: values per scale (a multiple of kQBlock)
  const std::uint8_t* q = nullptr;        // panels × K/32 blocks × (512 bytes Q8, 256 bytes 4-bit)
  const float* d = nullptr;
  const float* m = nullptr;               // null: symmetric, the constant zero applies
  std::int32_t zero = 0;
  const std::int8_t* lut = nullptr;       // 16 entries: 4-bit code → val (null: identity)
};

// Activations quantized per block of 32 (x ≈ d · q): q [T][K] int8 in
// [−127, 127], d and s (Σ q of the block) [T][K/32].
struct QuantActsView {
  const std::int8_t* q = nullptr;
  const float* d = nullptr;
  const std::int32_t* s = nullptr;
  std::int64_t T = 0, K = 0;
};

// attention_gemm (below): query rows per block, keys whose scores a block
// holds at once, and the scratch one call needs.
inline constexpr std::int64_t kAttnGemmQueryRows = 12;
inline constexpr std::int64_t kAttnGemmKeyBlock = 256;
inline constexpr std::int64_t attention_gemm_scratch_floats(std::int64_t n, std::int64_t hd) {
  return (n + kPanel - 1) / kPanel * kPanel * hd + kAttnGemmQueryRows * kAttnGemmKeyBlock;
}

struct KernelTable {
  const char* target = "";  // "avx512", "avx2", "sse4.2", "sse2", "generic"
  int vector_bytes = 0;     // width of one SIMD register

  // ---- Projections on packed weights (kernels/simd/gemm.hpp) ----
  // y[t, n] = Σ_k x[t, k] · W[n, k] for t < T and the rows n of panels
  // [p0, p1) that are < N; y has row stride ldy. x rows are K floats apart.
  void (*gemm_f32)(const float* x, std::int64_t T, std::int64_t K, const float* panels, std::int64_t N,
                   std::int64_t p0, std::int64_t p1, float* y, std::int64_t ldy) = nullptr;
  void (*gemm_bf16)(const float* x, std::int64_t T, std::int64_t K, const bf16* panels, std::int64_t N,
                    std::int64_t p0, std::int64_t p1, float* y, std::int64_t ldy) = nullptr;
  void (*gemm_f16)(const float* x, std::int64_t T, std::int64_t K, const f16* panels, std::int64_t N,
                   std::int64_t p0, std::int64_t p1, float* y, std::int64_t ldy) = nullptr;
  // Row-major W [N, K] (a tied embedding used as the LM head): y[t, n] for
  // rows n in [n0, n1).
  void (*gemv_rows_f32)(const float* x, std::int64_t T, std::int64_t K, const float* w, std::int64_t n0,
                        std::int64_t n1, float* y, std::int64_t ldy) = nullptr;
  void (*gemv_rows_bf16)(const float* x, std::int64_t T, std::int64_t K, const bf16* w, std::int64_t n0,
                         std::int64_t n1, float* y, std::int64_t ldy) = nullptr;
  void (*gemv_rows_f16)(const float* x, std::int64_t T, std::int64_t K, const f16* w, std::int64_t n0,
                        std::int64_t n1, float* y, std::int64_t ldy) = nullptr;

  // ---- bf16 dot products (kernels/simd/gemm_bf16_dot.hpp) ----
  // Whether gemm_bf16_dot runs on the CPU's bf16 dot-product instruction
  // (AVX512_BF16 vdpbf16ps) rather than emulating it with f32 FMAs.
  bool bf16_dot_native = false;
  // y[t, n] = Σ_k x[t, k] · W[n, k] for rows n of panels [p0, p1) < N, with x
  // in bf16 (T rows of 2·⌈K/2⌉ values) and W in the paired panel layout of
  // kernels/gemm_bf16_dot.hpp; products of bf16 values summed in f32, a pair
  // at a time (odd input first, as vdpbf16ps).
  void (*gemm_bf16_dot)(const bf16* x, std::int64_t T, std::int64_t K, const bf16* panels, std::int64_t N,
                        std::int64_t p0, std::int64_t p1, float* y, std::int64_t ldy) = nullptr;
  // x [T, K] floats → bf16 rows of 2·⌈K/2⌉ (round to nearest even, a zero
  // after an odd K): equal to core/dtype.hpp's f32_to_bf16 on every value.
  void (*to_bf16)(const float* x, std::int64_t T, std::int64_t K, bf16* out) = nullptr;

  // ---- Quantized projections (kernels/simd/quant_gemm.hpp) ----
  // x [T, K] floats → int8 blocks (K a multiple of 32). Exact: equal to
  // kernels::quantize_acts_ref on every target.
  void (*quantize_acts)(const float* x, std::int64_t T, std::int64_t K, std::int8_t* q, float* d,
                        std::int32_t* s) = nullptr;
  // y[t, n] for the rows of panels [p0, p1), from int8 activations and 8-bit
  // (gemm_q8) or 4-bit codes (gemm_q4: Q4 and FP4), integer dot products per
  // block of 32, then scaled.
  void (*gemm_q8)(const QuantActsView& x, const QuantWeightsView& w, std::int64_t p0, std::int64_t p1, float* y,
                  std::int64_t ldy) = nullptr;
  void (*gemm_q4)(const QuantActsView& x, const QuantWeightsView& w, std::int64_t p0, std::int64_t p1, float* y,
                  std::int64_t ldy) = nullptr;

  // ---- Vector kernels (kernels/simd/vector.hpp) ----
  float (*dot)(const float* a, const float* b, std::int64_t n) = nullptr;
  void (*axpy)(float a, const float* x, float* y, std::int64_t n) = nullptr;  // y += a·x
  void (*scale)(float* x, float a, std::int64_t n) = nullptr;                 // x *= a
  void (*rmsnorm)(const float* x, const float* w, std::int64_t n, float eps, float* y) = nullptr;
  // LayerNorm over n values; w and b may be null (no affine weight / no bias).
  void (*layernorm)(const float* x, const float* w, const float* b, std::int64_t n, float eps,
                    float* y) = nullptr;
  void (*rope_rotate_half)(float* v, const float* cos, const float* sin, std::int64_t half) = nullptr;
  void (*rope_interleaved)(float* v, const float* cos, const float* sin, std::int64_t half) = nullptr;
  void (*softmax)(float* x, std::int64_t n) = nullptr;
  void (*silu_mul)(const float* gate, const float* up, std::int64_t n, float* out) = nullptr;
  void (*gelu_mul)(const float* gate, const float* up, std::int64_t n, float* out) = nullptr;       // erf GELU
  void (*gelu_tanh_mul)(const float* gate, const float* up, std::int64_t n, float* out) = nullptr;  // tanh GELU
  // Ungated: out = act(x) (out may alias x), for GELU MLPs (BERT, GPT-2).
  void (*gelu)(const float* x, std::int64_t n, float* out) = nullptr;       // erf GELU
  void (*gelu_tanh)(const float* x, std::int64_t n, float* out) = nullptr;  // tanh GELU
  std::int64_t (*argmax)(const float* x, std::int64_t n) = nullptr;  // first index on ties
  // Indices of the k largest values, largest first (lower index first on
  // ties); returns min(k, n).
  std::int64_t (*top_k)(const float* x, std::int64_t n, std::int64_t k, std::int32_t* idx) = nullptr;

  // ---- Attention (kernels/simd/attention.hpp) ----
  // Causal (optionally windowed) attention of nq queries of one head at
  // positions pos0 .. pos0+nq-1 over one KV head's cache rows K, V
  // ([position][hd], positions from 0). Query at position p sees positions
  // [max(0, p - window + 1), p] (window 0: all of [0, p]). Q rows are q_stride
  // floats apart, O rows o_stride. Tiled with an online softmax: the score
  // matrix is never materialised beyond one tile.
  void (*attention_prefill)(const float* Q, std::int64_t q_stride, std::int64_t nq, std::int64_t pos0,
                            const float* K, const float* V, std::int64_t hd, std::int64_t window, float scale,
                            float* O, std::int64_t o_stride) = nullptr;
  // One query over n cache rows: the unnormalised partial state for a split
  // of the KV range (flash-decoding / Lean Attention): m = max score,
  // l = Σ exp(s - m), o = Σ exp(s - m)·v (hd floats). Partials merge with
  // kernels::attention_merge.
  void (*attention_partial)(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t hd,
                            float scale, float* o, float* m, float* l) = nullptr;
  // Unmasked (encoder) attention: nq queries, each over all n rows of K, V
  // (n ≥ 1); normalised output, tiled as attention_prefill.
  void (*attention_bidirectional)(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                                  const float* V, std::int64_t n, std::int64_t hd, float scale, float* O,
                                  std::int64_t o_stride) = nullptr;
  // Unmasked attention of nq queries over n ≥ 1 keys (a whole encoder
  // sequence of one head) as two GEMMs per block of kAttnGemmQueryRows
  // queries: S = Q·Kᵀ (K packed once per call into 16-key panels, the GEMM's
  // layout), softmax per row with the running max and sum carried across
  // blocks of kAttnGemmKeyBlock keys, O += P·V with V read in place. Rows of
  // Q, K, V and O are q_stride, k_stride, v_stride, o_stride floats apart
  // (the heads of a fused [T, q + k + v] projection output are read where
  // they are). scratch: attention_gemm_scratch_floats(n, hd) floats.
  // key_bias (n floats, or null) is added to every query's scaled score of
  // each key before the softmax: softmax(q·kᵀ·scale + key_bias) (ToMe's
  // proportional attention adds log(token size)).
  void (*attention_gemm)(const float* Q, std::int64_t q_stride, std::int64_t nq, const float* K,
                         std::int64_t k_stride, const float* V, std::int64_t v_stride, std::int64_t n,
                         std::int64_t hd, float scale, float* O, std::int64_t o_stride, float* scratch,
                         const float* key_bias) = nullptr;
};

}  // namespace strata::kernels
