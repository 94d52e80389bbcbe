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

class KVCache {
 public:
  KVCache(const ModelConfig& c, std::int64_t capacity)
      : layers_(c.num_layers), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim), capacity_(capacity) {
    check(capacity >= 1 && capacity <= c.max_position_embeddings, "KV cache capacity ", capacity,
          " is out of range [1, ", c.max_position_embeddings, "] (max_position_embeddings)");
    std::size_t n = 1, bytes = 0;  // floats of K (and of V); bytes of both
    for (const std::int64_t f : {layers_, kv_heads_, capacity_, head_dim_})
      check(f >= 1 && !__builtin_mul_overflow(n, std::size_t(f), &n), "KV cache: size overflows");
    check(!__builtin_mul_overflow(n, 2 * sizeof(float), &bytes), "KV cache: size overflows");
    const auto describe = [&] {
      return std::to_string(capacity_) + " positions x " + std::to_string(layers_) + " layers x " +
             std::to_string(kv_heads_) + " KV heads x " + std::to_string(head_dim_) + " head_dim x 2 (K, V) x 4 bytes";
    };
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bytes / std::size_t(page) > std::size_t(pages))
      fail("KV cache of ", bytes, " bytes (", describe(), ") exceeds this machine's memory of ",
           std::size_t(pages) * std::size_t(page), " bytes; use a smaller context");
    try {
      k_.assign(n, 0.0f);
      v_.assign(n, 0.0f);
    } catch (const std::bad_alloc&) {
      fail("KV cache of ", bytes, " bytes (", describe(), ") cannot be allocated; use a smaller context");
    }
  }

  std::int64_t capacity() const { return capacity_; }
  std::int64_t length() const { return length_; }
  void set_length(std::int64_t n) {
    check(n >= 0 && n <= capacity_, "KV cache length ", n, " is out of range [0, ", capacity_, "]");
    length_ = n;
  }
  void clear() { length_ = 0; }
  std::size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  KVLayerView layer(std::int64_t l) {
    const std::int64_t off = l * kv_heads_ * capacity_ * head_dim_;
    return {k_.data() + off, v_.data() + off, capacity_, head_dim_};
  }

 private:
  std::int64_t layers_, kv_heads_, head_dim_, capacity_, length_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace strata
