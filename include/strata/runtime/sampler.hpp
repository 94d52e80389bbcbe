// Token sampling, in the order transformers' generate() applies its logits
// processors: repetition penalty → temperature → top-k → top-p → min-p, then
// a draw from the remaining distribution. temperature 0 is greedy (argmax).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <unordered_set>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/kernels/softmax.hpp"

namespace strata {

struct SamplerOptions {
  float temperature = 0.8f;    // 0: greedy
  std::int32_t top_k = 40;     // 0: off
  float top_p = 0.95f;         // 1: off
  float min_p = 0.05f;         // 0: off
  float repeat_penalty = 1.0f; // 1: off (CTRL-style, as HF RepetitionPenaltyLogitsProcessor)
  std::uint64_t seed = 0;

  void validate() const {
    check(std::isfinite(temperature) && temperature >= 0, "temperature must be >= 0, got ", temperature);
    check(top_k >= 0, "top-k must be >= 0, got ", top_k);
    check(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "top-p must be in (0, 1], got ", top_p);
    check(std::isfinite(min_p) && min_p >= 0 && min_p <= 1, "min-p must be in [0, 1], got ", min_p);
    check(std::isfinite(repeat_penalty) && repeat_penalty > 0, "repeat penalty must be > 0, got ", repeat_penalty);
  }
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions o) : opt_(o), rng_(o.seed) { opt_.validate(); }

  const SamplerOptions& options() const { return opt_; }

  // Picks the next token from logits; `history` (prompt and generated ids)
  // feeds the repetition penalty. The logits are copied, not modified.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history) {
    const auto V = std::int64_t(logits.size());
    check(V > 0, "sample: empty logits");
    work_.assign(logits.begin(), logits.end());
    if (opt_.repeat_penalty != 1.0f) {
      seen_.clear();
      for (auto id : history)
        if (id >= 0 && id < V && seen_.insert(id).second) {
          float& l = work_[std::size_t(id)];
          l = l > 0 ? l / opt_.repeat_penalty : l * opt_.repeat_penalty;
        }
    }
    if (opt_.temperature == 0.0f) return std::int32_t(kernels::argmax(work_.data(), V));

    // Candidates: the top-k ids sorted by logit (descending, the lower id
    // first on ties); all V of them when top-k is off.
    const std::int64_t k = opt_.top_k > 0 ? std::min<std::int64_t>(opt_.top_k, V) : V;
    idx_.resize(std::size_t(k));
    kernels::top_k(work_.data(), V, k, idx_.data());

    // Softmax of logits / temperature over the candidates.
    probs_.resize(idx_.size());
    const float inv_t = 1.0f / opt_.temperature, top = work_[std::size_t(idx_[0])];
    double sum = 0;
    for (std::size_t i = 0; i < idx_.size(); ++i) sum += probs_[i] = std::exp((work_[std::size_t(idx_[i])] - top) * inv_t);
    for (auto& p : probs_) p = float(p / sum);

    // top-p: the smallest prefix whose mass reaches p (always at least one).
    std::size_t n = probs_.size();
    if (opt_.top_p < 1.0f) {
      double cum = 0;
      for (std::size_t i = 0; i < probs_.size(); ++i) {
        cum += probs_[i];
        if (cum >= opt_.top_p) {
          n = i + 1;
          break;
        }
      }
    }
    // min-p: drop candidates below min_p × the top probability.
    if (opt_.min_p > 0) {
      const float floor = opt_.min_p * probs_[0];
      std::size_t m = 1;
      while (m < n && probs_[m] >= floor) ++m;
      n = m;
    }
    double mass = 0;
    for (std::size_t i = 0; i < n; ++i) mass += probs_[i];
    const double u = std::uniform_real_distribution<double>(0.0, mass)(rng_);
    double acc = 0;
    for (std::size_t i = 0; i < n; ++i) {
      acc += probs_[i];
      if (u < acc) return idx_[i];
    }
    return idx_[n - 1];
  }

 private:
  SamplerOptions opt_;
  std::mt19937_64 rng_;
  std::vector<float> work_, probs_;
  std::vector<std::int32_t> idx_;
  std::unordered_set<std::int32_t> seen_;
};

}  // namespace strata
