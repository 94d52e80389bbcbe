// Attention of one query vector over a contiguous run of cached keys/values
// of one KV head: out = softmax(q·Kᵀ·scale) · V. Scores live in a caller's
// buffer of n floats, so the full [T, L] score matrix never exists.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "strata/kernels/softmax.hpp"

namespace strata::kernels {

// K, V: n rows of head_dim floats, row stride head_dim.
inline void attend_one(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t head_dim,
                       float scale, float* scores, float* out) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> Km(K, n, head_dim), Vm(V, n, head_dim);
  Eigen::Map<const Eigen::VectorXf> qv(q, head_dim);
  Eigen::Map<Eigen::VectorXf> s(scores, n);
  s.noalias() = Km * qv;
  s *= scale;
  softmax_inplace(scores, n);
  Eigen::Map<Eigen::RowVectorXf> o(out, head_dim);
  o.noalias() = s.transpose() * Vm;
}

// Scalar reference in double precision.
inline void attend_one_ref(const float* q, const float* K, const float* V, std::int64_t n, std::int64_t head_dim,
                           float scale, float* out) {
  double m = -INFINITY;
  std::vector<double> s(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) {
    double d = 0;
    for (std::int64_t i = 0; i < head_dim; ++i) d += double(q[i]) * K[j * head_dim + i];
    s[std::size_t(j)] = d * scale;
    m = std::max(m, s[std::size_t(j)]);
  }
  double sum = 0;
  for (auto& x : s) sum += (x = std::exp(x - m));
  for (std::int64_t i = 0; i < head_dim; ++i) {
    double acc = 0;
    for (std::int64_t j = 0; j < n; ++j) acc += s[std::size_t(j)] * V[j * head_dim + i];
    out[i] = float(acc / sum);
  }
}

}  // namespace strata::kernels
