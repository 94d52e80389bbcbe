// The KV cache of one session: K and V for every layer, preallocated for
// `capacity` positions, laid out [layer][kv_head][position][head_dim] so one
// head's keys are contiguous for the attention loop.
//
// Its size, 2 (K and V) × layers × kv_heads × capacity × head_dim floats, is
// computed with overflow checks (each factor is bounded by ConfigLimits, so it
// fits, but the check costs nothing) and refused with a strata::Error when it
// exceeds the machine's physical memory or cannot be allocated, instead of
// letting the zero-fill push the machine into the OOM killer. Sessions
// default to the model's max_position_embeddings: pass a smaller context for
// long-context models on small machines.
//
// A bounded cache policy (layers/cache_policies.hpp: RingWindow, SinkWindow,
// A2SF) holds a fixed number of `slots` rows per (layer, KV head) instead of
// one per position, plus per slot the position it holds (int64) and a score
// (float): 2 × layers × kv_heads × slots × head_dim floats + layers ×
// kv_heads × slots × (8 + 4) bytes, however long the session runs. The
// capacity (positions a session may reach) stays the context either way.
//
// A model with cross-attention (layers/cross_attention.hpp) also keeps the
// K/V of its encoder memory, in the cache's CrossKVCache: 2 × layers ×
// kv_heads × S × head_dim floats for a memory of S positions, computed once
// by set_memory and read by every step after it (empty until then).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/layers/attention.hpp"

namespace strata {

// The cross-attention K/V of one memory of S positions: [layer][kv_head][S]
// [head_dim] for K and V, plus the [S, kv_dim] scratch their projections are
// written to before they are laid out per head. Allocated by resize(), which
// keeps the buffers when the size does not change.
class CrossKVCache {
 public:
  void resize(std::int64_t layers, std::int64_t kv_heads, std::int64_t S, std::int64_t head_dim) {
    length_ = 0;  // no memory until the caller has filled it (set_length)
    std::size_t n = 1, bytes = 0;
    for (const std::int64_t f : {layers, kv_heads, S, head_dim})
      check(f >= 1 && !__builtin_mul_overflow(n, std::size_t(f), &n), "cross KV cache: size overflows");
    check(!__builtin_mul_overflow(n, 2 * sizeof(float), &bytes), "cross KV cache: size overflows");
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bytes / std::size_t(page) > std::size_t(pages))
      fail("cross KV cache of ", bytes, " bytes (", S, " memory positions x ", layers, " layers x ", kv_heads,
           " KV heads x ", head_dim, " head_dim x 2 (K, V) x 4 bytes) exceeds this machine's memory");
    try {
      k_.resize(n);
      v_.resize(n);
      scratch_.resize(2 * std::size_t(S * kv_heads * head_dim));
    } catch (const std::bad_alloc&) {
      fail("cross KV cache of ", bytes, " bytes cannot be allocated; use a shorter memory");
    }
    layers_ = layers;
    kv_heads_ = kv_heads;
    head_dim_ = head_dim;
    capacity_ = S;
  }

  // Memory positions held; 0: no memory set.
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t S) {
    check(S >= 0 && S <= capacity_, "cross KV cache length ", S, " is out of range [0, ", capacity_, "]");
    length_ = S;
  }
  // Whether it holds a memory laid out for a model of this shape.
  bool fits(std::int64_t layers, std::int64_t kv_heads, std::int64_t head_dim) const {
    return length_ > 0 && layers_ == layers && kv_heads_ == kv_heads && head_dim_ == head_dim;
  }
  std::size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }
  // Scratch for one layer's projections: [S, kv_dim] floats each.
  float* k_scratch() { return scratch_.data(); }
  float* v_scratch() { return scratch_.data() + scratch_.size() / 2; }

  KVLayerView layer(std::int64_t l) {
    const std::int64_t rows = l * kv_heads_ * capacity_;
    return {k_.data() + rows * head_dim_, v_.data() + rows * head_dim_, capacity_, head_dim_};
  }

 private:
  std::int64_t layers_ = 0, kv_heads_ = 0, head_dim_ = 0, capacity_ = 0, length_ = 0;
  std::vector<float> k_, v_, scratch_;
};

class KVCache {
 public:
  // `slots` rows per (layer, KV head), 0: one per position (a linear cache);
  // slot_state: per-slot positions and scores (the bounded policies).
  KVCache(const ModelConfig& c, std::int64_t capacity, std::int64_t slots = 0, bool slot_state = false)
      : layers_(c.num_layers), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim), capacity_(capacity),
        slots_(slots > 0 ? slots : capacity), slot_state_(slot_state) {
    check(capacity >= 1 && capacity <= c.max_position_embeddings, "KV cache capacity ", capacity,
          " is out of range [1, ", c.max_position_embeddings, "] (max_position_embeddings)");
    check(slots >= 0 && slots <= ConfigLimits::max_positions, "KV cache slots ", slots, " is out of range [0, ",
          ConfigLimits::max_positions, "]");
    std::size_t n = 1, bytes = 0;  // floats of K (and of V); bytes of both
    for (const std::int64_t f : {layers_, kv_heads_, slots_, head_dim_})
      check(f >= 1 && !__builtin_mul_overflow(n, std::size_t(f), &n), "KV cache: size overflows");
    check(!__builtin_mul_overflow(n, 2 * sizeof(float), &bytes), "KV cache: size overflows");
    const std::size_t state = slot_state_ ? n / std::size_t(head_dim_) : 0;  // slots × layers × KV heads
    bytes += state * (sizeof(std::int64_t) + sizeof(float));
    const auto describe = [&] {
      return std::to_string(slots_) + (slots_ == capacity_ ? " positions x " : " slots x ") + std::to_string(layers_) +
             " layers x " + std::to_string(kv_heads_) + " KV heads x " + std::to_string(head_dim_) +
             " head_dim x 2 (K, V) x 4 bytes";
    };
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bytes / std::size_t(page) > std::size_t(pages))
      fail("KV cache of ", bytes, " bytes (", describe(), ") exceeds this machine's memory of ",
           std::size_t(pages) * std::size_t(page), " bytes; use a smaller context");
    try {
      k_.assign(n, 0.0f);
      v_.assign(n, 0.0f);
      pos_.assign(state, 0);
      score_.assign(state, 0.0f);
    } catch (const std::bad_alloc&) {
      fail("KV cache of ", bytes, " bytes (", describe(), ") cannot be allocated; use a smaller context");
    }
  }

  std::int64_t capacity() const { return capacity_; }
  // Rows per (layer, KV head): capacity() for a linear cache.
  std::int64_t slots() const { return slots_; }
  bool slot_state() const { return slot_state_; }
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t n) {
    check(n >= 0 && n <= capacity_, "KV cache length ", n, " is out of range [0, ", capacity_, "]");
    length_ = n;
  }
  void clear() { length_ = 0; }
  std::size_t bytes() const {
    return (k_.size() + v_.size() + score_.size()) * sizeof(float) + pos_.size() * sizeof(std::int64_t);
  }

  // The encoder memory's K/V (cross-attention models); clear() keeps them.
  CrossKVCache& cross() { return cross_; }
  const CrossKVCache& cross() const { return cross_; }

  KVLayerView layer(std::int64_t l) {
    const std::int64_t rows = l * kv_heads_ * slots_;
    return {k_.data() + rows * head_dim_, v_.data() + rows * head_dim_, slots_, head_dim_,
            slot_state_ ? pos_.data() + rows : nullptr, slot_state_ ? score_.data() + rows : nullptr};
  }

 private:
  std::int64_t layers_, kv_heads_, head_dim_, capacity_, slots_, length_ = 0;
  bool slot_state_;
  std::vector<float> k_, v_, score_;
  std::vector<std::int64_t> pos_;
  CrossKVCache cross_;
};

}  // namespace strata
