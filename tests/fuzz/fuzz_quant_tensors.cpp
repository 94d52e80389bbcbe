// Fuzz target: the contents of a quantized projection, in a file this harness
// writes. fuzz_quant_layout mutates whole safetensors files, so most of its
// inputs stop at the header; here the header is always right and the bytes
// are the tensors' values, so nearly every input reaches the readers'
// decoding, the packing and the integer kernels.
//
// Input: 4 control bytes, then data.
//   c0 % 16: the format: GPTQ g32/64/128, AWQ g32/64/128, strata q8 g32,
//            q4 g32/64/128, q4 asym g32/64/128, fp4 g32/64/128;
//            bit 4: GPTQ desc_act
//   c1:      N = 8·(1 + c1 % 8) for GPTQ/AWQ, 1 + c1 % 64 for strata
//   c2:      K = G·(1 + c2 % 4); bit 7: GPTQ g_idx is the identity
//   c3:      bit 0: p.bias; bit 1: p.g_idx present (GPTQ); bit 2: g_idx
//            bytes as they come (else a permutation drawn from the data, so
//            every group has G columns); bits 3-4: scale dtype (F16, F32,
//            BF16, F16); bit 5: scales/offsets/bias bytes as they come (else
//            ±(1 + byte % 128) / 4096, exact in every dtype); bit 6: q8 codes
//            as they come (else code 0 becomes 1); bit 7: strata spec from
//            the "strata.quantization" metadata (else passed directly)
// The data fills the tensors in order, repeated when it runs out (zeros if
// there is none). Packed words and 4-bit codes are used as they come.
//
// A file built without any "as they come" choice (and with g_idx where
// desc_act needs it) is valid: loading it must succeed. Then the same checks
// as fuzz_quant_layout (quant_check.hpp): dequantize() against this
// harness's own decoding, forward() on every kernel target against
// x̂ · Wᵀ + b, finite outputs from bounded scales.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "quant_check.hpp"
#include "strata/core/dtype.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/io/safetensors.hpp"

namespace {

using strata::QuantSpec;
using strata::QuantType;
using strata::fuzz::invariant_failed;

struct Format {
  QuantSpec::Source source;
  QuantType type;
  std::int64_t group;
  bool asym;
};

constexpr Format kFormats[16] = {
    {QuantSpec::Source::GPTQ, QuantType::Q4, 32, true},    {QuantSpec::Source::GPTQ, QuantType::Q4, 64, true},
    {QuantSpec::Source::GPTQ, QuantType::Q4, 128, true},   {QuantSpec::Source::AWQ, QuantType::Q4, 32, true},
    {QuantSpec::Source::AWQ, QuantType::Q4, 64, true},     {QuantSpec::Source::AWQ, QuantType::Q4, 128, true},
    {QuantSpec::Source::Strata, QuantType::Q8, 32, false}, {QuantSpec::Source::Strata, QuantType::Q4, 32, false},
    {QuantSpec::Source::Strata, QuantType::Q4, 64, false}, {QuantSpec::Source::Strata, QuantType::Q4, 128, false},
    {QuantSpec::Source::Strata, QuantType::Q4, 32, true},  {QuantSpec::Source::Strata, QuantType::Q4, 64, true},
    {QuantSpec::Source::Strata, QuantType::Q4, 128, true}, {QuantSpec::Source::Strata, QuantType::FP4, 32, false},
    {QuantSpec::Source::Strata, QuantType::FP4, 64, false}, {QuantSpec::Source::Strata, QuantType::FP4, 128, false},
};

// The data bytes, repeated.
class Stream {
 public:
  Stream(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::uint8_t byte() {
    if (n_ == 0) return 0;
    const std::uint8_t b = p_[i_];
    i_ = (i_ + 1) % n_;
    return b;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_, i_ = 0;
};

struct Tensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;
};

std::vector<std::uint8_t> raw(Stream& s, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = s.byte();
  return v;
}

void put_i32(std::vector<std::uint8_t>& v, std::int32_t x) {
  for (int b = 0; b < 4; ++b) v.push_back(std::uint8_t(std::uint32_t(x) >> (8 * b)));
}

// n float values in dtype: as they come, or ±(1 + b % 128) / 4096 (or for
// offsets, −(b % 128) / 256), exact in F16, BF16 and F32.
std::vector<std::uint8_t> floats(Stream& s, std::size_t n, const std::string& dtype, bool as_they_come, bool offset) {
  const std::size_t size = dtype == "F32" ? 4 : 2;
  if (as_they_come) return raw(s, n * size);
  std::vector<std::uint8_t> v;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t b = s.byte();
    const float x = offset ? -float(b % 128) / 256.0f : (b & 0x80 ? -1.0f : 1.0f) * float(1 + b % 128) / 4096.0f;
    std::uint32_t bits = strata::f32_to_bits(x);
    if (dtype == "F32") {
      for (int k = 0; k < 4; ++k) v.push_back(std::uint8_t(bits >> (8 * k)));
    } else {
      std::uint16_t h = 0;
      if (dtype == "BF16") {
        h = std::uint16_t(bits >> 16);  // exact: at most 8 significant bits
      } else {                          // F16: normal for |x| ≥ 2^-14
        const std::uint32_t sign = bits >> 31, exp = (bits >> 23) & 0xFF, man = bits & 0x7FFFFF;
        if (exp == 0) h = std::uint16_t(sign << 15);
        else h = std::uint16_t((sign << 15) | ((exp - 127 + 15) << 10) | (man >> 13));
      }
      v.push_back(std::uint8_t(h));
      v.push_back(std::uint8_t(h >> 8));
    }
  }
  return v;
}

std::string file_bytes(const std::vector<Tensor>& ts, const nlohmann::ordered_json& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t off = 0;
  for (const Tensor& t : ts) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';
  std::string out(8, '\0');
  const std::uint64_t n = text.size();
  for (int b = 0; b < 8; ++b) out[std::size_t(b)] = char(std::uint8_t(n >> (8 * b)));
  out += text;
  for (const Tensor& t : ts) out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static strata::fuzz::MemFile file;
  if (size < 4) return 0;
  const std::uint8_t c0 = data[0], c1 = data[1], c2 = data[2], c3 = data[3];
  Stream s(data + 4, size - 4);
  const Format& f = kFormats[c0 % 16];
  const bool gptq = f.source == QuantSpec::Source::GPTQ, awq = f.source == QuantSpec::Source::AWQ;
  const std::int64_t G = f.group, N = gptq || awq ? 8 * (1 + c1 % 8) : 1 + c1 % 64, K = G * (1 + c2 % 4);
  const bool bias = c3 & 1, has_g_idx = gptq && (c3 & 2), raw_g_idx = c3 & 4, raw_floats = c3 & 32,
             raw_codes = c3 & 64, from_metadata = f.source == QuantSpec::Source::Strata && (c3 & 128);
  const char* const kDtypes[4] = {"F16", "F32", "BF16", "F16"};
  const std::string sdtype = kDtypes[(c3 >> 3) & 3];

  QuantSpec q;
  q.enabled = true;
  q.source = f.source;
  q.type = f.type;
  q.group = G;
  q.asym = f.asym;
  q.desc_act = gptq && (c0 & 16);

  std::vector<Tensor> ts;
  nlohmann::ordered_json metadata = {{"format", "pt"}};
  if (gptq || awq) {
    Tensor qw{"p.qweight", "I32", gptq ? std::vector<std::int64_t>{K / 8, N} : std::vector<std::int64_t>{K, N / 8}, {}};
    qw.bytes = raw(s, std::size_t(K * N / 2));
    ts.push_back(qw);
    ts.push_back({"p.qzeros", "I32", {K / G, N / 8}, raw(s, std::size_t((K / G) * (N / 8) * 4))});
    ts.push_back({"p.scales", sdtype, {K / G, N}, floats(s, std::size_t((K / G) * N), sdtype, raw_floats, false)});
    if (has_g_idx) {
      Tensor gi{"p.g_idx", "I32", {K}, {}};
      if (raw_g_idx) {
        gi.bytes = raw(s, std::size_t(K * 4));
      } else {
        std::vector<std::int64_t> perm(static_cast<std::size_t>(K));
        for (std::int64_t k = 0; k < K; ++k) perm[std::size_t(k)] = k;
        if (!(c2 & 0x80))
          for (std::int64_t i = K - 1; i > 0; --i) {
            const std::int64_t hi = s.byte(), lo = s.byte();
            const std::int64_t j = (hi << 8 | lo) % (i + 1);
            std::swap(perm[std::size_t(i)], perm[std::size_t(j)]);
          }
        std::vector<std::int32_t> g(static_cast<std::size_t>(K));
        for (std::int64_t i = 0; i < K; ++i) g[std::size_t(perm[std::size_t(i)])] = std::int32_t(i / G);
        for (const std::int32_t v : g) put_i32(gi.bytes, v);
      }
      ts.push_back(gi);
    }
  } else {
    const bool four = f.type != QuantType::Q8;
    Tensor codes{"p.qcodes", "U8", {N, four ? K / 2 : K}, raw(s, std::size_t(four ? N * K / 2 : N * K))};
    if (!four && !raw_codes)
      for (auto& b : codes.bytes) b = b == 0 ? 1 : b;
    ts.push_back(codes);
    ts.push_back({"p.qscales", sdtype, {N, K / G}, floats(s, std::size_t(N * (K / G)), sdtype, raw_floats, false)});
    if (f.asym) ts.push_back({"p.qmins", sdtype, {N, K / G}, floats(s, std::size_t(N * (K / G)), sdtype, raw_floats, true)});
    if (from_metadata)
      metadata[strata::io::kStrataQuantKey] =
          nlohmann::json({{"type", strata::quant_type_name(f.type)}, {"group", G}, {"asym", f.asym}}).dump();
  }
  if (bias) ts.push_back({"p.bias", sdtype, {N}, floats(s, std::size_t(N), sdtype, raw_floats, false)});

  const std::string bytes = file_bytes(ts, metadata);
  const auto& path = file.write(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  const bool valid = !raw_floats && !(has_g_idx && raw_g_idx) && !(f.type == QuantType::Q8 && raw_codes) &&
                     !(q.desc_act && !has_g_idx);
  // Opening the file and reading its metadata must succeed (the harness wrote
  // them right); loading the layer too when the contents are valid.
  try {
    const auto ck = strata::io::Checkpoint::open_files({path});
    if (from_metadata) {
      const QuantSpec meta = strata::io::strata_quant_metadata(ck);
      if (!meta.enabled || meta.type != q.type || meta.group != q.group || meta.asym != q.asym)
        invariant_failed("metadata spec differs from what was written", meta.describe());
      q = meta;
    }
    const auto run = [&] {
      if (!strata::fuzz::quant::check_layer(ck, q, {N, K})) invariant_failed("a packed projection loaded dense");
    };
    if (valid) run();
    else strata::fuzz::expect_ok_or_error(run);
  } catch (const strata::Error& e) {
    invariant_failed(valid ? "a valid quantized projection was refused" : "the harness's file or metadata was refused",
                     e.what());
  }
  return 0;
}
