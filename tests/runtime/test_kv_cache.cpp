// The KV cache's size: 2 × layers × kv_heads × capacity × head_dim floats,
// refused with a clear error (not an OOM kill or a wrapped-around size) when
// it is more than the machine has.
#include <catch2/catch.hpp>

#include "strata/core/aligned_buffer.hpp"
#include "strata/runtime/kv_cache.hpp"

namespace {
strata::ModelConfig config(std::int64_t layers, std::int64_t kv_heads, std::int64_t head_dim, std::int64_t positions) {
  strata::ModelConfig c;
  c.model_type = "llama";
  c.num_layers = layers;
  c.num_heads = c.num_kv_heads = kv_heads;
  c.head_dim = head_dim;
  c.hidden_size = kv_heads * head_dim;
  c.max_position_embeddings = positions;
  return c;
}
}  // namespace

TEST_CASE("KV cache: size and capacity checks", "[runtime][bad-input]") {
  const auto small = config(2, 2, 8, 16);
  const strata::KVCache ok(small, 16);
  CHECK(ok.bytes() == 2 * 2 * 2 * 16 * 8 * sizeof(float));
  REQUIRE_THROWS_WITH(strata::KVCache(small, 0), Catch::Contains("KV cache capacity 0 is out of range [1, 16]"));
  REQUIRE_THROWS_WITH(strata::KVCache(small, 17), Catch::Contains("KV cache capacity 17 is out of range [1, 16]"));

  // Every factor at its ConfigLimits maximum: 2^57 bytes, far beyond any machine.
  const auto huge = config(strata::ConfigLimits::max_layers, strata::ConfigLimits::max_heads,
                           strata::ConfigLimits::max_head_dim, strata::ConfigLimits::max_positions);
  REQUIRE_THROWS_WITH(strata::KVCache(huge, huge.max_position_embeddings),
                      Catch::Contains("KV cache of 144115188075855872 bytes (16777216 positions x 1024 layers x "
                                      "1024 KV heads x 1024 head_dim x 2 (K, V) x 4 bytes) exceeds this machine's "
                                      "memory") &&
                          Catch::Contains("use a smaller context"));
}

TEST_CASE("AlignedBuffer: a size whose byte count wraps around is refused", "[core][bad-input]") {
  strata::AlignedBuffer<float> b;
  CHECK_THROWS_AS(b.resize(SIZE_MAX / 2), std::bad_alloc);
  CHECK(b.empty());
}
