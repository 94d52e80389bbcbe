// Hugging Face config.json (+ generation_config.json): decoder LMs of the
// Llama family (model_type llama, mistral, mixtral, qwen2, qwen3, gemma) and GPT-2
// (gpt2), and BERT-family encoders (bert). The optional "strata_variants"
// object of a Llama-layout config carries the parameters of the variant
// primitives (docs/VARIANTS.md). Every value is checked;
// unknown or inconsistent values are errors that name the file and field.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/json_file.hpp"

namespace strata {

// Limits on config values: far above any published model, low enough that a
// hostile config cannot make size computations overflow.
struct ConfigLimits {
  static constexpr std::int64_t max_hidden = 1 << 16;
  static constexpr std::int64_t max_intermediate = 1 << 20;
  static constexpr std::int64_t max_layers = 1024;
  static constexpr std::int64_t max_heads = 1024;
  static constexpr std::int64_t max_head_dim = 1024;
  static constexpr std::int64_t max_experts = 1024;
  static constexpr std::int64_t max_vocab = 1 << 22;
  static constexpr std::int64_t max_positions = 1 << 24;
  // config.json / generation_config.json size (real ones are a few KB).
  static constexpr std::uint64_t max_file_bytes = std::uint64_t{16} << 20;
};

struct RopeScaling {
  enum class Kind { None, Llama3 };
  Kind kind = Kind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

// How a model's projections are stored or to be stored: the checkpoint's
// format (config.json quantization_config for GPTQ / AWQ, the safetensors
// metadata of strata's own quantized checkpoints) merged with what the
// caller asked for (LoadOptions::quant, `--quant`).
struct QuantSpec {
  enum class Source { Dense, Strata, GPTQ, AWQ };
  Source source = Source::Dense;   // what the checkpoint holds for a projection
  bool enabled = false;            // projections are quantized (read so, or quantized at load)
  QuantType type = QuantType::Q8;
  std::int64_t group = 32;
  bool asym = false;               // q4 with per-group offsets
  bool desc_act = false;           // GPTQ act-order: g_idx permutes the input columns
  bool quantize_head = false;      // the LM head too (default: it stays in the dense type)
  // Modules kept dense: a projection whose name contains one of these (AWQ's
  // modules_to_not_convert, GPTQ's modules_in_block_to_quantize complement, --keep).
  std::vector<std::string> keep_dense;
  // Dense bf16 projections compute on bf16 dot products (kernels/gemm_bf16_dot.hpp):
  // their inputs are rounded to bf16 too (LoadOptions::compute).
  bool bf16_dot = false;

  std::string describe() const {
    if (!enabled) return "dense";
    std::string s = source == Source::GPTQ ? "gptq " : source == Source::AWQ ? "awq " : "";
    s += std::string(quant_type_name(type)) + (asym ? " asym" : "") + " g" + std::to_string(group);
    if (desc_act) s += " act-order";
    return s;
  }
};

// The MLP / FFN activation (HF hidden_act, GPT-2 activation_function):
// silu, gelu (erf), gelu_pytorch_tanh / gelu_new, relu, relu2 (squared ReLU, Primer).
enum class Activation { SiLU, GELU, GELUTanh, ReLU, ReLU2 };

// Parameters of the variant primitives (config.json "strata_variants"); a
// primitive that needs one and finds it unset uses the default its paper gives.
struct VariantParams {
  std::optional<double> sigmoid_bias;    // SigmoidAttn: b in σ(q·k/√d + b); default -ln(max_position_embeddings)
  double clip_gamma = -0.03;             // ClippedSoftmax: clip((ζ - γ)·softmax + γ, 0, 1)
  double clip_zeta = 1.0;
  std::optional<double> deepnorm_alpha;  // DeepNormBlock residual scale; default (2·num_layers)^(1/4)
  std::int64_t sink_tokens = 4;          // SinkWindow: attention sinks kept besides the window (StreamingLLM)
  std::int64_t kv_budget = 0;            // A2SF: KV slots per layer and KV head; 0: not set
  double a2sf_forgetting = 0.9;          // A2SF: forgetting factor λ in (0, 1]
  std::int64_t loops = 1;                // looped depth: the blocks applied this many times (shared weights)
  std::int64_t loop_lora_rank = 0;       // looped depth: rank of the per-loop LoRA deltas (0: none)
};

struct ModelConfig {
  std::string model_type;  // "llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gpt2" (decoders), "bert" (encoder)
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;  // rms_norm_eps (RMSNorm models), layer_norm_eps (LayerNorm)
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // qwen2; llama attention_bias
  bool o_bias = false;         // llama attention_bias
  std::int64_t sliding_window = 0;  // 0: full causal attention
  Activation hidden_act = Activation::SiLU;
  bool qk_norm = false;      // qwen3: RMSNorm over each head of q and k (q_norm, k_norm)
  double embed_scale = 1.0;  // gemma: token embeddings × √hidden_size
  std::int64_t num_experts = 0;        // mixtral: num_local_experts (0: a dense FFN)
  std::int64_t experts_per_token = 0;  // mixtral: num_experts_per_tok (top-k)
  VariantParams variants;
  std::int64_t type_vocab_size = 0;  // bert: token type (segment) embeddings
  std::optional<std::int32_t> pad_token_id;
  // Sequence-classification heads: label names by class id (id2label;
  // transformers writes LABEL_0, LABEL_1 even for models without a head), and
  // "single_label_classification" (softmax), "multi_label_classification"
  // (sigmoid) or "regression" (raw scores); empty: not given.
  std::vector<std::string> id2label;
  std::string problem_type;
  std::optional<std::int32_t> bos_token_id;
  std::vector<std::int32_t> eos_token_ids;
  QuantSpec quant;  // from quantization_config / checkpoint metadata / load options

  bool is_encoder() const { return model_type == "bert"; }
  std::int64_t q_dim() const { return num_heads * head_dim; }
  std::int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

namespace detail {

// A config file: a regular file of at most ConfigLimits::max_file_bytes,
// JSON nested at most io::JsonLimits::max_depth levels.
inline nlohmann::json read_json_file(const std::filesystem::path& p) {
  return io::detail::read_json_file_bounded(p, ConfigLimits::max_file_bytes);
}

// A value or string from the file, for a message (one line, cut short).
inline std::string shown_json(const nlohmann::json& v) { return io::detail::printable_json(v); }
inline std::string shown(std::string_view s) { return "'" + io::detail::printable(s) + "'"; }

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& j, std::string source) : j_(j), src_(std::move(source)) {
    check(j_.is_object(), src_, ": expected a JSON object at top level");
  }

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  std::int64_t integer(const char* key, std::int64_t lo, std::int64_t hi) const {
    check(has(key), src_, ": required field '", key, "' is missing");
    return integer_value(j_.at(key), key, lo, hi);
  }
  std::int64_t integer_or(const char* key, std::int64_t dflt, std::int64_t lo, std::int64_t hi) const {
    return has(key) ? integer(key, lo, hi) : dflt;
  }
  std::int64_t integer_value(const nlohmann::json& v, const char* key, std::int64_t lo, std::int64_t hi) const {
    if (!(v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                                    std::abs(v.get<double>()) < 9e15)))
      fail(src_, ": field '", key, "' must be an integer, got ", shown_json(v));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(hi))
      fail(src_, ": field '", key, "' = ", v.get<std::uint64_t>(), " is out of range [", lo, ", ", hi, "]");
    const std::int64_t x = v.is_number_integer() ? v.get<std::int64_t>() : std::int64_t(v.get<double>());
    check(x >= lo && x <= hi, src_, ": field '", key, "' = ", x, " is out of range [", lo, ", ", hi, "]");
    return x;
  }
  double number_or(const char* key, double dflt, double lo, double hi) const {
    if (!has(key)) return dflt;
    const auto& v = j_.at(key);
    if (!v.is_number()) fail(src_, ": field '", key, "' must be a number, got ", shown_json(v));
    const double x = v.get<double>();
    check(std::isfinite(x) && x >= lo && x <= hi, src_, ": field '", key, "' = ", x, " is out of range [", lo,
          ", ", hi, "]");
    return x;
  }
  bool boolean_or(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    const auto& v = j_.at(key);
    if (!v.is_boolean()) fail(src_, ": field '", key, "' must be true or false, got ", shown_json(v));
    return v.get<bool>();
  }
  std::string string_or(const char* key, std::string dflt) const {
    if (!has(key)) return dflt;
    const auto& v = j_.at(key);
    if (!v.is_string()) fail(src_, ": field '", key, "' must be a string, got ", shown_json(v));
    return v.get<std::string>();
  }
  // An id or a list of ids (eos_token_id may be either).
  std::vector<std::int32_t> id_list(const char* key, std::int64_t vocab) const {
    std::vector<std::int32_t> out;
    if (!has(key)) return out;
    const auto& v = j_.at(key);
    if (v.is_array()) {
      for (const auto& e : v) out.push_back(std::int32_t(integer_value(e, key, 0, vocab - 1)));
    } else {
      out.push_back(std::int32_t(integer_value(v, key, 0, vocab - 1)));
    }
    return out;
  }
  const nlohmann::json& at(const char* key) const { return j_.at(key); }
  const std::string& source() const { return src_; }

 private:
  const nlohmann::json& j_;
  std::string src_;
};

inline RopeScaling parse_rope_scaling(const ConfigReader& r) {
  RopeScaling rs;
  if (!r.has("rope_scaling")) return rs;
  const auto& j = r.at("rope_scaling");
  const std::string src = r.source() + " rope_scaling";
  ConfigReader s(j, src);
  std::string type = s.string_or("rope_type", s.string_or("type", ""));
  check(!type.empty(), src, ": missing 'rope_type'");
  if (type == "default") return rs;
  check(type == "llama3", src, ": rope_type ", shown(type), " is not supported (supported: default, llama3)");
  rs.kind = RopeScaling::Kind::Llama3;
  check(s.has("factor"), src, ": required field 'factor' is missing");
  rs.factor = s.number_or("factor", 1.0, 1.0, 1e6);
  rs.low_freq_factor = s.number_or("low_freq_factor", 1.0, 1e-6, 1e6);
  rs.high_freq_factor = s.number_or("high_freq_factor", 4.0, 1e-6, 1e6);
  check(rs.high_freq_factor > rs.low_freq_factor, src, ": high_freq_factor (", rs.high_freq_factor,
        ") must be greater than low_freq_factor (", rs.low_freq_factor, ")");
  rs.original_max_position_embeddings =
      s.integer("original_max_position_embeddings", 1, ConfigLimits::max_positions);
  return rs;
}

// config.json "quantization_config" of published GPTQ / AWQ checkpoints.
inline QuantSpec parse_quantization_config(const ConfigReader& r) {
  QuantSpec q;
  if (!r.has("quantization_config")) return q;
  const std::string src = r.source() + " quantization_config";
  ConfigReader s(r.at("quantization_config"), src);
  const std::string method = s.string_or("quant_method", "");
  check(!method.empty(), src, ": required field 'quant_method' is missing");
  check(method == "gptq" || method == "awq", src, ": quant_method ", shown(method),
        " is not supported (supported: gptq, awq)");
  const std::int64_t bits = s.integer("bits", 1, 64);
  check(bits == 4, src, ": bits = ", bits, " is not supported (supported: 4)");
  const std::int64_t group = s.integer_value(s.has("group_size") ? s.at("group_size") : nlohmann::json(-1), "group_size",
                                             -1, 1 << 20);
  check(group == 32 || group == 64 || group == 128, src, ": group_size = ", group,
        " is not supported (supported: 32, 64, 128)");
  q.enabled = true;
  q.type = QuantType::Q4;
  q.group = group;
  q.asym = true;  // both store a zero point per group
  if (method == "gptq") {
    q.source = QuantSpec::Source::GPTQ;
    q.desc_act = s.boolean_or("desc_act", false);
    const std::string fmt = s.string_or("checkpoint_format", "gptq");
    check(fmt == "gptq", src, ": checkpoint_format ", shown(fmt), " is not supported (supported: gptq)");
  } else {
    q.source = QuantSpec::Source::AWQ;
    check(s.boolean_or("zero_point", true), src, ": zero_point false is not supported");
    std::string version = s.string_or("version", "gemm");
    for (auto& ch : version) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    check(version == "gemm", src, ": version ", shown(version), " is not supported (supported: gemm)");
    if (s.has("modules_to_not_convert")) {
      const auto& m = s.at("modules_to_not_convert");
      check(m.is_array() && m.size() <= 4096, src, ": modules_to_not_convert must be a list of names, got ", shown_json(m));
      for (const auto& e : m) {
        check(e.is_string() && !e.get<std::string>().empty(), src,
              ": modules_to_not_convert must hold non-empty strings, got ", shown_json(e));
        q.keep_dense.push_back(e.get<std::string>());
      }
    }
  }
  return q;
}

}  // namespace detail

namespace detail {

inline Activation parse_activation(const ConfigReader& r, const char* key, const std::string& dflt) {
  const std::string act = r.string_or(key, dflt);
  if (act == "silu" || act == "swish") return Activation::SiLU;
  if (act == "gelu") return Activation::GELU;
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return Activation::GELUTanh;
  if (act == "relu") return Activation::ReLU;
  if (act == "relu2") return Activation::ReLU2;
  fail(r.source(), ": ", key, " ", shown(act),
       " is not supported (supported: silu, gelu, gelu_new, gelu_pytorch_tanh, relu, relu2)");
}

// id2label {"0": "negative", ...}: every id 0..n-1 exactly once.
inline void parse_labels(const ConfigReader& r, ModelConfig& c) {
  c.problem_type = r.string_or("problem_type", "");
  check(c.problem_type.empty() || c.problem_type == "single_label_classification" ||
            c.problem_type == "multi_label_classification" || c.problem_type == "regression",
        r.source(), ": problem_type ", shown(c.problem_type),
        " is not supported (supported: single_label_classification, multi_label_classification, regression)");
  if (!r.has("id2label")) return;
  const auto& m = r.at("id2label");
  check(m.is_object() && !m.empty() && m.size() <= 65536, r.source(),
        ": id2label must be an object of 1 to 65536 labels");
  c.id2label.assign(m.size(), std::string());
  std::vector<bool> seen(m.size(), false);
  for (const auto& [key, value] : m.items()) {
    std::size_t id = 0;
    bool digits = !key.empty() && key.size() <= 6;
    for (char ch : key) digits = digits && ch >= '0' && ch <= '9';
    if (digits) id = std::size_t(std::stoul(key));
    check(digits && id < m.size() && !seen[id], r.source(), ": id2label key ", shown(key),
          " is not a class id in [0, ", m.size(), ") given once");
    check(value.is_string(), r.source(), ": id2label[", key, "] must be a string, got ", shown_json(value));
    seen[id] = true;
    c.id2label[id] = value.get<std::string>();
  }
}

inline void parse_special_ids(const ConfigReader& r, ModelConfig& c) {
  c.bos_token_id = std::nullopt;
  if (auto bos = r.id_list("bos_token_id", c.vocab_size); !bos.empty()) {
    check(bos.size() == 1, r.source(), ": bos_token_id must be a single id");
    c.bos_token_id = bos[0];
  }
  c.eos_token_ids = r.id_list("eos_token_id", c.vocab_size);
  if (auto pad = r.id_list("pad_token_id", c.vocab_size); pad.size() == 1) c.pad_token_id = pad[0];
}

// Heads must divide the width; each head's size is then hidden / heads.
inline void set_heads(const ConfigReader& r, ModelConfig& c, const char* heads_key, const char* hidden_key) {
  check(c.hidden_size % c.num_heads == 0, r.source(), ": ", hidden_key, " (", c.hidden_size,
        ") is not divisible by ", heads_key, " (", c.num_heads, ")");
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  check(c.head_dim <= ConfigLimits::max_head_dim, r.source(), ": head size ", c.head_dim, " exceeds ",
        ConfigLimits::max_head_dim);
}

// BertConfig (model_type "bert"): BertModel and the task models built on it.
inline void parse_bert(const ConfigReader& r, ModelConfig& c) {
  using L = ConfigLimits;
  c.hidden_size = r.integer("hidden_size", 1, L::max_hidden);
  c.intermediate_size = r.integer("intermediate_size", 1, L::max_intermediate);
  c.num_layers = r.integer("num_hidden_layers", 1, L::max_layers);
  c.num_heads = r.integer("num_attention_heads", 1, L::max_heads);
  set_heads(r, c, "num_attention_heads", "hidden_size");
  c.vocab_size = r.integer("vocab_size", 1, L::max_vocab);
  c.max_position_embeddings = r.integer("max_position_embeddings", 1, L::max_positions);
  c.type_vocab_size = r.integer_or("type_vocab_size", 2, 1, 1 << 16);
  c.norm_eps = r.number_or("layer_norm_eps", 1e-12, 0.0, 1.0);
  check(c.norm_eps > 0, r.source(), ": field 'layer_norm_eps' must be positive");
  c.hidden_act = parse_activation(r, "hidden_act", "gelu");
  check(c.hidden_act == Activation::GELU || c.hidden_act == Activation::GELUTanh, r.source(), ": hidden_act ",
        shown(r.string_or("hidden_act", "")), " is not supported for bert (supported: gelu, gelu_new, gelu_pytorch_tanh)");
  const std::string pos = r.string_or("position_embedding_type", "absolute");
  check(pos == "absolute", r.source(), ": position_embedding_type ", shown(pos),
        " is not supported (supported: absolute)");
  check(!r.boolean_or("is_decoder", false), r.source(), ": is_decoder true (BERT as a causal decoder) is not supported");
  check(!r.boolean_or("add_cross_attention", false), r.source(), ": add_cross_attention true is not supported");
  c.qkv_bias = c.o_bias = true;
  parse_special_ids(r, c);
  parse_labels(r, c);
}

// GPT2Config (model_type "gpt2").
inline void parse_gpt2(const ConfigReader& r, ModelConfig& c) {
  using L = ConfigLimits;
  c.hidden_size = r.integer("n_embd", 1, L::max_hidden);
  c.num_layers = r.integer("n_layer", 1, L::max_layers);
  c.num_heads = r.integer("n_head", 1, L::max_heads);
  set_heads(r, c, "n_head", "n_embd");
  c.intermediate_size = r.integer_or("n_inner", 4 * c.hidden_size, 1, L::max_intermediate);
  c.vocab_size = r.integer("vocab_size", 1, L::max_vocab);
  c.max_position_embeddings = r.integer("n_positions", 1, L::max_positions);
  c.norm_eps = r.number_or("layer_norm_epsilon", 1e-5, 0.0, 1.0);
  check(c.norm_eps > 0, r.source(), ": field 'layer_norm_epsilon' must be positive");
  c.hidden_act = parse_activation(r, "activation_function", "gelu_new");
  check(c.hidden_act == Activation::GELU || c.hidden_act == Activation::GELUTanh, r.source(),
        ": activation_function ", shown(r.string_or("activation_function", "")),
        " is not supported for gpt2 (supported: gelu, gelu_new, gelu_pytorch_tanh)");
  check(r.boolean_or("scale_attn_weights", true), r.source(), ": scale_attn_weights false is not supported");
  check(!r.boolean_or("scale_attn_by_inverse_layer_idx", false), r.source(),
        ": scale_attn_by_inverse_layer_idx true is not supported");
  check(!r.boolean_or("add_cross_attention", false), r.source(), ": add_cross_attention true is not supported");
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", true);  // GPT2Config's default
  c.qkv_bias = c.o_bias = true;
  parse_special_ids(r, c);
}

// "strata_variants": {"sigmoid_bias": b, "clip_gamma": g, "clip_zeta": z, "deepnorm_alpha": a,
//                     "sink_tokens": s, "kv_budget": n, "a2sf_forgetting": f,
//                     "loops": n, "loop_lora_rank": r}.
inline VariantParams parse_variants(const ConfigReader& r) {
  VariantParams v;
  if (!r.has("strata_variants")) return v;
  const auto& j = r.at("strata_variants");
  const std::string src = r.source() + " strata_variants";
  ConfigReader s(j, src);
  for (const auto& [key, value] : j.items()) {
    (void)value;
    check(key == "sigmoid_bias" || key == "clip_gamma" || key == "clip_zeta" || key == "deepnorm_alpha" ||
              key == "sink_tokens" || key == "kv_budget" || key == "a2sf_forgetting" || key == "loops" ||
              key == "loop_lora_rank",
          src, ": unknown field ", shown(key),
          " (known: sigmoid_bias, clip_gamma, clip_zeta, deepnorm_alpha, sink_tokens, kv_budget, a2sf_forgetting, "
          "loops, loop_lora_rank)");
  }
  if (s.has("sigmoid_bias")) v.sigmoid_bias = s.number_or("sigmoid_bias", 0.0, -1e6, 1e6);
  v.clip_gamma = s.number_or("clip_gamma", v.clip_gamma, -1.0, 0.0);
  v.clip_zeta = s.number_or("clip_zeta", v.clip_zeta, 1.0, 2.0);
  if (s.has("deepnorm_alpha")) v.deepnorm_alpha = s.number_or("deepnorm_alpha", 1.0, 1e-6, 1e6);
  v.sink_tokens = s.integer_or("sink_tokens", v.sink_tokens, 0, ConfigLimits::max_positions);
  v.kv_budget = s.integer_or("kv_budget", v.kv_budget, 1, ConfigLimits::max_positions);
  v.a2sf_forgetting = s.number_or("a2sf_forgetting", v.a2sf_forgetting, 0.0, 1.0);
  check(v.a2sf_forgetting > 0, src, ": field 'a2sf_forgetting' = ", v.a2sf_forgetting, " is out of range (0, 1]");
  v.loops = s.integer_or("loops", v.loops, 1, 64);
  v.loop_lora_rank = s.integer_or("loop_lora_rank", v.loop_lora_rank, 0, 4096);
  check(v.loop_lora_rank == 0 || v.loops > 1, src, ": field 'loop_lora_rank' needs 'loops' > 1");
  return v;
}

}  // namespace detail

// Parses a config.json object; `source` names it in error messages.
inline ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source = "config.json") {
  using L = ConfigLimits;
  detail::ConfigReader r(j, source);
  ModelConfig c;
  c.model_type = r.string_or("model_type", "");
  check(!c.model_type.empty(), source, ": required field 'model_type' is missing");
  check(c.model_type != "vit" && c.model_type != "deit", source, ": model_type ", detail::shown(c.model_type),
        " is an image model (load it with load_vision_model; tools: classify-image, embed-image)");
  check(c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "mixtral" ||
            c.model_type == "qwen2" || c.model_type == "qwen3" || c.model_type == "gemma" ||
            c.model_type == "gpt2" || c.model_type == "bert",
        source, ": model_type ", detail::shown(c.model_type),
        " is not supported (supported: llama, mistral, mixtral, qwen2, qwen3, gemma, gpt2, bert)");
  if (c.model_type == "bert" || c.model_type == "gpt2") {
    if (c.model_type == "bert") detail::parse_bert(r, c);
    else detail::parse_gpt2(r, c);
    c.quant = detail::parse_quantization_config(r);
    return c;
  }

  c.hidden_size = r.integer("hidden_size", 1, L::max_hidden);
  c.intermediate_size = r.integer("intermediate_size", 1, L::max_intermediate);
  c.num_layers = r.integer("num_hidden_layers", 1, L::max_layers);
  c.num_heads = r.integer("num_attention_heads", 1, L::max_heads);
  c.num_kv_heads = r.integer_or("num_key_value_heads", c.num_heads, 1, L::max_heads);
  check(c.num_heads % c.num_kv_heads == 0, source, ": num_attention_heads (", c.num_heads,
        ") must be a multiple of num_key_value_heads (", c.num_kv_heads, ")");
  const bool gemma = c.model_type == "gemma";
  if (r.has("head_dim") || gemma) {  // GemmaConfig: head_dim 256 by default
    c.head_dim = r.integer_or("head_dim", 256, 2, L::max_head_dim);
  } else {
    check(c.hidden_size % c.num_heads == 0, source, ": hidden_size (", c.hidden_size,
          ") is not divisible by num_attention_heads (", c.num_heads, ") and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  check(c.head_dim % 2 == 0, source, ": head_dim (", c.head_dim, ") must be even for rotary embeddings");
  check(c.head_dim <= L::max_head_dim, source, ": head_dim (", c.head_dim, ") exceeds ", L::max_head_dim);
  c.vocab_size = r.integer("vocab_size", 1, L::max_vocab);
  c.max_position_embeddings = r.integer("max_position_embeddings", 1, L::max_positions);
  c.norm_eps = r.number_or("rms_norm_eps", 1e-6, 0.0, 1.0);
  check(c.norm_eps > 0, source, ": field 'rms_norm_eps' must be positive");
  c.rope_theta = r.number_or("rope_theta", 10000.0, 1.0, 1e12);
  c.rope_scaling = detail::parse_rope_scaling(r);
  c.quant = detail::parse_quantization_config(r);
  // LlamaConfig, MistralConfig, Qwen2/3Config default to an untied head, GemmaConfig to a tied one.
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", gemma);

  // Any activation parses; which ones a model type supports is the
  // composition's business (load_decoder names the ones it compiles in).
  // Gemma reads hidden_activation and, when that is unset, uses the tanh
  // GELU whatever hidden_act says (as transformers' GemmaMLP does).
  c.hidden_act = gemma ? detail::parse_activation(r, "hidden_activation", "gelu_pytorch_tanh")
                       : detail::parse_activation(r, "hidden_act", "silu");
  check(!r.boolean_or("mlp_bias", false), source, ": mlp_bias true is not supported");
  c.variants = detail::parse_variants(r);

  if (c.model_type == "qwen2" || c.model_type == "qwen3")
    check(!r.boolean_or("use_sliding_window", false), source, ": use_sliding_window true is not supported for ",
          c.model_type, " (per-layer windows)");
  if (c.model_type == "qwen2") c.qkv_bias = true;
  else if (c.model_type == "mistral") c.sliding_window = r.integer_or("sliding_window", 0, 1, L::max_positions);
  else c.qkv_bias = c.o_bias = r.boolean_or("attention_bias", false);  // llama, qwen3, gemma
  c.qk_norm = c.model_type == "qwen3";
  if (c.model_type == "mixtral") {  // MixtralConfig defaults: 8 experts, top-2
    c.num_experts = r.integer_or("num_local_experts", 8, 1, L::max_experts);
    c.experts_per_token = r.integer_or("num_experts_per_tok", 2, 1, L::max_experts);
    check(c.experts_per_token <= c.num_experts, source, ": num_experts_per_tok (", c.experts_per_token,
          ") exceeds num_local_experts (", c.num_experts, ")");
    check(!r.has("sliding_window"), source,
          ": sliding_window is not supported for mixtral (the published Mixtral configs have null)");
  }
  if (gemma) c.embed_scale = std::sqrt(double(c.hidden_size));

  detail::parse_special_ids(r, c);
  return c;
}

// Reads DIR/config.json and, when present, DIR/generation_config.json, whose
// bos/eos ids take precedence (as in transformers' generate()).
inline ModelConfig load_model_config(const std::filesystem::path& dir) {
  const auto cfg_path = dir / "config.json";
  std::error_code ec;
  check(std::filesystem::exists(cfg_path, ec), cfg_path.string(), ": not found (is ", dir.string(),
        " a Hugging Face model folder?)");
  ModelConfig c = parse_model_config(detail::read_json_file(cfg_path), cfg_path.string());
  const auto gen_path = dir / "generation_config.json";
  if (std::filesystem::exists(gen_path, ec)) {
    const auto gj = detail::read_json_file(gen_path);
    detail::ConfigReader g(gj, gen_path.string());
    if (auto bos = g.id_list("bos_token_id", c.vocab_size); !bos.empty()) c.bos_token_id = bos[0];
    if (auto eos = g.id_list("eos_token_id", c.vocab_size); !eos.empty()) c.eos_token_ids = eos;
  }
  return c;
}

}  // namespace strata
