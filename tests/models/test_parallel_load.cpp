// A model's blocks, embeddings and head load in parallel
// (LoadOptions::threads): the loaded model must be the same whatever the
// thread count, bit for bit, for decoders (fused Conv1D GPT-2, GQA, biases,
// bf16 weights, projections quantized at load) and encoders; and progress
// comes once per block, counting up. (Which error of several wins:
// ThreadPool::for_each_task, tests/core/test_thread_pool.cpp.)
//
// Tagged [threads]: the tsan preset runs this file under ThreadSanitizer.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/models/encoder.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"

namespace fs = std::filesystem;
using namespace strata;

namespace {

// Logits of a short prompt, every position.
std::vector<float> prompt_logits(const std::shared_ptr<const LanguageModel>& model) {
  const std::vector<std::int32_t> prompt{1, 5, 9, 3, 7, 2};
  SessionOptions so;
  so.context = std::int64_t(prompt.size());
  so.threads = 1;
  Session s(model, so);
  const auto all = s.prefill_all(prompt);
  return {all.begin(), all.end()};
}

std::shared_ptr<const LanguageModel> load_with(const std::string& dir, WeightType wt, int threads, bool q8) {
  LoadOptions o;
  o.threads = threads;
  if (q8) {
    o.quant.enabled = true;
    o.quant.type = QuantType::Q8;
  }
  return load_causal_lm(dir, wt, o);
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("a decoder loaded with any number of threads is the same model", "[models][threads]") {
  for (const char* name : {"llama/mqa", "llama/qwen2_bias", "llama/gqa_tied", "llama/bf16_weights", "encoders/gpt2-plain"})
    for (const WeightType wt : {WeightType::F32, WeightType::BF16})
      for (const bool q8 : {false, true}) {
        INFO(name << (wt == WeightType::BF16 ? " as bf16" : " as f32") << (q8 ? ", q8" : ""));
        const std::string dir = test::fixture_path(name);
        const auto one = load_with(dir, wt, 1, q8);
        const auto want = prompt_logits(one);
        for (int threads : {2, 3, 8}) {
          const auto m = load_with(dir, wt, threads, q8);
          CHECK(m->weight_bytes() == one->weight_bytes());
          CHECK(same(prompt_logits(m), want));
        }
      }
}

TEST_CASE("an encoder loaded with any number of threads is the same model", "[models][threads][encoder]") {
  for (const char* name : {"bert-cls", "minilm-st"})
    for (const WeightType wt : {WeightType::F32, WeightType::BF16}) {
      INFO(name << (wt == WeightType::BF16 ? " as bf16" : " as f32"));
      EncoderBatch batch;
      batch.add(std::vector<std::int32_t>{2, 7, 11, 3});
      batch.add(std::vector<std::int32_t>{2, 5, 3});
      auto hidden = [&](int threads) {
        LoadOptions o;
        o.threads = threads;
        const auto m = load_encoder(test::fixture_path(std::string("encoders/") + name), wt, o);
        EncoderWorkspace ws;
        ThreadPool pool(1);
        m->forward(batch, ws, pool);
        return std::vector<float>(ws.x.begin(), ws.x.begin() + batch.tokens() * m->config().hidden_size);
      };
      const auto want = hidden(1);
      for (int threads : {2, 5}) CHECK(same(hidden(threads), want));
    }
}

TEST_CASE("load progress counts the blocks up to their total, one call at a time", "[models][threads]") {
  for (int threads : {1, 3}) {
    std::vector<std::int64_t> seen;
    std::int64_t total = -1;
    LoadOptions o;
    o.threads = threads;
    o.on_progress = [&](std::int64_t done, std::int64_t t) {
      seen.push_back(done);  // unsynchronised on purpose: the calls must not overlap
      total = t;
    };
    const auto m = load_causal_lm(test::fixture_path("llama/mqa"), WeightType::F32, o);
    const std::int64_t L = m->config().num_layers;
    REQUIRE(total == L);
    REQUIRE(std::int64_t(seen.size()) == L);
    for (std::int64_t i = 0; i < L; ++i) CHECK(seen[std::size_t(i)] == i + 1);
  }
}
