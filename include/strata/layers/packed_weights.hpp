// Projection weights read from a checkpoint straight into the panel layout
// of the GEMM kernels (kernels::PackedMatrix, kernels/gemm.hpp), converted to
// W on the way, with no row-major copy in between:
//
//   - nn.Linear tensors [rows, K], one or several stacked (MatrixSource:
//     BERT's query/key/value as one [3H, H] projection): a few panels' worth
//     of source rows at a time are read (Checkpoint::read, pread) into the
//     thread's staging buffer; each block of up to 16 rows × 64 columns is
//     converted into a tile in cache and transposed into its panel
//     (PackedMatrix::set_block).
//   - transformers' Conv1D tensors [K, rows] (GPT-2): a source row k holds
//     the panels' interleaved column k already, so each run of it that falls
//     in one panel is converted straight into place (PackedMatrix::slot).
//
// Each weight is converted on its own (a bit copy when stored as W, else
// widened exactly and rounded to nearest even: convert_stored), so the result
// equals packing the converted row-major matrix with kernels::pack_weights,
// whatever the blocking (tests/layers/test_weight_packing.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "strata/core/dtype.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/kernels/gemm.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

namespace detail {

// Output rows [r0, r0 + rows) of p from t, stored [rows, K] row-major.
template <class W>
void pack_rows(const io::Checkpoint& ck, const io::TensorView& t, std::int64_t r0, std::int64_t rows,
               kernels::PackedMatrix<W>& p) {
  using kernels::kPackBlock;
  using kernels::kPanel;
  const std::int64_t K = p.cols();
  if (rows == 0 || K == 0) return;
  const std::size_t esz = dtype_size(t.dtype), row_bytes = std::size_t(K) * esz;
  // Source rows per read: whole panels, at least one.
  const std::int64_t per_read = std::max<std::int64_t>(kPanel, std::int64_t(kStageBytes / row_bytes) / kPanel * kPanel);
  std::byte* buf = stage(std::size_t(per_read) * row_bytes);
  W tile[kPanel * kPackBlock];
  for (std::int64_t n = r0; n < r0 + rows;) {
    // Up to a panel boundary (a stacked part may start or end inside a panel).
    const std::int64_t end = std::min(r0 + rows, n / kPanel * kPanel + per_read);
    ck.read(t, std::size_t(n - r0) * row_bytes, std::size_t(end - n) * row_bytes, buf);
    for (std::int64_t a = n; a < end;) {
      const std::int64_t b = std::min(end, (a / kPanel + 1) * kPanel);  // rows [a, b): one panel
      for (std::int64_t k0 = 0; k0 < K; k0 += kPackBlock) {
        const std::int64_t kb = std::min(kPackBlock, K - k0);
        for (std::int64_t i = a; i < b; ++i)
          convert_stored(buf + (std::size_t(i - n) * std::size_t(K) + std::size_t(k0)) * esz, t.dtype, std::size_t(kb),
                         tile + (i - a) * kPackBlock);
        p.set_block(a, b - a, k0, kb, tile, kPackBlock);
      }
      a = b;
    }
    n = end;
  }
}

// Output rows [r0, r0 + rows) of p from t, stored transposed [K, rows]
// (Conv1D): source row k is W[r0 .. r0 + rows, k].
template <class W>
void pack_rows_transposed(const io::Checkpoint& ck, const io::TensorView& t, std::int64_t r0, std::int64_t rows,
                          kernels::PackedMatrix<W>& p) {
  using kernels::kPanel;
  const std::int64_t K = p.cols();
  if (rows == 0 || K == 0) return;
  const std::size_t esz = dtype_size(t.dtype), row_bytes = std::size_t(rows) * esz;
  const std::int64_t per_read = std::max<std::int64_t>(1, std::int64_t(kStageBytes / row_bytes));
  std::byte* buf = stage(std::size_t(per_read) * row_bytes);
  for (std::int64_t k0 = 0; k0 < K; k0 += per_read) {
    const std::int64_t kn = std::min(per_read, K - k0);
    ck.read(t, std::size_t(k0) * row_bytes, std::size_t(kn) * row_bytes, buf);
    for (std::int64_t k = k0; k < k0 + kn; ++k)
      for (std::int64_t a = r0; a < r0 + rows;) {
        const std::int64_t b = std::min(r0 + rows, (a / kPanel + 1) * kPanel);  // rows [a, b): one panel
        convert_stored(buf + std::size_t(k - k0) * row_bytes + std::size_t(a - r0) * esz, t.dtype, std::size_t(b - a),
                       p.slot(a, k));
        a = b;
      }
  }
}

}  // namespace detail

// The projection weight of src, [src.out(), K] with its parts stacked (a
// Linear's own "<prefix>.weight" is MatrixSource{{prefix}, {out}}), packed
// and converted to W. Each part's shape is checked, and its file checked
// unchanged before it is read.
template <class W>
kernels::PackedMatrix<W> load_packed(const io::Checkpoint& ck, const MatrixSource& src, std::int64_t K) {
  kernels::PackedMatrix<W> p(src.out(), K);
  std::int64_t r0 = 0;
  for (std::size_t i = 0; i < src.names.size(); ++i) {
    const io::TensorView& t = matrix_part(ck, src, i, K);
    io::check_float(t);
    if (src.conv1d) detail::pack_rows_transposed(ck, t, r0, src.rows[i], p);
    else detail::pack_rows(ck, t, r0, src.rows[i], p);
    r0 += src.rows[i];
  }
  return p;
}

}  // namespace strata
