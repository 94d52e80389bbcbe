// Hugging Face preprocessor_config.json of the PIL-based ("slow") image
// processors of ViT (ViTImageProcessor, legacy ViTFeatureExtractor; Swin uses
// it too), DeiT (DeiTImageProcessor / DeiTFeatureExtractor) and CLIP
// (CLIPImageProcessor / CLIPFeatureExtractor). The processor type chooses the
// defaults of absent fields and what a bare integer `size` means, as each
// class's __init__ and transformers' get_size_dict do. Every value is checked;
// a wrong type or an absurd value is an error naming the file and field.
// io never computes: image/processor.hpp applies the config.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "strata/core/error.hpp"
#include "strata/image/resample.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/json_file.hpp"

namespace strata::io {

struct ImageProcessorLimits {
  // size / crop_size values: far above any published processor (224 to 1024).
  static constexpr std::int64_t max_size = 8192;
  // preprocessor_config.json is a few hundred bytes.
  static constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 20;
};

enum class ImageProcessorKind { ViT, DeiT, CLIP };

// transformers' size dict: {"height", "width"} or {"shortest_edge"}.
struct ImageSize {
  std::int64_t height = 0, width = 0;
  std::int64_t shortest_edge = 0;  // > 0: the {"shortest_edge"} form
  bool is_shortest_edge() const { return shortest_edge > 0; }
};

struct ImageProcessorConfig {
  ImageProcessorKind kind = ImageProcessorKind::ViT;
  std::string type_name;  // as the file names it, e.g. "ViTFeatureExtractor"
  bool do_convert_rgb = false;
  bool do_resize = true;
  ImageSize size;
  image::Resample resample = image::Resample::Bilinear;
  bool do_center_crop = false;  // never for ViT (not a ViTImageProcessor parameter)
  std::int64_t crop_height = 0, crop_width = 0;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{}, image_std{};  // per RGB channel, as written (float32 when applied)
};

namespace detail {

using strata::detail::ConfigReader;
using strata::detail::shown;
using strata::detail::shown_json;

inline constexpr std::array<double, 3> imagenet_standard_mean{0.5, 0.5, 0.5};  // transformers' IMAGENET_STANDARD_*
inline constexpr std::array<double, 3> imagenet_standard_std{0.5, 0.5, 0.5};
inline constexpr std::array<double, 3> openai_clip_mean{0.48145466, 0.4578275, 0.40821073};
inline constexpr std::array<double, 3> openai_clip_std{0.26862954, 0.26130258, 0.27577711};

// AutoImageProcessor reads image_processor_type first, then
// feature_extractor_type (a FeatureExtractor is its ImageProcessor).
inline ImageProcessorKind processor_kind(const ConfigReader& r, std::string& name) {
  const char* key = r.has("image_processor_type") ? "image_processor_type" : "feature_extractor_type";
  name = r.string_or(key, "");
  check(!name.empty(), r.source(),
        ": required field 'image_processor_type' (or legacy 'feature_extractor_type') is missing");
  if (name == "ViTImageProcessor" || name == "ViTFeatureExtractor") return ImageProcessorKind::ViT;
  if (name == "DeiTImageProcessor" || name == "DeiTFeatureExtractor") return ImageProcessorKind::DeiT;
  if (name == "CLIPImageProcessor" || name == "CLIPFeatureExtractor") return ImageProcessorKind::CLIP;
  check(!name.ends_with("Fast"), r.source(), ": ", key, " ", shown(name),
        " is a fast (torchvision) processor; only the PIL-based ones are reproduced");
  fail(r.source(), ": ", key, " ", shown(name),
       " is not supported (supported: ViTImageProcessor, ViTFeatureExtractor, DeiTImageProcessor, "
       "DeiTFeatureExtractor, CLIPImageProcessor, CLIPFeatureExtractor)");
}

// get_size_dict: an integer is a square when int_is_shortest_edge is false
// (default_to_square), else the shortest edge; a list is [height, width]; a
// dict must hold exactly one of the key sets.
inline ImageSize parse_size(const ConfigReader& r, const char* key, ImageSize dflt, bool int_is_shortest_edge) {
  if (!r.has(key)) return dflt;
  const nlohmann::json& v = r.at(key);
  const std::string k = key;
  auto dim = [&](const nlohmann::json& x, const std::string& name) {
    return r.integer_value(x, name.c_str(), 1, ImageProcessorLimits::max_size);
  };
  ImageSize s;
  if (v.is_array()) {
    check(v.size() == 2, r.source(), ": field '", key, "' as a list must be [height, width], got ", shown_json(v));
    s.height = dim(v[0], k + "[0]");
    s.width = dim(v[1], k + "[1]");
  } else if (v.is_object()) {
    std::set<std::string> keys;
    for (const auto& [name, value] : v.items()) {
      (void)value;
      keys.insert(name);
    }
    if (keys == std::set<std::string>{"height", "width"}) {
      s.height = dim(v.at("height"), k + ".height");
      s.width = dim(v.at("width"), k + ".width");
    } else if (keys == std::set<std::string>{"shortest_edge"}) {
      s.shortest_edge = dim(v.at("shortest_edge"), k + ".shortest_edge");
    } else {
      fail(r.source(), ": field '", key, "' must have the keys {height, width} or {shortest_edge}, got ",
           shown_json(v));
    }
  } else if (int_is_shortest_edge) {
    s.shortest_edge = dim(v, k);
  } else {
    s.height = s.width = dim(v, k);
  }
  return s;
}

// A float or a list of one float per RGB channel (normalize() repeats a float).
inline std::array<double, 3> parse_channels(const ConfigReader& r, const char* key, std::array<double, 3> dflt,
                                            double lo, double hi) {
  if (!r.has(key)) return dflt;
  const nlohmann::json& given = r.at(key);
  const nlohmann::json v = given.is_number() ? nlohmann::json::array({given, given, given}) : given;
  check(v.is_array(), r.source(), ": field '", key, "' must be a number or a list of 3 numbers, got ", shown_json(v));
  check(v.size() == 3, r.source(), ": field '", key, "' must have 3 entries (one per RGB channel), got ", v.size());
  std::array<double, 3> out{};
  for (std::size_t i = 0; i < 3; ++i) {
    check(v[i].is_number(), r.source(), ": field '", key, "' entry ", i, " must be a number, got ", shown_json(v[i]));
    out[i] = v[i].get<double>();
    check(std::isfinite(out[i]) && out[i] >= lo && out[i] <= hi, r.source(), ": field '", key, "' entry ", i, " = ",
          out[i], " is out of range [", lo, ", ", hi, "]");
  }
  return out;
}

}  // namespace detail

// Parses a preprocessor_config.json object; `source` names it in messages.
// Fields a processor class does not take are ignored, as transformers does
// (ViT: do_center_crop, crop_size; DeiT: do_convert_rgb).
inline ImageProcessorConfig parse_preprocessor_config(const nlohmann::json& j,
                                                      const std::string& source = "preprocessor_config.json") {
  detail::ConfigReader r(j, source);
  ImageProcessorConfig c;
  c.kind = detail::processor_kind(r, c.type_name);
  const bool vit = c.kind == ImageProcessorKind::ViT, clip = c.kind == ImageProcessorKind::CLIP;
  using K = ImageProcessorKind;
  const std::int64_t default_resample = c.kind == K::ViT ? 2 : 3;  // BILINEAR / BICUBIC

  c.do_resize = r.boolean_or("do_resize", true);
  c.size = detail::parse_size(r, "size", clip ? ImageSize{0, 0, 224} : vit ? ImageSize{224, 224, 0} : ImageSize{256, 256, 0},
                              clip);
  if (clip && r.boolean_or("use_square_size", false)) {  // CLIPImageProcessor: Kosmos-2's square resize
    check(c.size.is_shortest_edge(), source, ": field 'use_square_size' needs 'size' as a shortest edge");
    c.size = ImageSize{c.size.shortest_edge, c.size.shortest_edge, 0};
  }
  // ViT's and DeiT's resize take height and width only (transformers raises at resize time).
  check(clip || !c.do_resize || !c.size.is_shortest_edge(), source, ": field 'size' {shortest_edge} is not supported by ",
        c.type_name, " (it resizes to {height, width})");
  c.resample = image::Resample(int(r.integer_or("resample", default_resample, 0, 5)));

  if (!vit) {
    c.do_center_crop = r.boolean_or("do_center_crop", true);
    const ImageSize crop = detail::parse_size(r, "crop_size", ImageSize{224, 224, 0}, false);
    check(!c.do_center_crop || !crop.is_shortest_edge(), source,
          ": field 'crop_size' must be {height, width} for a center crop, got {shortest_edge}");
    c.crop_height = crop.height;
    c.crop_width = crop.width;
  }
  c.do_rescale = r.boolean_or("do_rescale", true);
  c.rescale_factor = r.number_or("rescale_factor", 1.0 / 255.0, 0.0, 1e6);
  check(c.rescale_factor > 0, source, ": field 'rescale_factor' must be positive");
  c.do_normalize = r.boolean_or("do_normalize", true);
  c.image_mean = detail::parse_channels(r, "image_mean", clip ? detail::openai_clip_mean : detail::imagenet_standard_mean,
                                        -1e6, 1e6);
  c.image_std = detail::parse_channels(r, "image_std", clip ? detail::openai_clip_std : detail::imagenet_standard_std,
                                       1e-6, 1e6);
  if (c.kind != K::DeiT) c.do_convert_rgb = r.boolean_or("do_convert_rgb", clip);
  return c;
}

// Reads and parses a preprocessor_config.json file (at most 1 MB).
inline ImageProcessorConfig load_preprocessor_config(const std::filesystem::path& p) {
  return parse_preprocessor_config(detail::read_json_file_bounded(p, ImageProcessorLimits::max_file_bytes), p.string());
}

}  // namespace strata::io
