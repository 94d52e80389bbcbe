// Element types of stored tensors and exact conversions of the 16-bit float
// formats to float32.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace strata {

// Float types hold weights; the integer types hold packed quantized weights
// (GPTQ/AWQ qweight, qzeros, g_idx: I32; strata's own codes: U8). I64 and
// BOOL are read so that checkpoints carrying buffers of those types (BERT's
// embeddings.position_ids, causal-mask buffers) open; no layer loads them.
enum class DType { F32, F16, BF16, I32, U8, I64, BOOL };

// Quantized weight formats (kernels/quant.hpp describes each).
enum class QuantType : std::uint8_t { Q8, Q4, FP4 };

inline constexpr const char* quant_type_name(QuantType t) {
  switch (t) {
    case QuantType::Q8: return "q8";
    case QuantType::Q4: return "q4";
    case QuantType::FP4: return "fp4";
  }
  return "?";
}

inline std::optional<QuantType> quant_type_from_name(std::string_view s) {
  if (s == "q8") return QuantType::Q8;
  if (s == "q4") return QuantType::Q4;
  if (s == "fp4") return QuantType::FP4;
  return std::nullopt;
}

inline constexpr bool dtype_is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

inline constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U8: return 1;
    case DType::I64: return 8;
    case DType::BOOL: return 1;
  }
  return 0;
}

inline constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::I64: return "I64";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

// Parses a safetensors dtype string; nullopt for types strata does not load.
inline std::optional<DType> dtype_from_name(std::string_view s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  if (s == "I32") return DType::I32;
  if (s == "U8") return DType::U8;
  if (s == "I64") return DType::I64;
  if (s == "BOOL") return DType::BOOL;
  return std::nullopt;
}

inline float bits_to_f32(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t f32_to_bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

// bfloat16 is the upper half of a float32: widening is exact.
inline float bf16_to_f32(std::uint16_t h) { return bits_to_f32(std::uint32_t(h) << 16); }

// Round-to-nearest-even narrowing; NaN stays NaN.
inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t b = f32_to_bits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return std::uint16_t(b >> 16);
}

// A bfloat16 value as stored: the weight type of Linear<bf16> (f32 compute).
struct bf16 {
  std::uint16_t bits;
};

// An IEEE binary16 value as stored: the weight type of Linear<f16> (f32 compute).
struct f16 {
  std::uint16_t bits;
};

// IEEE 754 binary16 to binary32, exact for every input (subnormals, inf, NaN).
inline float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_to_f32(sign);
  // Subnormal: normalise the mantissa.
  int e = -1;
  do {
    ++e;
    mant <<= 1;
  } while ((mant & 0x400u) == 0);
  return bits_to_f32(sign | (std::uint32_t(112 - e) << 23) | ((mant & 0x3ffu) << 13));
}

// binary32 to binary16, round to nearest even; overflow gives ±inf.
inline std::uint16_t f32_to_f16(float f) {
  const std::uint32_t x = f32_to_bits(f);
  const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000u);
  const std::uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return std::uint16_t(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds past 65504
  if (a < 0x38800000u) {  // below 2^-14: f16 subnormal, units of 2^-24
    return std::uint16_t(sign | std::uint16_t(std::nearbyint(std::fabs(f) * 16777216.0f)));
  }
  const std::uint32_t r = (a - (112u << 23)) + 0xfffu + ((a >> 13) & 1u);
  return std::uint16_t(sign | (r >> 13));
}

}  // namespace strata
