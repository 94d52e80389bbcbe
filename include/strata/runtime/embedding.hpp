// Sentence embeddings from an encoder: pooling of the last hidden states
// (mean, CLS, max over each text's real tokens; optional L2 normalisation),
// the sentence-transformers folder settings that choose them (modules.json,
// 1_Pooling/config.json, sentence_bert_config.json), and Embedder: a model
// folder → texts in, embeddings out, batched and packed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "strata/io/hf_config.hpp"
#include "strata/models/encoder.hpp"

namespace strata {

enum class Pooling { Mean, CLS, Max };

inline const char* pooling_name(Pooling p) { return p == Pooling::Mean ? "mean" : p == Pooling::CLS ? "cls" : "max"; }

inline std::optional<Pooling> pooling_from_name(std::string_view s) {
  if (s == "mean") return Pooling::Mean;
  if (s == "cls") return Pooling::CLS;
  if (s == "max") return Pooling::Max;
  return std::nullopt;
}

// v / max(‖v‖₂, 1e-12), in place (torch.nn.functional.normalize).
inline void l2_normalize(float* v, std::int64_t n) {
  double ss = 0;
  for (std::int64_t j = 0; j < n; ++j) ss += double(v[j]) * v[j];
  const double inv = 1.0 / std::max(std::sqrt(ss), 1e-12);
  for (std::int64_t j = 0; j < n; ++j) v[j] = float(v[j] * inv);
}

// out [n, H]: one pooled vector per sequence of `seqs`, from the hidden
// states in ws (after EncoderModel::forward), over each sequence's real
// tokens; then x / max(‖x‖₂, 1e-12) when normalize (torch F.normalize).
inline void pool_hidden_states(const EncoderWorkspace& ws, std::int64_t H, const SequenceSpans& seqs, Pooling mode,
                               bool normalize, float* out) {
  for (std::int64_t i = 0; i < seqs.count(); ++i) {
    const std::int64_t s0 = seqs.start[std::size_t(i)], n = seqs.len[std::size_t(i)];
    float* o = out + i * H;
    if (mode == Pooling::CLS) {
      std::copy(ws.hidden(s0, H), ws.hidden(s0, H) + H, o);
    } else if (mode == Pooling::Max) {
      std::fill(o, o + H, -std::numeric_limits<float>::infinity());
      for (std::int64_t t = s0; t < s0 + n; ++t) {
        const float* h = ws.hidden(t, H);
        for (std::int64_t j = 0; j < H; ++j) o[j] = std::max(o[j], h[j]);
      }
    } else {
      std::vector<double> sum(std::size_t(H), 0.0);
      for (std::int64_t t = s0; t < s0 + n; ++t) {
        const float* h = ws.hidden(t, H);
        for (std::int64_t j = 0; j < H; ++j) sum[std::size_t(j)] += h[j];
      }
      for (std::int64_t j = 0; j < H; ++j) o[j] = float(sum[std::size_t(j)] / double(n));
    }
    if (normalize) l2_normalize(o, H);
  }
}

// What a sentence-transformers folder says about embedding with it.
struct SentenceConfig {
  bool found = false;                         // modules.json present
  std::optional<Pooling> pooling;             // from the Pooling module's config
  bool normalize = false;                     // a Normalize module follows
  std::optional<std::int64_t> max_seq_length; // sentence_bert_config.json
};

// Reads DIR/modules.json and the files it points to. Modules strata cannot
// run (Dense projections, other poolings) are errors naming the file.
inline SentenceConfig load_sentence_config(const std::filesystem::path& dir) {
  SentenceConfig sc;
  std::error_code ec;
  const auto modules_path = dir / "modules.json";
  if (!std::filesystem::exists(modules_path, ec)) return sc;
  sc.found = true;
  const std::string src = modules_path.string();
  const nlohmann::json modules = io::detail::read_json_file_bounded(modules_path, ConfigLimits::max_file_bytes);
  check(modules.is_array(), src, ": expected a list of modules");
  for (const auto& m : modules) {
    check(m.is_object() && m.contains("type") && m["type"].is_string(), src, ": a module without a \"type\"");
    const std::string type = m["type"].get<std::string>();
    const std::string path = m.contains("path") && m["path"].is_string() ? m["path"].get<std::string>() : "";
    if (type == "sentence_transformers.models.Transformer") continue;
    if (type == "sentence_transformers.models.Normalize") {
      sc.normalize = true;
      continue;
    }
    check(type == "sentence_transformers.models.Pooling", src, ": module type ", detail::shown(type),
          " is not supported (supported: Transformer, Pooling, Normalize)");
    check(!path.empty() && path.find("..") == std::string::npos && path.front() != '/', src,
          ": the Pooling module has no usable \"path\"");
    const auto pool_path = dir / path / "config.json";
    const nlohmann::json pj = io::detail::read_json_file_bounded(pool_path, ConfigLimits::max_file_bytes);
    detail::ConfigReader r(pj, pool_path.string());
    int modes = 0;
    for (const auto& [key, mode] : {std::pair{"pooling_mode_mean_tokens", Pooling::Mean},
                                    std::pair{"pooling_mode_cls_token", Pooling::CLS},
                                    std::pair{"pooling_mode_max_tokens", Pooling::Max}})
      if (r.boolean_or(key, false)) sc.pooling = mode, ++modes;
    for (const char* key : {"pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                            "pooling_mode_lasttoken"})
      check(!r.boolean_or(key, false), pool_path.string(), ": ", key, " is not supported (supported: mean, cls, max)");
    check(modes == 1, pool_path.string(), ": exactly one of mean / cls / max pooling must be set (", modes,
          " are)");
  }
  const auto sb = dir / "sentence_bert_config.json";
  if (std::filesystem::exists(sb, ec)) {
    const nlohmann::json j = io::detail::read_json_file_bounded(sb, ConfigLimits::max_file_bytes);
    detail::ConfigReader r(j, sb.string());
    if (r.has("max_seq_length")) sc.max_seq_length = r.integer("max_seq_length", 1, ConfigLimits::max_positions);
  }
  return sc;
}

}  // namespace strata
