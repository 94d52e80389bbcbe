// Many sessions on one model's shared weights, in parallel threads, must give
// exactly the logits the same work gives one session at a time: bit for bit,
// whether each session has its own thread pool or all share one (a shared
// pool runs one job at a time; a session that finds it busy runs its loop on
// its own thread). The reference checkpoints of tests/fixtures/llama are
// used, so the sequential run is also checked against the float64 reference.
//
// Tagged [threads]: CI runs these under ThreadSanitizer (.ci/run, the `tsan`
// preset), so a data race between sessions fails the build even where it
// happens not to change a result.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"

namespace {

constexpr int kSessions = 8;
enum class Modes { All, Mixed };

// One session's work: a prompt (prefilled in one batched pass, logits for
// every position) and then `steps` greedy decode steps.
struct Work {
  std::vector<std::int32_t> prompt;
  int steps = 0;
};

// Every logit the work produced, in order: [prompt, vocab] then one [vocab]
// row per decode step.
std::vector<float> run(const std::shared_ptr<const strata::LanguageModel>& model, const Work& w,
                       strata::SessionOptions so) {
  so.context = std::int64_t(w.prompt.size()) + w.steps;
  strata::Session s(model, so);
  const auto all = s.prefill_all(w.prompt);
  std::vector<float> out(all.begin(), all.end());
  const auto V = std::size_t(model->config().vocab_size);
  std::span<const float> last(out.data() + out.size() - V, V);
  for (int k = 0; k < w.steps; ++k) {
    const auto next = std::int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    const auto logits = s.step(next);
    out.insert(out.end(), logits.begin(), logits.end());
    last = std::span<const float>(out.data() + out.size() - V, V);
  }
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Session i's work: the fixture's prompt rotated by i and cut to a length of
// its own, so no two sessions do the same work.
std::vector<Work> make_work(const std::vector<std::int32_t>& base, int steps, int sessions = kSessions) {
  std::vector<Work> works;
  for (int i = 0; i < sessions; ++i) {
    Work w;
    const std::size_t len = base.size() - std::size_t(i % 4);
    for (std::size_t j = 0; j < len; ++j) w.prompt.push_back(base[(j + std::size_t(i)) % base.size()]);
    w.steps = steps;
    works.push_back(std::move(w));
  }
  return works;
}

strata::SessionOptions own_pool(int threads) {
  strata::SessionOptions o;
  o.threads = threads;
  return o;
}

strata::SessionOptions shared(std::shared_ptr<strata::ThreadPool> pool) {
  strata::SessionOptions o;
  o.pool = std::move(pool);
  return o;
}

// Runs work[i] with options_for(i) in kSessions threads at once.
template <class Options>
std::vector<std::vector<float>> run_parallel(const std::shared_ptr<const strata::LanguageModel>& model,
                                             const std::vector<Work>& works, Options options_for) {
  std::vector<std::vector<float>> got(works.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < works.size(); ++i)
    threads.emplace_back([&, i] { got[i] = run(model, works[i], options_for(i)); });
  for (auto& t : threads) t.join();
  return got;
}

// Sequential reference, then the same work in parallel threads: own pools,
// one shared pool, and half and half (Modes::Mixed: only the last, which has
// both kinds at once). Pools have `pool_threads` threads in every mode (the
// decode split of a long context depends on the pool's size).
void check_parallel_equals_sequential(const std::shared_ptr<const strata::LanguageModel>& model,
                                      const std::vector<Work>& works, int pool_threads, Modes modes = Modes::All) {
  std::vector<std::vector<float>> want;
  for (const auto& w : works) want.push_back(run(model, w, own_pool(pool_threads)));

  auto pool = std::make_shared<strata::ThreadPool>(pool_threads);
  if (modes == Modes::Mixed) {
    const auto got =
        run_parallel(model, works, [&](std::size_t i) { return i % 2 ? own_pool(pool_threads) : shared(pool); });
    for (std::size_t i = 0; i < works.size(); ++i) {
      INFO("session " << i);
      CHECK(bit_identical(got[i], want[i]));
    }
    return;
  }
  SECTION("each session with its own pool") {
    const auto got = run_parallel(model, works, [&](std::size_t) { return own_pool(pool_threads); });
    for (std::size_t i = 0; i < works.size(); ++i) {
      INFO("session " << i);
      CHECK(bit_identical(got[i], want[i]));
    }
  }
  SECTION("all sessions sharing one pool") {
    const auto got = run_parallel(model, works, [&](std::size_t) { return shared(pool); });
    for (std::size_t i = 0; i < works.size(); ++i) {
      INFO("session " << i);
      CHECK(bit_identical(got[i], want[i]));
    }
  }
  SECTION("half with their own pools, half sharing one") {
    const auto got =
        run_parallel(model, works, [&](std::size_t i) { return i % 2 ? own_pool(pool_threads) : shared(pool); });
    for (std::size_t i = 0; i < works.size(); ++i) {
      INFO("session " << i);
      CHECK(bit_identical(got[i], want[i]));
    }
  }
}

double max_diff(const float* got, const nlohmann::json& want) {
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::abs(double(got[i]) - want[i].get<double>()));
  return worst;
}

}  // namespace

TEST_CASE("8 sessions on shared weights in parallel threads give the sequential logits bit for bit",
          "[runtime][threads][concurrency]") {
  using WT = strata::WeightType;
  const auto [name, wt] = GENERATE(table<const char*, WT>(
      {{"gqa_tied", WT::F32}, {"qwen2_bias", WT::F32}, {"mistral_window", WT::F32}, {"bf16_weights", WT::BF16}}));
  INFO(name);
  const auto dir = strata::test::fixture_path(std::string("llama/") + name);
  const auto exp = strata::test::read_json(dir + "/expected.json");
  const auto model = strata::load_causal_lm(dir, wt);
  const auto works = make_work(exp["prompt_ids"].get<std::vector<std::int32_t>>(), 6);

  // Session 0 runs the fixture's own prompt: its logits are the reference's.
  const auto V = std::size_t(model->config().vocab_size);
  const auto first = run(model, works[0], own_pool(2));
  for (std::size_t p = 0; p < works[0].prompt.size(); ++p) {
    INFO("prompt position " << p);
    CHECK(max_diff(first.data() + p * V, exp["prompt_logits"][p]) < 1e-4);
  }

  check_parallel_equals_sequential(model, works, 2);
}

TEST_CASE("parallel sessions decoding a long context split across pool threads match one at a time",
          "[runtime][threads][concurrency]") {
  // mha_h200's weights with room for 560 positions: decoding past 512 splits
  // each head's KV range across a 4-thread pool (flash-decoding) and merges
  // partial states kept per calling thread. Four sessions, two with their own
  // pools and two sharing one (this test is the slow one under TSan).
  const auto dir = strata::test::fixture_path("llama/mha_h200");
  strata::ModelConfig c = strata::load_model_config(dir);
  c.max_position_embeddings = 560;
  const std::shared_ptr<const strata::LanguageModel> model =
      strata::load_decoder<float>(strata::io::Checkpoint::open(dir), c, {});
  REQUIRE(strata::attention_decode_splits(513, c.num_heads, 4) > 1);

  std::mt19937 rng(11);
  std::vector<std::int32_t> base(515);
  for (auto& id : base) id = std::int32_t(rng() % std::uint32_t(c.vocab_size));
  // Prompts of 512..515 tokens, then 4 decode steps each, all past 512 positions.
  check_parallel_equals_sequential(model, make_work(base, 4, 4), 4, Modes::Mixed);
}

TEST_CASE("models loaded in parallel threads from one folder are identical", "[runtime][threads][concurrency]") {
  const auto dir = strata::test::fixture_path("llama/sharded");
  const auto exp = strata::test::read_json(dir + "/expected.json");
  const Work w{exp["prompt_ids"].get<std::vector<std::int32_t>>(), 4};
  const auto want = run(strata::load_causal_lm(dir), w, own_pool(1));
  std::vector<std::vector<float>> got(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i)
    threads.emplace_back([&, i] { got[std::size_t(i)] = run(strata::load_causal_lm(dir), w, own_pool(1)); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) CHECK(bit_identical(g, want));
}
