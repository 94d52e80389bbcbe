// A Session is one conversation with a model: its own KV cache and scratch,
// over weights that any number of sessions (in any threads) may share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/models/language_model.hpp"
#include "strata/runtime/kv_cache.hpp"

namespace strata {

struct SessionOptions {
  std::int64_t context = 0;  // positions to preallocate; 0: the model's max_position_embeddings
  int threads = 0;           // 0: one per hardware thread (ignored when a pool is given)
  std::shared_ptr<ThreadPool> pool;  // optional pool shared with other sessions
};

class Session {
 public:
  explicit Session(std::shared_ptr<const LanguageModel> model, SessionOptions o = {})
      : model_(std::move(model)),
        cache_(model_->config(), context_of(*model_, o), model_->cache_slots(context_of(*model_, o)),
               model_->cache_slot_state()),
        pool_(o.pool ? o.pool : std::make_shared<ThreadPool>(o.threads)) {}

  const LanguageModel& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  ThreadPool& pool() { return *pool_; }
  std::int64_t length() const { return cache_.length(); }
  std::int64_t capacity() const { return cache_.capacity(); }
  const KVCache& cache() const { return cache_; }
  void reset() { cache_.clear(); }
  // Early exit for looped models: see DecoderWorkspace::loop_exit.
  void set_loop_exit(std::function<bool(std::int64_t, std::int64_t, std::int64_t, const float*)> hook) {
    ws_.loop_exit = std::move(hook);
  }

  // Encoder-decoder models: the encoder output [S, width] that the
  // cross-attention layers attend to. Its K/V are computed here, once, and
  // every later prefill/step reads them (the memory buffer is not kept). The
  // decoder positions already in the session stay; reset() them to start a
  // new sequence over the new memory. Refused: a model without
  // cross-attention, width != hidden_size, S < 1.
  void set_memory(const float* memory, std::int64_t S, std::int64_t width) {
    model_->set_memory(memory, S, width, cache_, *pool_);
  }
  // Memory positions set (0: none).
  std::int64_t memory_length() const { return cache_.cross().length(); }

  // Feeds tokens in one batched pass; returns the logits after the last one.
  std::span<const float> prefill(std::span<const std::int32_t> tokens) {
    const auto V = std::size_t(config().vocab_size);
    logits_.resize(V);
    model_->forward(tokens, cache_, ws_, *pool_, Logits::Last, logits_.data());
    return logits_;
  }

  // Feeds one token; returns the logits for the next.
  std::span<const float> step(std::int32_t token) { return prefill(std::span<const std::int32_t>(&token, 1)); }

  // Feeds tokens; returns [T, vocab] logits, one row per token (for scoring and tests).
  std::span<const float> prefill_all(std::span<const std::int32_t> tokens) {
    const auto V = std::size_t(config().vocab_size);
    logits_.resize(V * tokens.size());
    model_->forward(tokens, cache_, ws_, *pool_, Logits::All, logits_.data());
    return logits_;
  }

 private:
  static std::int64_t context_of(const LanguageModel& m, const SessionOptions& o) {
    return o.context > 0 ? o.context : m.config().max_position_embeddings;
  }

  std::shared_ptr<const LanguageModel> model_;
  KVCache cache_;
  DecoderWorkspace ws_;
  std::shared_ptr<ThreadPool> pool_;
  std::vector<float> logits_;
};

}  // namespace strata
