// Weight tensors as layers hold them. A tensor whose stored type already is
// the layer's weight type (and is aligned for it) is used in place, inside the
// checkpoint's read-only mapping; anything else is converted once at load.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/kernels/gemm.hpp"

namespace strata {

template <class W>
inline constexpr DType dtype_of() {
  if constexpr (std::is_same_v<W, float>) return DType::F32;
  else if constexpr (std::is_same_v<W, bf16>) return DType::BF16;
  else if constexpr (std::is_same_v<W, f16>) return DType::F16;
  else static_assert(sizeof(W) == 0, "unsupported weight type");
}

template <class W>
inline const char* weight_type_name() {
  if constexpr (std::is_same_v<W, float>) return "f32";
  else if constexpr (std::is_same_v<W, bf16>) return "bf16";
  else return "f16";
}

// float → W: exact for float, round-to-nearest-even for bf16 / f16.
template <class W>
inline W narrow(float x) {
  if constexpr (std::is_same_v<W, float>) return x;
  else if constexpr (std::is_same_v<W, bf16>) return bf16{f32_to_bf16(x)};
  else return f16{f32_to_f16(x)};
}

namespace detail {
// Row r (of `cols` elements) of a 2-D tensor, converted to W. Same dtype:
// copied bit for bit (at any alignment); otherwise widened to float exactly,
// then narrowed.
template <class W>
void read_row(const io::TensorView& t, std::int64_t r, std::int64_t cols, W* dst, float* tmp) {
  const std::size_t esz = dtype_size(t.dtype);
  io::TensorView row = t;
  row.data = t.data + std::size_t(r * cols) * esz;
  row.shape = {cols};
  row.nbytes = std::size_t(cols) * esz;
  if (t.dtype == dtype_of<W>()) {
    std::memcpy(static_cast<void*>(dst), row.data, row.nbytes);
    return;
  }
  io::copy_to_f32(row, tmp);
  for (std::int64_t i = 0; i < cols; ++i) dst[i] = narrow<W>(tmp[i]);
}
}  // namespace detail

// Loads a projection weight [N, K] and re-lays it out once into the panel
// layout the GEMM/GEMV kernels read (kernels/gemm.hpp), converting to W.
// The checkpoint's pages of the tensor are released afterwards, so a model
// is resident once (packed), not twice.
template <class W>
kernels::PackedMatrix<W> load_packed(const io::Checkpoint& ck, const std::string& name, std::int64_t N, std::int64_t K) {
  const io::TensorView& t = ck.require(name, {N, K});
  kernels::PackedMatrix<W> p(N, K);
  std::vector<W> row(static_cast<std::size_t>(K));
  std::vector<float> tmp(static_cast<std::size_t>(K));
  for (std::int64_t n = 0; n < N; ++n) {
    detail::read_row<W>(t, n, K, row.data(), tmp.data());
    p.set_row(n, row.data());
  }
  ck.release(t);  // the packed copy is what runs; drop the mapped pages
  return p;
}

// A dense tensor of element type W (float, bf16 or f16), row-major.
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
      for (std::size_t i = 0; i < n; ++i) w.owned_[i] = narrow<W>(tmp[i]);
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
inline float widen(f16 x) { return f16_to_f32(x.bits); }

}  // namespace strata
