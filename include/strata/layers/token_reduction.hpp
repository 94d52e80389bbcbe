// Token reduction inside encoder blocks (efficient-ViT research): a policy
// that, between a block's attention and its MLP, shortens the sequences of a
// packed batch, so every later layer runs on fewer tokens. Implementations:
// TokenMergeState (ToMe, layers/token_merging.hpp) and TokenPruneState
// (EViT, layers/token_pruning.hpp). A block asks it what the attention
// should add to its scores or hand back (AttentionTaps), then lets it reduce.
#pragma once

#include <cstdint>

#include "strata/core/thread_pool.hpp"
#include "strata/layers/attention.hpp"

namespace strata {

class TokenReducer {
 public:
  virtual ~TokenReducer() = default;
  // Before a block's attention: what to add to its scores and return.
  virtual AttentionTaps taps() = 0;
  // After it: h ([T, D]: x + attention) reduced into h_out and seqs updated
  // to the shorter spans; false when nothing changed (h_out untouched).
  virtual bool reduce(const float* h, std::int64_t D, SequenceSpans& seqs, float* h_out, ThreadPool& pool) = 0;
};

}  // namespace strata
