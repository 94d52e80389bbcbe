// The work of the `quantize` tool, as a function the tool and the tests share:
// a dense (F32/BF16/F16) Llama-family checkpoint in, strata's quantized
// layout out (include/strata/io/quant_checkpoint.hpp):
//
//   <prefix>.qcodes   U8  [N, K] (q8) or [N, K/2] (4-bit: byte j holds k = 2j
//                     in the low nibble, 2j + 1 in the high)
//   <prefix>.qscales  F32 [N, K/G]
//   <prefix>.qmins    F32 [N, K/G]   (asymmetric q4 only)
//   __metadata__ {"format": "pt", "strata.quantization": "{\"type\":...,\"group\":...,\"asym\":...}"}
//
// for every projection of every block (model.layers.N.self_attn.{q,k,v,o}_proj,
// model.layers.N.mlp.{gate,up,down}_proj; 2-D, K a multiple of the group, not
// named by --keep) and, with --quant-head, an untied lm_head. The codes and
// scales are those Linear<Quantized<B>> computes when it quantizes the same
// checkpoint at load (the same row reader and kernels::quantize_rows), so
// the two load into identical matrices. Every other tensor is copied with its
// stored dtype, bit for bit.
//
// Memory: the source is mmap'd; each output tensor is produced by the
// writer's fill callback, one row at a time, and the source pages are
// released after use, so the model is never held twice.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/io/safetensors_writer.hpp"
#include "strata/kernels/quant.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/weights.hpp"

namespace strata::tools {

struct QuantizeOptions {
  std::filesystem::path model;  // the dense model folder
  std::filesystem::path out;    // the folder to write (created; must be empty unless force)
  // enabled, type, group, asym, quantize_head, keep_dense (name parts of projections left dense)
  QuantSpec spec;
  bool force = false;  // write into a non-empty `out`
  // After each tensor is written: (tensors written, tensors in all, bytes written, bytes in all).
  std::function<void(std::size_t, std::size_t, std::uint64_t, std::uint64_t)> on_progress;
  // Something the user may want to know that is not an error (e.g. a tied head stays dense).
  std::function<void(const std::string&)> on_note;
};

struct QuantizeReport {
  std::filesystem::path written;       // out / model.safetensors
  std::uint64_t bytes_in = 0;          // the source safetensors files
  std::uint64_t bytes_out = 0;         // the written file
  std::uint64_t quant_weights = 0;     // weights of the quantized projections
  std::uint64_t quant_bytes = 0;       // their codes, scales and offsets
  std::size_t quantized = 0;           // projections quantized
  std::size_t copied = 0;              // tensors copied as stored
  std::vector<std::string> files_copied;  // config.json, tokenizer.json, ...

  double bits_per_weight() const { return quant_weights ? 8.0 * double(quant_bytes) / double(quant_weights) : 0.0; }
};

// Copied unchanged into the output folder, those present.
inline constexpr const char* kQuantizeCopiedFiles[] = {"config.json", "generation_config.json", "tokenizer.json",
                                                       "tokenizer_config.json", "special_tokens_map.json"};
// What the weights are written to first, in the output folder; renamed to
// model.safetensors once complete.
inline constexpr const char* kQuantizePartialName = ".model.safetensors.partial";

// model.layers.<N>.self_attn.{q,k,v,o}_proj.weight or model.layers.<N>.mlp.{gate,up,down}_proj.weight
inline bool is_block_projection(std::string_view name) {
  constexpr std::string_view head = "model.layers.", tail = ".weight";
  if (!name.starts_with(head) || !name.ends_with(tail)) return false;
  name.remove_prefix(head.size());
  name.remove_suffix(tail.size());
  std::size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits == 0 || digits >= name.size() || name[digits] != '.') return false;
  name.remove_prefix(digits + 1);
  for (std::string_view p : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
    if (name == p) return true;
  return false;
}

// The metadata value recorded for a format: {"type":"q4","group":32,"asym":false}.
inline std::string strata_quant_metadata_value(const QuantSpec& q) {
  const nlohmann::ordered_json j = {{"type", quant_type_name(q.type)}, {"group", q.group}, {"asym", q.asym}};
  return j.dump();
}

namespace detail {

inline void store_f32_le(std::byte* dst, const float* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto bits = std::bit_cast<std::uint32_t>(src[i]);
    for (int b = 0; b < 4; ++b) dst[4 * i + std::size_t(b)] = std::byte((bits >> (8 * b)) & 0xFF);
  }
}

// One projection being quantized: the codes are written by the .qcodes fill
// (row by row, straight into the writer's buffer); the scales and offsets,
// 1/G of the size, are kept until the .qscales / .qmins fills copy them out.
class ProjectionQuantizer {
 public:
  ProjectionQuantizer(const io::Checkpoint& ck, const io::TensorView& t, const QuantSpec& q)
      : ck_(ck), t_(t), q_(q), n_(t.shape[0]), k_(t.shape[1]) {}

  std::int64_t rows() const { return n_; }
  std::int64_t cols() const { return k_; }
  std::int64_t groups() const { return k_ / q_.group; }
  std::int64_t code_cols() const { return kernels::quant_is_4bit(q_.type) ? k_ / 2 : k_; }

  // Quantizes every row; codes to dst ([N, code_cols()] bytes) unless null.
  // Each row goes through kernels::quantize_rows into a one-row QuantMatrix,
  // the very call Linear's quantize_at_load makes, and is read back from it:
  // whatever the quantizers do, the file holds the codes a load-time
  // quantization would pack.
  void run(std::byte* dst) {
    if (done_ && dst == nullptr) return;
    const std::int64_t K = k_, ng = groups();
    d_.assign(std::size_t(n_ * ng), 0.0f);
    m_.assign(q_.asym ? d_.size() : 0, 0.0f);
    std::vector<float> row(static_cast<std::size_t>(K));
    kernels::QuantMatrix one(q_.type, 1, K, q_.group, q_.asym);
    ck_.check_unchanged(t_);
    for (std::int64_t n = 0; n < n_; ++n) {
      read_elements<float>(ck_, t_, std::size_t(n * K), std::size_t(K), row.data());  // as quantize_at_load
      for (std::int64_t k = 0; k < K; ++k)
        if (!std::isfinite(row[std::size_t(k)]))
          fail(t_.file.string(), ": tensor ", io::detail::quote(t_.name), " holds a non-finite value (row ", n,
               ", column ", k, "); it cannot be quantized");
      kernels::quantize_rows(one, 0, 1, row.data());
      for (std::int64_t g = 0; g < ng; ++g) {
        const float d = one.scale(0, g), m = one.offset(0, g);
        // Cannot happen for finite rows; the loader would refuse the file.
        check(std::isfinite(d) && std::isfinite(m), t_.file.string(), ": tensor ", io::detail::quote(t_.name),
              ": row ", n, " gives a non-finite scale");
        d_[std::size_t(n * ng + g)] = d;
        if (q_.asym) m_[std::size_t(n * ng + g)] = m;
      }
      if (dst == nullptr) continue;
      std::byte* out = dst + n * code_cols();
      if (!kernels::quant_is_4bit(q_.type)) {
        for (std::int64_t k = 0; k < K; ++k) out[k] = std::byte(one.code(0, k));
      } else {
        for (std::int64_t j = 0; j < K / 2; ++j)
          out[j] = std::byte(std::uint8_t(one.code(0, 2 * j) | (one.code(0, 2 * j + 1) << 4)));
      }
    }
    done_ = true;
  }

  void write_scales(std::byte* dst, std::size_t nbytes) {
    run(nullptr);
    check(nbytes == d_.size() * 4, "quantize: internal error: scale buffer size");
    store_f32_le(dst, d_.data(), d_.size());
    std::vector<float>().swap(d_);
  }
  void write_mins(std::byte* dst, std::size_t nbytes) {
    run(nullptr);
    check(nbytes == m_.size() * 4, "quantize: internal error: offset buffer size");
    store_f32_le(dst, m_.data(), m_.size());
    std::vector<float>().swap(m_);
  }

 private:
  const io::Checkpoint& ck_;
  const io::TensorView& t_;
  QuantSpec q_;
  std::int64_t n_, k_;
  bool done_ = false;
  std::vector<float> d_, m_;
};

}  // namespace detail

// Checks the options and the input, then writes out/model.safetensors (via a
// temporary file renamed at the end: a failed run leaves no model.safetensors)
// and copies the config and tokenizer files. Every fault is a strata::Error
// (or std::filesystem_error for the file system) with a one-line message.
inline QuantizeReport quantize_checkpoint(const QuantizeOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const QuantSpec& q = o.spec;
  check(q.enabled, "quantize: no format given (--type)");
  kernels::check_quant_params(q.type, q.group, q.asym, "quantize");

  // ---- the folders ----
  check(!o.model.empty(), "--model: empty path");
  check(!o.out.empty(), "--out: empty path");
  check(fs::is_directory(o.model, ec), "--model ", o.model.string(), ": no such directory");
  const bool out_exists = fs::exists(o.out, ec);
  if (out_exists) {
    check(fs::is_directory(o.out, ec), "--out ", o.out.string(), ": exists and is not a directory");
    check(!fs::equivalent(o.model, o.out, ec), "--out ", o.out.string(),
          " is the --model folder; write the quantized model to another folder");
    check(o.force || fs::is_empty(o.out, ec), "--out ", o.out.string(),
          ": the folder is not empty (--force writes into it, replacing the files it writes)");
  }

  // ---- the input: a dense Llama-family checkpoint ----
  const ModelConfig c = load_model_config(o.model);
  check(!c.quant.enabled, o.model.string(), ": the checkpoint is already quantized (", c.quant.describe(),
        ", config.json quantization_config); quantize takes an f32/bf16/f16 checkpoint");
  const io::Checkpoint ck = io::Checkpoint::open(o.model);
  const QuantSpec stored = io::strata_quant_metadata(ck);
  check(!stored.enabled, o.model.string(), ": the checkpoint is already quantized (", stored.describe(),
        ", safetensors __metadata__ \"", io::kStrataQuantKey, "\"); quantize takes an f32/bf16/f16 checkpoint");
  for (const auto& name : ck.tensor_names())
    for (std::string_view s : {".qcodes", ".qweight", ".qzeros"})
      check(!std::string_view(name).ends_with(s), ck.source(), ": tensor ", io::detail::quote(name),
            " is a quantized tensor; quantize takes an f32/bf16/f16 checkpoint");

  if (q.quantize_head && c.tie_word_embeddings && o.on_note)
    o.on_note("the LM head is tied to the embedding table; it stays as stored (--quant-head applies to untied heads)");

  // ---- what to write ----
  QuantizeReport rep;
  std::vector<io::TensorToWrite> ts;
  for (const auto& name : ck.tensor_names()) {
    const io::TensorView& t = *ck.find(name);
    const std::string prefix = name.size() > 7 ? name.substr(0, name.size() - 7) : name;  // less ".weight"
    const bool candidate = is_block_projection(name) || (name == "lm_head.weight" && q.quantize_head && !c.tie_word_embeddings);
    const bool quantize = candidate && t.shape.size() == 2 && t.shape[0] > 0 && t.shape[1] > 0 &&
                          t.shape[1] % q.group == 0 && !keeps_dense(q, prefix);
    if (!quantize) {
      ts.push_back({name, t.dtype, t.shape, [&ck, &t](std::byte* dst, std::size_t n) {
                      check(n == t.nbytes, "quantize: internal error: size of ", t.name);
                      ck.check_unchanged(t);
                      if (n > 0) std::memcpy(dst, t.data, n);
                      ck.release(t);
                    }});
      ++rep.copied;
      continue;
    }
    check(dtype_is_float(t.dtype), t.file.string(), ": tensor ", io::detail::quote(name), " is ",
          dtype_name(t.dtype), ", expected F32, BF16 or F16 (a dense projection)");
    auto pq = std::make_shared<detail::ProjectionQuantizer>(ck, t, q);
    const std::int64_t N = pq->rows(), ng = pq->groups();
    ts.push_back({prefix + ".qcodes", DType::U8, {N, pq->code_cols()},
                  [pq](std::byte* dst, std::size_t) { pq->run(dst); }});
    ts.push_back({prefix + ".qscales", DType::F32, {N, ng},
                  [pq](std::byte* dst, std::size_t n) { pq->write_scales(dst, n); }});
    if (q.asym)
      ts.push_back({prefix + ".qmins", DType::F32, {N, ng},
                    [pq](std::byte* dst, std::size_t n) { pq->write_mins(dst, n); }});
    ++rep.quantized;
    rep.quant_weights += std::uint64_t(N * pq->cols());
    rep.quant_bytes += std::uint64_t(N * pq->code_cols()) + std::uint64_t(N * ng) * 4 * (q.asym ? 2 : 1);
  }
  std::uint64_t total = 0;
  for (const auto& t : ts) total += t.nbytes();
  for (const auto& f : ck.files()) rep.bytes_in += fs::file_size(f->path());

  // ---- write ----
  if (!out_exists) fs::create_directories(o.out);
  const auto free_bytes = fs::space(o.out).available;
  check(total <= free_bytes, "--out ", o.out.string(), ": the quantized model needs ", total, " bytes but only ",
        free_bytes, " are free");
  const fs::path partial = o.out / kQuantizePartialName, final_path = o.out / std::string(io::kSafetensorsFileName);
  try {
    std::uint64_t done = 0;
    io::write_safetensors(partial, ts, {{"format", "pt"}, {io::kStrataQuantKey, strata_quant_metadata_value(q)}},
                          [&](std::size_t i, std::size_t n) {
                            done += ts[i - 1].nbytes();
                            if (o.on_progress) o.on_progress(i, n, done, total);
                          });
    for (const char* f : kQuantizeCopiedFiles) {
      const fs::path src = o.model / f;
      if (!fs::is_regular_file(src, ec)) continue;
      // Replaced, not written through: the old copy may be read-only (copies keep the source's
      // permissions, and model folders in caches often are read-only); the new one is made writable.
      fs::remove(o.out / f);
      fs::copy_file(src, o.out / f);
      fs::permissions(o.out / f, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::add);
      rep.files_copied.emplace_back(f);
    }
    // A stale index from an earlier model in the folder would name shards we did not write.
    fs::remove(o.out / std::string(io::kSafetensorsIndexName), ec);
    fs::rename(partial, final_path);
  } catch (...) {
    fs::remove(partial, ec);
    throw;
  }
  rep.written = final_path;
  rep.bytes_out = fs::file_size(final_path);
  return rep;
}

}  // namespace strata::tools
