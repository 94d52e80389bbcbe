// Patch embedding: a Conv2d whose kernel and stride are both the patch size
// (ViT's patch_embeddings.projection, CLIP's patch_embedding) is a linear map
// of each non-overlapping patch, so it runs as one GEMM over the unfolded
// patches: row j of image i holds the patch's pixels in the kernel's order
// (channel, row, column), and the kernel [out, C, p, p] is the matrix
// [out, C·p·p]. Also here: the bicubic resampling of a grid of learned
// position embeddings to another grid (interpolate_pos_encoding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "strata/core/thread_pool.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/weights.hpp"

namespace strata {

template <class W>
class PatchEmbedding {
 public:
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t channels,
            std::int64_t patch, bool bias) {
    channels_ = channels;
    patch_ = patch;
    proj_.load(ck, MatrixSource{{prefix}, {out}, false, {channels, patch, patch}}, channels * patch * patch, bias,
               QuantSpec{});
  }

  std::int64_t patch() const { return patch_; }
  std::int64_t channels() const { return channels_; }
  std::int64_t in_features() const { return proj_.in_features(); }
  std::int64_t out_features() const { return proj_.out_features(); }
  std::size_t bytes() const { return proj_.bytes(); }

  // pixels: n images [C, height, width], one after the other. The patches of
  // image i (row-major over the (height/p) × (width/p) grid; a remainder of
  // fewer than p pixels is dropped, as the convolution does) are embedded
  // into rows i·stride + first .. of x ([n·stride, out]); `unfolded`
  // ([n·stride, C·p·p]) is scratch. The other rows of x (stride - patches
  // per image, from `first` on: a class token's row) are left for the
  // caller to overwrite.
  void forward(const float* pixels, std::int64_t n, std::int64_t height, std::int64_t width, std::int64_t stride,
               std::int64_t first, float* unfolded, float* x, ThreadPool& pool) const {
    const std::int64_t p = patch_, C = channels_, gh = height / p, gw = width / p, K = C * p * p;
    check(gh >= 1 && gw >= 1 && first >= 0 && first + gh * gw <= stride, "patch embedding: a ", height, "x", width,
          " image has no ", p, "x", p, " patch, or the patches do not fit the rows");
    pool.parallel_for(n * stride, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        float* row = unfolded + r * K;
        const std::int64_t i = r / stride, j = r % stride - first;
        if (j < 0 || j >= gh * gw) {
          std::fill(row, row + K, 0.0f);
          continue;
        }
        const std::int64_t py = j / gw, px = j % gw;
        for (std::int64_t c = 0; c < C; ++c)
          for (std::int64_t ky = 0; ky < p; ++ky) {
            const float* src = pixels + ((i * C + c) * height + py * p + ky) * width + px * p;
            std::copy(src, src + p, row + (c * p + ky) * p);
          }
      }
    }, 8);
    proj_.forward(unfolded, n * stride, x, pool);
  }

 private:
  Linear<dense_t<W>> proj_;
  std::int64_t channels_ = 0, patch_ = 0;
};

// torch.nn.functional.interpolate(mode="bicubic", align_corners=False) of a
// grid [h0, w0, dim] (channels last) to [h, w, dim]: the cubic convolution
// kernel with A = -0.75, source coordinates (d + 0.5)·in/out - 0.5 (not
// clamped), neighbours clamped to the border; computed in double. The same
// size is an exact copy.
inline void interpolate_bicubic_grid(const float* in, std::int64_t h0, std::int64_t w0, std::int64_t dim,
                                     std::int64_t h, std::int64_t w, float* out) {
  constexpr double A = -0.75;
  auto weights = [](double t, double* c) {
    auto near = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };        // |x| <= 1
    auto far = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
    c[0] = far(t + 1), c[1] = near(t), c[2] = near(1 - t), c[3] = far(2 - t);
  };
  auto clamp = [](std::int64_t v, std::int64_t n) { return std::min(std::max(v, std::int64_t(0)), n - 1); };
  std::vector<double> acc(static_cast<std::size_t>(dim));
  for (std::int64_t y = 0; y < h; ++y) {
    const double sy = (double(y) + 0.5) * double(h0) / double(h) - 0.5;
    const std::int64_t iy = std::int64_t(std::floor(sy));
    double cy[4];
    weights(sy - double(iy), cy);
    for (std::int64_t x = 0; x < w; ++x) {
      const double sx = (double(x) + 0.5) * double(w0) / double(w) - 0.5;
      const std::int64_t ix = std::int64_t(std::floor(sx));
      double cx[4];
      weights(sx - double(ix), cx);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          const double wgt = cy[a] * cx[b];
          const float* src = in + (clamp(iy - 1 + a, h0) * w0 + clamp(ix - 1 + b, w0)) * dim;
          for (std::int64_t d = 0; d < dim; ++d) acc[std::size_t(d)] += wgt * double(src[d]);
        }
      float* dst = out + (y * w + x) * dim;
      for (std::int64_t d = 0; d < dim; ++d) dst[d] = float(acc[std::size_t(d)]);
    }
  }
}

}  // namespace strata
