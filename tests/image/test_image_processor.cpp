// preprocessor_config.json parsing and image::preprocess against transformers'
// ViT / DeiT / CLIP (and Swin) image processors, as tests/reference/
// make_image_fixtures.py computes them in numpy with Pillow's resize:
// pixel_values within 1e-6; bad configs refused in one line naming the field.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "image/image_fixtures.hpp"
#include "strata/image/processor.hpp"
#include "strata/io/preprocessor_config.hpp"

using Catch::Contains;
using nlohmann::json;
using strata::image::Image;
using strata::image::PixelFormat;
using strata::io::ImageProcessorConfig;
using strata::io::ImageProcessorKind;
using strata::io::load_preprocessor_config;
using strata::io::parse_preprocessor_config;

namespace {
ImageProcessorConfig fixture_config(const std::string& name) {
  return load_preprocessor_config(strata::test::image_fixture("configs/" + name + ".json"));
}
ImageProcessorConfig parse(const std::string& text) { return parse_preprocessor_config(json::parse(text), "test/preprocessor_config.json"); }
}  // namespace

TEST_CASE("the published ViT, DeiT, CLIP and Swin configs", "[image][processor]") {
  using strata::image::Resample;
  const auto vit = fixture_config("vit-base-patch16-224");
  CHECK(vit.kind == ImageProcessorKind::ViT);
  CHECK(vit.type_name == "ViTFeatureExtractor");
  CHECK((vit.size.height == 224 && vit.size.width == 224 && !vit.size.is_shortest_edge()));
  CHECK(vit.resample == Resample::Bilinear);
  CHECK_FALSE(vit.do_center_crop);
  CHECK_FALSE(vit.do_convert_rgb);
  CHECK(vit.image_mean == std::array<double, 3>{0.5, 0.5, 0.5});
  CHECK(vit.rescale_factor == 1.0 / 255.0);

  const auto deit = fixture_config("deit-base-distilled-patch16-224");
  CHECK(deit.kind == ImageProcessorKind::DeiT);
  CHECK((deit.size.height == 256 && deit.size.width == 256));  // a bare int is a square for DeiT
  CHECK((deit.do_center_crop && deit.crop_height == 224 && deit.crop_width == 224));
  CHECK(deit.resample == Resample::Bicubic);
  CHECK(deit.image_std == std::array<double, 3>{0.229, 0.224, 0.225});

  const auto clip = fixture_config("clip-vit-base-patch32");
  CHECK(clip.kind == ImageProcessorKind::CLIP);
  CHECK((clip.size.is_shortest_edge() && clip.size.shortest_edge == 224));  // ... and the shortest edge for CLIP
  CHECK((clip.do_center_crop && clip.crop_height == 224 && clip.crop_width == 224));
  CHECK(clip.do_convert_rgb);
  CHECK(clip.image_mean == std::array<double, 3>{0.48145466, 0.4578275, 0.40821073});

  const auto swin = fixture_config("swin-tiny-patch4-window7-224");
  CHECK(swin.kind == ImageProcessorKind::ViT);
  CHECK(swin.resample == Resample::Bicubic);
  CHECK((swin.size.height == 224 && swin.size.width == 224));
}

TEST_CASE("defaults of absent fields follow the processor type", "[image][processor]") {
  const auto vit = parse(R"({"image_processor_type": "ViTImageProcessor"})");
  CHECK((vit.size.height == 224 && vit.size.width == 224));
  CHECK(vit.resample == strata::image::Resample::Bilinear);
  CHECK(vit.image_std == std::array<double, 3>{0.5, 0.5, 0.5});
  const auto deit = parse(R"({"image_processor_type": "DeiTImageProcessor", "do_convert_rgb": true})");
  CHECK((deit.size.height == 256 && deit.crop_height == 224 && deit.do_center_crop));
  CHECK(deit.resample == strata::image::Resample::Bicubic);
  CHECK_FALSE(deit.do_convert_rgb);  // not a DeiTImageProcessor parameter: ignored
  const auto clip = parse(R"({"image_processor_type": "CLIPImageProcessor", "image_mean": null})");
  CHECK(clip.size.shortest_edge == 224);
  CHECK(clip.image_mean[2] == 0.40821073);
  CHECK(clip.do_convert_rgb);
  // image_processor_type wins over the legacy feature_extractor_type.
  const auto both = parse(R"({"image_processor_type": "CLIPImageProcessor", "feature_extractor_type": "ViTFeatureExtractor"})");
  CHECK(both.kind == ImageProcessorKind::CLIP);
  // ViT takes no center crop, whatever the file says.
  const auto vit_crop = parse(R"({"image_processor_type": "ViTImageProcessor", "do_center_crop": true, "crop_size": 7})");
  CHECK_FALSE(vit_crop.do_center_crop);
}

TEST_CASE("pixel_values match transformers' processors within 1e-6", "[image][processor]") {
  const auto& cases = strata::test::image_manifest().at("processor");
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    const std::string file = c.at("file").get<std::string>();
    INFO(file);
    const auto cfg = fixture_config(c.at("config").get<std::string>());
    const Image img = strata::test::fixture_image(c.at("input").get<std::string>());
    const auto pv = strata::image::preprocess(img, cfg);
    const std::int64_t h = c.at("height").get<std::int64_t>(), w = c.at("width").get<std::int64_t>();
    REQUIRE(pv.height == h);
    REQUIRE(pv.width == w);
    REQUIRE(pv.data.size() == std::size_t(3 * h * w));
    const auto u8 = strata::test::read_bytes(strata::test::image_fixture("processor/" + file + ".u8"));
    const auto tb = strata::test::read_bytes(strata::test::image_fixture("processor/" + file + ".f32"));
    REQUIRE(u8.size() == pv.data.size());
    REQUIRE(tb.size() == 3 * 256 * sizeof(float));
    float table[3][256];
    std::memcpy(table, tb.data(), sizeof table);
    std::size_t bad = 0, inexact = 0;
    double worst = 0;
    for (std::size_t i = 0; i < u8.size(); ++i) {
      const std::size_t ch = i / std::size_t(h * w);
      const float want = table[ch][static_cast<std::uint8_t>(u8[i])];
      const double err = std::fabs(double(pv.data[i]) - double(want));
      worst = std::max(worst, err);
      bad += err > 1e-6;
      inexact += pv.data[i] != want;
    }
    INFO("values off by more than 1e-6: " << bad << ", worst " << worst << ", not bit-identical: " << inexact);
    CHECK(bad == 0);
    // The float32 steps are transformers' own (no fused operation is possible), so
    // the values are in fact bit-identical.
    CHECK(inexact == 0);
  }
}

TEST_CASE("a batch stacks pixel_values of one size and refuses another", "[image][processor]") {
  const auto cfg = fixture_config("clip-vit-base-patch32");
  const Image a = strata::test::fixture_image("photo300x200"), b = strata::test::fixture_image("gray17x13");
  const auto batch = strata::image::preprocess_batch({a, b}, cfg);
  CHECK(batch.count == 2);
  CHECK((batch.height == 224 && batch.width == 224));
  const auto pa = strata::image::preprocess(a, cfg), pb = strata::image::preprocess(b, cfg);
  REQUIRE(batch.values.size() == pa.data.size() * 2);
  CHECK(std::equal(pa.data.begin(), pa.data.end(), batch.values.begin()));
  CHECK(std::equal(pb.data.begin(), pb.data.end(), batch.values.begin() + std::ptrdiff_t(pa.data.size())));

  // Shortest-edge resizing without a crop keeps the aspect ratio: sizes differ.
  const auto free_size = fixture_config("clip-defaults-shortest");
  strata::PixelBatch mixed;
  strata::image::append_pixel_values(mixed, a, free_size);
  const auto before = mixed.values;
  CHECK_THROWS_WITH(strata::image::append_pixel_values(mixed, strata::test::fixture_image("tall9x40"), free_size),
                    Contains("images of one batch must give one size"));
  CHECK(mixed.count == 1);
  CHECK(mixed.values == before);
}

TEST_CASE("preprocess needs RGB unless the processor converts", "[image][processor]") {
  const auto vit = fixture_config("vit-base-patch16-224");  // do_convert_rgb absent: false
  const Image gray = strata::test::fixture_image("gray17x13");
  CHECK_THROWS_WITH(strata::image::preprocess(gray, vit), Contains("has 1 channels") && Contains("do_convert_rgb false"));
  const auto pv = strata::image::preprocess(strata::image::to_rgb(gray), vit);
  CHECK(pv.height == 224);
  CHECK_THROWS_WITH(strata::image::preprocess(Image(), vit), Contains("empty image"));
}

TEST_CASE("shortest-edge sizes follow get_resize_output_image_size", "[image][processor]") {
  const auto cfg = parse(R"({"image_processor_type": "CLIPImageProcessor", "size": 224, "do_center_crop": false})");
  using strata::image::pixel_values_size;
  CHECK(pixel_values_size(cfg, 200, 300) == std::pair<std::int64_t, std::int64_t>{224, 336});
  CHECK(pixel_values_size(cfg, 300, 200) == std::pair<std::int64_t, std::int64_t>{336, 224});
  CHECK(pixel_values_size(cfg, 480, 640) == std::pair<std::int64_t, std::int64_t>{224, 298});  // int(298.67)
  CHECK(pixel_values_size(cfg, 7, 7) == std::pair<std::int64_t, std::int64_t>{224, 224});
  CHECK(pixel_values_size(cfg, 10, 1000) == std::pair<std::int64_t, std::int64_t>{224, 22400});
  CHECK_THROWS_WITH(pixel_values_size(cfg, 1, 1 << 20), Contains("over the limit"));
}

TEST_CASE("bad preprocessor configs are refused in one line naming the field", "[image][processor]") {
  const std::string vit = R"("image_processor_type": "ViTImageProcessor")";
  const std::string clip = R"("image_processor_type": "CLIPImageProcessor")";
  const std::pair<std::string, std::string> bad[] = {
      {"{}", "required field 'image_processor_type'"},
      {"[]", "expected a JSON object"},
      {R"({"image_processor_type": "ConvNextImageProcessor"})", "'ConvNextImageProcessor' is not supported"},
      {R"({"image_processor_type": "ViTImageProcessorFast"})", "fast (torchvision) processor"},
      {R"({"image_processor_type": 3})", "field 'image_processor_type' must be a string"},
      {"{" + vit + R"(, "size": -224})", "field 'size' = -224 is out of range [1, 8192]"},
      {"{" + vit + R"(, "size": 0})", "field 'size' = 0 is out of range"},
      {"{" + vit + R"(, "size": 1000000})", "field 'size' = 1000000 is out of range"},
      {"{" + vit + R"(, "size": "224"})", "field 'size' must be an integer"},
      {"{" + vit + R"(, "size": 22.5})", "field 'size' must be an integer"},
      {"{" + vit + R"(, "size": {"height": 224}})", "field 'size' must have the keys {height, width} or {shortest_edge}"},
      {"{" + vit + R"(, "size": {"height": 224, "width": 0}})", "field 'size.width' = 0 is out of range"},
      {"{" + vit + R"(, "size": {"shortest_edge": 224}})", "{shortest_edge} is not supported by ViTImageProcessor"},
      {"{" + vit + R"(, "size": [224]})", "field 'size' as a list must be [height, width]"},
      {"{" + clip + R"(, "size": {"shortest_edge": 224, "longest_edge": 1000}})", "must have the keys"},
      {"{" + clip + R"(, "crop_size": {"shortest_edge": 224}})", "field 'crop_size' must be {height, width}"},
      {"{" + clip + R"(, "crop_size": 9000})", "field 'crop_size' = 9000 is out of range"},
      {"{" + clip + R"(, "use_square_size": true, "size": {"height": 3, "width": 4}})", "field 'use_square_size'"},
      {"{" + vit + R"(, "resample": 9})", "field 'resample' = 9 is out of range [0, 5]"},
      {"{" + vit + R"(, "resample": "bicubic"})", "field 'resample' must be an integer"},
      {"{" + vit + R"(, "image_std": [0.5, 0, 0.5]})", "field 'image_std' entry 1 = 0 is out of range"},
      {"{" + vit + R"(, "image_std": 0})", "field 'image_std' entry 0 = 0 is out of range"},
      {"{" + vit + R"(, "image_std": [0.5, -0.5, 0.5]})", "field 'image_std' entry 1 = -0.5 is out of range"},
      {"{" + vit + R"(, "image_mean": [0.5, 0.5]})", "field 'image_mean' must have 3 entries (one per RGB channel), got 2"},
      {"{" + vit + R"(, "image_mean": [0.5, "a", 0.5]})", "field 'image_mean' entry 1 must be a number"},
      {"{" + vit + R"(, "image_mean": "imagenet"})", "field 'image_mean' must be a number or a list of 3 numbers"},
      {"{" + vit + R"(, "image_mean": [1e300, 0, 0]})", "field 'image_mean' entry 0"},
      {"{" + vit + R"(, "rescale_factor": 0})", "field 'rescale_factor' must be positive"},
      {"{" + vit + R"(, "rescale_factor": -1})", "field 'rescale_factor' = -1 is out of range"},
      {"{" + vit + R"(, "do_resize": 1})", "field 'do_resize' must be true or false"},
      {"{" + vit + R"(, "do_normalize": "yes"})", "field 'do_normalize' must be true or false"},
      {"{" + clip + R"(, "do_center_crop": null, "do_convert_rgb": 0})", "field 'do_convert_rgb' must be true or false"},
  };
  for (const auto& [text, message] : bad) {
    INFO(text);
    try {
      parse(text);
      FAIL("accepted");
    } catch (const strata::Error& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Contains("test/preprocessor_config.json") && Contains(message));
      CHECK(what.find('\n') == std::string::npos);
    }
  }
  // A file: missing, not JSON.
  CHECK_THROWS_WITH(load_preprocessor_config("/nonexistent/preprocessor_config.json"), Contains("cannot open"));
}
