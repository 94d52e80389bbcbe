// Weight tensors as layers hold them. A tensor whose stored type already is
// the layer's weight type (and is aligned for it) is used in place, inside the
// checkpoint's read-only mapping; anything else is converted once at load.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/safetensors.hpp"

namespace strata {

template <class W>
inline constexpr DType dtype_of() {
  if constexpr (std::is_same_v<W, float>) return DType::F32;
  else if constexpr (std::is_same_v<W, bf16>) return DType::BF16;
  else static_assert(sizeof(W) == 0, "unsupported weight type");
}

template <class W>
inline const char* weight_type_name() {
  return std::is_same_v<W, float> ? "f32" : "bf16";
}

// A dense tensor of element type W (float or bf16), row-major.
template <class W>
class WeightTensor {
 public:
  WeightTensor() = default;

  static WeightTensor load(const io::Checkpoint& ck, const std::string& name, std::initializer_list<std::int64_t> shape) {
    const std::vector<std::int64_t> dims(shape);
    const io::TensorView& t = ck.require(name, dims);
    WeightTensor w;
    w.shape_ = dims;
    const auto n = std::size_t(t.numel());
    if (t.dtype == dtype_of<W>() && reinterpret_cast<std::uintptr_t>(t.data) % alignof(W) == 0) {
      w.ptr_ = reinterpret_cast<const W*>(t.data);  // zero-copy view into the mapping
      return w;
    }
    w.owned_.resize(n);
    if constexpr (std::is_same_v<W, float>) {
      io::copy_to_f32(t, w.owned_.data());
    } else {
      std::vector<float> tmp(n);
      io::copy_to_f32(t, tmp.data());
      for (std::size_t i = 0; i < n; ++i) w.owned_[i] = bf16{f32_to_bf16(tmp[i])};
    }
    w.ptr_ = w.owned_.data();
    return w;
  }

  const W* data() const { return ptr_; }
  const W* row(std::int64_t r) const { return ptr_ + r * shape_.back(); }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }
  bool empty() const { return ptr_ == nullptr; }
  bool is_view() const { return ptr_ != nullptr && owned_.empty(); }
  std::size_t bytes() const {
    std::size_t n = 1;
    for (auto d : shape_) n *= std::size_t(d);
    return shape_.empty() ? 0 : n * sizeof(W);
  }

 private:
  const W* ptr_ = nullptr;
  std::vector<W> owned_;  // moving a vector keeps its buffer, so ptr_ stays valid
  std::vector<std::int64_t> shape_;
};

inline float widen(float x) { return x; }
inline float widen(bf16 x) { return bf16_to_f32(x.bits); }

}  // namespace strata
