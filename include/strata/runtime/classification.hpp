// Scores from a classification head's logits, as transformers' pipelines
// compute them from config.json's problem_type: softmax for single-label
// classification, sigmoid for multi-label, the raw values for regression.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace strata {

inline std::vector<float> classification_scores(std::span<const float> logits, const std::string& problem_type) {
  std::vector<float> s(logits.begin(), logits.end());
  if (s.empty()) return s;
  if (problem_type == "single_label_classification") {
    const float m = *std::max_element(s.begin(), s.end());
    double sum = 0;
    for (float& v : s) sum += (v = std::exp(v - m));
    for (float& v : s) v = float(v / sum);
  } else if (problem_type == "multi_label_classification") {
    for (float& v : s) v = 1.0f / (1.0f + std::exp(-v));
  }
  return s;
}

// The k best label ids by score, best first (ties: the lower id first).
inline std::vector<std::size_t> top_k_labels(std::span<const float> scores, std::size_t k) {
  std::vector<std::size_t> ids(scores.size());
  std::iota(ids.begin(), ids.end(), std::size_t(0));
  k = std::min(k, ids.size());
  std::partial_sort(ids.begin(), ids.begin() + std::ptrdiff_t(k), ids.end(), [&](std::size_t a, std::size_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  ids.resize(k);
  return ids;
}

}  // namespace strata
