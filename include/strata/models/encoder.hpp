// Encoders (the BERT family): token + position + token-type embeddings →
// LayerNorm → N × post-norm EncoderBlock, with the optional pooler and
// sequence-classification head of the HF task models. A batch is a packed
// token stream (SequenceSpans): texts of different lengths run as one
// [T, hidden] matrix through every projection, and attention stays within
// each text, so no work is spent on padding (the ByteTransformer idea,
// Zhai et al. 2023). Padded batches are supported too, for comparison.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <system_error>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/decoder_block.hpp"
#include "strata/layers/encoder_block.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/layernorm.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/weights.hpp"
#include "strata/models/causal_lm.hpp"
#include "strata/models/llama.hpp"

namespace strata {

// A batch of token sequences for an encoder: ids and token types of every
// sequence, one after the other (packed), or each padded to the longest.
struct EncoderBatch {
  std::vector<std::int32_t> ids, type_ids;
  SequenceSpans seqs{{0}, {}};

  // Appends one sequence (type_ids empty: all 0).
  void add(std::span<const std::int32_t> seq_ids, std::span<const std::int32_t> seq_types = {}) {
    check(seq_types.empty() || seq_types.size() == seq_ids.size(), "EncoderBatch: ", seq_types.size(),
          " token types for ", seq_ids.size(), " tokens");
    check(!seq_ids.empty(), "EncoderBatch: an empty sequence (an encoder needs at least one token)");
    ids.insert(ids.end(), seq_ids.begin(), seq_ids.end());
    if (seq_types.empty()) type_ids.insert(type_ids.end(), seq_ids.size(), 0);
    else type_ids.insert(type_ids.end(), seq_types.begin(), seq_types.end());
    seqs.len.push_back(std::int64_t(seq_ids.size()));
    seqs.start.push_back(std::int64_t(ids.size()));
  }

  // The same sequences, each padded with pad_id (type 0) to the longest, as a
  // padded batch with an attention mask computes them.
  EncoderBatch padded(std::int32_t pad_id) const {
    std::int64_t longest = 0;
    for (auto n : seqs.len) longest = std::max(longest, n);
    EncoderBatch b;
    for (std::int64_t i = 0; i < count(); ++i) {
      const std::int64_t s0 = seqs.start[std::size_t(i)], n = seqs.len[std::size_t(i)];
      b.ids.insert(b.ids.end(), ids.begin() + s0, ids.begin() + s0 + n);
      b.ids.insert(b.ids.end(), std::size_t(longest - n), pad_id);
      b.type_ids.insert(b.type_ids.end(), type_ids.begin() + s0, type_ids.begin() + s0 + n);
      b.type_ids.insert(b.type_ids.end(), std::size_t(longest - n), 0);
      b.seqs.len.push_back(n);
      b.seqs.start.push_back(std::int64_t(b.ids.size()));
    }
    return b;
  }

  std::int64_t count() const { return seqs.count(); }
  std::int64_t tokens() const { return std::int64_t(ids.size()); }
  void clear() { *this = EncoderBatch{}; }
};

// Activations of one encoder forward pass, grown on demand and reused.
struct EncoderWorkspace {
  std::vector<float> x, tmp, q, ctx, gate, pooled, logits;
  std::int64_t tokens = 0;

  // Grows by at least a quarter at a time: batches of texts vary in length,
  // and each growth costs fresh pages.
  void ensure(const ModelConfig& c, std::int64_t T) {
    if (T <= tokens) return;
    T = std::max(T, tokens + tokens / 4);
    tokens = T;
    auto sz = [T](std::int64_t per_token) { return std::size_t(T * per_token); };
    for (auto* b : {&x, &tmp, &ctx}) b->resize(sz(c.hidden_size));
    q.resize(sz(c.q_dim() + 2 * c.kv_dim()));  // the attention's q, k, v rows
    gate.resize(sz(c.intermediate_size));
  }
  // Hidden state of token t (after forward: last_hidden_state).
  const float* hidden(std::int64_t t, std::int64_t H) const { return x.data() + t * H; }
};

// The run-time face of an encoder, whatever composition its checkpoint maps to.
class EncoderModel {
 public:
  virtual ~EncoderModel() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::string name() const = 0;
  virtual std::size_t weight_bytes() const = 0;
  virtual bool has_pooler() const = 0;
  virtual bool has_classifier() const = 0;

  // last_hidden_state of every token of the batch into ws.x ([T, hidden]).
  // Throws strata::Error on an out-of-range id or token type, or a sequence
  // longer than max_position_embeddings.
  virtual void forward(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const = 0;
  // After forward: pooler_output tanh(dense(h[first token])) per sequence
  // into ws.pooled [n, hidden]. Needs has_pooler().
  virtual void pooler(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const = 0;
  // forward + pooler + classifier: logits [n, labels] into ws.logits. Needs has_classifier().
  virtual void classify(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const = 0;
};

namespace detail {
// The classes of a classification head "<weight>" [labels, in]: config.json's
// id2label when it has one (which must then name every row), LABEL_i
// otherwise; problem_type defaults as transformers' heads do.
inline std::int64_t classifier_labels(const io::Checkpoint& ck, const std::string& weight, ModelConfig& c) {
  const io::TensorView* w = ck.find(weight);
  check(w && w->shape.size() == 2 && w->shape[0] >= 1 && w->shape[0] <= 65536, ck.source(), ": ", weight,
        " must be [labels, hidden]");
  const std::int64_t labels = w->shape[0];
  auto& names = c.id2label;
  if (names.empty())
    for (std::int64_t i = 0; i < labels; ++i) names.push_back("LABEL_" + std::to_string(i));
  check(std::int64_t(names.size()) == labels, ck.source(), ": config.json id2label has ", names.size(),
        " labels but ", weight, " has ", labels, " rows");
  if (c.problem_type.empty()) c.problem_type = labels == 1 ? "regression" : "single_label_classification";
  return labels;
}
}  // namespace detail

using BertBlock = EncoderBlock<BidirectionalAttention<QKVOBias, BertAttnNames>, MLP<GELU, BertMLPNames>>;
using BertTanhBlock = EncoderBlock<BidirectionalAttention<QKVOBias, BertAttnNames>, MLP<GELUTanh, BertMLPNames>>;

// Encoder<Block, W>: BertModel (names with or without the "bert." prefix of
// the task models), its pooler when stored, and BertForSequenceClassification's
// classifier when the config has id2label and the checkpoint a classifier.
template <class Block, class W = float>
class Encoder final : public EncoderModel {
 public:
  using block_layer = typename Block::template layer<W>;
  using dense = dense_t<W>;

  static std::shared_ptr<Encoder> load(const io::Checkpoint& ck, const ModelConfig& c, std::string name,
                                       const LoadOptions& opt = {}) {
    check(c.is_encoder(), ck.source(), ": model_type ", c.model_type, " is not an encoder");
    auto m = std::shared_ptr<Encoder>(new Encoder());
    m->cfg_ = c;
    m->name_ = model_name<W>(std::move(name), c);
    const std::string p = ck.find("bert.embeddings.word_embeddings.weight") ? "bert." : "";
    const std::int64_t H = c.hidden_size;
    m->blocks_.resize(std::size_t(c.num_layers));
    detail::load_blocks_in_parallel(ck, p + "encoder.layer.", c, opt, m->blocks_, [&] {
      m->word_ = WeightTensor<float>::load(ck, p + "embeddings.word_embeddings.weight", {c.vocab_size, H});
      m->position_ =
          WeightTensor<float>::load(ck, p + "embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
      m->token_type_ =
          WeightTensor<float>::load(ck, p + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
      m->embed_norm_.load(ck, p + "embeddings.LayerNorm", H, c.norm_eps);
    });
    QuantSpec dense_spec;  // pooler and classifier stay dense (they run once per text)
    if (ck.find(p + "pooler.dense.weight")) m->pooler_.load(ck, p + "pooler.dense", H, H, true, dense_spec);
    if (ck.find("classifier.weight")) {  // BertForSequenceClassification
      const std::int64_t labels = detail::classifier_labels(ck, "classifier.weight", m->cfg_);
      check(m->has_pooler(), ck.source(), ": a sequence classifier needs the pooler (", p, "pooler.dense)");
      m->classifier_.load(ck, "classifier", labels, H, true, dense_spec);
    }
    return m;
  }

  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  const ModelConfig& config() const override { return cfg_; }
  std::string name() const override { return name_; }
  bool has_pooler() const override { return pooler_.out_features() > 0; }
  bool has_classifier() const override { return classifier_.out_features() > 0; }

  std::size_t weight_bytes() const override {
    std::size_t b = embed_norm_.bytes() + pooler_.bytes() + classifier_.bytes();
    for (const auto& blk : blocks_) b += blk.bytes();
    return b;
  }

  void forward(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const override {
    const auto& c = cfg_;
    const std::int64_t T = batch.tokens(), H = c.hidden_size;
    check(T > 0 && batch.seqs.tokens() == T && batch.type_ids.size() == batch.ids.size(),
          "encoder forward: an empty or inconsistent batch");
    for (std::int64_t i = 0; i < batch.count(); ++i) {
      const std::int64_t span = batch.seqs.start[std::size_t(i) + 1] - batch.seqs.start[std::size_t(i)];
      check(span <= c.max_position_embeddings, "sequence ", i, " has ", span, " tokens; the model has ",
            c.max_position_embeddings, " positions (truncate it)");
      check(batch.seqs.len[std::size_t(i)] >= 1 && batch.seqs.len[std::size_t(i)] <= span, "sequence ", i,
            ": bad length");
    }
    ws.ensure(c, T);
    // embeddings = LayerNorm(word_embeddings(ids) + token_type_embeddings(types) + position_embeddings(pos))
    for (std::int64_t i = 0; i < batch.count(); ++i) {
      for (std::int64_t t = batch.seqs.start[std::size_t(i)]; t < batch.seqs.start[std::size_t(i) + 1]; ++t) {
        const std::int32_t id = batch.ids[std::size_t(t)], type = batch.type_ids[std::size_t(t)];
        check(id >= 0 && id < c.vocab_size, "token id ", id, " is out of range [0, ", c.vocab_size, ")");
        check(type >= 0 && type < c.type_vocab_size, "token type id ", type, " is out of range [0, ",
              c.type_vocab_size, ")");
        const float *w = word_.row(id), *ty = token_type_.row(type),
                    *ps = position_.row(t - batch.seqs.start[std::size_t(i)]);
        float* x = ws.x.data() + t * H;
        for (std::int64_t j = 0; j < H; ++j) x[j] = w[j] + ty[j] + ps[j];
      }
    }
    embed_norm_.forward(ws.x.data(), T, ws.x.data(), pool);
    const BlockScratch s{nullptr, ws.tmp.data(), {ws.q.data(), nullptr, nullptr, ws.ctx.data()},
                         {ws.gate.data(), nullptr}};
    for (const auto& blk : blocks_) blk.forward(ws.x.data(), batch.seqs, s, pool);
  }

  void pooler(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const override {
    check(has_pooler(), name_, ": the checkpoint has no pooler");
    const std::int64_t n = batch.count(), H = cfg_.hidden_size;
    std::vector<float> first(std::size_t(n * H));
    for (std::int64_t i = 0; i < n; ++i) {
      const float* h = ws.hidden(batch.seqs.start[std::size_t(i)], H);
      std::copy(h, h + H, first.begin() + i * H);
    }
    ws.pooled.resize(std::size_t(n * H));
    pooler_.forward(first.data(), n, ws.pooled.data(), pool);  // pooled_output = tanh(dense(h[:, 0]))
    for (float& v : ws.pooled) v = std::tanh(v);
  }

  void classify(const EncoderBatch& batch, EncoderWorkspace& ws, ThreadPool& pool) const override {
    check(has_classifier(), name_, ": the checkpoint has no sequence-classification head");
    forward(batch, ws, pool);
    pooler(batch, ws, pool);
    ws.logits.resize(std::size_t(batch.count() * classifier_.out_features()));
    classifier_.forward(ws.pooled.data(), batch.count(), ws.logits.data(), pool);  // logits = classifier(pooled)
  }

 private:
  Encoder() = default;

  ModelConfig cfg_;
  std::string name_;
  WeightTensor<float> word_, position_, token_type_;
  LayerNorm embed_norm_;
  std::vector<block_layer> blocks_;
  Linear<dense> pooler_, classifier_;
};

// Picks the composition for an encoder config and loads it.
template <class W>
std::shared_ptr<const EncoderModel> load_encoder_as(const io::Checkpoint& ck, const ModelConfig& c,
                                                    const LoadOptions& opt) {
  check(c.model_type == "bert", ck.source(), ": model_type ", c.model_type, " is not an encoder (supported: bert)");
  if (c.hidden_act == Activation::GELUTanh) return Encoder<BertTanhBlock, W>::load(ck, c, "bert", opt);
  return Encoder<BertBlock, W>::load(ck, c, "bert", opt);
}

#if defined(STRATA_EXTERN_MODEL_TEMPLATES)
#define STRATA_ENCODER_INSTANCE(W)                                                                              \
  extern template std::shared_ptr<const EncoderModel> load_encoder_as<W>(const io::Checkpoint&, const ModelConfig&, \
                                                                         const LoadOptions&);
STRATA_ENCODER_INSTANCE(float)
STRATA_ENCODER_INSTANCE(bf16)
STRATA_ENCODER_INSTANCE(Quantized<float>)
#undef STRATA_ENCODER_INSTANCE
#endif

// Loads the encoder in a Hugging Face folder (config.json model_type bert,
// model.safetensors or a sharded index). `--quant` (opt.quant) quantizes the
// encoder blocks' projections at load; pooler and classifier stay dense.
inline std::shared_ptr<const EncoderModel> load_encoder(const std::filesystem::path& dir,
                                                        WeightType wt = WeightType::F32,
                                                        const LoadOptions& opt = {}) {
  std::error_code ec;
  check(std::filesystem::is_directory(dir, ec), dir.string(), ": not a directory");
  ModelConfig c = load_model_config(dir);
  check(c.is_encoder(), (dir / "config.json").string(), ": model_type ", c.model_type,
        " is a text generator, not an encoder (supported: bert)");
  const io::Checkpoint ck = io::Checkpoint::open(dir);
  resolve_quantization(c, ck, opt.quant, dir.string());
  resolve_compute(c, wt, opt, dir.string());
  check(!c.quant.enabled || c.quant.source == QuantSpec::Source::Dense, dir.string(),
        ": pre-quantized encoder checkpoints are not supported; quantize at load (--quant) instead");
  if (c.quant.enabled) {
    check(wt == WeightType::F32, dir.string(), ": quantized encoders keep their dense parts in f32 (drop --weights)");
    return load_encoder_as<Quantized<float>>(ck, c, opt);
  }
  check(wt != WeightType::F16, dir.string(), ": f16 weights are not offered for encoders (use f32 or bf16)");
  return wt == WeightType::BF16 ? load_encoder_as<bf16>(ck, c, opt) : load_encoder_as<float>(ck, c, opt);
}

}  // namespace strata
