// Weight tensors as layers hold them: every tensor is copied (converted where
// its stored type is not the layer's weight type) into memory the layer owns,
// once, at load; the checkpoint's pages of it are then released. A loaded
// model never reads the checkpoint files again, so a file truncated or
// rewritten after loading cannot fault or change a running model. Before each
// tensor is read, the file is checked to still have the size it had when
// opened (io::Checkpoint::check_unchanged).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/aligned_buffer.hpp"
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
  ck.check_unchanged(t);
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

// A dense tensor of element type W (float, bf16 or f16), row-major, in a
// 64-byte aligned buffer of its own.
template <class W>
class WeightTensor {
 public:
  WeightTensor() = default;

  static WeightTensor load(const io::Checkpoint& ck, const std::string& name, std::initializer_list<std::int64_t> shape) {
    const std::vector<std::int64_t> dims(shape);
    const io::TensorView& t = ck.require(name, dims);
    ck.check_unchanged(t);
    WeightTensor w;
    w.shape_ = dims;
    const auto n = std::size_t(t.numel());
    w.buf_.resize(n);
    if (t.dtype == dtype_of<W>()) {
      if (n > 0) std::memcpy(static_cast<void*>(w.buf_.data()), t.data, t.nbytes);  // bit for bit, as read_row
    } else if constexpr (std::is_same_v<W, float>) {
      io::copy_to_f32(t, w.buf_.data());
    } else {
      std::vector<float> tmp(n);
      io::copy_to_f32(t, tmp.data());
      for (std::size_t i = 0; i < n; ++i) w.buf_[i] = narrow<W>(tmp[i]);
    }
    ck.release(t);  // the copy is what runs; drop the mapped pages
    return w;
  }

  // A tensor built at load (a fused bias), converted to W.
  static WeightTensor from_floats(std::vector<std::int64_t> shape, const std::vector<float>& values) {
    WeightTensor w;
    w.shape_ = std::move(shape);
    w.buf_.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) w.buf_[i] = narrow<W>(values[i]);
    return w;
  }

  const W* data() const { return buf_.data(); }
  W* mutable_data() { return buf_.data(); }  // for layers that fold a transform in at load
  const W* row(std::int64_t r) const { return buf_.data() + r * shape_.back(); }
  std::int64_t dim(std::size_t i) const { return shape_.at(i); }
  bool empty() const { return buf_.empty(); }
  std::size_t bytes() const { return buf_.size() * sizeof(W); }

 private:
  AlignedBuffer<W> buf_;
  std::vector<std::int64_t> shape_;
};

// A projection weight [out, in] as a checkpoint stores it, for layers that
// fuse or transpose at load: the row blocks of one or more tensors stacked
// (BERT's query/key/value as one [3·H, H] matrix), each "<name>.weight" in
// nn.Linear layout [rows, in] or, for transformers' Conv1D (GPT-2), [in, rows].
struct MatrixSource {
  std::vector<std::string> names;  // tensor prefixes, without ".weight" / ".bias"
  std::vector<std::int64_t> rows;  // output rows of each; out = their sum
  bool conv1d = false;

  std::int64_t out() const {
    std::int64_t n = 0;
    for (auto r : rows) n += r;
    return n;
  }
  std::string describe() const {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : "+") + n;
    return s;
  }
};

// The stacked matrix [out, in] in float, row-major (transposed from Conv1D).
inline std::vector<float> read_matrix_f32(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in) {
  check(src.names.size() == src.rows.size() && !src.names.empty(), "MatrixSource: one row count per tensor");
  std::vector<float> w(static_cast<std::size_t>(src.out() * in));
  std::vector<float> tmp;
  std::int64_t r0 = 0;
  for (std::size_t i = 0; i < src.names.size(); ++i) {
    const std::int64_t rows = src.rows[i];
    const std::string name = src.names[i] + ".weight";
    const io::TensorView& t =
        src.conv1d ? ck.require(name, std::vector<std::int64_t>{in, rows}) : ck.require(name, std::vector<std::int64_t>{rows, in});
    ck.check_unchanged(t);
    if (src.conv1d) {
      tmp.resize(static_cast<std::size_t>(in * rows));
      io::copy_to_f32(t, tmp.data());
      for (std::int64_t k = 0; k < in; ++k)
        for (std::int64_t n = 0; n < rows; ++n) w[std::size_t((r0 + n) * in + k)] = tmp[std::size_t(k * rows + n)];
    } else {
      io::copy_to_f32(t, w.data() + r0 * in);
    }
    ck.release(t);
    r0 += rows;
  }
  return w;
}

// The stacked biases [out] in float.
inline std::vector<float> read_bias_f32(const io::Checkpoint& ck, const MatrixSource& src) {
  std::vector<float> b(static_cast<std::size_t>(src.out()));
  std::int64_t r0 = 0;
  for (std::size_t i = 0; i < src.names.size(); ++i) {
    const io::TensorView& t = ck.require(src.names[i] + ".bias", std::vector<std::int64_t>{src.rows[i]});
    ck.check_unchanged(t);
    io::copy_to_f32(t, b.data() + r0);
    ck.release(t);
    r0 += src.rows[i];
  }
  return b;
}

inline float widen(float x) { return x; }
inline float widen(bf16 x) { return bf16_to_f32(x.bits); }
inline float widen(f16 x) { return f16_to_f32(x.bits); }

}  // namespace strata
