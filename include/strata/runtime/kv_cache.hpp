// The KV cache of one session: K and V for every layer, preallocated for
// `capacity` positions, laid out [layer][kv_head][position][head_dim] so one
// head's keys are contiguous for the attention loop.
#pragma once

#include <cstdint>
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
    const auto n = std::size_t(layers_ * kv_heads_ * capacity_ * head_dim_);
    k_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
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
