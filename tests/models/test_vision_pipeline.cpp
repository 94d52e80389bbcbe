// The whole image path against transformers' semantics: an image file
// (tests/fixtures/image_files) → load_image (examples/image_file.hpp) →
// the folder's image processor (preprocessor_config.json) → ViT / DeiT →
// logits, against make_vision_fixtures.py's reference (PIL decode and
// exif_transpose, the processors' steps as make_image_fixtures.py
// transcribes them, the float64 forward).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "image_file.hpp"
#include "strata/runtime/image_encoder.hpp"

namespace fs = std::filesystem;

TEST_CASE("image file to logits matches the reference pipeline (PIL decode, processor, float64 model)",
          "[vision][image]") {
  const fs::path fixtures(STRATA_TEST_FIXTURES);
  for (const char* name : {"vit-cls", "deit-distilled"}) {
    INFO(name);
    std::ifstream f(fixtures / "vision" / name / "reference.json");
    REQUIRE(f);
    const auto ref = nlohmann::json::parse(f);
    REQUIRE(ref.contains("pipeline"));
    for (std::int64_t batch : {1, 3}) {
      strata::ImageEncoderOptions opt;
      opt.batch = batch;
      opt.threads = 2;
      auto enc = strata::ImageEncoder::load(fixtures / "vision" / name, opt);
      std::vector<strata::image::Image> images;
      for (const auto& p : ref["pipeline"])
        images.push_back(strata::image::to_rgb(
            strata::image::load_image_file(fixtures / "image_files" / p["image"].get<std::string>())));
      const auto results = enc.classify(images);
      REQUIRE(results.size() == ref["pipeline"].size());
      for (std::size_t i = 0; i < results.size(); ++i) {
        INFO(ref["pipeline"][i]["image"].get<std::string>() << ", batch " << batch);
        const auto want = ref["pipeline"][i]["logits"].get<std::vector<double>>();
        REQUIRE(results[i].logits.size() == want.size());
        double worst = 0, sum = 0;
        for (std::size_t k = 0; k < want.size(); ++k) {
          worst = std::max(worst, std::abs(double(results[i].logits[k]) - want[k]));
          sum += results[i].scores[k];
        }
        CHECK(worst < 1e-4);
        CHECK(std::abs(sum - 1.0) < 1e-5);  // softmax scores (single-label)
      }
      CHECK(enc.images_done() == std::int64_t(images.size()));
    }
  }
}
