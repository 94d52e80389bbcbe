// KV-cache policies with a fixed memory budget: Mask policies of
// SelfAttention (layers/attention.hpp) that hold at most a fixed number of
// keys and values per (layer, KV head), whatever the context length.
//
//   RingWindow — sliding-window attention (a query at pos sees the keys at
//                pos - window < j <= pos) over a ring buffer of `window`
//                slots: the same result as SlidingWindow over a linear cache,
//                with memory bounded by the window
//   SinkWindow — StreamingLLM (Xiao et al. 2024, "Efficient Streaming Language
//                Models with Attention Sinks"): the first S positions (the
//                attention sinks, strata_variants.sink_tokens, default 4) are
//                kept for good, plus the most recent `window` positions; a
//                query sees j < S or pos - window < j <= pos. S + window slots
//   A2SF       — accumulative attention score with a forgetting factor (Jo &
//                Shin 2024): B slots (strata_variants.kv_budget) per (layer,
//                KV head), each with a score. A new token, when every slot is
//                taken, replaces the slot of lowest score (ties: the oldest
//                position) and starts at score 0; after the query attends
//                over the occupied slots, every slot's score becomes
//                λ·score + a_j, a_j the softmax weight the group's query heads
//                gave it, summed; λ = strata_variants.a2sf_forgetting (0.9)
//
// Keys keep the rotary embedding of their original position (they are
// rotated once, when written). The StreamingLLM paper instead re-rotates the
// cached keys by their position inside the cache; strata does not, so a
// SinkWindow model sees the relative distances a linear cache would.
//
// A policy fills its slots in order (the key at position p < slots goes to
// slot p), so the occupied slots are always 0 .. min(pos + 1, slots) - 1 and
// the attention runs over a contiguous run of rows. The per-slot position and
// score arrays are the cache's (KVCache with slot state); slot() picks where
// the key at `pos` goes once every slot is taken.
#pragma once

#include <algorithm>
#include <cstdint>

#include "strata/core/error.hpp"
#include "strata/io/hf_config.hpp"

namespace strata {

// A Mask policy that bounds the cache (`bounded`): attention runs through
// the slot path of SelfAttention, one token at a time.
template <class Mask>
inline constexpr bool is_bounded_mask = requires { requires Mask::bounded; };

struct RingWindow {
  static constexpr bool bounded = true;
  static constexpr bool scores = false;  // no accumulated scores: no attention weights needed
  void init(const ModelConfig& c) {
    check(c.sliding_window > 0, "RingWindow attention needs a positive sliding_window in the config");
    window_ = c.sliding_window;
  }
  std::int64_t slots(std::int64_t context) const { return std::min(window_, context); }
  // The key at pos ≥ n goes to the slot of pos - n, the oldest held.
  std::int64_t slot(std::int64_t pos, std::int64_t n, const std::int64_t*, const float*) const { return pos % n; }
  void update(const float*, float*, std::int64_t) const {}
  std::int64_t window() const { return window_; }

 private:
  std::int64_t window_ = 0;
};

struct SinkWindow {
  static constexpr bool bounded = true;
  static constexpr bool scores = false;
  void init(const ModelConfig& c) {
    check(c.sliding_window > 0, "SinkWindow attention needs a positive sliding_window in the config");
    window_ = c.sliding_window;
    sinks_ = c.variants.sink_tokens;
  }
  std::int64_t slots(std::int64_t context) const { return std::min(sinks_ + window_, context); }
  // Slots [0, S) hold the sinks; the key at pos ≥ n replaces pos - window in the ring of the others.
  std::int64_t slot(std::int64_t pos, std::int64_t, const std::int64_t*, const float*) const {
    return sinks_ + (pos - sinks_) % window_;
  }
  void update(const float*, float*, std::int64_t) const {}
  std::int64_t window() const { return window_; }
  std::int64_t sinks() const { return sinks_; }

 private:
  std::int64_t window_ = 0, sinks_ = 4;
};

struct A2SF {
  static constexpr bool bounded = true;
  static constexpr bool scores = true;
  void init(const ModelConfig& c) {
    check(c.variants.kv_budget > 0, "A2SF attention needs strata_variants.kv_budget (slots per KV head) in the config");
    budget_ = c.variants.kv_budget;
    forget_ = float(c.variants.a2sf_forgetting);
  }
  std::int64_t slots(std::int64_t context) const { return std::min(budget_, context); }
  // The slot of lowest score; of equal scores, the one holding the oldest position.
  std::int64_t slot(std::int64_t, std::int64_t n, const std::int64_t* pos, const float* score) const {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < n; ++j)
      if (score[j] < score[best] || (score[j] == score[best] && pos[j] < pos[best])) best = j;
    return best;
  }
  // score_j = λ·score_j + a_j over the n occupied slots.
  void update(const float* a, float* score, std::int64_t n) const {
    for (std::int64_t j = 0; j < n; ++j) score[j] = forget_ * score[j] + a[j];
  }
  std::int64_t budget() const { return budget_; }
  float forgetting() const { return forget_; }

 private:
  std::int64_t budget_ = 0;
  float forget_ = 0.9f;
};

}  // namespace strata
