// Quantized projections as checkpoints store them, read into one unpacked
// form (a code per weight, a scale and offset per group) that layers pack for
// the kernels. Three layouts:
//
// GPTQ (AutoGPTQ / transformers + optimum, checkpoint_format "gptq"), for a
// Linear W [N = out, K = in], 4 bits, group G:
//   qweight  I32 [K/8, N]    row i, bits 4j..4j+3: code of input k = 8i + j
//   qzeros   I32 [K/G, N/8]  group g, column c, bits 4j: zero[g][8c + j] − 1
//   scales   F16 [K/G, N]
//   g_idx    I32 [K]         group of each input column (act order: any
//                            permutation with G columns per group)
//   W[n][k] = scales[g][n] · (q[k][n] − (stored zero + 1)),  g = g_idx[k]
// AWQ (AutoAWQ "gemm"):
//   qweight  I32 [K, N/8]    packed along the output: nibble i of column c is
//                            output 8c + order[i], order = 0 2 4 6 1 3 5 7
//   qzeros   I32 [K/G, N/8]  the same packing, no offset
//   scales   F16 [K/G, N]
//   W[n][k] = scales[k/G][n] · (q[k][n] − zero[k/G][n])
// strata (the `quantize` tool; the safetensors __metadata__ key
// "strata.quantization" holds {"type": "q8|q4|fp4", "group": G, "asym": bool}):
//   qcodes   U8  [N, K] (q8) or [N, K/2] (4-bit: byte j holds k = 2j in the
//                low nibble, 2j + 1 in the high)
//   qscales  F32 [N, K/G]
//   qmins    F32 [N, K/G]   asymmetric q4 only
//
// Every tensor is checked (dtype, shape, code range, finite scales, g_idx
// groups) before a value is used; errors name the tensor.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/json_file.hpp"
#include "strata/io/safetensors.hpp"

namespace strata::io {

// One projection unpacked: codes[n·K + j], d/m[n·(K/G) + g]; column j of the
// codes is input perm[j] (perm empty: the identity).
struct QuantRows {
  QuantType type = QuantType::Q4;
  std::int64_t N = 0, K = 0, group = 0;
  bool asym = false;
  std::vector<std::uint8_t> codes;
  std::vector<float> d, m;
  std::vector<std::int32_t> perm;
};

// The metadata key of strata's own quantized checkpoints.
inline constexpr const char* kStrataQuantKey = "strata.quantization";

namespace detail {

inline const TensorView& require_typed(const Checkpoint& ck, const std::string& name, std::initializer_list<std::int64_t> shape,
                                       DType want) {
  const std::vector<std::int64_t> dims(shape);
  const TensorView& t = ck.require(name, dims);
  if (t.dtype != want)
    fail(t.file.string(), ": tensor ", quote(name), " is ", dtype_name(t.dtype), ", expected ", dtype_name(want));
  ck.check_unchanged(t);
  return t;
}

inline std::vector<std::int32_t> read_i32(const TensorView& t) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(t.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t u = 0;
    for (int b = 3; b >= 0; --b) u = (u << 8) | std::to_integer<std::uint32_t>(t.data[4 * i + std::size_t(b)]);
    v[i] = std::int32_t(u);
  }
  return v;
}

inline std::vector<float> read_scales(const Checkpoint& ck, const std::string& name, std::int64_t rows, std::int64_t cols) {
  const std::vector<std::int64_t> dims{rows, cols};
  const TensorView& t = ck.require(name, dims);
  ck.check_unchanged(t);
  std::vector<float> v = to_f32(t);  // a float type, else a clear error
  // Finite, and within float16 range (published scales are float16), so
  // that d · code and d · zero cannot overflow to ±inf.
  for (float x : v) {
    if (!std::isfinite(x)) fail(t.file.string(), ": tensor ", quote(name), " holds a non-finite scale");
    if (std::fabs(x) > 65504.0f)
      fail(t.file.string(), ": tensor ", quote(name), " holds a scale of magnitude ", x, ", beyond 65504");
  }
  return v;
}

inline std::uint32_t nibble(std::int32_t word, std::int64_t i) { return (std::uint32_t(word) >> (4 * i)) & 0xFu; }

// The permutation that makes each group's columns contiguous (stable), after
// checking every group has exactly G columns.
inline std::vector<std::int32_t> group_permutation(const std::vector<std::int32_t>& g_idx, std::int64_t G,
                                                   const std::string& name) {
  const std::int64_t K = std::int64_t(g_idx.size()), ng = K / G;
  std::vector<std::int64_t> count(static_cast<std::size_t>(ng), 0);
  bool identity = true;
  for (std::int64_t k = 0; k < K; ++k) {
    const std::int32_t g = g_idx[std::size_t(k)];
    if (g < 0 || g >= ng) fail(name, ": g_idx[", k, "] = ", g, " is out of range [0, ", ng, ")");
    ++count[std::size_t(g)];
    identity = identity && g == k / G;
  }
  for (std::int64_t g = 0; g < ng; ++g)
    if (count[std::size_t(g)] != G) fail(name, ": group ", g, " has ", count[std::size_t(g)], " columns, expected ", G);
  if (identity) return {};
  std::vector<std::int32_t> perm(static_cast<std::size_t>(K));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](std::int32_t a, std::int32_t b) {
    return g_idx[std::size_t(a)] < g_idx[std::size_t(b)];
  });
  return perm;
}

// An empty asymmetric 4-bit QuantRows of N × K with groups of G (GPTQ, AWQ).
inline QuantRows q4_rows(std::int64_t N, std::int64_t K, std::int64_t G) {
  QuantRows r;
  r.type = QuantType::Q4;
  r.N = N;
  r.K = K;
  r.group = G;
  r.asym = true;
  r.codes.resize(std::size_t(N * K));
  r.d.resize(std::size_t(N * (K / G)));
  r.m.resize(r.d.size());
  return r;
}

inline void check_dims(const std::string& prefix, std::int64_t N, std::int64_t K, std::int64_t G, std::int64_t n_mult) {
  check(K % G == 0, prefix, ": ", K, " input features are not a multiple of the group size ", G);
  check(N % n_mult == 0, prefix, ": ", N, " output features are not a multiple of ", n_mult,
        " (the packed layout needs it)");
}

}  // namespace detail

// GPTQ (checkpoint_format "gptq"): see the layout above.
inline QuantRows read_gptq(const Checkpoint& ck, const std::string& prefix, std::int64_t N, std::int64_t K,
                           const QuantSpec& q) {
  const std::int64_t G = q.group;
  check(K % 8 == 0, prefix, ": ", K, " input features are not a multiple of 8 (GPTQ packs 8 per int32)");
  detail::check_dims(prefix, N, K, G, 8);
  const auto qw = detail::read_i32(detail::require_typed(ck, prefix + ".qweight", {K / 8, N}, DType::I32));
  const auto qz = detail::read_i32(detail::require_typed(ck, prefix + ".qzeros", {K / G, N / 8}, DType::I32));
  const auto sc = detail::read_scales(ck, prefix + ".scales", K / G, N);
  std::vector<std::int32_t> g_idx(static_cast<std::size_t>(K));
  if (const TensorView* gi = ck.find(prefix + ".g_idx")) {
    (void)gi;
    g_idx = detail::read_i32(detail::require_typed(ck, prefix + ".g_idx", {K}, DType::I32));
  } else {
    check(!q.desc_act, prefix, ".g_idx: missing, and desc_act is true");
    for (std::int64_t k = 0; k < K; ++k) g_idx[std::size_t(k)] = std::int32_t(k / G);
  }
  QuantRows r = detail::q4_rows(N, K, G);
  r.perm = detail::group_permutation(g_idx, G, prefix + ".g_idx");
  for (std::int64_t j = 0; j < K; ++j) {
    const std::int64_t k = r.perm.empty() ? j : r.perm[std::size_t(j)];
    for (std::int64_t n = 0; n < N; ++n)
      r.codes[std::size_t(n * K + j)] = std::uint8_t(detail::nibble(qw[std::size_t((k / 8) * N + n)], k % 8));
  }
  for (std::int64_t g = 0; g < K / G; ++g)
    for (std::int64_t n = 0; n < N; ++n) {
      const float d = sc[std::size_t(g * N + n)];
      const auto zero = float(detail::nibble(qz[std::size_t(g * (N / 8) + n / 8)], n % 8) + 1);
      r.d[std::size_t(n * (K / G) + g)] = d;
      r.m[std::size_t(n * (K / G) + g)] = -(d * zero);  // exact: d is a float16 value, zero ≤ 16
    }
  return r;
}

// AWQ ("gemm" version): see the layout above.
inline QuantRows read_awq(const Checkpoint& ck, const std::string& prefix, std::int64_t N, std::int64_t K,
                          const QuantSpec& q) {
  static constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // nibble i holds output 8c + kOrder[i]
  const std::int64_t G = q.group;
  detail::check_dims(prefix, N, K, G, 8);
  const auto qw = detail::read_i32(detail::require_typed(ck, prefix + ".qweight", {K, N / 8}, DType::I32));
  const auto qz = detail::read_i32(detail::require_typed(ck, prefix + ".qzeros", {K / G, N / 8}, DType::I32));
  const auto sc = detail::read_scales(ck, prefix + ".scales", K / G, N);
  QuantRows r = detail::q4_rows(N, K, G);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t c = 0; c < N / 8; ++c) {
      const std::int32_t word = qw[std::size_t(k * (N / 8) + c)];
      for (int i = 0; i < 8; ++i) r.codes[std::size_t((8 * c + kOrder[i]) * K + k)] = std::uint8_t(detail::nibble(word, i));
    }
  for (std::int64_t g = 0; g < K / G; ++g)
    for (std::int64_t c = 0; c < N / 8; ++c) {
      const std::int32_t word = qz[std::size_t(g * (N / 8) + c)];
      for (int i = 0; i < 8; ++i) {
        const std::int64_t n = 8 * c + kOrder[i];
        const float d = sc[std::size_t(g * N + n)];
        r.d[std::size_t(n * (K / G) + g)] = d;
        r.m[std::size_t(n * (K / G) + g)] = -(d * float(detail::nibble(word, i)));
      }
    }
  return r;
}

// strata's own layout (written by the `quantize` tool).
inline QuantRows read_strata_quant(const Checkpoint& ck, const std::string& prefix, std::int64_t N, std::int64_t K,
                                   const QuantSpec& q) {
  const std::int64_t G = q.group;
  detail::check_dims(prefix, N, K, G, 1);
  const bool four = q.type != QuantType::Q8;
  const TensorView& t = detail::require_typed(ck, prefix + ".qcodes", {N, four ? K / 2 : K}, DType::U8);
  QuantRows r;
  r.type = q.type;
  r.N = N;
  r.K = K;
  r.group = G;
  r.asym = q.asym;
  r.d = detail::read_scales(ck, prefix + ".qscales", N, K / G);
  if (q.asym) r.m = detail::read_scales(ck, prefix + ".qmins", N, K / G);
  r.codes.resize(std::size_t(N * K));
  const auto* src = reinterpret_cast<const std::uint8_t*>(t.data);
  if (!four) {
    std::memcpy(r.codes.data(), src, r.codes.size());
    for (std::size_t i = 0; i < r.codes.size(); ++i)
      if (r.codes[i] == 0)
        fail(t.file.string(), ": tensor ", detail::quote(prefix + ".qcodes"), ": q8 code 0 at index ", i,
             " is outside [1, 255]");
  } else {
    for (std::size_t i = 0; i < r.codes.size() / 2; ++i) {
      r.codes[2 * i] = src[i] & 0x0F;
      r.codes[2 * i + 1] = src[i] >> 4;
    }
  }
  ck.release(t);
  return r;
}

// The strata quantization recorded in a checkpoint's metadata, if any
// (every file of a sharded checkpoint must agree).
inline QuantSpec strata_quant_metadata(const Checkpoint& ck) {
  QuantSpec q;
  std::string seen;
  for (const auto& f : ck.files()) {
    const auto it = f->metadata().find(kStrataQuantKey);
    const std::string where = f->path().string() + ": __metadata__ \"" + kStrataQuantKey + "\"";
    if (it == f->metadata().end()) {
      check(seen.empty(), where, " is missing while other files of the checkpoint have it");
      continue;
    }
    check(seen.empty() || seen == it->second, where, " differs from the other files'");
    if (!seen.empty()) continue;
    seen = it->second;
    const nlohmann::json j = io::detail::parse_json_bounded(it->second, where);
    check(j.is_object(), where, " is not a JSON object");
    const auto field = [&](const char* key) -> const nlohmann::json& {
      check(j.contains(key), where, ": field '", key, "' is missing");
      return j.at(key);
    };
    const auto& type = field("type");
    const auto t = type.is_string() ? quant_type_from_name(type.get<std::string>()) : std::nullopt;
    check(t.has_value(), where, ": type ", io::detail::printable_json(type), " is not one of \"q8\", \"q4\", \"fp4\"");
    q.type = *t;
    const auto& group = field("group");
    check(group.is_number_integer(), where, ": group ", io::detail::printable_json(group), " is not an integer");
    q.group = group.get<std::int64_t>();
    const auto& asym = field("asym");
    check(asym.is_boolean(), where, ": asym ", io::detail::printable_json(asym), " is not true or false");
    q.asym = asym.get<bool>();
    check(q.group == 32 || q.group == 64 || q.group == 128, where, ": group ", q.group, " is not 32, 64 or 128");
    check(q.type != QuantType::Q8 || q.group == 32, where, ": q8 uses groups of 32, not ", q.group);
    check(!q.asym || q.type == QuantType::Q4, where, ": only q4 has an asymmetric variant");
    q.source = QuantSpec::Source::Strata;
    q.enabled = true;
  }
  return q;
}

}  // namespace strata::io
