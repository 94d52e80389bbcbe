// Mixture of experts (layers/moe.hpp): the router's top-k and renormalisation
// on hand-made logits, the Mixtral fixture with quantized experts, and the
// configs and checkpoints a Mixtral composition must refuse. The float64
// reference comparison of the whole model (prefill, decode, every kernel
// target) is in test_variants.cpp ("mixtral").
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/safetensors_writer.hpp"

using namespace strata;

namespace {

std::string mixtral_dir() { return test::fixture_path("variants/mixtral"); }

// The fixture's folder with config.json edited by `edit` (the weights copied).
struct EditedMixtral {
  test::TempDir tmp;
  template <class Edit>
  explicit EditedMixtral(Edit edit) {
    auto cfg = test::read_json(mixtral_dir() + "/config.json");
    edit(cfg);
    test::write_text(tmp / "config.json", cfg.dump());
    std::filesystem::copy_file(mixtral_dir() + "/model.safetensors", tmp / "model.safetensors");
  }
};

}  // namespace

TEST_CASE("MoE router: top-k of the softmax, renormalised, tokens grouped by expert", "[layers][variants]") {
  // 3 tokens, 4 experts.
  const std::vector<float> logits = {
      0.0f, 2.0f, 1.0f, -1.0f,  // token 0: experts 1, 2
      3.0f, 3.0f, 0.0f, 0.0f,   // token 1: a tie, the lower index first: 0, 1
      -5.0f, 0.0f, 0.0f, 4.0f,  // token 2: expert 3, then the tie 1 / 2 → 1
  };
  MoERouting r;
  r.route(logits.data(), 3, 4, 2);
  REQUIRE(r.offset == std::vector<std::int64_t>{0, 1, 4, 5, 6});
  CHECK(r.token == std::vector<std::int32_t>{1, 0, 1, 2, 0, 2});  // expert 0: {1}; 1: {0, 1, 2}; 2: {0}; 3: {2}
  CHECK(r.count(0) == 1);
  CHECK(r.count(1) == 3);
  // token 0: softmax restricted to {1, 2} = e^2 / (e^2 + e^1), e^1 / (...)
  const double a = std::exp(2.0), b = std::exp(1.0);
  CHECK(r.weight[1] == Approx(a / (a + b)).epsilon(1e-6));  // expert 1, token 0
  CHECK(r.weight[4] == Approx(b / (a + b)).epsilon(1e-6));  // expert 2, token 0
  CHECK(r.weight[0] == Approx(0.5).epsilon(1e-6));          // expert 0, token 1 (a tie)
  CHECK(r.weight[2] == Approx(0.5).epsilon(1e-6));
  // token 2: e^4 / (e^4 + e^0) to expert 3, the rest to expert 1
  CHECK(r.weight[5] == Approx(std::exp(4.0) / (std::exp(4.0) + 1.0)).epsilon(1e-6));
  CHECK(r.weight[3] == Approx(1.0 / (std::exp(4.0) + 1.0)).epsilon(1e-6));

  // k = 1: every token to its argmax with weight 1; k = E: every expert, softmax weights.
  r.route(logits.data(), 3, 4, 1);
  CHECK(r.offset == std::vector<std::int64_t>{0, 1, 2, 2, 3});
  CHECK(r.weight == std::vector<float>{1.0f, 1.0f, 1.0f});
  r.route(logits.data(), 3, 4, 4);
  CHECK(r.offset == std::vector<std::int64_t>{0, 3, 6, 9, 12});
  double sum = 0;
  for (std::size_t i = 0; i < r.token.size(); ++i)
    if (r.token[i] == 0) sum += r.weight[i];
  CHECK(sum == Approx(1.0).epsilon(1e-6));
}

TEST_CASE("Mixtral: quantized and bf16 experts track the f32 model; bytes count the active experts",
          "[models][variants]") {
  const auto f32 = load_causal_lm(mixtral_dir());
  LoadOptions q8;
  q8.quant.enabled = true;
  q8.quant.type = QuantType::Q8;
  q8.quant.group = 32;  // w2 (48 inputs) stays dense: the group must divide the input size
  const auto q = load_causal_lm(mixtral_dir(), WeightType::F32, q8);
  const auto bf = load_causal_lm(mixtral_dir(), WeightType::BF16);
  CHECK(q->name() == "mixtral<f32, q8 g32>");
  CHECK(bf->name() == "mixtral<bf16>");

  const auto ref = test::read_json(mixtral_dir() + "/reference.json");
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto logits = [&](const std::shared_ptr<const LanguageModel>& m) {
    SessionOptions so;
    so.threads = 2;
    Session s(m, so);
    const auto l = s.prefill(prompt);
    return std::vector<float>(l.begin(), l.end());
  };
  const auto cosine = [](const std::vector<float>& x, const std::vector<float>& y) {
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) xy += double(x[i]) * y[i], xx += double(x[i]) * x[i], yy += double(y[i]) * y[i];
    return xy / std::sqrt(xx * yy);
  };
  const auto base = logits(f32);
  // q8 moves the router's inputs enough to flip a close routing decision now
  // and then (the router itself stays f32), hence the looser bound.
  CHECK(cosine(base, logits(q)) > 0.99);
  CHECK(cosine(base, logits(bf)) > 0.999);

  // Per decoded token: the router and 2 of the 4 experts, not all 4.
  const ModelConfig& c = f32->config();
  const std::size_t H = std::size_t(c.hidden_size), I = std::size_t(c.intermediate_size), L = std::size_t(c.num_layers);
  const std::size_t attn = 2 * H * H + 2 * H * std::size_t(c.kv_dim());
  const std::size_t per_layer = attn + 2 * H + 4 * H /* router */ + 2 * 3 * H * I;
  const std::size_t other = H /* final norm */ + std::size_t(c.vocab_size) * H /* lm_head */ + H /* one embedding row */;
  CHECK(f32->weight_bytes() == (L * per_layer + other) * sizeof(float));
}

TEST_CASE("Mixtral configs and checkpoints that do not fit are refused with one line", "[models][variants]") {
  {
    EditedMixtral m([](nlohmann::json& c) { c["num_experts_per_tok"] = 5; });
    CHECK_THROWS_WITH(load_causal_lm(m.tmp.path()), Catch::Contains("num_experts_per_tok (5) exceeds num_local_experts (4)"));
  }
  {
    EditedMixtral m([](nlohmann::json& c) { c["num_local_experts"] = 0; });
    CHECK_THROWS_WITH(load_causal_lm(m.tmp.path()), Catch::Contains("'num_local_experts' = 0 is out of range"));
  }
  {
    EditedMixtral m([](nlohmann::json& c) { c["sliding_window"] = 16; });
    CHECK_THROWS_WITH(load_causal_lm(m.tmp.path()), Catch::Contains("sliding_window is not supported for mixtral"));
  }
  {  // more experts than the checkpoint holds: the first missing tensor is named
    EditedMixtral m([](nlohmann::json& c) { c["num_local_experts"] = 5; });
    CHECK_THROWS_WITH(load_causal_lm(m.tmp.path()), Catch::Contains("block_sparse_moe.gate.weight"));
  }
  {  // a dense Llama composition on Mixtral weights
    EditedMixtral m([](nlohmann::json& c) { c["model_type"] = "llama"; });
    CHECK_THROWS_WITH(load_causal_lm(m.tmp.path()), Catch::Contains("mlp.gate_proj.weight"));
  }
  {  // a Mixtral composition on a config without experts
    using Block = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, SparseMoE<SiLU>>;
    EditedMixtral m([](nlohmann::json& c) { c["model_type"] = "llama"; });  // llama configs have no experts
    const ModelConfig c = load_model_config(m.tmp.path());
    const auto ck = io::Checkpoint::open(m.tmp.path());
    CHECK_THROWS_WITH((CausalLM<Block>::load(ck, c, "x")), Catch::Contains("needs num_local_experts >= 1"));
  }
}
