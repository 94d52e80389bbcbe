// The bounded KV-cache policies (layers/cache_policies.hpp: RingWindow,
// SinkWindow, A2SF) against the float64 reference (tests/reference/
// cache_policies_ref.py, fixture tests/fixtures/cache_policies/ from
// make_cache_policy_fixtures.py): logits over a stream ten times the window /
// budget, prefilled in one or several chunks; the cache's size, fixed by the
// policy and unchanged by the stream; RingWindow against SlidingWindow over a
// linear cache; configs that do not fit refused. Causal linear attention
// (layers/linear_attention.hpp), whose state lives in the same cache: its
// parallel (prefill) form against its recurrent (decode) form, and the
// composed model against the reference.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/layers/linear_attention.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/kernel_targets.hpp"

using namespace strata;

namespace {

template <class Mask>
using PolicyBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Mask>, GatedFFN<SiLU>>;
using LinearAttnBlock = DecoderBlock<RMSNorm, LinearAttention<>, GatedFFN<SiLU>>;

std::shared_ptr<const LanguageModel> load_linear_attention(const ModelConfig& c) {
  return CausalLM<LinearAttnBlock>::load(io::Checkpoint::open(test::fixture_path("cache_policies")), c, "linear-attn");
}

std::string fixture_dir() { return test::fixture_path("cache_policies"); }

const nlohmann::json& reference() {
  static const nlohmann::json j = test::read_json(fixture_dir() + "/reference.json");
  return j;
}

template <class Mask>
std::shared_ptr<const LanguageModel> load_policy(const ModelConfig& c, const std::string& dir = fixture_dir()) {
  const auto ck = io::Checkpoint::open(dir);
  return CausalLM<PolicyBlock<Mask>>::load(ck, c, "policy");
}

double max_diff(const float* got, const nlohmann::json& want) {
  double d = 0;
  for (std::size_t i = 0; i < want.size(); ++i) d = std::max(d, std::abs(double(got[i]) - want[i].get<double>()));
  return d;
}

// K/V rows plus, for a bounded cache, a position and a score per slot.
std::size_t expected_bytes(const ModelConfig& c, std::int64_t slots, bool slot_state) {
  const auto rows = std::size_t(c.num_layers * c.num_kv_heads * slots);
  return rows * (2 * std::size_t(c.head_dim) * sizeof(float) + (slot_state ? sizeof(std::int64_t) + sizeof(float) : 0));
}

// The fixture's stream: the prompt in `chunks` pieces (logits of every
// position), then one token at a time; every row against the reference's.
void check_stream(const std::shared_ptr<const LanguageModel>& model, const std::string& policy, int threads,
                  int chunks, std::int64_t slots, bool slot_state) {
  const auto& ref = reference();
  const auto ids = ref["ids"].get<std::vector<std::int32_t>>();
  const std::size_t n_prompt = ref["n_prompt"], V = std::size_t(model->config().vocab_size);
  const auto& want = ref[policy];
  SessionOptions so;
  so.threads = threads;  // context: max_position_embeddings (128), slots from the policy
  Session s(model, so);
  CHECK(s.capacity() == model->config().max_position_embeddings);
  CHECK(s.cache().slots() == slots);
  const std::size_t bytes = s.cache().bytes();
  CHECK(bytes == expected_bytes(model->config(), slots, slot_state));
  std::size_t done = 0;
  for (int c = 0; c < chunks; ++c) {
    const std::size_t end = n_prompt * std::size_t(c + 1) / std::size_t(chunks);
    const auto all = s.prefill_all(std::span<const std::int32_t>(ids.data() + done, end - done));
    for (std::size_t p = done; p < end; ++p) {
      INFO(policy << " prompt position " << p << ", " << chunks << " chunk(s), " << threads << " thread(s)");
      CHECK(max_diff(all.data() + (p - done) * V, want[p]) < 1e-4);
    }
    done = end;
  }
  for (std::size_t p = n_prompt; p < ids.size(); ++p) {
    const auto logits = s.step(ids[p]);
    INFO(policy << " decode position " << p << ", " << threads << " thread(s)");
    CHECK(max_diff(logits.data(), want[p]) < 1e-4);
  }
  CHECK(s.length() == std::int64_t(ids.size()));
  CHECK(s.cache().bytes() == bytes);  // 80 tokens through 6 or 8 slots: nothing grew
  // A reset session starts over: no slot, position or score of the last stream leaks in.
  s.reset();
  const auto again = s.prefill_all(std::span<const std::int32_t>(ids.data(), n_prompt));
  for (std::size_t p = 0; p < n_prompt; ++p) {
    INFO(policy << " after reset, position " << p);
    CHECK(max_diff(again.data() + p * V, want[p]) < 1e-4);
  }
}

}  // namespace

TEST_CASE("bounded KV-cache policies match the float64 reference", "[models][variants]") {
  const int threads = GENERATE(1, 2);
  const int chunks = GENERATE(1, 3);
  const std::string target = GENERATE(from_range(test::kernel_targets()));
  const test::ScopedKernelTarget use(target);
  INFO("kernel target " << target);
  const ModelConfig c = load_model_config(fixture_dir());
  REQUIRE(c.sliding_window == 6);
  REQUIRE(c.variants.sink_tokens == 2);
  REQUIRE(c.variants.kv_budget == 8);
  SECTION("linear causal cache (the reference's baseline)") {
    check_stream(load_policy<Causal>(c), "linear", threads, chunks, c.max_position_embeddings, false);
  }
  SECTION("RingWindow: window 6 in 6 slots") { check_stream(load_policy<RingWindow>(c), "ring", threads, chunks, 6, true); }
  SECTION("SinkWindow: 2 sinks + window 6 in 8 slots") {
    check_stream(load_policy<SinkWindow>(c), "sink", threads, chunks, 8, true);
  }
  SECTION("A2SF: budget 8, forgetting 0.8, GQA 4:2") {
    check_stream(load_policy<A2SF>(c), "a2sf", threads, chunks, 8, true);
  }
}

TEST_CASE("bounded KV caches are sized by the policy, not the context", "[runtime][variants]") {
  const ModelConfig c = load_model_config(fixture_dir());
  const auto ring = load_policy<RingWindow>(c), sink = load_policy<SinkWindow>(c), a2sf = load_policy<A2SF>(c);
  const auto linear = load_policy<Causal>(c);
  for (const std::int64_t context : {4, 7, 60, 128}) {
    INFO("context " << context);
    CHECK(ring->cache_slots(context) == std::min<std::int64_t>(6, context));
    CHECK(sink->cache_slots(context) == std::min<std::int64_t>(2 + 6, context));
    CHECK(a2sf->cache_slots(context) == std::min<std::int64_t>(8, context));
    CHECK(linear->cache_slots(context) == context);
    SessionOptions so;
    so.context = context;
    so.threads = 1;
    CHECK(Session(ring, so).cache().bytes() == expected_bytes(c, std::min<std::int64_t>(6, context), true));
    CHECK(Session(a2sf, so).cache().bytes() == expected_bytes(c, std::min<std::int64_t>(8, context), true));
    CHECK(Session(linear, so).cache().bytes() == expected_bytes(c, context, false));
  }
  CHECK(ring->cache_slot_state());
  CHECK_FALSE(linear->cache_slot_state());
  // 2 layers x 2 KV heads x 6 slots x (2 x 8 floats + 8 + 4 bytes) = 1824 bytes, for any context.
  CHECK(expected_bytes(c, 6, true) == 1824);

  // A short context: the policy's slots never fill, and the stream is the linear cache's.
  SessionOptions so;
  so.context = 5;
  so.threads = 1;
  Session s(a2sf, so), l(linear, so);
  const auto ids = reference()["ids"].get<std::vector<std::int32_t>>();
  const auto got = s.prefill_all(std::span<const std::int32_t>(ids.data(), 5));
  const std::vector<float> a(got.begin(), got.end());
  const auto want = l.prefill_all(std::span<const std::int32_t>(ids.data(), 5));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(want[i]).margin(1e-5));
  CHECK_THROWS_WITH(s.step(1), Catch::Contains("context is full"));
}

TEST_CASE("RingWindow over its ring buffer equals SlidingWindow over a linear cache", "[models][variants]") {
  // The mistral fixture: window 6, GQA 4:2, head_dim 24, 128 positions.
  const std::string dir = test::fixture_path("llama/mistral_window");
  const ModelConfig c = load_model_config(dir);
  REQUIRE(c.sliding_window == 6);
  const auto sliding = load_causal_lm(dir);
  const auto ring = load_policy<RingWindow>(c, dir);
  const int threads = GENERATE(1, 2);
  SessionOptions so;
  so.threads = threads;
  Session a(sliding, so), b(ring, so);
  CHECK(a.cache().slots() == 128);
  CHECK(b.cache().slots() == 6);
  std::vector<std::int32_t> ids(100);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 37 + 11) % std::size_t(c.vocab_size));
  const std::size_t V = std::size_t(c.vocab_size);
  for (const auto& [from, to] : std::vector<std::pair<std::size_t, std::size_t>>{{0, 9}, {9, 20}, {20, 21}}) {
    const auto x = a.prefill_all(std::span<const std::int32_t>(ids.data() + from, to - from));
    const std::vector<float> want(x.begin(), x.end());
    const auto got = b.prefill_all(std::span<const std::int32_t>(ids.data() + from, to - from));
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("prefill position " << from + i / V);
      CHECK(got[i] == Approx(want[i]).margin(1e-4));
    }
  }
  double worst = 0;
  for (std::size_t p = 21; p < ids.size(); ++p) {
    const auto x = a.step(ids[p]);
    const std::vector<float> want(x.begin(), x.end());
    const auto got = b.step(ids[p]);
    for (std::size_t i = 0; i < V; ++i) worst = std::max(worst, double(std::abs(got[i] - want[i])));
  }
  CHECK(worst < 1e-4);
}

TEST_CASE("A2SF evicts the lowest score, the oldest of equal ones", "[layers][variants]") {
  ModelConfig c;
  c.variants.kv_budget = 4;
  c.variants.a2sf_forgetting = 0.5;
  A2SF p;
  p.init(c);
  const std::int64_t pos[] = {9, 4, 7, 5};
  const float score[] = {0.5f, 0.25f, 0.125f, 0.125f};
  CHECK(p.slot(10, 4, pos, score) == 3);  // 0.125 twice: position 5 is older than 7
  float s[] = {1.0f, 0.5f, 0.0f, 0.25f};
  const float a[] = {0.5f, 0.25f, 0.125f, 0.125f};
  p.update(a, s, 4);
  CHECK(s[0] == 1.0f);
  CHECK(s[1] == 0.5f);
  CHECK(s[2] == 0.125f);
  CHECK(s[3] == 0.25f);
  RingWindow r;
  c.sliding_window = 3;
  r.init(c);
  CHECK(r.slot(7, 3, nullptr, nullptr) == 1);
  SinkWindow w;
  c.variants.sink_tokens = 2;
  w.init(c);
  CHECK(w.slot(5, 5, nullptr, nullptr) == 2 + (5 - 2) % 3);
}

TEST_CASE("cache policies refuse configs that do not fit them, in one line", "[models][variants][bad-input]") {
  const auto one_line = [](auto&& f, const std::string& what) {
    try {
      f();
      FAIL("no error; expected: " << what);
    } catch (const Error& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(m.find(what) != std::string::npos);
      CHECK(m.find('\n') == std::string::npos);
    }
  };
  ModelConfig c = load_model_config(fixture_dir());
  ModelConfig no_window = c;
  no_window.sliding_window = 0;
  one_line([&] { load_policy<RingWindow>(no_window); }, "RingWindow attention needs a positive sliding_window");
  one_line([&] { load_policy<SinkWindow>(no_window); }, "SinkWindow attention needs a positive sliding_window");
  ModelConfig no_budget = c;
  no_budget.variants.kv_budget = 0;
  one_line([&] { load_policy<A2SF>(no_budget); }, "A2SF attention needs strata_variants.kv_budget");

  // strata_variants fields out of range, or unknown.
  const auto parse = [&](nlohmann::json v) {
    auto j = test::read_json(fixture_dir() + "/config.json");
    j["strata_variants"] = std::move(v);
    return parse_model_config(j);
  };
  CHECK(parse({{"kv_budget", 3}}).variants.kv_budget == 3);
  CHECK(parse({{"a2sf_forgetting", 1.0}}).variants.a2sf_forgetting == 1.0);
  CHECK(parse({{"sink_tokens", 0}}).variants.sink_tokens == 0);
  CHECK(parse(nlohmann::json::object()).variants.sink_tokens == 4);
  CHECK(parse(nlohmann::json::object()).variants.a2sf_forgetting == 0.9);
  one_line([&] { parse({{"kv_budget", 0}}); }, "field 'kv_budget' = 0 is out of range [1, ");
  one_line([&] { parse({{"kv_budget", 2.5}}); }, "field 'kv_budget' must be an integer");
  one_line([&] { parse({{"sink_tokens", -1}}); }, "field 'sink_tokens' = -1 is out of range [0, ");
  one_line([&] { parse({{"a2sf_forgetting", 0.0}}); }, "field 'a2sf_forgetting' = 0 is out of range (0, 1]");
  one_line([&] { parse({{"a2sf_forgetting", 1.5}}); }, "field 'a2sf_forgetting' = 1.5 is out of range [0, 1]");
  one_line([&] { parse({{"kv_bugdet", 8}}); }, "unknown field 'kv_bugdet'");

  // A cache of another shape than the model's policy needs (a linear one for a ring model).
  const auto ring = load_policy<RingWindow>(c);
  KVCache linear(c, 32);
  DecoderWorkspace ws;
  ThreadPool pool(1);
  std::vector<float> logits(std::size_t(c.vocab_size));
  const std::int32_t id = 1;
  one_line([&] { ring->forward(std::span<const std::int32_t>(&id, 1), linear, ws, pool, Logits::Last, logits.data()); },
           "does not fit");
  KVCache right(c, 32, ring->cache_slots(32), ring->cache_slot_state());
  ring->forward(std::span<const std::int32_t>(&id, 1), right, ws, pool, Logits::Last, logits.data());
  CHECK(right.length() == 1);
}

TEST_CASE("causal linear attention matches the float64 reference, state independent of the context",
          "[models][variants]") {
  const int threads = GENERATE(1, 2);
  const int chunks = GENERATE(1, 3);
  const ModelConfig c = load_model_config(fixture_dir());
  const auto model = load_linear_attention(c);
  // head_dim 8: S (8 rows) and z (1 row) in ceil(9 / 2) = 5 K rows + 5 V rows per KV head.
  CHECK(model->cache_slots(128) == 5);
  CHECK(model->cache_slots(4) == 5);
  CHECK_FALSE(model->cache_slot_state());
  check_stream(model, "linear_attention", threads, chunks, 5, false);
}

TEST_CASE("linear attention: the parallel (prefill) form equals the recurrent (decode) form", "[layers][variants]") {
  const ModelConfig c = load_model_config(fixture_dir());
  const auto model = load_linear_attention(c);
  const auto ids = reference()["ids"].get<std::vector<std::int32_t>>();
  const std::size_t V = std::size_t(c.vocab_size), n = 40;
  SessionOptions so;
  so.threads = 2;
  Session parallel(model, so), recurrent(model, so);
  const auto x = parallel.prefill_all(std::span<const std::int32_t>(ids.data(), n));
  const std::vector<float> all(x.begin(), x.end());
  double worst = 0;
  for (std::size_t p = 0; p < n; ++p) {
    const auto y = recurrent.step(ids[p]);
    for (std::size_t i = 0; i < V; ++i) worst = std::max(worst, double(std::abs(y[i] - all[p * V + i])));
  }
  CHECK(worst < 1e-5);
  // After a reset the state starts from zero again.
  parallel.reset();
  const auto again = parallel.prefill_all(std::span<const std::int32_t>(ids.data(), n));
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(again[i] == all[i]);
}
