// The real TinyStories-656K checkpoint against ../shared/golden: all 2048
// last-position logits within 1e-4, and the 40 greedy ids exactly.
#include <cmath>
#include <thread>

#include <catch2/catch.hpp>

#include "strata/models/llama.hpp"
#include "strata/runtime/generate.hpp"
#include "support/golden.hpp"
#include "support/kernel_targets.hpp"

namespace {
strata::SessionOptions opts(std::int64_t context, int threads, std::shared_ptr<strata::ThreadPool> pool = nullptr) {
  strata::SessionOptions o;
  o.context = context;
  o.threads = threads;
  o.pool = std::move(pool);
  return o;
}
const std::string kModel = strata::test::shared_path("models/tinystories-656k");

std::vector<std::int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int32_t>>(); }

std::vector<std::int32_t> greedy(const std::shared_ptr<const strata::LanguageModel>& m, int threads,
                                 std::shared_ptr<strata::ThreadPool> pool = nullptr) {
  const auto& g = strata::test::tinystories_golden();
  strata::Session s(m, opts(0, threads, pool));
  strata::GenerateOptions opt;
  opt.max_new_tokens = 40;
  opt.sampling.temperature = 0;
  return strata::generate(s, ids_of(g["prompt_ids"]), opt).tokens;
}
}  // namespace

TEST_CASE("TinyStories-656K: last-position logits match the golden values", "[models][golden]") {
  const auto& g = strata::test::tinystories_golden();
  const auto model = strata::load_causal_lm(kModel);
  CHECK(model->name() == "llama<f32>");
  const std::string target = GENERATE(from_range(strata::test::kernel_targets()));
  const strata::test::ScopedKernelTarget use(target);
  for (int threads : {1, 2}) {
    INFO("kernel target " << target);
    strata::Session s(model, opts(0, threads));
    const auto logits = s.prefill(ids_of(g["prompt_ids"]));
    const auto& want = g["last_position_logits"];
    REQUIRE(logits.size() == want.size());
    double worst = 0;
    for (std::size_t i = 0; i < logits.size(); ++i)
      worst = std::max(worst, std::abs(double(logits[i]) - want[i].get<double>()));
    INFO("threads " << threads << ", max |logit - golden| = " << worst);
    CHECK(worst < 1e-4);
    for (const auto& top : g["last_position_top10"])
      CHECK(logits[top[0].get<std::size_t>()] == Approx(top[1].get<double>()).margin(1e-4));
  }
}

TEST_CASE("TinyStories-656K: 40 greedy tokens match the golden ids", "[models][golden]") {
  const auto& g = strata::test::tinystories_golden();
  const auto model = strata::load_causal_lm(kModel);
  const std::string target = GENERATE(from_range(strata::test::kernel_targets()));
  const strata::test::ScopedKernelTarget use(target);
  INFO("kernel target " << target);
  CHECK(greedy(model, 1) == ids_of(g["greedy_40"]));
  CHECK(greedy(model, 2) == ids_of(g["greedy_40"]));
}

TEST_CASE("TinyStories-656K: token-by-token prompt equals the batched prompt", "[models][golden]") {
  const auto& g = strata::test::tinystories_golden();
  const auto model = strata::load_causal_lm(kModel);
  const auto prompt = ids_of(g["prompt_ids"]);
  strata::Session batched(model, opts(64, 1));
  const auto a = batched.prefill(prompt);
  const std::vector<float> want(a.begin(), a.end());
  strata::Session stepwise(model, opts(64, 1));
  std::span<const float> b;
  for (auto id : prompt) b = stepwise.step(id);
  for (std::size_t i = 0; i < want.size(); ++i) REQUIRE(b[i] == Approx(want[i]).margin(1e-4));
}

TEST_CASE("sessions on shared weights in parallel threads give the golden ids", "[models][golden][threads]") {
  const auto& g = strata::test::tinystories_golden();
  const auto model = strata::load_causal_lm(kModel);
  const auto want = ids_of(g["greedy_40"]);
  auto shared_pool = std::make_shared<strata::ThreadPool>(2);
  constexpr int kSessions = 6;
  std::vector<std::vector<std::int32_t>> got(kSessions);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i)
    threads.emplace_back([&, i] {
      // Half the sessions have their own pool, half share one.
      got[std::size_t(i)] = i % 2 ? greedy(model, 1) : greedy(model, 0, shared_pool);
    });
  for (auto& t : threads) t.join();
  for (const auto& ids : got) CHECK(ids == want);
}

TEST_CASE("forward rejects out-of-range ids and a full context", "[models][bad-input]") {
  const auto model = strata::load_causal_lm(kModel);
  strata::Session s(model, opts(4, 1));
  const std::vector<std::int32_t> bad{1, 2048};
  REQUIRE_THROWS_WITH(s.prefill(bad), Catch::Contains("token id 2048 is out of range [0, 2048)"));
  CHECK(s.length() == 0);  // nothing was written
  const std::vector<std::int32_t> five{1, 2, 3, 4, 5};
  REQUIRE_THROWS_WITH(s.prefill(five), Catch::Contains("context is full"));
  strata::GenerateOptions opt;
  REQUIRE_THROWS_WITH(strata::generate(s, five, opt), Catch::Contains("longer than the context"));
  REQUIRE_THROWS_WITH(strata::Session(model, opts(513, 1)),
                      Catch::Contains("capacity 513 is out of range [1, 512]"));
}
