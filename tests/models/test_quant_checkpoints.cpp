// GPTQ and AWQ checkpoints in the layouts Hugging Face publishes, written by
// our own float64 reference packer (tests/reference/make_quant_fixtures.py):
// the unpacked, dequantized weights equal the reference bit for bit; the
// whole model follows the float64 reference forward of the dequantized
// weights (within the error of int8 activations); hostile variants of the
// tensors and of quantization_config give errors that name what is wrong.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include <catch2/catch.hpp>

#include "strata/io/safetensors.hpp"
#include "strata/kernels/softmax.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/kernel_targets.hpp"
#include "support/safetensors_writer.hpp"

namespace {

namespace fs = std::filesystem;
using strata::test::TensorSpec;

const std::vector<std::string> kCases = {"gptq-g128", "gptq-g128-actorder", "awq-g128"};
const std::vector<std::string> kDequantLayers = {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"};

std::string case_dir(const std::string& name) { return strata::test::fixture_path("quant/" + name); }

// Every tensor of a file as raw bytes, to write back (changed) elsewhere.
std::vector<TensorSpec> read_all(const fs::path& file) {
  const auto ck = strata::io::Checkpoint::open_files({file});
  std::vector<TensorSpec> out;
  for (const auto& name : ck.tensor_names()) {
    const auto* t = ck.find(name);
    out.push_back({name, std::string(strata::dtype_name(t->dtype)), t->shape,
                   std::vector<std::byte>(t->data, t->data + t->nbytes)});
  }
  return out;
}

TensorSpec& tensor(std::vector<TensorSpec>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  return ts.front();
}

void set_i32(TensorSpec& t, std::size_t i, std::int32_t v) {
  for (int b = 0; b < 4; ++b) t.data[4 * i + std::size_t(b)] = std::byte((std::uint32_t(v) >> (8 * b)) & 0xff);
}

// A copy of a fixture case with its tensors and config.json changed.
struct Variant {
  strata::test::TempDir dir;
  Variant(const std::string& name, const std::function<void(std::vector<TensorSpec>&)>& edit_tensors,
          const std::function<void(nlohmann::json&)>& edit_config) {
    auto ts = read_all(case_dir(name) + "/model.safetensors");
    if (edit_tensors) edit_tensors(ts);
    strata::test::write_safetensors(dir / "model.safetensors", ts, {{"format", "pt"}});
    auto cfg = strata::test::read_json(case_dir(name) + "/config.json");
    if (edit_config) edit_config(cfg);
    std::ofstream(dir / "config.json") << cfg.dump(2);
  }
  std::string path() const { return dir.path().string(); }
};

std::string load_error(const std::string& dir) {
  try {
    (void)strata::load_causal_lm(dir);
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("GPTQ and AWQ weights dequantize bit for bit as the reference packer's", "[quant][models]") {
  for (const auto& name : kCases) {
    INFO(name);
    const auto cfg = strata::load_model_config(case_dir(name));
    REQUIRE(cfg.quant.enabled);
    const auto ck = strata::io::Checkpoint::open(case_dir(name));
    const auto expected = strata::io::Checkpoint::open_files({case_dir(name) + "/expected.safetensors"});
    for (const auto& layer : kDequantLayers) {
      INFO(layer);
      const auto* want_t = expected.find(layer + ".dequantized");
      REQUIRE(want_t);
      const auto want = strata::io::to_f32(*want_t);
      const std::int64_t N = want_t->shape[0], K = want_t->shape[1];
      strata::Linear<strata::Quantized<float>> lin;
      lin.load(ck, layer, N, K, false, cfg.quant);
      REQUIRE(lin.quantized());
      std::vector<float> got;
      lin.dequantize(got);
      REQUIRE(got.size() == want.size());
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < got.size(); ++i)
        mismatches += std::memcmp(&got[i], &want[i], sizeof(float)) != 0;
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("GPTQ and AWQ models follow the float64 reference of their dequantized weights", "[quant][models]") {
  const std::string target = GENERATE(from_range(strata::test::kernel_targets()));
  const strata::test::ScopedKernelTarget use(target);
  for (const auto& name : kCases) {
    INFO(name << ", kernel target " << target);
    const auto exp = strata::test::read_json(case_dir(name) + "/expected.json");
    const auto model = strata::load_causal_lm(case_dir(name));
    CHECK_THAT(model->name(), Catch::Contains(name.substr(0, 4) == "gptq" ? "gptq q4 asym g128" : "awq q4 asym g128"));
    const auto V = std::size_t(model->config().vocab_size);
    const auto prompt = exp["prompt_ids"].get<std::vector<std::int32_t>>();
    const auto decode = exp["decode_ids"].get<std::vector<std::int32_t>>();
    strata::SessionOptions so;
    so.context = std::int64_t(prompt.size() + decode.size());
    so.threads = 2;
    strata::Session s(model, so);
    const auto all = s.prefill_all(prompt);
    // Activations are rounded to int8 per block of 32 (error ≤ max|x|/254 per
    // value), so logits differ from the float64 forward by a small fraction
    // of their spread (measured 0.94-1.17% on these random models, the same
    // on every target); the weights themselves are exact (test above).
    double worst = 0, spread = 0;
    for (std::size_t p = 0; p < prompt.size(); ++p)
      for (std::size_t v = 0; v < V; ++v) {
        const double want = exp["prompt_logits"][p][v].get<double>();
        worst = std::max(worst, std::abs(double(all[p * V + v]) - want));
        spread = std::max(spread, std::abs(want));
      }
    INFO("worst |logit error| " << worst << " of max |logit| " << spread);
    CHECK(worst < 0.02 * spread);
    // The greedy continuation (reference margins ≥ 0.04) survives.
    std::vector<std::int32_t> ids;
    ids.push_back(std::int32_t(strata::kernels::argmax(all.data() + (prompt.size() - 1) * V, std::int64_t(V))));
    for (std::size_t k = 0; k + 1 < decode.size(); ++k) {
      const auto logits = s.step(ids.back());
      ids.push_back(std::int32_t(strata::kernels::argmax(logits.data(), std::int64_t(V))));
    }
    CHECK(ids == decode);
  }
}

TEST_CASE("hostile GPTQ / AWQ checkpoints and configs give errors naming the fault", "[quant][models][robustness]") {
  using J = nlohmann::json;
  const std::string q = "model.layers.0.self_attn.q_proj";
  struct Case {
    std::string fixture, expect;
    std::function<void(std::vector<TensorSpec>&)> tensors;
    std::function<void(J&)> config;
  };
  const std::vector<Case> cases = {
      {"gptq-g128", "quant_method 'bitsandbytes' is not supported (supported: gptq, awq)", nullptr,
       [](J& c) { c["quantization_config"]["quant_method"] = "bitsandbytes"; }},
      {"gptq-g128", "bits = 8 is not supported (supported: 4)", nullptr,
       [](J& c) { c["quantization_config"]["bits"] = 8; }},
      {"gptq-g128", "group_size = 48 is not supported", nullptr,
       [](J& c) { c["quantization_config"]["group_size"] = 48; }},
      {"gptq-g128", "group_size = -1 is not supported", nullptr,
       [](J& c) { c["quantization_config"]["group_size"] = -1; }},
      {"gptq-g128", "checkpoint_format 'gptq_v2' is not supported", nullptr,
       [](J& c) { c["quantization_config"]["checkpoint_format"] = "gptq_v2"; }},
      {"awq-g128", "version 'gemv' is not supported (supported: gemm)", nullptr,
       [](J& c) { c["quantization_config"]["version"] = "gemv"; }},
      {"awq-g128", "zero_point false is not supported", nullptr,
       [](J& c) { c["quantization_config"]["zero_point"] = false; }},
      {"gptq-g128", "quantization_config: required field 'quant_method' is missing", nullptr,
       [](J& c) { c["quantization_config"].erase("quant_method"); }},
      {"gptq-g128", "\"" + q + ".qweight\" has shape [16, 64], expected [16, 128]",
       [&](std::vector<TensorSpec>& ts) {
         auto& t = tensor(ts, q + ".qweight");
         t.shape = {16, 64};
         t.data.resize(16 * 64 * 4);
       },
       nullptr},
      {"gptq-g128", "\"" + q + ".qweight\" is F32, expected I32",
       [&](std::vector<TensorSpec>& ts) { tensor(ts, q + ".qweight").dtype = "F32"; }, nullptr},
      {"gptq-g128", "\"" + q + ".qzeros\" is missing",
       [&](std::vector<TensorSpec>& ts) { std::erase_if(ts, [&](const TensorSpec& t) { return t.name == q + ".qzeros"; }); },
       nullptr},
      {"gptq-g128", "\"" + q + ".qweight\" is missing from the checkpoint",
       [&](std::vector<TensorSpec>& ts) {
         std::erase_if(ts, [&](const TensorSpec& t) { return t.name.rfind(q + ".", 0) == 0; });
       },
       nullptr},
      {"gptq-g128", "\"" + q + ".scales\" holds a non-finite scale",
       [&](std::vector<TensorSpec>& ts) {
         auto& t = tensor(ts, q + ".scales");
         t.data[6] = std::byte(0x00);
         t.data[7] = std::byte(0x7c);  // f16 +inf
       },
       nullptr},
      {"gptq-g128", q + ".g_idx: g_idx[5] = 7 is out of range [0, 1)",
       [&](std::vector<TensorSpec>& ts) { set_i32(tensor(ts, q + ".g_idx"), 5, 7); }, nullptr},
      {"gptq-g128-actorder", "model.layers.0.mlp.down_proj.g_idx: group 0 has 129 columns, expected 128",
       [&](std::vector<TensorSpec>& ts) {
         auto& t = tensor(ts, "model.layers.0.mlp.down_proj.g_idx");
         for (std::size_t i = 0; i < 256; ++i) {  // move one column of group 1 to group 0
           std::uint32_t v = 0;
           for (int b = 3; b >= 0; --b) v = (v << 8) | std::to_integer<std::uint32_t>(t.data[4 * i + std::size_t(b)]);
           if (v == 1) {
             set_i32(t, i, 0);
             break;
           }
         }
       },
       nullptr},
      {"gptq-g128-actorder", q + ".g_idx: missing, and desc_act is true",
       [&](std::vector<TensorSpec>& ts) { std::erase_if(ts, [&](const TensorSpec& t) { return t.name == q + ".g_idx"; }); },
       nullptr},
      {"awq-g128", "\"" + q + ".qweight\" has shape [128, 8], expected [128, 16]",
       [&](std::vector<TensorSpec>& ts) {
         auto& t = tensor(ts, q + ".qweight");
         t.shape = {128, 8};
         t.data.resize(128 * 8 * 4);
       },
       nullptr},
  };
  for (const auto& c : cases) {
    INFO(c.fixture << ": expecting " << c.expect);
    const Variant v(c.fixture, c.tensors, c.config);
    CHECK_THAT(load_error(v.path()), Catch::Contains(c.expect));
  }
}

TEST_CASE("a quantized checkpoint cannot be quantized again at load", "[quant][models]") {
  strata::LoadOptions lo;
  lo.quant.enabled = true;
  lo.quant.type = strata::QuantType::Q8;
  CHECK_THROWS_WITH(strata::load_causal_lm(case_dir("gptq-g128"), strata::WeightType::F32, lo),
                    Catch::Contains("already quantized (gptq q4 asym g128)"));
}

TEST_CASE("a non-finite weight cannot be quantized at load", "[quant][models][robustness]") {
  const std::string src = strata::test::fixture_path("llama/mqa");
  auto ts = read_all(src + "/model.safetensors");
  auto& t = tensor(ts, "model.layers.0.mlp.up_proj.weight");
  REQUIRE(t.dtype == "F32");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(t.data.data() + 4 * 3, &nan, 4);  // element [0, 3]
  strata::test::TempDir dir;
  strata::test::write_safetensors(dir / "model.safetensors", ts, {{"format", "pt"}});
  fs::copy_file(src + "/config.json", dir / "config.json");
  strata::LoadOptions lo;
  lo.quant.enabled = true;
  lo.quant.type = strata::QuantType::Q4;
  CHECK_THROWS_WITH(strata::load_causal_lm(dir.path(), strata::WeightType::F32, lo),
                    Catch::Contains("tensor \"model.layers.0.mlp.up_proj.weight\" holds a non-finite value at [0, 3]"));
  CHECK_NOTHROW(strata::load_causal_lm(dir.path()));  // dense, it loads (and computes NaN, as PyTorch would)
}
