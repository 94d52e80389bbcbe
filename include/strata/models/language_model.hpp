// The run-time face of a causal language model: whatever composition a
// checkpoint maps to, sessions drive it through this interface.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/runtime/kv_cache.hpp"

namespace strata {

// Activations of one forward pass, grown on demand and reused across calls,
// so steady-state decoding allocates nothing. One per session.
struct DecoderWorkspace {
  std::vector<float> x, xn, tmp, q, k, v, ctx, gate, up, cos, sin;
  std::int64_t tokens = 0;
  // Early exit of a looped model (strata_variants.loops): called after each
  // pass but the last with (pass, first position, T, hidden states [T,
  // hidden]); true skips the remaining passes for these tokens. Empty: every
  // pass runs. Ignored by models that are not looped.
  std::function<bool(std::int64_t pass, std::int64_t p0, std::int64_t T, const float* hidden)> loop_exit;

  void ensure(const ModelConfig& c, std::int64_t T) {
    if (T <= tokens) return;
    tokens = T;
    auto sz = [T](std::int64_t per_token) { return std::size_t(T * per_token); };
    x.resize(sz(c.hidden_size));
    xn.resize(sz(c.hidden_size));
    tmp.resize(sz(c.hidden_size));
    q.resize(sz(c.q_dim()));
    ctx.resize(sz(c.q_dim()));
    k.resize(sz(c.kv_dim()));
    v.resize(sz(c.kv_dim()));
    gate.resize(sz(c.intermediate_size));
    up.resize(sz(c.intermediate_size));
    cos.resize(sz(c.head_dim / 2));
    sin.resize(sz(c.head_dim / 2));
  }
};

enum class Logits { Last, All };

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  virtual const ModelConfig& config() const = 0;
  // e.g. "llama<f32>": the composition the checkpoint mapped to and its weight type.
  virtual std::string name() const = 0;
  // Bytes of weights read per decoded token (the decode roofline's numerator).
  virtual std::size_t weight_bytes() const = 0;

  // The KV cache a session of `context` positions needs: rows per (layer, KV
  // head), and whether it keeps per-slot positions and scores. A linear cache
  // has a row per position; the bounded policies (layers/cache_policies.hpp)
  // a fixed number. forward() refuses a cache of another shape.
  virtual std::int64_t cache_slots(std::int64_t context) const { return context; }
  virtual bool cache_slot_state() const { return false; }

  // Cross-attention models (layers/cross_attention.hpp): whether forward()
  // needs an encoder memory, and set_memory, which computes the memory's
  // cross K/V into cache.cross() once (memory: [S, width] floats, width the
  // model's hidden_size). It leaves the decoder positions in the cache as
  // they are. Models without cross-attention refuse a memory.
  virtual bool needs_memory() const { return false; }
  virtual void set_memory(const float* memory, std::int64_t S, std::int64_t width, KVCache& cache,
                          ThreadPool& pool) const {
    (void)memory, (void)S, (void)width, (void)cache, (void)pool;
    fail("set_memory: ", name(), " has no cross-attention layers; it takes no encoder memory");
  }

  // Runs `tokens` at positions [cache.length(), cache.length() + T), appends
  // their K/V to the cache and writes logits: [vocab] for the last token, or
  // [T, vocab] for all. Throws strata::Error on an out-of-range id or a full
  // cache, before touching the cache.
  virtual void forward(std::span<const std::int32_t> tokens, KVCache& cache, DecoderWorkspace& ws, ThreadPool& pool,
                       Logits which, float* logits) const = 0;
};

}  // namespace strata
