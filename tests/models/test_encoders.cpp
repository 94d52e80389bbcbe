// BERT-family encoders and GPT-2 against the float64 reference
// (tests/reference/encoder_ref.py, fixtures tests/fixtures/encoders/): random
// HF-layout checkpoints with and without the "bert." / "transformer."
// prefixes, a MiniLM-shaped sentence-transformers folder, mixed-length
// batches packed and padded.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/io/safetensors_writer.hpp"
#include "strata/models/encoder.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/embedding.hpp"
#include "strata/runtime/session.hpp"
#include "support/kernel_targets.hpp"
#include "support/reference_json.hpp"

namespace fs = std::filesystem;

namespace {

using strata::test::max_diff;
const auto read_json = strata::test::read_json_file;

const fs::path kDir = fs::path(STRATA_TEST_FIXTURES) / "encoders";

strata::EncoderBatch batch_of(const nlohmann::json& b) {
  strata::EncoderBatch batch;
  for (std::size_t i = 0; i < b["input_ids"].size(); ++i) {
    const auto ids = b["input_ids"][i].get<std::vector<std::int32_t>>();
    const auto types = b["token_type_ids"][i].get<std::vector<std::int32_t>>();
    batch.add(ids, types);
  }
  return batch;
}

constexpr double kTol = 1e-4;

void check_encoder_case(const std::string& name, int threads) {
  INFO(name << ", " << threads << " threads");
  const auto model = strata::load_encoder(kDir / name);
  const auto ref = read_json(kDir / name / "reference.json");
  const std::int64_t H = model->config().hidden_size;
  strata::ThreadPool pool(threads);
  for (const auto& b : ref["batches"]) {
    const strata::EncoderBatch packed = batch_of(b);
    INFO(packed.count() << " sequences, " << packed.tokens() << " tokens");
    for (bool padded : {false, true}) {
      INFO((padded ? "padded" : "packed"));
      const strata::EncoderBatch batch = padded ? packed.padded(0) : packed;
      strata::EncoderWorkspace ws;
      model->forward(batch, ws, pool);
      double worst = 0;
      for (std::int64_t i = 0; i < batch.count(); ++i) {
        const auto& want = b["last_hidden_state"][std::size_t(i)];
        REQUIRE(std::int64_t(want.size()) == batch.seqs.len[std::size_t(i)]);
        for (std::size_t t = 0; t < want.size(); ++t)
          worst = std::max(worst, max_diff(ws.hidden(batch.seqs.start[std::size_t(i)] + std::int64_t(t), H), want[t]));
      }
      CHECK(worst < kTol);
      // Poolings over the real tokens (sentence-transformers semantics).
      std::vector<float> pooled(std::size_t(batch.count() * H));
      const std::pair<strata::Pooling, const char*> modes[] = {
          {strata::Pooling::Mean, "mean"}, {strata::Pooling::CLS, "cls"}, {strata::Pooling::Max, "max"}};
      for (const auto& [mode, key] : modes) {
        INFO(key);
        strata::pool_hidden_states(ws, H, batch.seqs, mode, false, pooled.data());
        for (std::int64_t i = 0; i < batch.count(); ++i)
          CHECK(max_diff(pooled.data() + i * H, b["pooled"][key][std::size_t(i)]) < kTol);
      }
      strata::pool_hidden_states(ws, H, batch.seqs, strata::Pooling::Mean, true, pooled.data());
      for (std::int64_t i = 0; i < batch.count(); ++i)
        CHECK(max_diff(pooled.data() + i * H, b["pooled"]["mean_normalized"][std::size_t(i)]) < kTol);
      if (b.contains("pooler_output")) {
        REQUIRE(model->has_pooler());
        model->pooler(batch, ws, pool);
        for (std::int64_t i = 0; i < batch.count(); ++i)
          CHECK(max_diff(ws.pooled.data() + i * H, b["pooler_output"][std::size_t(i)]) < kTol);
      }
      if (b.contains("logits")) {
        REQUIRE(model->has_classifier());
        model->classify(batch, ws, pool);
        const std::size_t L = model->config().id2label.size();
        for (std::int64_t i = 0; i < batch.count(); ++i)
          CHECK(max_diff(ws.logits.data() + std::size_t(i) * L, b["logits"][std::size_t(i)]) < kTol);
      }
    }
  }
}

}  // namespace

TEST_CASE("BERT encoders match the float64 reference, packed and padded, mixed lengths", "[encoder]") {
  for (const char* name : {"bert-plain", "bert-cls", "minilm-st"})
    for (int threads : {1, 2}) check_encoder_case(name, threads);
}

TEST_CASE("BERT task-model prefix, pooler and id2label classifier load as published", "[encoder]") {
  const auto plain = strata::load_encoder(kDir / "bert-plain");
  CHECK(plain->has_pooler());
  CHECK_FALSE(plain->has_classifier());
  const auto cls = strata::load_encoder(kDir / "bert-cls");  // "bert." prefix + classifier
  CHECK(cls->has_classifier());
  CHECK(cls->config().id2label == std::vector<std::string>{"negative", "neutral", "positive"});
  CHECK(cls->config().problem_type == "single_label_classification");
  CHECK(cls->name() == "bert<f32>");
}

// A copy of a fixture folder whose tensors are renamed (or dropped: empty
// name) by `rename`, and whose config.json is edited by `edit`.
static fs::path rewritten_copy(const std::string& name, const std::string& tag,
                        const std::function<std::string(const std::string&)>& rename,
                        const std::function<void(nlohmann::json&)>& edit = {}) {
  const fs::path src = kDir / name, dst = fs::temp_directory_path() / ("strata-enc-" + tag);
  fs::remove_all(dst);
  fs::create_directories(dst);
  nlohmann::json cfg = read_json(src / "config.json");
  if (edit) edit(cfg);
  std::ofstream(dst / "config.json") << cfg.dump();
  const auto ck = strata::io::Checkpoint::open(src);
  std::vector<strata::io::TensorToWrite> ts;
  for (const auto& n : ck.tensor_names()) {
    const std::string to = rename(n);
    if (to.empty()) continue;
    const strata::io::TensorView* t = ck.find(n);
    ts.push_back({to, t->dtype, t->shape, [t](std::byte* p, std::size_t nb) { std::memcpy(p, t->data, nb); }});
  }
  strata::io::write_safetensors(dst / "model.safetensors", ts, {{"format", "pt"}});
  return dst;
}

TEST_CASE("published BERT names: LayerNorm gamma/beta and extra heads load as transformers renames them", "[encoder]") {
  auto legacy = [](const std::string& n) {
    std::string s = n;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"LayerNorm.weight", "LayerNorm.gamma"},
                                   {"LayerNorm.bias", "LayerNorm.beta"}})
      if (s.size() > from.size() && s.compare(s.size() - from.size(), from.size(), from) == 0)
        s.replace(s.size() - from.size(), from.size(), to);
    return s;
  };
  const fs::path dir = rewritten_copy("bert-cls", "legacy", legacy);
  const auto a = strata::load_encoder(kDir / "bert-cls"), b = strata::load_encoder(dir);
  const auto ref = read_json(kDir / "bert-cls" / "reference.json");
  const strata::EncoderBatch batch = batch_of(ref["batches"][1]);
  strata::ThreadPool pool(1);
  strata::EncoderWorkspace wa, wb;
  a->classify(batch, wa, pool);
  b->classify(batch, wb, pool);
  CHECK(wa.x == wb.x);
  CHECK(wa.logits == wb.logits);
  fs::remove_all(dir);
}

TEST_CASE("encoder checkpoints: missing tensors and head/config mismatches are one-line errors", "[encoder]") {
  auto keep = [](const std::string& n) { return n; };
  auto drop = [](std::string what) {
    return [what](const std::string& n) { return n == what ? std::string() : n; };
  };
  fs::path dir = rewritten_copy("bert-plain", "missing", drop("encoder.layer.1.attention.self.key.weight"));
  CHECK_THROWS_WITH(strata::load_encoder(dir),
                    Catch::Contains("tensor \"encoder.layer.1.attention.self.key.weight\" is missing"));
  fs::remove_all(dir);
  dir = rewritten_copy("bert-cls", "labels", keep, [](nlohmann::json& c) {
    c["id2label"] = {{"0", "a"}, {"1", "b"}};
  });
  CHECK_THROWS_WITH(strata::load_encoder(dir), Catch::Contains("id2label has 2 labels but classifier.weight has 3 rows"));
  fs::remove_all(dir);
  dir = rewritten_copy("bert-cls", "nopooler", [](const std::string& n) {
    return n.find("pooler") != std::string::npos ? std::string() : n;
  });
  CHECK_THROWS_WITH(strata::load_encoder(dir), Catch::Contains("a sequence classifier needs the pooler"));
  fs::remove_all(dir);
  dir = rewritten_copy("gpt2-prefixed", "gpt2-conv", [](const std::string& n) {
    return n == "transformer.h.0.mlp.c_fc.weight" ? std::string() : n;
  });
  CHECK_THROWS_WITH(strata::load_causal_lm(dir), Catch::Contains("transformer.h.0.mlp.c_fc.weight"));
  fs::remove_all(dir);
}

TEST_CASE("sentence-transformers modules.json and 1_Pooling/config.json set pooling and normalisation", "[encoder]") {
  const auto st = strata::load_sentence_config(kDir / "minilm-st");
  REQUIRE(st.found);
  REQUIRE(st.pooling);
  CHECK(*st.pooling == strata::Pooling::Mean);
  CHECK(st.normalize);
  REQUIRE(st.max_seq_length);
  CHECK(*st.max_seq_length == 32);
  const auto none = strata::load_sentence_config(kDir / "bert-plain");
  CHECK_FALSE(none.found);
  CHECK_FALSE(none.pooling);
}

TEST_CASE("encoder bad input: ids, token types, lengths and empty sequences are refused", "[encoder]") {
  const auto model = strata::load_encoder(kDir / "bert-plain");  // vocab 100, 2 types, 40 positions
  strata::ThreadPool pool(1);
  strata::EncoderWorkspace ws;
  auto run = [&](std::vector<std::int32_t> ids, std::vector<std::int32_t> types) {
    strata::EncoderBatch b;
    b.add(ids, types);
    model->forward(b, ws, pool);
  };
  CHECK_THROWS_WITH(run({1, 100}, {}), Catch::Contains("token id 100 is out of range [0, 100)"));
  CHECK_THROWS_WITH(run({1, -1}, {}), Catch::Contains("token id -1 is out of range"));
  CHECK_THROWS_WITH(run({1, 2}, {0, 2}), Catch::Contains("token type id 2 is out of range [0, 2)"));
  CHECK_THROWS_WITH(run(std::vector<std::int32_t>(41, 5), {}),
                    Catch::Contains("has 41 tokens; the model has 40 positions"));
  CHECK_THROWS_WITH(run({}, {}), Catch::Contains("an empty sequence"));
  CHECK_THROWS_WITH(run({1, 2}, {0}), Catch::Contains("1 token types for 2 tokens"));
  CHECK_THROWS_WITH(model->classify(strata::EncoderBatch{}, ws, pool), Catch::Contains("no sequence-classification head"));
  CHECK_THROWS_WITH(strata::load_causal_lm(kDir / "bert-plain"), Catch::Contains("is an encoder"));
  CHECK_THROWS_WITH(strata::load_encoder(kDir / "gpt2-plain"), Catch::Contains("is a text generator, not an encoder"));
}

TEST_CASE("encoder configs: unsupported BERT variants are one-line errors", "[encoder][config]") {
  nlohmann::json base = read_json(kDir / "bert-plain" / "config.json");
  auto fails = [&](const char* key, nlohmann::json value, const std::string& msg) {
    nlohmann::json j = base;
    j[key] = std::move(value);
    INFO(key << " = " << j[key].dump());
    CHECK_THROWS_WITH(strata::parse_model_config(j), Catch::Contains(msg));
  };
  fails("position_embedding_type", "relative_key", "position_embedding_type 'relative_key' is not supported");
  fails("is_decoder", true, "is_decoder true");
  fails("hidden_act", "relu", "hidden_act 'relu' is not supported");
  fails("hidden_size", 30, "hidden_size (30) is not divisible by num_attention_heads (4)");
  fails("id2label", nlohmann::json{{"0", "a"}, {"2", "b"}}, "id2label key '2' is not a class id in [0, 2)");
  fails("id2label", nlohmann::json{{"x", "a"}}, "id2label key 'x'");
  fails("problem_type", "ranking", "problem_type 'ranking' is not supported");
  fails("layer_norm_eps", -1.0, "layer_norm_eps");
}

TEST_CASE("GPT-2 (Conv1D, fused c_attn, learned positions, tied head) matches the float64 reference",
          "[encoder][gpt2]") {
  for (const char* name : {"gpt2-plain", "gpt2-prefixed"}) {
    INFO(name);
    const auto model = strata::load_causal_lm(kDir / name);
    CHECK(model->name() == "gpt2<f32>");
    const auto ref = read_json(kDir / name / "reference.json");
    const std::int64_t V = model->config().vocab_size;
    for (int threads : {1, 2}) {
      INFO(threads << " threads");
      strata::SessionOptions o;
      o.threads = threads;
      for (std::size_t p = 0; p < ref["prompts"].size(); ++p) {
        const auto ids = ref["prompts"][p].get<std::vector<std::int32_t>>();
        strata::Session s(model, o);
        const auto logits = s.prefill_all(ids);
        double worst = 0;
        for (std::size_t t = 0; t < ids.size(); ++t)
          worst = std::max(worst, max_diff(logits.data() + std::int64_t(t) * V, ref["logits"][p][t]));
        CHECK(worst < kTol);
      }
      for (const auto& g : ref["greedy"]) {  // one prompt pass, then one token at a time through the KV cache
        const auto prompt = g["prompt"].get<std::vector<std::int32_t>>();
        strata::Session s(model, o);
        auto logits = s.prefill(prompt);
        std::vector<std::int32_t> got;
        for (std::size_t i = 0; i < g["new_tokens"].size(); ++i) {
          const auto next = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
          got.push_back(next);
          logits = s.step(next);
        }
        CHECK(got == g["new_tokens"].get<std::vector<std::int32_t>>());
      }
    }
  }
}

TEST_CASE("GPT-2 refuses positions beyond its learned ones", "[encoder][gpt2]") {
  const auto model = strata::load_causal_lm(kDir / "gpt2-prefixed");  // n_positions 32
  strata::SessionOptions o;
  o.threads = 1;
  o.context = 33;
  CHECK_THROWS_WITH(strata::Session(model, o), Catch::Contains("KV cache capacity 33 is out of range [1, 32]"));
  o.context = 0;  // the model's positions
  strata::Session s(model, o);
  CHECK_THROWS_WITH(s.prefill(std::vector<std::int32_t>(33, 1)), Catch::Contains("context is full"));
  s.prefill(std::vector<std::int32_t>(32, 1));
  CHECK_THROWS_WITH(s.step(1), Catch::Contains("context is full"));
}

TEST_CASE("encoders with bf16 weights or q8 projections stay close to f32", "[encoder][quant]") {
  const fs::path dir = kDir / "minilm-st";
  const auto ref = read_json(dir / "reference.json");
  const strata::EncoderBatch batch = batch_of(ref["batches"][1]);
  strata::ThreadPool pool(2);
  const auto f32 = strata::load_encoder(dir);
  strata::LoadOptions q8;
  q8.quant.enabled = true;
  q8.quant.type = strata::QuantType::Q8;
  q8.quant.group = 32;
  const auto bf = strata::load_encoder(dir, strata::WeightType::BF16);
  const auto q = strata::load_encoder(dir, strata::WeightType::F32, q8);
  CHECK(bf->name() == "bert<bf16>");
  CHECK(q->name() == "bert<f32, q8 g32>");
  const std::int64_t H = f32->config().hidden_size, n = batch.count();
  auto embed = [&](const strata::EncoderModel& m) {
    strata::EncoderWorkspace ws;
    m.forward(batch, ws, pool);
    std::vector<float> e(std::size_t(n * H));
    strata::pool_hidden_states(ws, H, batch.seqs, strata::Pooling::Mean, true, e.data());
    return e;
  };
  const auto a = embed(*f32), b = embed(*bf), c = embed(*q);
  for (std::int64_t i = 0; i < n; ++i) {  // cosine similarity of unit vectors
    double cb = 0, cq = 0;
    for (std::int64_t j = 0; j < H; ++j) {
      cb += double(a[std::size_t(i * H + j)]) * b[std::size_t(i * H + j)];
      cq += double(a[std::size_t(i * H + j)]) * c[std::size_t(i * H + j)];
    }
    INFO("text " << i << ": cos(f32, bf16) = " << cb << ", cos(f32, q8) = " << cq);
    CHECK(cb > 0.999);
    CHECK(cq > 0.99);
  }
  CHECK_THROWS_WITH(strata::load_encoder(dir, strata::WeightType::F16), Catch::Contains("f16 weights are not offered"));
}

// bf16 dot products (LoadOptions::compute = BF16): every projection's input is
// rounded to bf16 as well as its weights. Against the float64 reference: the
// pooled embeddings keep a cosine above 0.9999 and the hidden states an error
// under 5% of their largest value; the same on every target (emulated where the CPU has
// no bf16 dot instruction) and with 1 or 2 threads.
TEST_CASE("encoders on bf16 dot products track the float64 reference", "[encoder][bf16]") {
  const fs::path dir = kDir / "minilm-st";
  const auto ref = read_json(dir / "reference.json");
  const auto& rb = ref["batches"][1];
  const strata::EncoderBatch batch = batch_of(rb);
  strata::LoadOptions lo;
  lo.compute = strata::Compute::BF16;
  const auto m = strata::load_encoder(dir, strata::WeightType::F32, lo);
  CHECK(m->name() == "bert<bf16, bf16 dot>");
  const std::int64_t H = m->config().hidden_size, n = batch.count();
  for (const auto& target : strata::test::kernel_targets()) {
    const strata::test::ScopedKernelTarget use(target);
    for (int threads : {1, 2}) {
      INFO(target << ", " << threads << " threads");
      strata::ThreadPool pool(threads);
      strata::EncoderWorkspace ws;
      m->forward(batch, ws, pool);
      double worst = 0, scale = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const auto& want = rb["last_hidden_state"][std::size_t(i)];
        for (std::size_t t = 0; t < want.size(); ++t) {
          worst = std::max(worst, max_diff(ws.hidden(batch.seqs.start[std::size_t(i)] + std::int64_t(t), H), want[t]));
          for (const auto& v : want[t]) scale = std::max(scale, std::abs(v.get<double>()));
        }
      }
      INFO("max |hidden - reference| = " << worst << " (largest value " << scale << ")");
      CHECK(worst < 0.05 * scale);  // measured: 0.034 of 3.8 (0.9%)
      std::vector<float> e(std::size_t(n * H));
      strata::pool_hidden_states(ws, H, batch.seqs, strata::Pooling::Mean, true, e.data());
      for (std::int64_t i = 0; i < n; ++i) {
        const auto& want = rb["pooled"]["mean_normalized"][std::size_t(i)];
        double c = 0;
        for (std::int64_t j = 0; j < H; ++j) c += double(e[std::size_t(i * H + j)]) * want[std::size_t(j)].get<double>();
        INFO("text " << i << ": cos(bf16 dot, reference) = " << c);
        CHECK(c > 0.9999);  // measured: 0.99996 and above
      }
    }
  }
  lo.quant.enabled = true;
  CHECK_THROWS_WITH(strata::load_encoder(dir, strata::WeightType::F32, lo), Catch::Contains("bf16 compute applies to dense"));
  lo.quant.enabled = false;
  CHECK_THROWS_WITH(strata::load_encoder(dir, strata::WeightType::F16, lo), Catch::Contains("needs f32 or bf16 weights"));
}
