// Long contexts through the attention layer. Three paths must give the same
// logits at every position of a 1100-token sequence: the batched prompt (the
// tiled prefill kernel), token-by-token decoding on one thread (one work item
// per head) and token-by-token decoding on six threads, where each head's
// KV range is split across threads and the partial states are merged.
// The fixtures' weights are reused with a longer max_position_embeddings
// (and, for Mistral, a window of 700, so the split decode starts after 0).
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"

namespace {

constexpr std::int64_t kLength = 1100;
constexpr int kSplitThreads = 6;

std::shared_ptr<const strata::LanguageModel> load_long(const std::string& name, std::int64_t window) {
  const auto dir = strata::test::fixture_path("llama/" + name);
  strata::ModelConfig c = strata::load_model_config(dir);
  c.max_position_embeddings = kLength;
  if (window) c.sliding_window = window;
  return strata::load_decoder<float>(strata::io::Checkpoint::open(dir), c, {});
}

strata::SessionOptions opts(int threads) {
  strata::SessionOptions o;
  o.context = kLength;
  o.threads = threads;
  return o;
}

}  // namespace

TEST_CASE("long context: prefill, per-head decode and split decode agree", "[models][attention]") {
  for (auto [name, window] : {std::pair<const char*, std::int64_t>{"gqa_tied", 0}, {"mha_h200", 0},
                              {"mistral_window", 700}}) {
    INFO(name);
    const auto model = load_long(name, window);
    const auto& c = model->config();
    const auto V = std::size_t(c.vocab_size);
    // The last positions are decoded with their KV ranges split across threads.
    const std::int64_t visible = window ? window : kLength;
    REQUIRE(strata::attention_decode_splits(visible, c.num_heads, kSplitThreads) > 1);
    REQUIRE(strata::attention_decode_splits(visible, c.num_heads, 1) == 1);

    std::mt19937 rng(7);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(kLength));
    for (auto& id : ids) id = std::int32_t(rng() % std::uint32_t(c.vocab_size));
    strata::Session batched(model, opts(2));
    const auto all_span = batched.prefill_all(ids);
    const std::vector<float> all(all_span.begin(), all_span.end());

    strata::Session one(model, opts(1)), split(model, opts(kSplitThreads));
    double worst_one = 0, worst_split = 0;
    for (std::size_t p = 0; p < ids.size(); ++p) {
      const auto a = one.step(ids[p]);
      const auto b = split.step(ids[p]);
      for (std::size_t i = 0; i < V; ++i) {
        worst_one = std::max(worst_one, std::abs(double(a[i]) - all[p * V + i]));
        worst_split = std::max(worst_split, std::abs(double(b[i]) - a[i]));
      }
    }
    INFO("max |decode - prefill| " << worst_one << ", max |split decode - decode| " << worst_split);
    CHECK(worst_one < 1e-4);
    CHECK(worst_split < 1e-4);
  }
}
