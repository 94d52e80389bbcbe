// ViT and DeiT against the float64 reference (tests/reference/vit_ref.py,
// fixtures tests/fixtures/vision/): random HF-layout checkpoints with and
// without the "vit." / "deit." prefixes, pooler and classifier heads, batches
// of several images, and images of other sizes than the config's (position
// embeddings interpolated, a remainder of pixels dropped).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "strata/models/vit.hpp"
#include "support/kernel_targets.hpp"
#include "support/reference_json.hpp"

namespace fs = std::filesystem;

namespace {

using strata::test::max_diff;
const auto read_json = strata::test::read_json_file;

const fs::path kDir = fs::path(STRATA_TEST_FIXTURES) / "vision";
constexpr double kTol = 1e-4;

// The fixtures' pixel_values (make_vision_fixtures.py: pixels()).
strata::PixelBatch pixels(double seed, std::int64_t n, std::int64_t h, std::int64_t w) {
  strata::PixelBatch b;
  std::vector<float> img(std::size_t(3 * h * w));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          img[std::size_t((c * h + y) * w + x)] = float(
              2.0 * std::sin(seed + 1.3 * double(i) + 0.7 * double(c) + 0.13 * double(y) + 0.29 * double(x) +
                             0.011 * double(x) * double(y)));
    b.add(img, 3, h, w);
  }
  return b;
}

void check_case(const std::string& name, const strata::VisionModel& model, int threads) {
  INFO(name << " " << model.name() << ", " << threads << " threads");
  const auto ref = read_json(kDir / name / "reference.json");
  const std::int64_t H = model.config().blocks.hidden_size;
  strata::ThreadPool pool(threads);
  for (const auto& b : ref["batches"]) {
    const auto batch = pixels(b["seed"].get<double>(), b["count"].get<std::int64_t>(), b["height"].get<std::int64_t>(),
                              b["width"].get<std::int64_t>());
    INFO(batch.count << " images " << batch.height << "x" << batch.width);
    strata::VisionWorkspace ws;
    model.forward(batch, ws, pool);
    REQUIRE(ws.tokens_per_image == b["tokens"].get<std::int64_t>());
    double worst = 0;
    for (std::int64_t i = 0; i < batch.count; ++i)
      worst = std::max(worst, max_diff(ws.hidden(i, 0, H), b["last_hidden_state"][std::size_t(i)]));
    CHECK(worst < kTol);
    if (b.contains("pooler_output")) {
      REQUIRE(model.has_pooler());
      model.pooler(batch, ws, pool);
      for (std::int64_t i = 0; i < batch.count; ++i)
        CHECK(max_diff(ws.enc.pooled.data() + i * H, b["pooler_output"][std::size_t(i)]) < kTol);
    }
    if (b.contains("logits")) {
      REQUIRE(model.has_classifier());
      model.classify(batch, ws, pool);
      const std::size_t L = model.labels().size();
      REQUIRE(ws.enc.logits.size() == L * std::size_t(batch.count));
      for (std::int64_t i = 0; i < batch.count; ++i)
        CHECK(max_diff(ws.enc.logits.data() + std::size_t(i) * L, b["logits"][std::size_t(i)]) < kTol);
    }
  }
}

const char* const kCases[] = {"vit-cls", "vit-model", "deit-distilled", "deit-cls"};

// Token reduction: the "merged" (ToMe, vit_ref.forward_tome) or "pruned"
// (EViT, vit_ref.forward_evit) batches of a fixture.
void check_reduced(const std::string& name, const char* kind, const strata::VisionModel& model, int threads) {
  INFO(name << " " << kind << ", " << threads << " threads");
  const auto ref = read_json(kDir / name / "reference.json");
  REQUIRE(ref.contains(kind));
  const std::int64_t H = model.config().blocks.hidden_size;
  strata::ThreadPool pool(threads);
  for (const auto& b : ref[kind]) {
    const auto batch = pixels(b["seed"].get<double>(), b["count"].get<std::int64_t>(), b["height"].get<std::int64_t>(),
                              b["width"].get<std::int64_t>());
    strata::TokenReduction reduce;
    if (b.contains("merge")) reduce.merge = b["merge"].get<std::int64_t>();
    if (b.contains("keep_rate")) reduce.keep_rate = b["keep_rate"].get<double>();
    INFO(batch.count << " images " << batch.height << "x" << batch.width << ", r = " << reduce.merge << ", keep rate "
                     << reduce.keep_rate);
    strata::VisionWorkspace ws;
    model.classify(batch, ws, pool, reduce);
    REQUIRE(ws.tokens_per_image == b["tokens"].get<std::int64_t>());
    double worst = 0;
    for (std::int64_t i = 0; i < batch.count; ++i)
      worst = std::max(worst, max_diff(ws.hidden(i, 0, H), b["last_hidden_state"][std::size_t(i)]));
    CHECK(worst < kTol);
    const std::size_t L = model.labels().size();
    for (std::int64_t i = 0; i < batch.count; ++i)
      CHECK(max_diff(ws.enc.logits.data() + std::size_t(i) * L, b["logits"][std::size_t(i)]) < kTol);
  }
}

// A copy of a fixture with config.json edited and tensors dropped (by name suffix).
fs::path edited_copy(const std::string& name, const std::string& tag, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path src = kDir / name;
  const fs::path dst = fs::temp_directory_path() / ("strata-vision-" + name + "-" + tag);
  fs::remove_all(dst);
  fs::create_directories(dst);
  fs::copy_file(src / "model.safetensors", dst / "model.safetensors");
  nlohmann::json cfg = read_json(src / "config.json");
  edit(cfg);
  std::ofstream(dst / "config.json") << cfg.dump(2);
  return dst;
}

std::string load_error(const fs::path& dir) {
  try {
    strata::load_vision_model(dir);
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("ViT and DeiT match the float64 reference on every kernel target", "[vision]") {
  for (const auto& target : strata::test::kernel_targets()) {
    strata::test::ScopedKernelTarget scope(target);
    INFO("target " << target);
    for (const char* name : kCases) check_case(name, *strata::load_vision_model(kDir / name), 2);
  }
  for (const char* name : kCases) check_case(name, *strata::load_vision_model(kDir / name), 1);
}

TEST_CASE("token merging (ToMe) matches the float64 reference on every kernel target", "[vision][tome]") {
  for (const auto& target : strata::test::kernel_targets()) {
    strata::test::ScopedKernelTarget scope(target);
    INFO("target " << target);
    for (const char* name : {"vit-cls", "deit-distilled"})
      check_reduced(name, "merged", *strata::load_vision_model(kDir / name), 2);
  }
  for (const char* name : {"vit-cls", "deit-distilled"})
    check_reduced(name, "merged", *strata::load_vision_model(kDir / name), 1);
  // r = 0 is the unmerged model, bit for bit; a workspace used with merging serves an unmerged pass after it.
  const auto model = strata::load_vision_model(kDir / "vit-cls");
  strata::ThreadPool pool(2);
  strata::VisionWorkspace a, b;
  const auto batch = pixels(0.0, 2, 32, 32);
  model->classify(batch, a, pool);
  model->classify(batch, b, pool, strata::TokenReduction{5});
  CHECK(b.tokens_per_image < a.tokens_per_image);
  model->classify(batch, b, pool, strata::TokenReduction{0});
  CHECK(b.tokens_per_image == a.tokens_per_image);
  CHECK(a.enc.logits == b.enc.logits);
  CHECK_THROWS_WITH(model->classify(batch, b, pool, strata::TokenReduction{-1}), Catch::Contains("negative"));
}

TEST_CASE("token pruning (EViT) matches the float64 reference on every kernel target", "[vision][evit]") {
  for (const auto& target : strata::test::kernel_targets()) {
    strata::test::ScopedKernelTarget scope(target);
    INFO("target " << target);
    for (const char* name : {"vit-cls", "deit-distilled"})
      check_reduced(name, "pruned", *strata::load_vision_model(kDir / name), 2);
  }
  for (const char* name : {"vit-cls", "deit-distilled"})
    check_reduced(name, "pruned", *strata::load_vision_model(kDir / name), 1);
  const auto model = strata::load_vision_model(kDir / "vit-cls");
  strata::ThreadPool pool(1);
  strata::VisionWorkspace ws;
  const auto batch = pixels(0.0, 1, 32, 32);
  CHECK_THROWS_WITH(model->classify(batch, ws, pool, strata::TokenReduction{0, 0.0}), Catch::Contains("not in (0, 1]"));
  CHECK_THROWS_WITH(model->classify(batch, ws, pool, strata::TokenReduction{2, 0.5}), Catch::Contains("one at a time"));
  std::vector<float> full;
  model->classify(batch, ws, pool);
  full = ws.enc.logits;
  model->classify(batch, ws, pool, strata::TokenReduction{0, 1.0});  // keep rate 1: the published model
  CHECK(ws.enc.logits == full);
}

TEST_CASE("ViT heads, prefixes and labels load as the task models store them", "[vision]") {
  const auto cls = strata::load_vision_model(kDir / "vit-cls");
  CHECK(cls->has_classifier());
  CHECK_FALSE(cls->has_pooler());
  CHECK(cls->labels() == std::vector<std::string>{"cat", "dog", "bird"});
  CHECK(cls->config().prefix_tokens == 1);
  const auto model = strata::load_vision_model(kDir / "vit-model");
  CHECK(model->has_pooler());
  CHECK_FALSE(model->has_classifier());
  const auto deit = strata::load_vision_model(kDir / "deit-distilled");
  CHECK(deit->config().prefix_tokens == 2);
  CHECK(deit->labels().size() == 4);
  CHECK(deit->name().rfind("deit<f32", 0) == 0);
  strata::ThreadPool pool(1);
  strata::VisionWorkspace ws;
  const auto batch = pixels(0.0, 1, 24, 24);
  CHECK_THROWS_WITH(model->classify(batch, ws, pool), Catch::Contains("no image-classification head"));
  model->forward(batch, ws, pool);
  CHECK_THROWS_WITH(cls->pooler(batch, ws, pool), Catch::Contains("no pooler"));
}

TEST_CASE("vision models: bf16 dot products stay near f32", "[vision]") {
  strata::LoadOptions opt;
  opt.compute = strata::Compute::BF16;
  const auto f32 = strata::load_vision_model(kDir / "deit-distilled");
  const auto b16 = strata::load_vision_model(kDir / "deit-distilled", strata::WeightType::F32, opt);
  CHECK(b16->name().find("bf16 dot") != std::string::npos);
  strata::ThreadPool pool(2);
  strata::VisionWorkspace a, b;
  const auto batch = pixels(5.0, 2, 32, 32);
  f32->classify(batch, a, pool);
  b16->classify(batch, b, pool);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < a.enc.logits.size(); ++i) {
    worst = std::max(worst, double(std::abs(a.enc.logits[i] - b.enc.logits[i])));
    scale = std::max(scale, double(std::abs(a.enc.logits[i])));
  }
  CHECK(worst > 0);              // a different arithmetic, not the f32 path
  CHECK(worst < 0.03 * scale);  // bf16 inputs: about 3 significant digits
}

TEST_CASE("vision bad input: channels, sizes and inconsistent batches are one-line errors", "[vision]") {
  const auto model = strata::load_vision_model(kDir / "vit-cls");
  strata::ThreadPool pool(1);
  strata::VisionWorkspace ws;
  CHECK_THROWS_WITH(model->forward(pixels(0.0, 1, 7, 32), ws, pool), Catch::Contains("at least one 8x8 patch"));
  strata::PixelBatch gray;
  gray.add(std::vector<float>(32 * 32), 1, 32, 32);
  CHECK_THROWS_WITH(model->forward(gray, ws, pool), Catch::Contains("images have 1 channels; the model 3"));
  CHECK_THROWS_WITH(model->forward(strata::PixelBatch{}, ws, pool), Catch::Contains("empty or inconsistent"));
  strata::PixelBatch mixed = pixels(0.0, 1, 32, 32);
  CHECK_THROWS_WITH(mixed.add(std::vector<float>(3 * 16 * 16), 3, 16, 16), Catch::Contains("a batch has one size"));
  CHECK_THROWS_WITH(mixed.add(std::vector<float>(5), 3, 32, 32), Catch::Contains("5 values for a 3x32x32 image"));
}

TEST_CASE("vision configs and checkpoints: unsupported or inconsistent ones are one-line errors", "[vision][config]") {
  auto fails = [](const fs::path& dir, const std::string& msg) {
    const std::string err = load_error(dir);
    INFO(err);
    CHECK(err.find(msg) != std::string::npos);
    CHECK(err.find('\n') == std::string::npos);
  };
  fails(edited_copy("vit-cls", "act", [](auto& c) { c["hidden_act"] = "swish"; }), "hidden_act 'swish' is not supported");
  fails(edited_copy("vit-cls", "patch", [](auto& c) { c["patch_size"] = 64; }), "patch_size (64) is larger than image_size");
  fails(edited_copy("vit-cls", "size", [](auto& c) { c["image_size"] = -3; }), "'image_size' = -3 is out of range");
  fails(edited_copy("vit-cls", "heads", [](auto& c) { c["num_attention_heads"] = 5; }), "is not divisible by");
  fails(edited_copy("vit-cls", "grid", [](auto& c) { c["image_size"] = 40; }), "embeddings.position_embeddings");
  fails(edited_copy("vit-cls", "labels", [](auto& c) { c["id2label"] = {{"0", "x"}, {"1", "y"}}; }),
        "id2label has 2 labels but classifier.weight has 3 rows");
  fails(edited_copy("vit-cls", "qkvbias", [](auto& c) { c["qkv_bias"] = false; }),
        "qkv_bias false but the checkpoint has vit.encoder.layer.0.attention.attention.query.bias");
  fails(edited_copy("vit-model", "qkvbias", [](auto& c) { c["qkv_bias"] = true; }), "attention.query.bias\" is missing");
  fails(edited_copy("vit-cls", "type", [](auto& c) { c["model_type"] = "deit"; }), "embeddings.cls_token\" is missing");
  fails(edited_copy("vit-cls", "pooler", [](auto& c) { c["pooler_act"] = "relu"; }), "pooler_act 'relu'");
  // A vision folder given to the text loaders says what it is.
  try {
    strata::load_model_config(kDir / "vit-cls");
    FAIL("a vit config loaded as a text model");
  } catch (const strata::Error& e) {
    CHECK(std::string(e.what()).find("is an image model") != std::string::npos);
  }
}
