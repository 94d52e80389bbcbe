// The checks fuzz_quant_layout and fuzz_quant_tensors run on a quantized
// projection "p" that Linear<Quantized<float>> loaded from a checkpoint:
// dequantize() against an independent decoding of the file's tensors, and
// forward() on every kernel target against x̂ · Wᵀ + b (see
// fuzz_quant_layout.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/core/thread_pool.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/kernels/dispatch.hpp"
#include "strata/layers/linear.hpp"

namespace strata::fuzz::quant {

using strata::QuantSpec;
using strata::QuantType;
using strata::fuzz::invariant_failed;

struct Shape {
  std::int64_t N, K;
  bool operator==(const Shape&) const = default;
};

// Below this magnitude nothing a forward pass computes can overflow
// (|W| ≤ 256·1e30, K ≤ 2048, |x| ≤ 1). Rows with a larger (finite) scale,
// offset, weight or bias are not checked: finite scales alone do not bound
// the outputs (d = 3e38 gives d·127 = inf; docs/FUZZING.md, Q1).
inline constexpr double kFiniteBound = 1e30;

inline std::vector<std::int32_t> i32s(const strata::io::TensorView& t) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | std::to_integer<std::uint32_t>(t.data[4 * i + std::size_t(b)]);
    v[i] = std::int32_t(u);
  }
  return v;
}

inline const strata::io::TensorView& tensor(const strata::io::Checkpoint& ck, const std::string& name) {
  const auto* t = ck.find(name);
  if (t == nullptr) invariant_failed("a layer loaded without its tensor", name);
  return *t;
}

inline unsigned nib(std::int32_t w, std::int64_t i) { return (std::uint32_t(w) >> (4 * i)) & 0xFu; }

// W [N, K] decoded from the file's tensors by this harness, independently of
// io::read_*; mag[i] = |d|·(val + zero) + |m|, the largest term the library's
// formula (or a kernel) computes for weight i before terms cancel.
struct Reference {
  std::vector<float> w;
  std::vector<double> mag;
  std::vector<char> row_bounded;  // row n: every scale/offset finite and ≤ kFiniteBound
};

inline Reference decode(const strata::io::Checkpoint& ck, const QuantSpec& q, std::int64_t N, std::int64_t K) {
  Reference r;
  r.w.assign(std::size_t(N * K), 0.0f);
  r.mag.assign(r.w.size(), 0.0);
  r.row_bounded.assign(std::size_t(N), 1);
  const std::int64_t G = q.group;
  auto note = [&](std::size_t i, double d, double m, double u, double zero) {
    if (!(std::fabs(d) <= kFiniteBound) || !(std::fabs(m) <= kFiniteBound)) r.row_bounded[i / std::size_t(K)] = 0;
    r.mag[i] = std::fabs(d) * (u + zero) + std::fabs(m);
  };
  if (q.source == QuantSpec::Source::GPTQ) {
    const auto qw = i32s(tensor(ck, "p.qweight")), qz = i32s(tensor(ck, "p.qzeros"));
    const auto sc = strata::io::to_f32(tensor(ck, "p.scales"));
    std::vector<std::int32_t> gi(static_cast<std::size_t>(K));
    if (const auto* g = ck.find("p.g_idx")) gi = i32s(*g);
    else
      for (std::int64_t k = 0; k < K; ++k) gi[std::size_t(k)] = std::int32_t(k / G);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k) {
        const std::int64_t g = gi[std::size_t(k)];
        const double d = sc[std::size_t(g * N + n)];
        const unsigned u = nib(qw[std::size_t((k / 8) * N + n)], k % 8);
        const unsigned z = nib(qz[std::size_t(g * (N / 8) + n / 8)], n % 8) + 1;
        const std::size_t i = std::size_t(n * K + k);
        r.w[i] = float(d * (double(u) - double(z)));
        note(i, d, d * z, u, z);
      }
  } else if (q.source == QuantSpec::Source::AWQ) {
    static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const auto qw = i32s(tensor(ck, "p.qweight")), qz = i32s(tensor(ck, "p.qzeros"));
    const auto sc = strata::io::to_f32(tensor(ck, "p.scales"));
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t c = n / 8;
      const std::int64_t i8 = std::find(kOrder, kOrder + 8, int(n % 8)) - kOrder;
      for (std::int64_t k = 0; k < K; ++k) {
        const double d = sc[std::size_t((k / G) * N + n)];
        const unsigned u = nib(qw[std::size_t(k * (N / 8) + c)], i8);
        const unsigned z = nib(qz[std::size_t((k / G) * (N / 8) + c)], i8);
        const std::size_t i = std::size_t(n * K + k);
        r.w[i] = float(d * (double(u) - double(z)));
        note(i, d, d * z, u, z);
      }
    }
  } else {
    const auto& codes = tensor(ck, "p.qcodes");
    const auto* src = reinterpret_cast<const std::uint8_t*>(codes.data);
    const auto d = strata::io::to_f32(tensor(ck, "p.qscales"));
    const auto m = q.asym ? strata::io::to_f32(tensor(ck, "p.qmins")) : std::vector<float>{};
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k) {
        unsigned u = 0;
        if (q.type == QuantType::Q8) u = src[n * K + k];
        else {
          const std::uint8_t byte = src[(n * K + k) / 2];
          u = k % 2 == 0 ? byte & 0x0Fu : unsigned(byte >> 4);
        }
        const std::size_t gi = std::size_t(n * (K / G) + k / G), i = std::size_t(n * K + k);
        const double dg = d[gi];
        double val = u, zero = q.type == QuantType::Q8 ? 128 : q.type == QuantType::FP4 ? 12 : 8;
        if (q.type == QuantType::FP4) val = strata::kernels::kFp4Lut[u];
        if (q.asym) {
          r.w[i] = float(dg * val + double(m[gi]));
          note(i, dg, m[gi], val, 0);
        } else {
          r.w[i] = float(dg * (val - zero));
          note(i, dg, 0, val, zero);
        }
      }
  }
  return r;
}

// A fixed input: values in [-1, 1], one block of row 2 all zero, row 1 small.
inline std::vector<float> make_input(std::int64_t T, std::int64_t K) {
  std::vector<float> x(std::size_t(T * K));
  std::uint32_t s = 0x9E3779B9u;
  for (std::int64_t t = 0; t < T; ++t)
    for (std::int64_t k = 0; k < K; ++k) {
      s = s * 1664525u + 1013904223u;
      float v = float(int(s >> 8) % 2001 - 1000) / 1000.0f;
      if (t == 1) v *= 1e-3f;
      if (t == 2 && k >= 32 && k < 64) v = 0.0f;
      x[std::size_t(t * K + k)] = v;
    }
  return x;
}

inline bool bounded_finite(double v) { return std::fabs(v) <= kFiniteBound; }

// Makes every kernel target active in turn; restores the best one.
struct TargetGuard {
  ~TargetGuard() { strata::kernels::set_active_kernels(strata::kernels::available_kernel_tables().front()->target); }
};

// The order in which GPTQ act-order packs the input columns: stable by
// g_idx (identity when g_idx is sorted or absent, and for other layouts).
inline std::vector<std::int64_t> packed_order(const strata::io::Checkpoint& ck, const QuantSpec& q, std::int64_t K) {
  std::vector<std::int64_t> perm(static_cast<std::size_t>(K));
  for (std::int64_t k = 0; k < K; ++k) perm[std::size_t(k)] = k;
  if (q.source == QuantSpec::Source::GPTQ)
    if (const auto* g = ck.find("p.g_idx")) {
      const auto gi = i32s(*g);
      std::stable_sort(perm.begin(), perm.end(),
                       [&](std::int64_t a, std::int64_t b) { return gi[std::size_t(a)] < gi[std::size_t(b)]; });
    }
  return perm;
}

// Checks y [T, N] = x · Wᵀ + b. Quantized: x is taken in packed column order
// and rounded to int8 per block of 32 exactly as kernels::quantize_acts_ref
// does (every target must agree with it bit for bit), so the only slack is
// float rounding of terms of at most mag[n, k]·|dx·q| (the kernels compute
// d·Σval·q and zero·d·Σq, or m·Σq, per block, which may cancel): about one
// rounding per block plus a few. Dense: float rounding of a K-term sum.
inline void check_forward(const char* target, const std::vector<float>& x, std::int64_t T, std::int64_t N, std::int64_t K,
                   const std::vector<std::int64_t>* perm, const std::vector<float>& W, const std::vector<double>& mag,
                   const std::vector<float>& bias, const std::vector<char>& row_bounded, const std::vector<float>& y,
                   const std::string& what) {
  const double eps = 2.4e-7 * double((perm ? K / 32 : K) + 8);
  std::vector<double> xq(static_cast<std::size_t>(K));  // x as the kernel sees it, in input order k
  for (std::int64_t t = 0; t < T; ++t) {
    const float* xt = x.data() + t * K;
    if (perm) {
      for (std::int64_t b = 0; b < K / 32; ++b) {
        float amax = 0.0f;
        for (std::int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xt[(*perm)[std::size_t(32 * b + i)]]));
        const float id = amax > 0.0f ? 127.0f / amax : 0.0f, dx = amax / 127.0f;
        for (std::int64_t i = 0; i < 32; ++i) {
          const std::int64_t k = (*perm)[std::size_t(32 * b + i)];
          xq[std::size_t(k)] = double(dx) * double(std::int32_t(std::nearbyint(xt[k] * id)));
        }
      }
    } else {
      for (std::int64_t k = 0; k < K; ++k) xq[std::size_t(k)] = xt[k];
    }
    for (std::int64_t n = 0; n < N; ++n) {
      if (!row_bounded[std::size_t(n)]) continue;
      const float got = y[std::size_t(t * N + n)];
      const auto at = [&] {
        return what + ", target " + target + ", T=" + std::to_string(T) + ": y[" + std::to_string(t) + "," +
               std::to_string(n) + "]";
      };
      if (!std::isfinite(got)) invariant_failed("forward gave a non-finite output from bounded weights", at());
      double want = bias.empty() ? 0.0 : double(bias[std::size_t(n)]), size = std::fabs(want);
      for (std::int64_t k = 0; k < K; ++k) {
        const std::size_t i = std::size_t(n * K + k);
        want += double(W[i]) * xq[std::size_t(k)];
        size += mag[i] * std::fabs(xq[std::size_t(k)]);
      }
      const double tol = eps * size + 1e-30;
      if (!(std::fabs(double(got) - want) <= tol))
        invariant_failed("forward disagrees with x · dequantize()ᵀ + b",
                         at() + " = " + std::to_string(got) + ", want " + std::to_string(want) + " ± " + std::to_string(tol));
    }
  }
}

// Loads p as Linear<Quantized<float>> with spec q at N × K and checks what
// loads (see the file comment of fuzz_quant_layout.cpp). Throws what load()
// throws; a broken invariant aborts. Returns whether the layer is quantized.
inline bool check_layer(const strata::io::Checkpoint& ck, const QuantSpec& q, Shape s) {
  static strata::ThreadPool pool(1);
  const bool bias = ck.find("p.bias") != nullptr;
  strata::Linear<strata::Quantized<float>> lin;
  lin.load(ck, "p", s.N, s.K, bias, q);
  const std::string what = q.describe() + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K);
  if (lin.out_features() != s.N || lin.in_features() != s.K) invariant_failed("loaded layer has another shape", what);

  std::vector<float> W;
  std::vector<double> mag;
  std::vector<char> rows(std::size_t(s.N), 1);  // rows whose outputs must be finite and are checked
  if (lin.quantized()) {
    const auto& m = lin.matrix();
    if (m.rows() != s.N || m.cols() != s.K || m.group() != q.group || m.type() != q.type || m.asym() != q.asym)
      invariant_failed("quantized matrix disagrees with the spec", what);
    lin.dequantize(W);
    if (W.size() != std::size_t(s.N * s.K)) invariant_failed("dequantized size is not N*K", what);
    Reference ref = decode(ck, q, s.N, s.K);
    rows = ref.row_bounded;
    for (std::size_t i = 0; i < W.size(); ++i) {
      if (!rows[i / std::size_t(s.K)]) continue;  // unbounded scales: the formulas may overflow differently
      // Two or three float roundings of terms ≤ mag[i].
      if (!(std::fabs(double(W[i]) - double(ref.w[i])) <= 4.0 * 1.2e-7 * ref.mag[i] + 1e-38))
        invariant_failed("dequantize() disagrees with the file's tensors",
                         what + ": W[" + std::to_string(i / std::size_t(s.K)) + "," +
                             std::to_string(i % std::size_t(s.K)) + "] = " + std::to_string(W[i]) + ", decoded " +
                             std::to_string(ref.w[i]));
    }
    mag = std::move(ref.mag);
  } else {
    W = strata::io::to_f32(tensor(ck, "p.weight"));  // dense: the layer loaded p.weight [N, K]
    if (W.size() != std::size_t(s.N * s.K)) invariant_failed("dense weight is not N*K", what);
    mag.resize(W.size());
    for (std::size_t i = 0; i < W.size(); ++i) mag[i] = std::fabs(double(W[i]));
  }
  for (std::size_t i = 0; i < W.size(); ++i)
    if (!bounded_finite(W[i])) rows[i / std::size_t(s.K)] = 0;
  std::vector<float> b;
  if (bias) {
    b = strata::io::to_f32(tensor(ck, "p.bias"));
    for (std::size_t n = 0; n < b.size(); ++n)
      if (!bounded_finite(b[n])) rows[n] = 0;
  }
  const auto checked = std::count(rows.begin(), rows.end(), 1);

  static const bool verbose = std::getenv("STRATA_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "  loaded %s: %s, %ld of %ld rows checked\n", what.c_str(),
                 lin.quantized() ? "quantized" : "dense", long(checked), long(s.N));

  const std::vector<float> x = make_input(3, s.K);
  const std::vector<std::int64_t> perm = lin.quantized() ? packed_order(ck, q, s.K) : std::vector<std::int64_t>{};
  std::vector<float> y;
  const TargetGuard restore;
  for (const strata::kernels::KernelTable* kt : strata::kernels::available_kernel_tables()) {
    strata::kernels::set_active_kernels(kt->target);
    for (const std::int64_t T : {1, 3}) {
      y.assign(std::size_t(T * s.N), std::nanf(""));
      lin.forward(x.data(), T, y.data(), pool);
      if (checked > 0)
        check_forward(kt->target, x, T, s.N, s.K, lin.quantized() ? &perm : nullptr, W, mag, b, rows, y, what);
    }
  }
  return lin.quantized();
}

}  // namespace strata::fuzz::quant
