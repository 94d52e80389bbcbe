// Quantized weights and activations: the formats, the weight quantizers, the
// packed QuantMatrix the kernels read, and the front-end and scalar
// references of the integer kernels in kernels/simd/quant_gemm.hpp.
//
// Formats (one entry per format, as ggml's traits; K is split in groups of G
// input values, each with its own scale d, and, for asymmetric Q4, offset m):
//
//   type  code u       val(u)               w =                  bits/weight (G = 32)
//   Q8    u8           u                    d · (u − 128)        8 + 32/G
//   Q4    4 bits       u                    d · (u − 8)          4 + 32/G   (sym)
//                                           d · u + m            4 + 64/G   (asym)
//   FP4   4 bits E2M1  2·e2m1(u) + 12       d · (val − 12)       4 + 32/G
//
// Q8 groups are 32 values; Q4 groups 32, 64 or 128; FP4 (E2M1 with a shared
// per-group scale as in MXFP4 / LLM-FP4; the scale is a float here, not
// MXFP4's power of two) 32, 64 or 128. GPTQ and AWQ checkpoints load as
// asymmetric Q4 with m = −d·zero (exact: d is a float16 value).
//
// Activations are quantized on the fly per block of 32 values to int8
// (x ≈ dx · qx, symmetric, round to nearest even), so each block's dot
// product is exact integer arithmetic (AVX-512 VNNI vpdpbusd: unsigned codes ×
// signed activations):  Σ_k w·x = dx · (d · (Σ u·qx − zero · Σ qx))  per block.
//
// Packed layout (one panel = 16 output rows, as the float kernels): for each
// block of 32 input values, Q8 stores 8 chunks of 64 bytes, chunk c holding
// u[r][4c + j] at byte 4r + j (r < 16 rows, j < 4), so one 64-byte load
// feeds one vpdpbusd with 4 broadcast activations; 4-bit formats store 4
// chunks of 64 bytes whose low nibbles are chunk c and high nibbles chunk
// c + 4. Scales d (and offsets m) are [panel][group][16 rows].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/aligned_buffer.hpp"
#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/kernels/epilogue.hpp"

namespace strata::kernels {

using strata::QuantType;
using strata::quant_type_name;

// E2M1 magnitudes ×2 for codes 0..7 (0, 0.5, 1, 1.5, 2, 3, 4, 6); bit 3 is the sign.
inline constexpr std::int8_t kFp4Twice[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
// val(u) = 2·e2m1(u) + 12, in [0, 24]: an unsigned code for the integer kernels.
inline constexpr std::int8_t kFp4Lut[16] = {12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0};

inline constexpr std::int32_t quant_zero(QuantType t) {
  return t == QuantType::Q8 ? 128 : t == QuantType::FP4 ? 12 : 8;
}
inline constexpr bool quant_is_4bit(QuantType t) { return t != QuantType::Q8; }
inline constexpr std::int64_t quant_block_bytes(QuantType t) { return quant_is_4bit(t) ? 256 : 512; }

// Checks a format's parameters; the message names what is wrong.
inline void check_quant_params(QuantType t, std::int64_t group, bool asym, const std::string& what) {
  if (t == QuantType::Q8)
    check(group == 32, what, ": q8 uses groups of 32 values, not ", group);
  else
    check(group == 32 || group == 64 || group == 128, what, ": ", quant_type_name(t),
          " group size must be 32, 64 or 128, not ", group);
  check(!asym || t == QuantType::Q4, what, ": only q4 has an asymmetric (zero point) variant");
}

// ---- weight quantizers (round to nearest; one row of K values, K % G == 0) ----
// Each writes one code per value (u, unpacked) and per group d (and m).

// Q8: d = max|w| / 127, u = round(w / d) + 128.
inline void quantize_row_q8(const float* w, std::int64_t K, std::uint8_t* u, float* d) {
  for (std::int64_t g = 0; g < K / 32; ++g) {
    const float* x = w + g * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float dg = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
    d[g] = dg;
    for (int i = 0; i < 32; ++i) {
      const float q = std::clamp(std::nearbyint(x[i] * id), -127.0f, 127.0f);
      u[g * 32 + i] = std::uint8_t(int(q) + 128);
    }
  }
}

// Q4 symmetric: codes u = clamp(round(w / d), −8, 7) + 8. The scale is the
// best of 21 candidates by squared error: each candidate 1/d = (−8 + j/10) /
// big (big = the value of largest magnitude, j = −10..10) fixes the codes,
// then d is refit by least squares (Σ w·q / Σ q²), as llama.cpp's k-quants
// search does; on TinyStories-656K this halves the perplexity loss of plain
// d = big / −8 (see bench/RESULTS.md).
// Q4 asymmetric: m = min, d = (max − min) / 15, u = round((w − m) / d) in [0, 15].
inline void quantize_row_q4(const float* w, std::int64_t K, std::int64_t G, bool asym, std::uint8_t* u, float* d,
                            float* m) {
  std::vector<std::int32_t> q(static_cast<std::size_t>(G));
  for (std::int64_t g = 0; g < K / G; ++g) {
    const float* x = w + g * G;
    if (!asym) {
      float big = 0.0f;
      for (std::int64_t i = 0; i < G; ++i)
        if (std::fabs(x[i]) > std::fabs(big)) big = x[i];
      float best_d = 0.0f;
      double best_err = -1.0;
      if (big != 0.0f) {
        for (int j = -10; j <= 10; ++j) {
          const float iscale = (-8.0f + 0.1f * float(j)) / big;
          double sxq = 0, sqq = 0;
          for (std::int64_t i = 0; i < G; ++i) {
            q[std::size_t(i)] = std::int32_t(std::clamp(std::nearbyint(x[i] * iscale), -8.0f, 7.0f));
            sxq += double(x[i]) * q[std::size_t(i)];
            sqq += double(q[std::size_t(i)]) * q[std::size_t(i)];
          }
          if (sqq == 0) continue;
          const auto dj = float(sxq / sqq);
          double err = 0;
          for (std::int64_t i = 0; i < G; ++i) {
            const double e = double(x[i]) - double(dj) * q[std::size_t(i)];
            err += e * e;
          }
          if (best_err < 0 || err < best_err) best_err = err, best_d = dj;
        }
      }
      d[g] = best_d;
      const float id = best_d != 0.0f ? 1.0f / best_d : 0.0f;
      for (std::int64_t i = 0; i < G; ++i)
        u[g * G + i] = std::uint8_t(int(std::clamp(std::nearbyint(x[i] * id), -8.0f, 7.0f)) + 8);
    } else {
      float lo = x[0], hi = x[0];
      for (std::int64_t i = 1; i < G; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      const float dg = (hi - lo) / 15.0f, id = dg != 0.0f ? 1.0f / dg : 0.0f;
      d[g] = dg;
      m[g] = lo;
      for (std::int64_t i = 0; i < G; ++i)
        u[g * G + i] = std::uint8_t(std::clamp(std::nearbyint((x[i] - lo) * id), 0.0f, 15.0f));
    }
  }
}

// FP4: the code of w is the E2M1 value nearest w / s (ties to the even
// code); stored d = s / 2 so that w = d · (kFp4Lut[u] − 12). The scale s is
// the best by squared error of 11 candidates max|w| / (6 · (1 − j/20)),
// j = 0..10, each refit by least squares after its codes are fixed.
inline constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

// The E2M1 magnitude code (0..7) nearest v ≥ 0; ties go to the even code.
inline int fp4_nearest_code(float v) {
  int best = 0;
  for (int c = 1; c < 8; ++c) {
    const float e = std::fabs(v - kE2M1[c]), eb = std::fabs(v - kE2M1[best]);
    if (e < eb || (e == eb && (c & 1) == 0)) best = c;
  }
  return best;
}

inline void quantize_row_fp4(const float* w, std::int64_t K, std::int64_t G, std::uint8_t* u, float* d) {
  const auto& mag = kE2M1;
  const auto code_of = fp4_nearest_code;
  std::vector<int> c(static_cast<std::size_t>(G));
  for (std::int64_t g = 0; g < K / G; ++g) {
    const float* x = w + g * G;
    float amax = 0.0f;
    for (std::int64_t i = 0; i < G; ++i) amax = std::max(amax, std::fabs(x[i]));
    float best_s = 0.0f;
    double best_err = -1.0;
    if (amax > 0.0f)
      for (int j = 0; j <= 10; ++j) {
        const float is = 6.0f * (1.0f - 0.05f * float(j)) / amax;
        double sxv = 0, svv = 0;
        for (std::int64_t i = 0; i < G; ++i) {
          c[std::size_t(i)] = code_of(std::fabs(x[i]) * is);
          const double v = mag[c[std::size_t(i)]];
          sxv += std::fabs(double(x[i])) * v;
          svv += v * v;
        }
        if (svv == 0) continue;
        const auto sj = float(sxv / svv);
        double err = 0;
        for (std::int64_t i = 0; i < G; ++i) {
          const double e = std::fabs(double(x[i])) - double(sj) * mag[c[std::size_t(i)]];
          err += e * e;
        }
        if (best_err < 0 || err < best_err) best_err = err, best_s = sj;
      }
    d[g] = best_s / 2.0f;
    const float is = best_s > 0.0f ? 1.0f / best_s : 0.0f;
    for (std::int64_t i = 0; i < G; ++i) {
      const int best = code_of(std::fabs(x[i]) * is);
      u[g * G + i] = std::uint8_t(best | (x[i] < 0.0f && best != 0 ? 8 : 0));
    }
  }
}

// ---- the packed matrix ----
class QuantMatrix {
 public:
  QuantMatrix() = default;
  QuantMatrix(QuantType t, std::int64_t N, std::int64_t K, std::int64_t group, bool asym)
      : type_(t), n_(N), k_(K), group_(group), asym_(asym) {
    check_quant_params(t, group, asym, "quantized matrix");
    check(N > 0 && K > 0 && K % group == 0, "quantized matrix: ", K, " input features are not a multiple of the group size ", group);
    q_.resize(std::size_t(panels() * blocks() * quant_block_bytes(t)));
    d_.resize(std::size_t(panels() * groups() * kPanel));
    if (asym) m_.resize(d_.size());
  }

  QuantType type() const { return type_; }
  std::int64_t rows() const { return n_; }
  std::int64_t cols() const { return k_; }
  std::int64_t group() const { return group_; }
  bool asym() const { return asym_; }
  bool empty() const { return n_ == 0; }
  std::int64_t panels() const { return (n_ + kPanel - 1) / kPanel; }
  std::int64_t blocks() const { return k_ / kQBlock; }
  std::int64_t groups() const { return k_ / group_; }
  std::size_t bytes() const { return q_.size() + (d_.size() + m_.size()) * sizeof(float); }

  QuantWeightsView view() const {
    QuantWeightsView v;
    v.N = n_;
    v.K = k_;
    v.group = group_;
    v.q = q_.data();
    v.d = d_.data();
    v.m = asym_ ? m_.data() : nullptr;
    v.zero = quant_zero(type_);
    v.lut = type_ == QuantType::FP4 ? kFp4Lut : nullptr;
    return v;
  }

  // Row n: K codes (one per value, < 16 for 4-bit types), groups() scales
  // (and offsets when asym).
  void set_row(std::int64_t n, const std::uint8_t* u, const float* d, const float* m = nullptr) {
    const std::int64_t p = n / kPanel, r = n % kPanel, BB = quant_block_bytes(type_);
    for (std::int64_t b = 0; b < blocks(); ++b) {
      std::uint8_t* blk = q_.data() + (p * blocks() + b) * BB;
      for (std::int64_t i = 0; i < kQBlock; ++i) {
        const std::int64_t c = i / 4, j = i % 4;
        const std::uint8_t code = u[b * kQBlock + i];
        if (!quant_is_4bit(type_)) {
          blk[c * 64 + r * 4 + j] = code;
        } else {
          std::uint8_t& byte = blk[(c % 4) * 64 + r * 4 + j];
          byte = c < 4 ? std::uint8_t((byte & 0xF0) | (code & 0x0F)) : std::uint8_t((byte & 0x0F) | (code << 4));
        }
      }
    }
    for (std::int64_t g = 0; g < groups(); ++g) {
      d_[std::size_t((p * groups() + g) * kPanel + r)] = d[g];
      if (asym_) m_[std::size_t((p * groups() + g) * kPanel + r)] = m[g];
    }
  }

  // The code of W[n, k], read back from the layout.
  std::uint8_t code(std::int64_t n, std::int64_t k) const {
    const std::int64_t p = n / kPanel, r = n % kPanel, b = k / kQBlock, i = k % kQBlock, c = i / 4, j = i % 4;
    const std::uint8_t* blk = q_.data() + (p * blocks() + b) * quant_block_bytes(type_);
    if (!quant_is_4bit(type_)) return blk[c * 64 + r * 4 + j];
    const std::uint8_t byte = blk[(c % 4) * 64 + r * 4 + j];
    return c < 4 ? std::uint8_t(byte & 0x0F) : std::uint8_t(byte >> 4);
  }
  float scale(std::int64_t n, std::int64_t g) const { return d_[std::size_t(((n / kPanel) * groups() + g) * kPanel + n % kPanel)]; }
  float offset(std::int64_t n, std::int64_t g) const {
    return asym_ ? m_[std::size_t(((n / kPanel) * groups() + g) * kPanel + n % kPanel)] : 0.0f;
  }

  // W[n, k] as the kernels see it, in float: d·(val − zero), or d·val + m.
  float dequant(std::int64_t n, std::int64_t k) const {
    const std::uint8_t u = code(n, k);
    const std::int32_t val = type_ == QuantType::FP4 ? kFp4Lut[u] : u;
    const std::int64_t g = k / group_;
    if (asym_) return scale(n, g) * float(val) + offset(n, g);
    return scale(n, g) * float(val - quant_zero(type_));
  }
  void dequantize_row(std::int64_t n, float* out) const {
    for (std::int64_t k = 0; k < k_; ++k) out[k] = dequant(n, k);
  }

 private:
  QuantType type_ = QuantType::Q8;
  std::int64_t n_ = 0, k_ = 0, group_ = 32;
  bool asym_ = false;
  AlignedBuffer<std::uint8_t> q_;
  AlignedBuffer<float> d_, m_;
};

// Quantizes row-major float rows into a QuantMatrix (a model loaded with --quant).
inline void quantize_rows(QuantMatrix& qm, std::int64_t n0, std::int64_t rows, const float* w) {
  const std::int64_t K = qm.cols();
  std::vector<std::uint8_t> u(static_cast<std::size_t>(K));
  std::vector<float> d(static_cast<std::size_t>(qm.groups())), m(d.size());
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = w + i * K;
    switch (qm.type()) {
      case QuantType::Q8: quantize_row_q8(row, K, u.data(), d.data()); break;
      case QuantType::Q4: quantize_row_q4(row, K, qm.group(), qm.asym(), u.data(), d.data(), m.data()); break;
      case QuantType::FP4: quantize_row_fp4(row, K, qm.group(), u.data(), d.data()); break;
    }
    qm.set_row(n0 + i, u.data(), d.data(), m.data());
  }
}

// ---- activations ----
// Scratch for one call's quantized activations.
struct QuantActs {
  AlignedBuffer<std::int8_t> q;
  std::vector<float> d;
  std::vector<std::int32_t> s;
  std::int64_t T = 0, K = 0;

  void ensure(std::int64_t t, std::int64_t k) {
    if (std::size_t(t * k) > q.size()) q.resize(std::size_t(t * k));
    d.resize(std::size_t(t * (k / kQBlock)));
    s.resize(d.size());
    T = t;
    K = k;
  }
  QuantActsView view() const { return {q.data(), d.data(), s.data(), T, K}; }
};

// Scalar reference of the activation quantizer: per block of 32, d = max|x| / 127,
// q = round-to-nearest-even(x · (127 / max|x|)), s = Σ q. The SIMD kernels compute
// the same float products, so they must agree bit for bit.
inline void quantize_acts_ref(const float* x, std::int64_t T, std::int64_t K, std::int8_t* q, float* d,
                              std::int32_t* s) {
  const std::int64_t nb = K / kQBlock;
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * K + b * kQBlock;
      float amax = 0.0f;
      for (int i = 0; i < kQBlock; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
      d[t * nb + b] = amax / 127.0f;
      std::int32_t sum = 0;
      for (int i = 0; i < kQBlock; ++i) {
        const auto v = std::int32_t(std::nearbyint(xb[i] * id));
        q[t * K + b * kQBlock + i] = std::int8_t(v);
        sum += v;
      }
      s[t * nb + b] = sum;
    }
}

// Exact integer part of one block: Σ val(u)·q over block b of row n.
inline std::int32_t quant_block_dot_ref(const QuantMatrix& w, std::int64_t n, std::int64_t b, const std::int8_t* q) {
  std::int32_t acc = 0;
  for (std::int64_t i = 0; i < kQBlock; ++i) {
    const std::uint8_t u = w.code(n, b * kQBlock + i);
    const std::int32_t val = w.type() == QuantType::FP4 ? kFp4Lut[u] : u;
    acc += val * std::int32_t(q[i]);
  }
  return acc;
}

// Scalar reference of gemm_q8 / gemm_q4 (double accumulation of the block terms).
inline void gemm_quant_ref(const QuantActsView& x, const QuantMatrix& w, float* y) {
  const std::int64_t K = w.cols(), N = w.rows(), nb = K / kQBlock;
  for (std::int64_t t = 0; t < x.T; ++t)
    for (std::int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (std::int64_t b = 0; b < nb; ++b) {
        const std::int64_t g = b * kQBlock / w.group();
        const double isum = quant_block_dot_ref(w, n, b, x.q + t * K + b * kQBlock), sx = x.s[t * nb + b];
        const double blk = w.asym() ? double(w.scale(n, g)) * isum + double(w.offset(n, g)) * sx
                                    : double(w.scale(n, g)) * (isum - double(quant_zero(w.type())) * sx);
        acc += double(x.d[t * nb + b]) * blk;
      }
      y[t * N + n] = float(acc);
    }
}

// x [T, K] → int8 blocks in `acts` (the table's quantize_acts).
inline void quantize_input(const float* x, std::int64_t T, std::int64_t K, QuantActs& acts) {
  acts.ensure(T, K);
  active_kernels().quantize_acts(x, T, K, acts.q.data(), acts.d.data(), acts.s.data());
}

// y[T, N] = act(x · Wᵀ + bias) + residual for x already quantized (acts, K =
// w.cols()): the table's integer kernel split by panels across the pool, each
// thread applying the epilogue (kernels/epilogue.hpp) to its columns.
// Projections that read the same input quantize it once and share acts.
inline void gemm_quant(const QuantActs& acts, const QuantMatrix& w, float* y, ThreadPool& pool,
                       const GemmEpilogue& epi = {}) {
  const KernelTable& kt = active_kernels();
  const std::int64_t N = w.rows(), T = acts.T;
  check(acts.K == w.cols(), "gemm_quant: input quantized for K = ", acts.K, ", weights have K = ", w.cols());
  const auto fn = quant_is_4bit(w.type()) ? kt.gemm_q4 : kt.gemm_q8;
  const QuantActsView xv = acts.view();
  const QuantWeightsView wv = w.view();
  pool.parallel_for(
      w.panels(),
      [&](std::int64_t p0, std::int64_t p1) {
        fn(xv, wv, p0, p1, y, N);
        apply_epilogue(epi, y, N, 0, T, p0 * kPanel, std::min(N, p1 * kPanel));
      },
      2);
}

// Quantizes x (into `acts`), then gemm_quant.
inline void gemm_quant(const float* x, std::int64_t T, const QuantMatrix& w, QuantActs& acts, float* y,
                       ThreadPool& pool, const GemmEpilogue& epi = {}) {
  quantize_input(x, T, w.cols(), acts);
  gemm_quant(acts, w, y, pool, epi);
}

}  // namespace strata::kernels
