// The variant primitives (layers/attention_variants.hpp, norms, activations,
// DeepNormBlock) against the float64 reference (tests/reference/variants_ref.py,
// fixtures tests/fixtures/variants/ from make_variant_fixtures.py): each
// primitive on its own, then composed into decoders (Qwen3, Gemma, Mixtral and
// three compositions of our own) whose logits, prefill and decode, must match.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/kernels/softmax.hpp"
#include "strata/layers/sparse_ffn.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/kernel_targets.hpp"
#include "support/safetensors_writer.hpp"

using namespace strata;

namespace {

using AlibiGatedBlock = DecoderBlock<LayerNormNoBias,
                                     SelfAttention<NoRope, Causal, NoBias, LlamaAttnNames, ALiBi<>, QKRMSNorm, HeadGate>,
                                     GatedFFN<ReLU>>;
using DeepNormSigmoidBlock =
    DeepNormBlock<RMSNorm, SelfAttention<NoRope, Causal, NoBias, LlamaAttnNames, ALiBi<SigmoidAttn>>,
                  MLP<ReLU2, LlamaMLPNames>>;
using ClippedGeluBlock =
    DecoderBlock<GemmaRMSNorm, SelfAttention<Rope<RotateHalf>, Causal, NoBias, LlamaAttnNames, ClippedSoftmax>,
                 MLP<GELU, LlamaMLPNames>>;

const nlohmann::json& prims() {
  static const nlohmann::json j = test::read_json(test::fixture_path("variants/primitives.json"));
  return j;
}

std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }

double max_diff(const float* got, const nlohmann::json& want) {
  double d = 0;
  for (std::size_t i = 0; i < want.size(); ++i) d = std::max(d, std::abs(double(got[i]) - want[i].get<double>()));
  return d;
}

// A checkpoint of the given tensors in a temporary folder.
struct TinyCheckpoint {
  test::TempDir dir;
  io::Checkpoint ck;
  explicit TinyCheckpoint(const std::vector<test::TensorSpec>& tensors)
      : ck((test::write_safetensors(dir / "model.safetensors", tensors),
            io::Checkpoint::open_files({dir / "model.safetensors"}))) {}
};

// One query of head `head` over the fixture's keys, weights from the Score policy.
template <class Score>
std::vector<float> attend(const nlohmann::json& a) {
  ModelConfig c;
  c.num_heads = a["heads"];
  c.max_position_embeddings = 64;
  c.variants.sigmoid_bias = a["sigmoid_bias"].get<double>();
  c.variants.clip_gamma = a["clip_gamma"];
  c.variants.clip_zeta = a["clip_zeta"];
  Score score;
  score.init(c);
  const auto q = floats(a["q"]), K = floats(a["k"]), V = floats(a["v"]);
  const std::int64_t hd = std::int64_t(q.size()), n = std::int64_t(K.size()) / hd, pos = a["pos"];
  std::vector<float> s(static_cast<std::size_t>(n)), o(static_cast<std::size_t>(hd), 0.0f);
  for (std::int64_t j = 0; j < n; ++j) s[std::size_t(j)] = kernels::dot(q.data(), K.data() + j * hd, hd) / std::sqrt(float(hd));
  score.weights(a["head"], pos, pos - n + 1, s.data(), n);
  for (std::int64_t j = 0; j < n; ++j) kernels::axpy(s[std::size_t(j)], V.data() + j * hd, o.data(), hd);
  return o;
}

}  // namespace

TEST_CASE("ALiBi slopes match the paper's construction, powers of two or not", "[layers][variants]") {
  for (const auto& [n, want] : prims()["alibi_slopes"].items()) {
    INFO(n << " heads");
    const auto got = alibi_slopes(std::stoll(n));
    REQUIRE(got.size() == want.size());
    for (std::size_t h = 0; h < got.size(); ++h) CHECK(got[h] == Approx(want[h].get<double>()).epsilon(1e-7));
  }
}

TEST_CASE("attention score policies match the float64 reference", "[layers][variants]") {
  const auto& a = prims()["attention"];
  const std::string target = GENERATE(from_range(test::kernel_targets()));
  const test::ScopedKernelTarget use(target);
  INFO("kernel target " << target);
  CHECK(max_diff(attend<Softmax>(a).data(), a["softmax"]) < 1e-5);
  CHECK(max_diff(attend<ALiBi<Softmax>>(a).data(), a["alibi_softmax"]) < 1e-5);
  CHECK(max_diff(attend<SigmoidAttn>(a).data(), a["sigmoid"]) < 1e-5);
  CHECK(max_diff(attend<ALiBi<SigmoidAttn>>(a).data(), a["alibi_sigmoid"]) < 1e-5);
  CHECK(max_diff(attend<ClippedSoftmax>(a).data(), a["clipped"]) < 1e-5);
  // The policies differ: a test of one against another's values fails.
  CHECK(max_diff(attend<ALiBi<Softmax>>(a).data(), a["softmax"]) > 1e-3);
  CHECK(max_diff(attend<ClippedSoftmax>(a).data(), a["softmax"]) > 1e-3);
}

TEST_CASE("sigmoid attention's default bias is -ln(max positions)", "[layers][variants]") {
  ModelConfig c;
  c.max_position_embeddings = 4096;
  SigmoidAttn s;
  s.init(c);
  CHECK(s.bias() == Approx(-std::log(4096.0)));
}

TEST_CASE("norm variants match the float64 reference", "[layers][variants]") {
  const auto& n = prims()["norms"];
  const auto x = floats(n["x"]), w = floats(n["w"]), b = floats(n["b"]);
  const std::int64_t dim = std::int64_t(w.size()), T = std::int64_t(x.size()) / dim;
  const double eps = n["eps"];
  TinyCheckpoint t({test::TensorSpec::f32("n.weight", {dim}, w), test::TensorSpec::f32("n.bias", {dim}, b)});
  std::vector<float> y(x.size());
  const auto run = [&](auto norm, const char* key) {
    norm.load(t.ck, "n", dim, eps);
    norm.forward(x.data(), T, y.data());
    INFO(key);
    CHECK(max_diff(y.data(), n[key]) < 1e-5);
  };
  run(RMSNorm{}, "rms");
  run(GemmaRMSNorm{}, "gemma_rms");
  run(LayerNorm{}, "layernorm");
  run(LayerNormNoBias{}, "layernorm_nobias");
}

TEST_CASE("activations (GELU, GeGLU, ReGLU, squared ReLU, SwiGLU) match the float64 reference", "[layers][variants]") {
  const auto& a = prims()["activations"];
  const auto g = floats(a["gate"]), u = floats(a["up"]);
  const std::int64_t n = std::int64_t(g.size());
  std::vector<float> y(g.size());
  const auto gated = [&](auto act, const char* key) {
    decltype(act)::gated(g.data(), u.data(), n, y.data());
    INFO(key);
    CHECK(max_diff(y.data(), a[std::string(key) + "_gated"]) < 1e-5);
  };
  const auto plain = [&](auto act, const char* key) {
    y = g;
    decltype(act)::apply(y.data(), n);
    INFO(key);
    CHECK(max_diff(y.data(), a[key]) < 1e-5);
  };
  gated(SiLU{}, "silu");
  gated(GELU{}, "gelu");
  gated(GELUTanh{}, "gelu_tanh");
  gated(ReLU{}, "relu");
  gated(ReLU2{}, "relu2");
  plain(GELU{}, "gelu");
  plain(GELUTanh{}, "gelu_tanh");
  plain(ReLU{}, "relu");
  plain(ReLU2{}, "relu2");
}

TEST_CASE("head gate scales each head by sigmoid(g_proj(x))", "[layers][variants]") {
  const auto& h = prims()["head_gate"];
  const auto x = floats(h["x"]), w = floats(h["w"]), b = floats(h["b"]);
  auto ctx = floats(h["ctx"]);
  const std::int64_t heads = std::int64_t(b.size()), hidden = std::int64_t(w.size()) / heads;
  const std::int64_t T = std::int64_t(x.size()) / hidden, hd = std::int64_t(ctx.size()) / (T * heads);
  TinyCheckpoint t({test::TensorSpec::f32("a.g_proj.weight", {heads, hidden}, w),
                    test::TensorSpec::f32("a.g_proj.bias", {heads}, b)});
  ModelConfig c;
  c.num_heads = heads;
  c.hidden_size = hidden;
  c.head_dim = hd;
  HeadGate gate;
  gate.load(t.ck, "a", c);
  ThreadPool pool(1);
  gate.apply(x.data(), T, ctx.data(), pool);
  CHECK(max_diff(ctx.data(), h["out"]) < 1e-5);
}

namespace {

template <class Block, class Arch = LlamaArch>
std::shared_ptr<const LanguageModel> load_composed(const std::string& dir) {
  const ModelConfig c = load_model_config(dir);
  const auto ck = io::Checkpoint::open(dir);
  return CausalLM<Block, float, Arch>::load(ck, c, "composed");
}

// Prefill in `chunks` pieces (logits of every prompt position), then greedy decoding.
using LoopExit = std::function<bool(std::int64_t, std::int64_t, std::int64_t, const float*)>;

void check_model(const std::string& name, const std::shared_ptr<const LanguageModel>& model, int threads,
                 int chunks, const LoopExit& exit = {}) {
  const auto ref = test::read_json(test::fixture_path("variants/" + name + "/reference.json"));
  const auto prompt = ref["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto decode = ref["decode_ids"].get<std::vector<std::int32_t>>();
  const auto V = std::size_t(model->config().vocab_size);
  SessionOptions so;
  so.context = std::int64_t(prompt.size() + decode.size());
  so.threads = threads;
  Session s(model, so);
  s.set_loop_exit(exit);
  std::size_t done = 0;
  for (int c = 0; c < chunks; ++c) {
    const std::size_t end = prompt.size() * std::size_t(c + 1) / std::size_t(chunks);
    const auto all = s.prefill_all(std::span<const std::int32_t>(prompt.data() + done, end - done));
    for (std::size_t p = done; p < end; ++p) {
      INFO(name << " prompt position " << p << ", " << chunks << " chunk(s)");
      CHECK(max_diff(all.data() + (p - done) * V, ref["prompt_logits"][p]) < 1e-4);
    }
    if (end == prompt.size()) CHECK(kernels::argmax(all.data() + (end - done - 1) * V, std::int64_t(V)) == decode[0]);
    done = end;
  }
  for (std::size_t k = 0; k < decode.size(); ++k) {
    const auto logits = s.step(decode[k]);
    INFO(name << " decode step " << k);
    CHECK(max_diff(logits.data(), ref["decode_logits"][k]) < 1e-4);
    if (k + 1 < decode.size()) CHECK(kernels::argmax(logits.data(), std::int64_t(V)) == decode[k + 1]);
  }
}

}  // namespace

TEST_CASE("decoders composed from the variants match the float64 reference", "[models][variants]") {
  const int threads = GENERATE(1, 2);
  const int chunks = GENERATE(1, 3);
  const std::string target = GENERATE(from_range(test::kernel_targets()));
  const test::ScopedKernelTarget use(target);
  INFO("kernel target " << target << ", " << threads << " threads");
  const auto dir = [](const char* n) { return test::fixture_path(std::string("variants/") + n); };
  SECTION("qwen3 (QK-norm), loaded by model_type") {
    const auto m = load_causal_lm(dir("qwen3"));
    CHECK(m->name() == "qwen3<f32>");
    check_model("qwen3", m, threads, chunks);
  }
  SECTION("gemma ((1 + w) RMSNorm, GeGLU tanh, scaled embeddings), loaded by model_type") {
    const auto m = load_causal_lm(dir("gemma"));
    CHECK(m->name() == "gemma<f32>");
    check_model("gemma", m, threads, chunks);
  }
  SECTION("ALiBi + QK-norm + head gate, bias-free LayerNorm, ReGLU") {
    check_model("alibi-gated", load_composed<AlibiGatedBlock, LlamaArchWith<LayerNormNoBias>>(dir("alibi-gated")),
                threads, chunks);
  }
  SECTION("DeepNorm post-norm, sigmoid attention with ALiBi, squared ReLU") {
    check_model("deepnorm-sigmoid", load_composed<DeepNormSigmoidBlock>(dir("deepnorm-sigmoid")), threads, chunks);
  }
  SECTION("mixtral (top-2 of 4 SwiGLU experts), loaded by model_type") {
    const auto m = load_causal_lm(dir("mixtral"));
    CHECK(m->name() == "mixtral<f32>");
    check_model("mixtral", m, threads, chunks);
  }
  SECTION("activation-sparse FFNs: ReGLU and squared-ReLU MLP reading only the non-zero units' rows") {
    using SparseAlibi = DecoderBlock<
        LayerNormNoBias, SelfAttention<NoRope, Causal, NoBias, LlamaAttnNames, ALiBi<>, QKRMSNorm, HeadGate>,
        SparseGatedFFN<ReLU>>;
    using SparseDeepNorm =
        DeepNormBlock<RMSNorm, SelfAttention<NoRope, Causal, NoBias, LlamaAttnNames, ALiBi<SigmoidAttn>>,
                      SparseMLP<ReLU2, LlamaMLPNames>>;
    check_model("alibi-gated", load_composed<SparseAlibi, LlamaArchWith<LayerNormNoBias>>(dir("alibi-gated")), threads,
                chunks);
    check_model("deepnorm-sigmoid", load_composed<SparseDeepNorm>(dir("deepnorm-sigmoid")), threads, chunks);
  }
  SECTION("looped depth: 2 layers applied 3 times, per-loop LoRA, early exit at odd decode positions") {
    const auto m = load_causal_lm(dir("looped-lora"));  // a llama config with strata_variants.loops
    CHECK(m->config().num_layers == 6);                  // the effective depth (and the KV cache's)
    std::int64_t calls = 0;
    check_model("looped-lora", m, threads, chunks, [&](std::int64_t pass, std::int64_t p0, std::int64_t T, const float*) {
      ++calls;
      return T == 1 && p0 % 2 == 1 && pass == 0;  // the reference's "odd_decode" rule
    });
    CHECK(calls > 0);
  }
  SECTION("clipped softmax, Gemma norms, GELU MLP, GQA") {
    check_model("clipped-gelu", load_composed<ClippedGeluBlock, GemmaArch>(dir("clipped-gelu")), threads, chunks);
  }
}

TEST_CASE("variant compositions refuse configs and checkpoints that do not fit them", "[models][variants]") {
  const auto dir = [](const char* n) { return test::fixture_path(std::string("variants/") + n); };
  // A composition without the head gate's tensors in the checkpoint.
  using NoGateTensors = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal, NoBias, LlamaAttnNames, Softmax,
                                                            QKRMSNorm, HeadGate>,
                                     GatedFFN<SiLU>>;
  CHECK_THROWS_WITH(load_composed<NoGateTensors>(dir("qwen3")), Catch::Contains("g_proj"));
  // qwen3 asks for QK-norm; a block without it is refused rather than silently wrong.
  using Plain = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, GatedFFN<SiLU>>;
  CHECK_THROWS_WITH(load_composed<Plain>(dir("qwen3")), Catch::Contains("QK-norm"));
  // qwen3 with attention_bias: the built-in composition has no q/k/v/o bias.
  {
    test::TempDir tmp;
    auto cfg = test::read_json(dir("qwen3") + "/config.json");
    cfg["attention_bias"] = true;
    test::write_text(tmp / "config.json", cfg.dump());
    std::filesystem::copy_file(dir("qwen3") + "/model.safetensors", tmp / "model.safetensors");
    CHECK_THROWS_WITH(load_causal_lm(tmp.path()), Catch::Contains("attention bias policy does not match the config"));
  }
  // Looped depth: configs and compositions that cannot run the loops as asked.
  {
    const auto edited = [&](const std::function<void(nlohmann::json&)>& edit) {
      auto tmp = std::make_unique<test::TempDir>();
      auto cfg = test::read_json(dir("looped-lora") + "/config.json");
      edit(cfg);
      test::write_text(*tmp / "config.json", cfg.dump());
      std::filesystem::copy_file(dir("looped-lora") + "/model.safetensors", *tmp / "model.safetensors");
      return tmp;
    };
    // More loops than the checkpoint has deltas for: the first missing one is named.
    auto more = edited([](nlohmann::json& c) { c["strata_variants"]["loops"] = 4; });
    CHECK_THROWS_WITH(load_causal_lm(more->path()), Catch::Contains("lora_A.loop3.weight"));
    auto no_loops = edited([](nlohmann::json& c) { c["strata_variants"]["loops"] = 1; });
    CHECK_THROWS_WITH(load_causal_lm(no_loops->path()), Catch::Contains("'loop_lora_rank' needs 'loops' > 1"));
    auto zero = edited([](nlohmann::json& c) { c["strata_variants"]["loops"] = 0; });
    CHECK_THROWS_WITH(load_causal_lm(zero->path()), Catch::Contains("'loops' = 0 is out of range [1, 64]"));
    // An FFN without per-loop deltas (the MLP) in a composition asked for them.
    using MLPBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, MLP<GELU, LlamaMLPNames>>;
    CHECK_THROWS_WITH(load_composed<MLPBlock>(dir("looped-lora")), Catch::Contains("no per-loop LoRA deltas"));
    // Early exit shares K/V rows by position: a bounded cache is refused when the hook fires.
    auto windowed = edited([](nlohmann::json& c) { c["model_type"] = "mistral", c["sliding_window"] = 8; });
    using RingBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, RingWindow>, GatedFFN<SiLU>>;
    const auto ring = load_composed<RingBlock>(windowed->path().string());
    Session s(ring);
    s.set_loop_exit([](std::int64_t, std::int64_t, std::int64_t, const float*) { return true; });
    CHECK_THROWS_WITH(s.step(3), Catch::Contains("needs a linear KV cache"));
  }
  // The built-in llama composition is SwiGLU: a relu config is refused by name.
  CHECK_THROWS_WITH(load_causal_lm(dir("alibi-gated")), Catch::Contains("activation relu"));
  // The FFN policy checks the activation too.
  using WrongAct = DecoderBlock<LayerNormNoBias, SelfAttention<NoRope, Causal, NoBias, LlamaAttnNames, ALiBi<>,
                                                               QKRMSNorm, HeadGate>,
                                GatedFFN<SiLU>>;
  CHECK_THROWS_WITH((load_composed<WrongAct, LlamaArchWith<LayerNormNoBias>>(dir("alibi-gated"))),
                    Catch::Contains("relu"));
}
