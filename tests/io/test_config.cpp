// config.json parsing: the real models' configs, each supported model_type,
// and a clear error for every unknown or inconsistent value.
#include <catch2/catch.hpp>

#include "strata/io/hf_config.hpp"

using Catch::Contains;
using nlohmann::json;

namespace {
json base_llama() {
  return json::parse(R"({
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 100, "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": false,
    "bos_token_id": 1, "eos_token_id": 2})");
}
strata::ModelConfig parse(const json& j) { return strata::parse_model_config(j, "test/config.json"); }
}  // namespace

TEST_CASE("the real TinyStories config", "[io][config]") {
  const auto c = strata::load_model_config(STRATA_SHARED_DIR "/models/tinystories-656k");
  CHECK(c.model_type == "llama");
  CHECK(c.hidden_size == 128);
  CHECK(c.intermediate_size == 384);
  CHECK(c.num_layers == 2);
  CHECK(c.num_heads == 8);
  CHECK(c.num_kv_heads == 4);
  CHECK(c.head_dim == 16);
  CHECK(c.vocab_size == 2048);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.norm_eps == Approx(1e-6));
  CHECK(c.tie_word_embeddings);
  CHECK(c.rope_scaling.kind == strata::RopeScaling::Kind::None);
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_ids == std::vector<std::int32_t>{2});
  CHECK_FALSE(c.qkv_bias);
  CHECK(c.sliding_window == 0);
}

TEST_CASE("the real stories260K config", "[io][config]") {
  const auto c = strata::load_model_config(STRATA_SHARED_DIR "/models/stories260k");
  CHECK(c.hidden_size == 64);
  CHECK(c.num_layers == 5);
  CHECK(c.head_dim == 8);
  CHECK_FALSE(c.tie_word_embeddings);
}

TEST_CASE("model types map to their features", "[io][config]") {
  auto j = base_llama();
  SECTION("llama attention_bias gives q/k/v/o bias") {
    j["attention_bias"] = true;
    const auto c = parse(j);
    CHECK(c.qkv_bias);
    CHECK(c.o_bias);
  }
  SECTION("qwen2 has q/k/v bias") {
    j["model_type"] = "qwen2";
    j["use_sliding_window"] = false;
    j["sliding_window"] = 4096;
    const auto c = parse(j);
    CHECK(c.qkv_bias);
    CHECK_FALSE(c.o_bias);
    CHECK(c.sliding_window == 0);
  }
  SECTION("mistral sliding window, null window, explicit head_dim") {
    j["model_type"] = "mistral";
    j["sliding_window"] = 16;
    j["head_dim"] = 24;
    auto c = parse(j);
    CHECK(c.sliding_window == 16);
    CHECK(c.head_dim == 24);
    CHECK(c.q_dim() == 192);
    j["sliding_window"] = nullptr;
    c = parse(j);
    CHECK(c.sliding_window == 0);
  }
  SECTION("llama3 rope scaling, with either key name") {
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
    auto c = parse(j);
    CHECK(c.rope_scaling.kind == strata::RopeScaling::Kind::Llama3);
    CHECK(c.rope_scaling.factor == 8.0);
    CHECK(c.rope_scaling.original_max_position_embeddings == 8192);
    j["rope_scaling"].erase("rope_type");
    j["rope_scaling"]["type"] = "llama3";
    c = parse(j);
    CHECK(c.rope_scaling.kind == strata::RopeScaling::Kind::Llama3);
  }
  SECTION("eos as a list, num_key_value_heads defaulting to MHA") {
    j["eos_token_id"] = {2, 7};
    j.erase("num_key_value_heads");
    const auto c = parse(j);
    CHECK(c.eos_token_ids == std::vector<std::int32_t>{2, 7});
    CHECK(c.num_kv_heads == 8);
  }
}

TEST_CASE("bad configs are errors naming the field", "[io][config][bad-input]") {
  auto j = base_llama();
  SECTION("unknown model_type") {
    j["model_type"] = "gpt_neox";
    REQUIRE_THROWS_WITH(parse(j), Contains("test/config.json") && Contains("model_type 'gpt_neox'"));
  }
  SECTION("missing field") {
    j.erase("hidden_size");
    REQUIRE_THROWS_WITH(parse(j), Contains("'hidden_size' is missing"));
  }
  SECTION("wrong type") {
    j["num_hidden_layers"] = "two";
    REQUIRE_THROWS_WITH(parse(j), Contains("'num_hidden_layers' must be an integer"));
  }
  SECTION("non-positive or absurd sizes") {
    j["vocab_size"] = 0;
    REQUIRE_THROWS_WITH(parse(j), Contains("'vocab_size' = 0 is out of range"));
    j["vocab_size"] = 100;
    j["hidden_size"] = 1LL << 40;
    REQUIRE_THROWS_WITH(parse(j), Contains("'hidden_size'") && Contains("out of range"));
  }
  SECTION("heads not a multiple of kv heads") {
    j["num_key_value_heads"] = 3;
    REQUIRE_THROWS_WITH(parse(j), Contains("must be a multiple of num_key_value_heads"));
  }
  SECTION("hidden not divisible by heads without head_dim") {
    j["hidden_size"] = 60;
    REQUIRE_THROWS_WITH(parse(j), Contains("not divisible by num_attention_heads"));
  }
  SECTION("odd head_dim") {
    j["head_dim"] = 7;
    REQUIRE_THROWS_WITH(parse(j), Contains("head_dim (7) must be even"));
  }
  SECTION("unknown activation") {
    j["hidden_act"] = "swiglu";
    REQUIRE_THROWS_WITH(parse(j), Contains("hidden_act 'swiglu' is not supported"));
  }
  SECTION("unknown strata_variants field") {
    j["strata_variants"] = {{"sigmoid_bias", -1.0}, {"alibi", true}};
    REQUIRE_THROWS_WITH(parse(j), Contains("strata_variants: unknown field 'alibi'"));
  }
  SECTION("clipped softmax gamma out of range") {
    j["strata_variants"] = {{"clip_gamma", 0.5}};
    REQUIRE_THROWS_WITH(parse(j), Contains("'clip_gamma' = 0.5 is out of range"));
  }
  SECTION("qwen3 with per-layer sliding windows") {
    j["model_type"] = "qwen3";
    j["use_sliding_window"] = true;
    REQUIRE_THROWS_WITH(parse(j), Contains("use_sliding_window"));
  }
  SECTION("unsupported rope scaling") {
    j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
    REQUIRE_THROWS_WITH(parse(j), Contains("rope_type 'yarn' is not supported"));
  }
  SECTION("inconsistent llama3 rope scaling") {
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                         {"high_freq_factor", 1.0}, {"original_max_position_embeddings", 8192}};
    REQUIRE_THROWS_WITH(parse(j), Contains("high_freq_factor"));
  }
  SECTION("llama3 rope scaling without original_max_position_embeddings") {
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
    REQUIRE_THROWS_WITH(parse(j), Contains("original_max_position_embeddings"));
  }
  SECTION("eos id outside the vocabulary") {
    j["eos_token_id"] = 100;
    REQUIRE_THROWS_WITH(parse(j), Contains("'eos_token_id' = 100 is out of range"));
  }
  SECTION("negative or NaN eps") {
    j["rms_norm_eps"] = -1.0;
    REQUIRE_THROWS_WITH(parse(j), Contains("rms_norm_eps"));
  }
  SECTION("qwen2 with per-layer sliding windows") {
    j["model_type"] = "qwen2";
    j["use_sliding_window"] = true;
    REQUIRE_THROWS_WITH(parse(j), Contains("use_sliding_window"));
  }
  SECTION("mlp_bias") {
    j["mlp_bias"] = true;
    REQUIRE_THROWS_WITH(parse(j), Contains("mlp_bias"));
  }
  SECTION("not an object") {
    REQUIRE_THROWS_WITH(parse(json::array()), Contains("expected a JSON object"));
  }
}

TEST_CASE("missing or malformed config files", "[io][config][bad-input]") {
  REQUIRE_THROWS_WITH(strata::load_model_config("/nonexistent/model"), Contains("config.json: not found"));
}

TEST_CASE("activations other than silu parse (the composition decides what it supports)", "[io][config]") {
  auto j = base_llama();
  for (const auto& [name, act] : {std::pair{"relu", strata::Activation::ReLU}, {"relu2", strata::Activation::ReLU2},
                                  {"gelu", strata::Activation::GELU},
                                  {"gelu_pytorch_tanh", strata::Activation::GELUTanh}}) {
    j["hidden_act"] = name;
    CHECK(parse(j).hidden_act == act);
  }
}

TEST_CASE("strata_variants carries the variant primitives' parameters", "[io][config]") {
  auto j = base_llama();
  auto c = parse(j);
  CHECK_FALSE(c.variants.sigmoid_bias.has_value());
  CHECK_FALSE(c.variants.deepnorm_alpha.has_value());
  CHECK(c.variants.clip_gamma == -0.03);
  CHECK(c.variants.clip_zeta == 1.0);
  j["strata_variants"] = {{"sigmoid_bias", -2.5}, {"clip_gamma", -0.1}, {"clip_zeta", 1.1}, {"deepnorm_alpha", 2.0}};
  c = parse(j);
  CHECK(c.variants.sigmoid_bias == -2.5);
  CHECK(c.variants.clip_gamma == -0.1);
  CHECK(c.variants.clip_zeta == 1.1);
  CHECK(c.variants.deepnorm_alpha == 2.0);
}

TEST_CASE("qwen3 and gemma configs", "[io][config]") {
  auto j = base_llama();
  j["model_type"] = "qwen3";
  j["head_dim"] = 32;
  auto c = parse(j);
  CHECK(c.qk_norm);
  CHECK(c.head_dim == 32);
  CHECK(c.q_dim() == 256);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.embed_scale == 1.0);

  j = base_llama();
  j["model_type"] = "gemma";
  j.erase("tie_word_embeddings");
  j["hidden_act"] = "gelu";  // ignored: GemmaMLP reads hidden_activation, tanh GELU when unset
  c = parse(j);
  CHECK(c.head_dim == 256);  // GemmaConfig's default
  CHECK(c.tie_word_embeddings);
  CHECK(c.hidden_act == strata::Activation::GELUTanh);
  CHECK(c.embed_scale == Approx(8.0));  // sqrt(64)
  CHECK_FALSE(c.qk_norm);
  j["hidden_activation"] = "gelu";
  CHECK(parse(j).hidden_act == strata::Activation::GELU);
}
