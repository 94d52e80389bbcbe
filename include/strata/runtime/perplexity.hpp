// Perplexity of a model on a token sequence: exp of the mean negative
// log-likelihood of each token given the ones before it, as
// torch.exp(CrossEntropyLoss(logits[:-1], ids[1:])). Sequences longer than
// the model's context are scored in consecutive windows of `window` tokens,
// each starting from an empty cache (its first token is context only).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>

#include "strata/core/error.hpp"
#include "strata/runtime/session.hpp"

namespace strata {

struct PerplexityResult {
  double perplexity = 0;  // exp(mean NLL)
  double mean_nll = 0;    // nats per scored token
  std::int64_t scored = 0;  // tokens scored (every token but each window's first)
};

inline PerplexityResult perplexity(const std::shared_ptr<const LanguageModel>& model, std::span<const std::int32_t> ids,
                                   int threads = 0, std::int64_t window = 0) {
  const std::int64_t max_ctx = model->config().max_position_embeddings;
  if (window <= 0) window = max_ctx;
  check(window >= 2 && window <= max_ctx, "perplexity: window ", window, " must be in [2, ", max_ctx, "]");
  check(ids.size() >= 2, "perplexity: need at least 2 tokens, got ", ids.size());
  SessionOptions so;
  so.context = window;
  so.threads = threads;
  Session s(model, so);
  const auto V = std::size_t(model->config().vocab_size);
  double nll = 0;
  std::int64_t scored = 0;
  for (std::size_t start = 0; start + 1 < ids.size(); start += std::size_t(window)) {
    const std::size_t n = std::min(ids.size() - start, std::size_t(window));
    if (n < 2) break;
    s.reset();
    const auto logits = s.prefill_all(ids.subspan(start, n));
    for (std::size_t t = 0; t + 1 < n; ++t) {  // row t predicts ids[start + t + 1]
      const float* row = logits.data() + t * V;
      double mx = row[0];
      for (std::size_t v = 1; v < V; ++v) mx = std::max(mx, double(row[v]));
      double sum = 0;
      for (std::size_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - mx);
      nll += (mx + std::log(sum)) - double(row[std::size_t(ids[start + t + 1])]);
      ++scored;
    }
  }
  PerplexityResult r;
  r.scored = scored;
  r.mean_nll = nll / double(scored);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace strata
