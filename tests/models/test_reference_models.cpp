// Random-weight HF-layout checkpoints (tests/fixtures/llama, written with
// their expected logits by the float64 reference in
// tests/reference/make_llama_fixtures.py) against strata: logits at all 20
// prompt positions and at 10 greedy decode steps, to 1e-4.
#include <cmath>

#include <catch2/catch.hpp>

#include "strata/kernels/softmax.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/kernel_targets.hpp"

namespace {

double max_diff(std::span<const float> got, const nlohmann::json& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[i].get<double>()));
  return worst;
}

void check_case(const std::string& name, strata::WeightType wt, const std::string& expect_arch, int threads) {
  const auto dir = strata::test::fixture_path("llama/" + name);
  const auto exp = strata::test::read_json(dir + "/expected.json");
  const auto model = strata::load_causal_lm(dir, wt);
  CHECK(model->name() == expect_arch);
  const auto V = std::size_t(model->config().vocab_size);
  const auto prompt = exp["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto decode = exp["decode_ids"].get<std::vector<std::int32_t>>();

  strata::SessionOptions so;
  so.context = std::int64_t(prompt.size() + decode.size());
  so.threads = threads;
  strata::Session s(model, so);
  const auto all = s.prefill_all(prompt);
  for (std::size_t p = 0; p < prompt.size(); ++p) {
    INFO(name << " prompt position " << p);
    CHECK(max_diff(all.subspan(p * V, V), exp["prompt_logits"][p]) < 1e-4);
  }
  CHECK(strata::kernels::argmax(all.data() + (prompt.size() - 1) * V, std::int64_t(V)) == decode[0]);
  for (std::size_t k = 0; k < decode.size(); ++k) {
    const auto logits = s.step(decode[k]);
    INFO(name << " decode step " << k);
    CHECK(max_diff(logits, exp["decode_logits"][k]) < 1e-4);
    if (k + 1 < decode.size()) CHECK(strata::kernels::argmax(logits.data(), std::int64_t(V)) == decode[k + 1]);
  }
}

}  // namespace

TEST_CASE("random-weight checkpoints match the float64 reference", "[models][reference]") {
  using WT = strata::WeightType;
  const int threads = GENERATE(1, 2);
  // Every kernel target this binary and CPU have (avx512, avx2, sse4.2, sse2 here).
  const std::string target = GENERATE(from_range(strata::test::kernel_targets()));
  const strata::test::ScopedKernelTarget use(target);
  INFO("kernel target " << target);
  SECTION("MHA, hidden 200") { check_case("mha_h200", WT::F32, "llama<f32>", threads); }
  SECTION("GQA, tied head") { check_case("gqa_tied", WT::F32, "llama<f32>", threads); }
  SECTION("MQA") { check_case("mqa", WT::F32, "llama<f32>", threads); }
  SECTION("Qwen2 q/k/v bias") { check_case("qwen2_bias", WT::F32, "qwen2<f32>", threads); }
  SECTION("Mistral sliding window, explicit head_dim") {
    check_case("mistral_window", WT::F32, "mistral<f32>", threads);
  }
  SECTION("llama3 rope scaling") { check_case("llama3_rope", WT::F32, "llama<f32>", threads); }
  SECTION("sharded checkpoint") { check_case("sharded", WT::F32, "llama<f32>", threads); }
  SECTION("F16 checkpoint, widened to f32 at load") { check_case("f16_weights", WT::F32, "llama<f32>", threads); }
  SECTION("BF16 checkpoint, widened to f32 at load") { check_case("bf16_weights", WT::F32, "llama<f32>", threads); }
  SECTION("BF16 checkpoint, kept as bf16") { check_case("bf16_weights", WT::BF16, "llama<bf16>", threads); }
  SECTION("F16 checkpoint, kept as f16") { check_case("f16_weights", WT::F16, "llama<f16>", threads); }
}

TEST_CASE("generation_config.json eos ids take precedence", "[models][config]") {
  const auto c = strata::load_model_config(strata::test::fixture_path("llama/gqa_tied"));
  CHECK(c.eos_token_ids == std::vector<std::int32_t>{2, 3});
}

// bf16 dot products (LoadOptions::compute = BF16): weights and every
// projection's input rounded to bf16. The logits stay within a bound of the
// float64 reference that is set by that rounding (measured: see the INFO), and
// the greedy continuation is the reference's; on every target (emulated where
// the CPU has no bf16 dot instruction).
TEST_CASE("decoders on bf16 dot products track the float64 reference", "[models][reference][bf16]") {
  const std::string target = GENERATE(from_range(strata::test::kernel_targets()));
  const strata::test::ScopedKernelTarget use(target);
  for (const char* name : {"mha_h200", "gqa_tied", "qwen2_bias"}) {
    INFO("kernel target " << target << ", " << name);
    const auto dir = strata::test::fixture_path(std::string("llama/") + name);
    const auto exp = strata::test::read_json(dir + "/expected.json");
    strata::LoadOptions lo;
    lo.compute = strata::Compute::BF16;
    const auto model = strata::load_causal_lm(dir, strata::WeightType::F32, lo);
    CHECK(model->name().find("<bf16, bf16 dot>") != std::string::npos);
    const auto V = std::size_t(model->config().vocab_size);
    const auto prompt = exp["prompt_ids"].get<std::vector<std::int32_t>>();
    strata::SessionOptions so;
    so.threads = 2;
    strata::Session s(model, so);
    const auto all = s.prefill_all(prompt);
    double worst = 0, scale = 0;
    for (std::size_t p = 0; p < prompt.size(); ++p) {
      worst = std::max(worst, max_diff(all.subspan(p * V, V), exp["prompt_logits"][p]));
      for (const auto& v : exp["prompt_logits"][p]) scale = std::max(scale, std::abs(v.get<double>()));
    }
    INFO("max |logit - reference| = " << worst << ", largest |logit| " << scale);
    CHECK(worst < 0.03 * scale);  // measured: 0.4% to 1.7% of the largest logit across the three
    const auto decode = exp["decode_ids"].get<std::vector<std::int32_t>>();
    CHECK(strata::kernels::argmax(all.data() + (prompt.size() - 1) * V, std::int64_t(V)) == decode[0]);
  }
}
