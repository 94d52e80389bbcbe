// Weight tensors as layers hold them: every tensor is copied (converted where
// its stored type is not the layer's weight type) into memory the layer owns,
// once, at load. Tensors are read with Checkpoint::read (pread), not through
// the file mapping: straight into the layer's buffer when stored as its type,
// else a block at a time through a per-thread staging buffer that stays in
// cache. None of the files' pages enter the process's resident set, and a
// loaded model never reads the checkpoint files again, so a file truncated or
// rewritten after loading cannot fault or change a running model. Before each
// tensor is read, the file is checked to still have the size it had when
// opened (io::Checkpoint::check_unchanged); a file that shrinks during the
// read itself is an error too (pread finds its end), never a SIGBUS.
#pragma once

#include <algorithm>
#include <cstddef>
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

inline float widen(float x) { return x; }
inline float widen(bf16 x) { return bf16_to_f32(x.bits); }
inline float widen(f16 x) { return f16_to_f32(x.bits); }

// n stored elements of type dt (F32, F16 or BF16, little-endian, at any
// alignment) converted to W: copied bit for bit when dt is W's own type,
// otherwise widened to float exactly, then narrowed (round to nearest even).
template <class W>
void convert_stored(const std::byte* src, DType dt, std::size_t n, W* dst) {
  if (dt == dtype_of<W>()) {
    if (n > 0) std::memcpy(static_cast<void*>(dst), src, n * sizeof(W));
  } else if constexpr (std::is_same_v<W, float>) {
    io::stored_to_f32(src, dt, n, dst);
  } else {
    constexpr std::size_t kChunk = 256;
    float tmp[kChunk];
    for (std::size_t i = 0; i < n; i += kChunk) {
      const std::size_t m = std::min(kChunk, n - i);
      io::stored_to_f32(src + i * dtype_size(dt), dt, m, tmp);
      for (std::size_t j = 0; j < m; ++j) dst[i + j] = narrow<W>(tmp[j]);
    }
  }
}

namespace detail {
// Bytes a loader reads from a file at once when it converts or re-lays out.
inline constexpr std::size_t kStageBytes = 256 * 1024;

// The calling thread's staging buffer, at least `bytes` long (kept for the
// thread's life: its pages are faulted in once).
inline std::byte* stage(std::size_t bytes) {
  thread_local std::vector<std::byte> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}
}  // namespace detail

// Elements [first, first + n) of tensor t (of a float dtype), converted to
// W, into dst: read straight into dst when t is stored as W, else through
// the staging buffer a block at a time.
template <class W>
void read_elements(const io::Checkpoint& ck, const io::TensorView& t, std::size_t first, std::size_t n, W* dst) {
  io::check_float(t);
  const std::size_t esz = dtype_size(t.dtype);
  if (t.dtype == dtype_of<W>()) {
    ck.read(t, first * esz, n * esz, dst);
    return;
  }
  const std::size_t block = detail::kStageBytes / esz;
  std::byte* buf = detail::stage(block * esz);
  for (std::size_t i = 0; i < n; i += block) {
    const std::size_t m = std::min(block, n - i);
    ck.read(t, (first + i) * esz, m * esz, buf);
    convert_stored(buf, t.dtype, m, dst + i);
  }
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
    read_elements<W>(ck, t, 0, n, w.buf_.data());
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
// A convolution's kernel [rows, C, kh, kw] is the matrix [rows, C·kh·kw]
// (kernel = {C, kh, kw}): a patch embedding is one GEMM over unfolded patches.
struct MatrixSource {
  std::vector<std::string> names;  // tensor prefixes, without ".weight" / ".bias"
  std::vector<std::int64_t> rows;  // output rows of each; out = their sum
  bool conv1d = false;
  std::vector<std::int64_t> kernel = {};  // non-empty: the stored shape is [rows, kernel...] (its product is `in`)

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

// The source tensor of part i, checked: "<name>.weight" [rows, in], or
// [in, rows] for Conv1D; the file is checked unchanged before it is read.
inline const io::TensorView& matrix_part(const io::Checkpoint& ck, const MatrixSource& src, std::size_t i,
                                         std::int64_t in) {
  check(src.names.size() == src.rows.size() && !src.names.empty(), "MatrixSource: one row count per tensor");
  const std::int64_t rows = src.rows[i];
  const std::string name = src.names[i] + ".weight";
  std::vector<std::int64_t> shape = src.conv1d ? std::vector<std::int64_t>{in, rows} : std::vector<std::int64_t>{rows, in};
  if (!src.kernel.empty()) {
    std::int64_t n = 1;
    for (auto d : src.kernel) n *= d;
    check(!src.conv1d && n == in, "MatrixSource ", name, ": kernel shape does not flatten to ", in, " inputs");
    shape = {rows};
    shape.insert(shape.end(), src.kernel.begin(), src.kernel.end());
  }
  const io::TensorView& t = ck.require(name, shape);
  ck.check_unchanged(t);
  return t;
}

// The stacked matrix [out, in] in float, row-major (transposed from Conv1D).
inline std::vector<float> read_matrix_f32(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t in) {
  std::vector<float> w(static_cast<std::size_t>(src.out() * in));
  std::vector<float> tmp;
  std::int64_t r0 = 0;
  for (std::size_t i = 0; i < src.names.size(); ++i) {
    const std::int64_t rows = src.rows[i];
    const io::TensorView& t = matrix_part(ck, src, i, in);
    if (src.conv1d) {
      tmp.resize(static_cast<std::size_t>(in * rows));
      read_elements<float>(ck, t, 0, tmp.size(), tmp.data());
      for (std::int64_t k = 0; k < in; ++k)
        for (std::int64_t n = 0; n < rows; ++n) w[std::size_t((r0 + n) * in + k)] = tmp[std::size_t(k * rows + n)];
    } else {
      read_elements<float>(ck, t, 0, std::size_t(rows * in), w.data() + r0 * in);
    }
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
    read_elements<float>(ck, t, 0, std::size_t(src.rows[i]), b.data() + r0);
    r0 += src.rows[i];
  }
  return b;
}

}  // namespace strata
