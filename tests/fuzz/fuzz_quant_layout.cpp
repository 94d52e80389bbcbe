// Fuzz target: the bytes are one .safetensors file holding a quantized
// projection under the prefix "p" (GPTQ: p.qweight p.qzeros p.scales
// [p.g_idx]; AWQ: p.qweight p.qzeros p.scales; strata: p.qcodes p.qscales
// [p.qmins] with the "strata.quantization" metadata; or a dense p.weight;
// p.bias is used when present). Opens it as io::Checkpoint, reads
// io::strata_quant_metadata, then loads Linear<Quantized<float>> with each
// spec of a fixed list (and the metadata's, if any) at each of a few shapes
// (N × K = {8, 16} × {32, 128, 256}, plus the shape the file's own packed
// tensor implies, if small). What loads is checked:
//   - dequantize() has N·K values, equal (to float rounding) to an
//     independent decoding of the file's tensors in this harness;
//   - forward() for T = 1 and T = 3 (one-thread pool, every kernel target the
//     binary and CPU have) agrees with x̂ · Wᵀ + b computed in double from the
//     dequantized W, x̂ being x rounded to int8 per block of 32 as the kernels
//     do (in GPTQ act order, blocks of the permuted columns), to float
//     rounding;
//   - every output is finite. Both forward checks cover the rows whose
//     scales, offsets, weights and bias are finite and at most 1e30 in
//     magnitude: finite scales alone do not bound the outputs (d = 3e38
//     gives d·127 = inf; the loaders check isfinite() only; docs/FUZZING.md,
//     Q1).
// The checks are in quant_check.hpp (shared with fuzz_quant_tensors).
// STRATA_FUZZ_VERBOSE=1 in the environment prints each layer that loads.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "fuzz_support.hpp"
#include "quant_check.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/io/safetensors.hpp"

namespace {

using strata::QuantSpec;
using strata::QuantType;
using strata::fuzz::invariant_failed;
using strata::fuzz::quant::Shape;

QuantSpec make_spec(QuantSpec::Source src, QuantType type, std::int64_t group, bool asym, bool desc_act = false) {
  QuantSpec q;
  q.source = src;
  q.enabled = true;
  q.type = type;
  q.group = group;
  q.asym = asym;
  q.desc_act = desc_act;
  return q;
}

const std::vector<QuantSpec>& fixed_specs() {
  using S = QuantSpec::Source;
  static const std::vector<QuantSpec> specs = {
      make_spec(S::GPTQ, QuantType::Q4, 32, true, false),  make_spec(S::GPTQ, QuantType::Q4, 32, true, true),
      make_spec(S::GPTQ, QuantType::Q4, 128, true, false), make_spec(S::GPTQ, QuantType::Q4, 128, true, true),
      make_spec(S::AWQ, QuantType::Q4, 32, true),          make_spec(S::AWQ, QuantType::Q4, 128, true),
      make_spec(S::Strata, QuantType::Q8, 32, false),      make_spec(S::Strata, QuantType::Q4, 32, false),
      make_spec(S::Strata, QuantType::Q4, 64, true),       make_spec(S::Strata, QuantType::FP4, 32, false),
  };
  return specs;
}

// Largest projection tried at a shape taken from the file (the inputs are a
// few KB, so a valid one is far smaller).
constexpr std::int64_t kMaxN = 512, kMaxK = 2048, kMaxNK = 1 << 16;

// The shapes to try for a spec: the fixed ones and the one the file's packed
// tensor implies.
std::vector<Shape> shapes_for(const strata::io::Checkpoint& ck, const QuantSpec& q) {
  std::vector<Shape> v;
  for (const std::int64_t N : {8, 16})
    for (const std::int64_t K : {32, 128, 256}) v.push_back({N, K});
  std::optional<Shape> own;
  const auto small2d = [](const strata::io::TensorView* t) {
    return t && t->shape.size() == 2 && t->shape[0] <= kMaxK && t->shape[1] <= kMaxK;
  };
  if (q.source == QuantSpec::Source::Strata) {
    if (const auto* t = ck.find("p.qcodes"); small2d(t))
      own = Shape{t->shape[0], q.type == QuantType::Q8 ? t->shape[1] : 2 * t->shape[1]};
  } else if (const auto* t = ck.find("p.qweight"); small2d(t)) {
    own = q.source == QuantSpec::Source::GPTQ ? Shape{t->shape[1], 8 * t->shape[0]} : Shape{8 * t->shape[1], t->shape[0]};
  } else if (const auto* w = ck.find("p.weight"); small2d(w)) {
    own = Shape{w->shape[0], w->shape[1]};
  }
  if (own && own->N > 0 && own->K > 0 && own->N <= kMaxN && own->K <= kMaxK && own->N * own->K <= kMaxNK &&
      std::find(v.begin(), v.end(), *own) == v.end())
    v.push_back(*own);
  return v;
}

void check_metadata_spec(const QuantSpec& q, bool has_key) {
  if (!has_key) {
    if (q.enabled) invariant_failed("a quantization spec without the metadata key");
    return;
  }
  if (!q.enabled || q.source != QuantSpec::Source::Strata) invariant_failed("accepted metadata gave no strata spec");
  if (!(q.group == 32 || q.group == 64 || q.group == 128) || (q.type == QuantType::Q8 && q.group != 32) ||
      (q.asym && q.type != QuantType::Q4))
    invariant_failed("accepted metadata spec is not a valid format", q.describe());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static strata::fuzz::MemFile file;
  const auto& path = file.write(data, size);
  std::optional<strata::io::Checkpoint> ck;
  strata::fuzz::expect_ok_or_error([&] { ck = strata::io::Checkpoint::open_files({path}); });
  if (!ck) return 0;

  std::vector<QuantSpec> specs = fixed_specs();
  strata::fuzz::expect_ok_or_error([&] {
    bool has_key = false;
    for (const auto& f : ck->files()) has_key = has_key || f->metadata().count(strata::io::kStrataQuantKey) != 0;
    const QuantSpec meta = strata::io::strata_quant_metadata(*ck);
    check_metadata_spec(meta, has_key);
    const auto same = [&](const QuantSpec& f) {
      return f.source == meta.source && f.type == meta.type && f.group == meta.group && f.asym == meta.asym;
    };
    if (meta.enabled && std::none_of(specs.begin(), specs.end(), same)) specs.push_back(meta);
  });
  for (const QuantSpec& q : specs)
    for (const Shape s : shapes_for(*ck, q))
      strata::fuzz::expect_ok_or_error([&] { (void)strata::fuzz::quant::check_layer(*ck, q, s); });
  return 0;
}
