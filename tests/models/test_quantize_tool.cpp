// The `quantize` tool (examples/quantize_checkpoint.hpp): a checkpoint
// quantized offline loads into exactly the model that quantizing the dense
// checkpoint at load gives (bit-identical logits), copies everything else bit
// for bit, refuses what it cannot quantize; and strata-format checkpoints
// that were tampered with are refused at load with a message naming the
// tensor or metadata field.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "quantize_checkpoint.hpp"
#include "strata/io/safetensors_writer.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/safetensors_writer.hpp"

namespace {

namespace fs = std::filesystem;
using strata::QuantSpec;
using strata::QuantType;
using strata::test::TempDir;

const fs::path kTiny = strata::test::shared_path("models/tinystories-656k");
const std::vector<std::int32_t> kPrompt = {1,   80, 147, 201,  282, 57, 400, 12,  999, 1500,
                                           33,  7,  2047, 640, 88,  321, 5,  1024, 77,  150};

QuantSpec spec(QuantType t, std::int64_t group = 32, bool asym = false) {
  QuantSpec q;
  q.enabled = true;
  q.type = t;
  q.group = group;
  q.asym = asym;
  return q;
}

strata::tools::QuantizeReport quantize(const fs::path& model, const fs::path& out, const QuantSpec& q,
                                       bool force = false, std::vector<std::string>* notes = nullptr) {
  strata::tools::QuantizeOptions o;
  o.model = model;
  o.out = out;
  o.spec = q;
  o.force = force;
  if (notes) o.on_note = [notes](const std::string& n) { notes->push_back(n); };
  return strata::tools::quantize_checkpoint(o);
}

std::shared_ptr<const strata::LanguageModel> load_at_load(const fs::path& dir, const QuantSpec& q,
                                                          strata::WeightType wt = strata::WeightType::F32) {
  strata::LoadOptions lo;
  lo.quant = q;
  return strata::load_causal_lm(dir, wt, lo);
}

// All prompt-position logits, then those of three decode steps (GEMM and GEMV paths).
std::vector<float> run(const std::shared_ptr<const strata::LanguageModel>& m, std::vector<std::int32_t> prompt) {
  const std::int32_t V = std::int32_t(m->config().vocab_size);
  for (auto& id : prompt) id %= V;
  strata::SessionOptions so;
  so.context = std::int64_t(prompt.size()) + 4;
  so.threads = 2;
  strata::Session s(m, so);
  const auto all = s.prefill_all(prompt);
  std::vector<float> out(all.begin(), all.end());
  for (std::int32_t id : {3, 17, 5}) {
    const auto l = s.step(id % V);
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string file_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<std::byte> tensor_bytes(const strata::io::Checkpoint& ck, const std::string& name) {
  const auto* t = ck.find(name);
  REQUIRE(t != nullptr);
  return {t->data, t->data + t->nbytes};
}

void check_same_tensor(const strata::io::Checkpoint& a, const strata::io::Checkpoint& b, const std::string& name) {
  INFO("tensor " << name);
  const auto* ta = a.find(name);
  const auto* tb = b.find(name);
  REQUIRE(ta != nullptr);
  REQUIRE(tb != nullptr);
  CHECK(ta->dtype == tb->dtype);
  CHECK(ta->shape == tb->shape);
  CHECK(tensor_bytes(a, name) == tensor_bytes(b, name));
}

// The projections of a checkpoint's blocks, as "model.layers.N.self_attn.q_proj", ...
std::vector<std::string> projections(std::int64_t layers) {
  std::vector<std::string> v;
  for (std::int64_t l = 0; l < layers; ++l)
    for (const char* p : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
      v.push_back("model.layers." + std::to_string(l) + "." + p);
  return v;
}

// Checks a written projection's tensors: codes, scales (and offsets) in the strata layout, no .weight.
void check_quantized_tensors(const strata::io::Checkpoint& out, const strata::io::Checkpoint& src,
                             const std::string& prefix, const QuantSpec& q) {
  INFO("projection " << prefix);
  const auto* w = src.find(prefix + ".weight");
  REQUIRE(w != nullptr);
  const std::int64_t N = w->shape[0], K = w->shape[1];
  CHECK(out.find(prefix + ".weight") == nullptr);
  const auto* codes = out.find(prefix + ".qcodes");
  const auto* scales = out.find(prefix + ".qscales");
  REQUIRE(codes != nullptr);
  REQUIRE(scales != nullptr);
  CHECK(codes->dtype == strata::DType::U8);
  CHECK(codes->shape == std::vector<std::int64_t>{N, q.type == QuantType::Q8 ? K : K / 2});
  CHECK(scales->dtype == strata::DType::F32);
  CHECK(scales->shape == std::vector<std::int64_t>{N, K / q.group});
  const auto* mins = out.find(prefix + ".qmins");
  CHECK((mins != nullptr) == q.asym);
  if (mins) CHECK(mins->shape == scales->shape);
}

// Rewrites the checkpoint in `src` (and its config.json) into `dst`, after
// `edit` has changed the tensor list or the metadata.
using Tensors = std::vector<strata::io::TensorToWrite>;
using Metadata = std::map<std::string, std::string>;
void rewrite(const fs::path& src, const fs::path& dst, const std::function<void(Tensors&, Metadata&)>& edit) {
  const auto ck = strata::io::Checkpoint::open(src);
  Tensors ts;
  for (const auto& name : ck.tensor_names()) {
    const auto* t = ck.find(name);
    ts.push_back({name, t->dtype, t->shape,
                  [t](std::byte* d, std::size_t n) { std::memcpy(d, t->data, std::min(n, t->nbytes)); }});
  }
  Metadata meta = ck.files().front()->metadata();
  edit(ts, meta);
  fs::create_directories(dst);
  strata::io::write_safetensors(dst / "model.safetensors", ts, meta);
  fs::copy_file(src / "config.json", dst / "config.json", fs::copy_options::overwrite_existing);
}

strata::io::TensorToWrite& tensor(Tensors& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return t;
  throw std::logic_error("test setup: no tensor " + name);
}

// The tensor with its bytes passed through `change` first.
void modify(Tensors& ts, const std::string& name, std::function<void(std::vector<std::byte>&)> change) {
  auto& t = tensor(ts, name);
  std::vector<std::byte> bytes(t.nbytes());
  t.fill(bytes.data(), bytes.size());
  change(bytes);
  t.fill = [bytes](std::byte* d, std::size_t n) { std::memcpy(d, bytes.data(), std::min(n, bytes.size())); };
}

void set_f32(std::vector<std::byte>& bytes, std::size_t i, float v) { std::memcpy(bytes.data() + 4 * i, &v, 4); }

void expect_load_error(const fs::path& dir, std::initializer_list<std::string> parts) {
  try {
    (void)strata::load_causal_lm(dir);
    FAIL("loading " << dir.string() << " did not throw");
  } catch (const strata::Error& e) {
    for (const auto& p : parts) CHECK_THAT(std::string(e.what()), Catch::Contains(p));
  }
}

template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL("no error");
  } catch (const strata::Error& e) {
    for (const auto& p : parts) CHECK_THAT(std::string(e.what()), Catch::Contains(p));
  }
}

}  // namespace

TEST_CASE("quantize tool: TinyStories quantized offline equals quantized at load, bit for bit", "[quantize]") {
  struct Case {
    QuantSpec q;
    double bits;  // per weight of the quantized projections
  };
  const std::vector<Case> cases = {{spec(QuantType::Q8), 9.0},
                                   {spec(QuantType::Q4, 32), 5.0},
                                   {spec(QuantType::Q4, 64), 4.5},
                                   {spec(QuantType::Q4, 32, true), 6.0},
                                   {spec(QuantType::FP4, 32), 5.0},
                                   {spec(QuantType::FP4, 128), 4.25}};
  const auto dense = run(strata::load_causal_lm(kTiny), kPrompt);
  const auto src = strata::io::Checkpoint::open(kTiny);
  for (const auto& c : cases) {
    INFO("format " << c.q.describe());
    TempDir tmp;
    const fs::path out = tmp / "q";
    const auto rep = quantize(kTiny, out, c.q);
    CHECK(rep.quantized == 14);  // 2 blocks x 7 projections; the tied head stays dense
    CHECK(rep.copied == 6);      // lm_head (the embedding), 4 block norms, the final norm
    CHECK(rep.bits_per_weight() == Approx(c.bits));
    CHECK(rep.written == out / "model.safetensors");
    CHECK(rep.bytes_out == fs::file_size(out / "model.safetensors"));
    CHECK(rep.bytes_in == fs::file_size(kTiny / "model.safetensors"));
    CHECK_FALSE(fs::exists(out / strata::tools::kQuantizePartialName));

    const auto offline = strata::load_causal_lm(out);  // no --quant: the metadata says how
    const auto at_load = load_at_load(kTiny, c.q);
    CHECK(offline->name() == "llama<f32, " + c.q.describe() + ">");
    CHECK(at_load->name() == offline->name());
    const auto got = run(offline, kPrompt);
    CHECK(bit_identical(got, run(at_load, kPrompt)));
    CHECK_FALSE(bit_identical(got, dense));  // it is quantized

    // The side files, byte for byte; the metadata; dense tensors bit for bit.
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json"}) {
      INFO(f);
      REQUIRE(fs::exists(out / f));
      CHECK(file_text(out / f) == file_text(kTiny / f));
      CHECK((fs::status(out / f).permissions() & fs::perms::owner_write) != fs::perms::none);
    }
    CHECK(rep.files_copied.size() == 5);
    const auto ck = strata::io::Checkpoint::open(out);
    const auto& meta = ck.files().front()->metadata();
    REQUIRE(meta.count("strata.quantization") == 1);
    CHECK(meta.at("strata.quantization") ==
          std::string(R"({"type":")") + strata::quant_type_name(c.q.type) + R"(","group":)" +
              std::to_string(c.q.group) + R"(,"asym":)" + (c.q.asym ? "true" : "false") + "}");
    CHECK(meta.at("format") == "pt");
    for (const char* name : {"lm_head.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
                             "model.layers.0.post_attention_layernorm.weight", "model.layers.1.input_layernorm.weight",
                             "model.layers.1.post_attention_layernorm.weight"})
      check_same_tensor(ck, src, name);
    for (const auto& p : projections(2)) check_quantized_tensors(ck, src, p, c.q);
    CHECK(ck.size() == 6 + 14 * (c.q.asym ? 3 : 2));
  }
}

TEST_CASE("quantize tool: --keep leaves the named projections as stored", "[quantize]") {
  TempDir tmp;
  QuantSpec q = spec(QuantType::Q4, 32);
  q.keep_dense = {"down_proj", "layers.1.self_attn.k_proj"};
  const auto rep = quantize(kTiny, tmp / "q", q);
  CHECK(rep.quantized == 11);
  CHECK(rep.copied == 9);
  const auto ck = strata::io::Checkpoint::open(tmp / "q");
  const auto src = strata::io::Checkpoint::open(kTiny);
  for (const char* kept : {"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "model.layers.1.self_attn.k_proj"}) {
    check_same_tensor(ck, src, std::string(kept) + ".weight");
    CHECK(ck.find(std::string(kept) + ".qcodes") == nullptr);
  }
  check_quantized_tensors(ck, src, "model.layers.0.self_attn.k_proj", q);
  check_quantized_tensors(ck, src, "model.layers.1.mlp.up_proj", q);
  CHECK(bit_identical(run(strata::load_causal_lm(tmp / "q"), kPrompt), run(load_at_load(kTiny, q), kPrompt)));
}

TEST_CASE("quantize tool: an untied BF16 checkpoint with --quant-head", "[quantize]") {
  // hidden 64, intermediate 80: down_proj (K = 80) is no multiple of the group and stays BF16.
  const fs::path model = strata::test::fixture_path("llama/bf16_weights");
  const auto src = strata::io::Checkpoint::open(model);
  for (const QuantSpec& base : {spec(QuantType::Q4, 32, true), spec(QuantType::Q8), spec(QuantType::FP4, 64)}) {
    QuantSpec q = base;
    q.quantize_head = true;
    INFO("format " << q.describe() << " +head");
    TempDir tmp;
    const auto rep = quantize(model, tmp / "q", q);
    CHECK(rep.quantized == 2 * 6 + 1);
    const auto ck = strata::io::Checkpoint::open(tmp / "q");
    check_quantized_tensors(ck, src, "lm_head", q);
    for (const char* dense : {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight",
                              "model.embed_tokens.weight", "model.norm.weight"}) {
      check_same_tensor(ck, src, dense);
      CHECK(ck.find(dense)->dtype == strata::DType::BF16);
    }
    for (auto wt : {strata::WeightType::F32, strata::WeightType::BF16}) {
      INFO("weights " << (wt == strata::WeightType::F32 ? "f32" : "bf16"));
      CHECK(bit_identical(run(strata::load_causal_lm(tmp / "q", wt), kPrompt),
                          run(load_at_load(model, q, wt), kPrompt)));
    }
    // Without --quant-head the head is copied.
    TempDir tmp2;
    quantize(model, tmp2 / "q", base);
    const auto ck2 = strata::io::Checkpoint::open(tmp2 / "q");
    check_same_tensor(ck2, src, "lm_head.weight");
    CHECK(bit_identical(run(strata::load_causal_lm(tmp2 / "q"), kPrompt), run(load_at_load(model, base), kPrompt)));
  }
}

TEST_CASE("quantize tool: sharded input, q/k/v biases, a tied head with --quant-head", "[quantize]") {
  SECTION("sharded: one model.safetensors out") {
    // hidden 48: only down_proj (K = 64) has whole groups.
    const fs::path model = strata::test::fixture_path("llama/sharded");
    TempDir tmp;
    const auto q = spec(QuantType::Q8);
    const auto rep = quantize(model, tmp / "q", q);
    CHECK(rep.quantized == 2);
    CHECK(fs::exists(tmp / "q" / "model.safetensors"));
    CHECK_FALSE(fs::exists(tmp / "q" / "model.safetensors.index.json"));
    CHECK(bit_identical(run(strata::load_causal_lm(tmp / "q"), kPrompt), run(load_at_load(model, q), kPrompt)));
  }
  SECTION("qwen2 biases copied; a tied head stays dense, with a note") {
    const fs::path model = strata::test::fixture_path("llama/qwen2_bias");
    TempDir tmp;
    QuantSpec q = spec(QuantType::FP4, 32);
    q.quantize_head = true;
    std::vector<std::string> notes;
    const auto rep = quantize(model, tmp / "q", q, false, &notes);
    CHECK(rep.quantized == 12);  // intermediate 72: down_proj stays dense
    REQUIRE(notes.size() == 1);
    CHECK_THAT(notes[0], Catch::Contains("tied"));
    const auto ck = strata::io::Checkpoint::open(tmp / "q");
    const auto src = strata::io::Checkpoint::open(model);
    for (const char* b : {"model.layers.0.self_attn.q_proj.bias", "model.layers.1.self_attn.v_proj.bias"})
      check_same_tensor(ck, src, b);
    CHECK(ck.find("lm_head.qcodes") == nullptr);
    q.quantize_head = false;  // what the file holds: the tied head is the (dense) embedding
    const auto m = strata::load_causal_lm(tmp / "q");
    CHECK(m->name() == "qwen2<f32, fp4 g32>");
    CHECK(bit_identical(run(m, kPrompt), run(load_at_load(model, q), kPrompt)));
  }
}

TEST_CASE("quantize tool: refuses what it cannot quantize, and leaves no partial file", "[quantize]") {
  TempDir tmp;
  // A private copy of the model, so a faulty check could never write into ../shared.
  const fs::path model = tmp / "model";
  fs::create_directories(model);
  for (const auto& e : fs::directory_iterator(kTiny)) {
    fs::copy_file(e.path(), model / e.path().filename());
    fs::permissions(model / e.path().filename(), fs::perms::owner_write, fs::perm_options::add);
  }
  const auto q4 = spec(QuantType::Q4);

  SECTION("the output folder is the model folder") {
    expect_error([&] { quantize(model, model, q4); }, {"is the --model folder"});
    expect_error([&] { quantize(model, model / ".", q4, true); }, {"is the --model folder"});
    CHECK(file_text(model / "model.safetensors") == file_text(kTiny / "model.safetensors"));
  }
  SECTION("a non-empty output folder needs force") {
    fs::create_directories(tmp / "out");
    strata::test::write_text(tmp / "out" / "model.safetensors", "old");
    expect_error([&] { quantize(model, tmp / "out", q4); }, {"not empty", "--force"});
    CHECK(file_text(tmp / "out" / "model.safetensors") == "old");
    quantize(model, tmp / "out", q4, true);
    CHECK(strata::load_causal_lm(tmp / "out")->name() == "llama<f32, q4 g32>");
    fs::permissions(tmp / "out" / "config.json", fs::perms::owner_read, fs::perm_options::replace);
    quantize(model, tmp / "out", spec(QuantType::Q8), true);  // over its own earlier output
    CHECK(strata::load_causal_lm(tmp / "out")->name() == "llama<f32, q8 g32>");
    CHECK(file_text(tmp / "out" / "config.json") == file_text(model / "config.json"));
  }
  SECTION("the output is a file") {
    strata::test::write_text(tmp / "file", "x");
    expect_error([&] { quantize(model, tmp / "file", q4); }, {"not a directory"});
  }
  SECTION("not a model folder") {
    fs::create_directories(tmp / "empty");
    expect_error([&] { quantize(tmp / "empty", tmp / "out", q4); }, {"config.json: not found"});
    expect_error([&] { quantize(tmp / "nonexistent", tmp / "out", q4); }, {"no such directory"});
    fs::copy_file(model / "config.json", tmp / "empty" / "config.json");
    expect_error([&] { quantize(tmp / "empty", tmp / "out", q4); }, {"model.safetensors"});
    CHECK_FALSE(fs::exists(tmp / "out"));
  }
  SECTION("an already quantized checkpoint") {
    quantize(model, tmp / "q8", spec(QuantType::Q8));
    expect_error([&] { quantize(tmp / "q8", tmp / "again", q4); }, {"already quantized", "q8 g32"});
    // GPTQ / AWQ: a quantization_config in config.json.
    auto cfg = strata::test::read_json((model / "config.json").string());
    cfg["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", 128}};
    strata::test::write_text(model / "config.json", cfg.dump());
    expect_error([&] { quantize(model, tmp / "again", q4); }, {"already quantized", "gptq"});
    CHECK_FALSE(fs::exists(tmp / "again"));
  }
  SECTION("format parameters") {
    expect_error([&] { quantize(model, tmp / "o", spec(QuantType::Q8, 64)); }, {"q8 uses groups of 32"});
    expect_error([&] { quantize(model, tmp / "o", spec(QuantType::FP4, 32, true)); }, {"asymmetric"});
    expect_error([&] { quantize(model, tmp / "o", spec(QuantType::Q4, 48)); }, {"32, 64 or 128"});
  }
  SECTION("a non-finite weight: an error naming the tensor, and no model.safetensors") {
    rewrite(model, tmp / "nan", [](Tensors& ts, Metadata&) {
      modify(ts, "model.layers.1.mlp.up_proj.weight",
             [](auto& b) { set_f32(b, 1000, std::numeric_limits<float>::quiet_NaN()); });
    });
    fs::create_directories(tmp / "out");
    expect_error([&] { quantize(tmp / "nan", tmp / "out", q4); },
                 {"model.layers.1.mlp.up_proj.weight", "non-finite", "row 7, column 104"});
    CHECK(fs::is_empty(tmp / "out"));  // neither model.safetensors nor the partial file
  }
}

TEST_CASE("quantize tool: tampered strata checkpoints are refused at load, naming the tensor or field", "[quantize]") {
  TempDir tmp;
  const fs::path q4 = tmp / "q4", q8 = tmp / "q8";
  quantize(kTiny, q4, spec(QuantType::Q4, 32, true));
  quantize(kTiny, q8, spec(QuantType::Q8));
  REQUIRE(strata::load_causal_lm(q4)->name() == "llama<f32, q4 asym g32>");
  const std::string qp = "model.layers.0.self_attn.q_proj";
  int n = 0;
  const auto bad = [&](const fs::path& base, const std::function<void(Tensors&, Metadata&)>& edit) {
    const fs::path dir = tmp / ("bad" + std::to_string(n++));
    rewrite(base, dir, edit);
    return dir;
  };
  const auto meta_value = [&](const fs::path& base, std::string value) {
    return bad(base, [value](Tensors&, Metadata& m) { m["strata.quantization"] = value; });
  };

  SECTION("tensors") {
    // The untouched copy loads: the rewriting itself is faithful.
    CHECK(strata::load_causal_lm(bad(q4, [](Tensors&, Metadata&) {}))->name() == "llama<f32, q4 asym g32>");
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) { tensor(ts, qp + ".qcodes").shape = {128, 32}; }),
                      {qp + ".qcodes", "has shape [128, 32], expected [128, 64]"});
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) { tensor(ts, qp + ".qcodes").shape = {128, 128}; }),
                      {qp + ".qcodes", "has shape [128, 128], expected [128, 64]"});
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) {
                        auto& t = tensor(ts, qp + ".qcodes");
                        t.dtype = strata::DType::F32;
                        t.shape = {128, 64};
                      }),
                      {qp + ".qcodes", "is F32, expected U8"});
    expect_load_error(bad(q4, [](Tensors& ts, Metadata&) {
                        modify(ts, "model.layers.1.mlp.up_proj.qscales",
                               [](auto& b) { set_f32(b, 5, std::numeric_limits<float>::quiet_NaN()); });
                      }),
                      {"model.layers.1.mlp.up_proj.qscales", "non-finite scale"});
    expect_load_error(bad(q4, [](Tensors& ts, Metadata&) {
                        modify(ts, "model.layers.0.mlp.gate_proj.qmins",
                               [](auto& b) { set_f32(b, 0, -std::numeric_limits<float>::infinity()); });
                      }),
                      {"model.layers.0.mlp.gate_proj.qmins", "non-finite scale"});
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) { tensor(ts, qp + ".qscales").dtype = strata::DType::I32; }),
                      {qp + ".qscales", "is I32, expected a float type"});
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) { std::erase_if(ts, [&](auto& t) { return t.name == qp + ".qmins"; }); }),
                      {qp + ".qmins", "is missing"});
    expect_load_error(bad(q4, [&](Tensors& ts, Metadata&) { std::erase_if(ts, [&](auto& t) { return t.name == qp + ".qcodes"; }); }),
                      {qp + ".qcodes", "is missing"});
    expect_load_error(bad(q8, [](Tensors& ts, Metadata&) {
                        modify(ts, "model.layers.0.self_attn.k_proj.qcodes", [](auto& b) { b[77] = std::byte{0}; });
                      }),
                      {"model.layers.0.self_attn.k_proj.qcodes", "q8 code 0 at index 77"});
    // The metadata says q8 over 4-bit codes: the codes' shape is wrong for it.
    expect_load_error(bad(q4, [](Tensors&, Metadata& m) { m["strata.quantization"] = R"({"type":"q8","group":32,"asym":false})"; }),
                      {qp + ".qcodes", "expected [128, 128]"});
  }
  SECTION("metadata") {
    const std::string key = "__metadata__ \"strata.quantization\"";
    expect_load_error(meta_value(q4, R"({"type":"q3","group":32,"asym":false})"), {key, "type \"q3\" is not one of"});
    expect_load_error(meta_value(q4, R"({"type":4,"group":32,"asym":false})"), {key, "type 4 is not one of"});
    expect_load_error(meta_value(q4, R"({"type":"q4","group":48,"asym":false})"), {key, "group 48 is not 32, 64 or 128"});
    expect_load_error(meta_value(q4, R"({"type":"q4","group":"32","asym":false})"), {key, "is not an integer"});
    expect_load_error(meta_value(q8, R"({"type":"q8","group":64,"asym":false})"), {key, "q8 uses groups of 32"});
    expect_load_error(meta_value(q4, R"({"type":"fp4","group":32,"asym":true})"), {key, "only q4 has an asymmetric variant"});
    expect_load_error(meta_value(q4, R"({"type":"q4","group":32,"asym":"yes"})"), {key, "is not true or false"});
    expect_load_error(meta_value(q4, R"({"type":"q4","group":32})"), {key, "field 'asym' is missing"});
    expect_load_error(meta_value(q4, R"(["q4",32,true])"), {key, "is not a JSON object"});
    expect_load_error(meta_value(q4, R"("q4")"), {key, "is not a JSON object"});
    expect_load_error(meta_value(q4, R"({"type":"q4",)"), {key, "not valid JSON"});
  }
  SECTION("metadata and a quantization_config both") {
    auto cfg = strata::test::read_json((q4 / "config.json").string());
    cfg["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", 32}};
    strata::test::write_text(q4 / "config.json", cfg.dump());
    expect_load_error(q4, {"quantization_config", "strata.quantization", "only one may describe"});
  }
}
