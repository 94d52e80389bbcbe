// config.json of the vision transformers: model_type "vit" (ViTConfig) and
// "deit" (DeiTConfig). The transformer blocks' sizes go into a ModelConfig,
// as for the text models, so the same layer templates load them; what only
// an image model has (image and patch size, channels, the tokens in front of
// the patches) is beside it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "strata/io/hf_config.hpp"

namespace strata {

struct VisionLimits {
  static constexpr std::int64_t max_image_side = 1 << 14;  // pixels, a side of the configured image
  static constexpr std::int64_t max_patch = 1024;
  static constexpr std::int64_t max_channels = 64;
};

struct VisionConfig {
  ModelConfig blocks;  // hidden, heads, intermediate, layers, layer_norm_eps, hidden_act, biases, id2label
  std::int64_t image_height = 0, image_width = 0;  // the resolution the position embeddings were trained at
  std::int64_t patch_size = 0;
  std::int64_t num_channels = 3;
  std::int64_t prefix_tokens = 1;  // in front of the patches: [CLS] (vit), [CLS] + distillation (deit)

  const std::string& model_type() const { return blocks.model_type; }
  std::int64_t grid_height() const { return image_height / patch_size; }
  std::int64_t grid_width() const { return image_width / patch_size; }
  std::int64_t num_patches() const { return grid_height() * grid_width(); }
};

inline bool is_vision_model_type(const std::string& t) { return t == "vit" || t == "deit"; }

namespace detail {

// image_size: an integer (square) or [height, width], as ViTPatchEmbeddings reads it.
inline void parse_image_size(const ConfigReader& r, VisionConfig& v) {
  using L = VisionLimits;
  if (r.has("image_size") && r.at("image_size").is_array()) {
    const auto& a = r.at("image_size");
    check(a.size() == 2, r.source(), ": field 'image_size' must be an integer or [height, width], got ",
          shown_json(a));
    v.image_height = r.integer_value(a[0], "image_size", 1, L::max_image_side);
    v.image_width = r.integer_value(a[1], "image_size", 1, L::max_image_side);
  } else {
    v.image_height = v.image_width = r.integer_or("image_size", 224, 1, L::max_image_side);
  }
  v.patch_size = r.integer_or("patch_size", 16, 1, L::max_patch);
  check(v.patch_size <= v.image_height && v.patch_size <= v.image_width, r.source(), ": patch_size (", v.patch_size,
        ") is larger than image_size (", v.image_height, "x", v.image_width, ")");
  v.num_channels = r.integer_or("num_channels", 3, 1, L::max_channels);
}

}  // namespace detail

// ViTConfig / DeiTConfig: the fields ViTModel, ViTForImageClassification,
// DeiTModel and the DeiT classifiers read, with transformers' defaults.
inline VisionConfig parse_vision_config(const nlohmann::json& j, const std::string& source = "config.json") {
  using L = ConfigLimits;
  detail::ConfigReader r(j, source);
  VisionConfig v;
  ModelConfig& c = v.blocks;
  c.model_type = r.string_or("model_type", "");
  check(is_vision_model_type(c.model_type), source, ": model_type ", detail::shown(c.model_type),
        " is not a vision transformer (supported: vit, deit)");
  c.hidden_size = r.integer_or("hidden_size", 768, 1, L::max_hidden);
  c.intermediate_size = r.integer_or("intermediate_size", 3072, 1, L::max_intermediate);
  c.num_layers = r.integer_or("num_hidden_layers", 12, 1, L::max_layers);
  c.num_heads = r.integer_or("num_attention_heads", 12, 1, L::max_heads);
  detail::set_heads(r, c, "num_attention_heads", "hidden_size");
  c.norm_eps = r.number_or("layer_norm_eps", 1e-12, 0.0, 1.0);
  check(c.norm_eps > 0, source, ": field 'layer_norm_eps' must be positive");
  c.hidden_act = detail::parse_activation(r, "hidden_act", "gelu");
  check(c.hidden_act == Activation::GELU || c.hidden_act == Activation::GELUTanh, source, ": hidden_act ",
        detail::shown(r.string_or("hidden_act", "")), " is not supported for ", c.model_type,
        " (supported: gelu, gelu_new, gelu_pytorch_tanh)");
  c.qkv_bias = r.boolean_or("qkv_bias", true);
  c.o_bias = true;
  const std::string pooler_act = r.string_or("pooler_act", "tanh");
  check(pooler_act == "tanh", source, ": pooler_act ", detail::shown(pooler_act), " is not supported (supported: tanh)");
  detail::parse_image_size(r, v);
  v.prefix_tokens = c.model_type == "deit" ? 2 : 1;
  c.max_position_embeddings = v.num_patches() + v.prefix_tokens;
  detail::parse_labels(r, c);
  c.quant = detail::parse_quantization_config(r);
  return v;
}

inline VisionConfig load_vision_config(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  std::error_code ec;
  check(std::filesystem::exists(path, ec), path.string(), ": not found (is ", dir.string(),
        " a Hugging Face model folder?)");
  return parse_vision_config(detail::read_json_file(path), path.string());
}

}  // namespace strata
