// Sampling: each filter's semantics, seeding, and that draws follow the
// filtered distribution.
#include <cmath>
#include <map>

#include <catch2/catch.hpp>

#include "strata/runtime/sampler.hpp"

namespace {
strata::SamplerOptions plain(float temp = 1.0f) {
  strata::SamplerOptions o;
  o.temperature = temp;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  o.seed = 42;
  return o;
}
std::map<std::int32_t, int> histogram(strata::SamplerOptions o, const std::vector<float>& logits, int draws,
                                      std::vector<std::int32_t> history = {}) {
  strata::Sampler s(o);
  std::map<std::int32_t, int> h;
  for (int i = 0; i < draws; ++i) h[s.sample(logits, history)]++;
  return h;
}
}  // namespace

TEST_CASE("temperature 0 is argmax", "[runtime][sampler]") {
  strata::Sampler s(plain(0.0f));
  const std::vector<float> logits{0.1f, 2.0f, -1.0f, 1.9f};
  for (int i = 0; i < 10; ++i) CHECK(s.sample(logits, {}) == 1);
}

TEST_CASE("draws follow softmax(logits / T)", "[runtime][sampler]") {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f};
  for (float T : {1.0f, 0.5f}) {
    const int n = 20000;
    const auto h = histogram(plain(T), logits, n);
    double z = 0;
    for (float l : logits) z += std::exp(l / T);
    for (std::int32_t i = 0; i < 3; ++i) {
      const double p = std::exp(logits[std::size_t(i)] / T) / z;
      const double sd = std::sqrt(p * (1 - p) / n);
      const double got = h.count(i) ? h.at(i) / double(n) : 0.0;
      INFO("T " << T << " token " << i << " p " << p << " got " << got);
      CHECK(std::abs(got - p) < 5 * sd + 1e-9);
    }
  }
}

TEST_CASE("top-k keeps only the k most likely", "[runtime][sampler]") {
  auto o = plain(1.0f);
  o.top_k = 2;
  const auto h = histogram(o, {3.0f, 0.0f, 2.9f, 1.0f}, 2000);
  CHECK(h.size() == 2);
  CHECK(h.count(0) == 1);
  CHECK(h.count(2) == 1);
}

TEST_CASE("top-p keeps the smallest prefix reaching p", "[runtime][sampler]") {
  // probabilities ≈ 0.665, 0.245, 0.090
  auto o = plain(1.0f);
  o.top_p = 0.6f;
  CHECK(histogram(o, {2.0f, 1.0f, 0.0f}, 500).size() == 1);
  o.top_p = 0.8f;
  const auto h = histogram(o, {2.0f, 1.0f, 0.0f}, 2000);
  CHECK(h.size() == 2);
  CHECK(h.count(2) == 0);
}

TEST_CASE("min-p drops tokens below min_p x top probability", "[runtime][sampler]") {
  auto o = plain(1.0f);
  o.min_p = 0.2f;  // p1/p0 = e^-1 ≈ 0.37 kept, p2/p0 = e^-2 ≈ 0.135 dropped
  const auto h = histogram(o, {2.0f, 1.0f, 0.0f}, 2000);
  CHECK(h.size() == 2);
  CHECK(h.count(2) == 0);
}

TEST_CASE("repetition penalty divides positive and multiplies negative logits of seen tokens", "[runtime][sampler]") {
  auto o = plain(0.0f);
  o.repeat_penalty = 2.0f;
  strata::Sampler s(o);
  // token 0 (3.0, seen) → 1.5 < token 1 (2.0): greedy moves to 1.
  CHECK(s.sample(std::vector<float>{3.0f, 2.0f, -1.0f}, std::vector<std::int32_t>{0}) == 1);
  // seen negative logit gets more negative: -0.5 → -1.0 < -0.8
  CHECK(s.sample(std::vector<float>{-0.5f, -0.8f}, std::vector<std::int32_t>{0, 0}) == 1);
  // ids outside the vocabulary in the history are ignored
  CHECK(s.sample(std::vector<float>{1.0f, 0.0f}, std::vector<std::int32_t>{-3, 99}) == 0);
}

TEST_CASE("the same seed gives the same draws, another seed others", "[runtime][sampler]") {
  std::vector<float> logits(50);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = float(i % 7) * 0.3f;
  auto run = [&](std::uint64_t seed) {
    auto o = plain(1.0f);
    o.seed = seed;
    strata::Sampler s(o);
    std::vector<std::int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(logits, {}));
    return out;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));
}

TEST_CASE("invalid sampler options are errors", "[runtime][sampler][bad-input]") {
  auto o = plain();
  o.temperature = -1;
  REQUIRE_THROWS_WITH(strata::Sampler(o), Catch::Contains("temperature"));
  o = plain();
  o.top_p = 0;
  REQUIRE_THROWS_WITH(strata::Sampler(o), Catch::Contains("top-p"));
  o = plain();
  o.min_p = 1.5f;
  REQUIRE_THROWS_WITH(strata::Sampler(o), Catch::Contains("min-p"));
  o = plain();
  o.repeat_penalty = 0;
  REQUIRE_THROWS_WITH(strata::Sampler(o), Catch::Contains("repeat penalty"));
  o = plain();
  o.temperature = NAN;
  REQUIRE_THROWS_WITH(strata::Sampler(o), Catch::Contains("temperature"));
}
