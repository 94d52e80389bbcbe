// Texts in, vectors out: an encoder folder's weights, config, tokenizer and
// sentence-transformers settings behind one object.
//
//   auto enc = strata::TextEncoder::load("path/to/all-MiniLM-L6-v2");
//   std::vector<std::vector<float>> e = enc.embed({"first text", "second text"});
//   auto scores = strata::TextEncoder::load("path/to/bert-classifier").classify({"great movie"});
//
// Texts are tokenized ([CLS] ... [SEP], pairs as "a\tb" in the tools),
// truncated to the model's limit with a warning (or refused, by option), and
// run `batch` at a time as one packed token stream.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "strata/io/tokenizer.hpp"
#include "strata/models/encoder.hpp"
#include "strata/runtime/classification.hpp"
#include "strata/runtime/embedding.hpp"

namespace strata {

struct TextEncoderOptions {
  WeightType weights = WeightType::F32;
  int threads = 0;  // 0: one per hardware thread; loading uses as many unless load.threads is set
  LoadOptions load;
  std::optional<Pooling> pooling;  // default: the folder's sentence-transformers Pooling, else mean
  std::optional<bool> normalize;   // default: whether the folder has a Normalize module
  std::int64_t batch = 32;         // texts per forward pass
  // Token limit per text, special tokens included. 0: sentence_bert_config.json
  // max_seq_length, else tokenizer.json truncation, else max_position_embeddings
  // (never more than max_position_embeddings).
  std::int64_t max_length = 0;
  bool truncate = true;  // false: a text over the limit is an error
  bool padded = false;   // pad each batch to its longest text instead of packing (for comparison)
};

// One input: a text, or a pair (text, text_pair) for cross-encoders.
struct TextInput {
  std::string text;
  std::optional<std::string> pair;
};

class TextEncoder {
 public:
  static constexpr std::int64_t kMaxBatch = 1 << 16;

  static TextEncoder load(const std::filesystem::path& dir, const TextEncoderOptions& o = {}) {
    check(o.batch >= 1 && o.batch <= kMaxBatch, "batch size ", o.batch, " is out of range [1, ", kMaxBatch, "]");
    check(o.max_length >= 0, "max_length ", o.max_length, " is negative");
    TextEncoder e;
    e.opt_ = o;
    e.model_ = load_encoder(dir, o.weights, o.load.with_default_threads(o.threads));
    const std::filesystem::path tok = dir / "tokenizer.json";
    std::error_code ec;
    check(std::filesystem::exists(tok, ec), tok.string(), ": not found; an encoder folder needs its tokenizer");
    e.tokenizer_ = std::make_shared<Tokenizer>(Tokenizer::from_file(tok));
    check(e.tokenizer_->vocab_size() <= std::size_t(e.model_->config().vocab_size), tok.string(), ": the tokenizer has ",
          e.tokenizer_->vocab_size(), " ids but the model only ", e.model_->config().vocab_size);
    const SentenceConfig st = load_sentence_config(dir);
    e.pooling_ = o.pooling ? *o.pooling : st.pooling.value_or(Pooling::Mean);
    e.normalize_ = o.normalize ? *o.normalize : st.normalize;
    const std::int64_t positions = e.model_->config().max_position_embeddings;
    std::int64_t limit = o.max_length;
    if (limit == 0) limit = st.max_seq_length.value_or(0);
    if (limit == 0) limit = e.tokenizer_->truncation_max_length();
    if (limit == 0 || limit > positions) limit = positions;
    e.max_length_ = limit;
    e.pool_ = std::make_shared<ThreadPool>(o.threads);
    return e;
  }

  const EncoderModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Pooling pooling() const { return pooling_; }
  bool normalize() const { return normalize_; }
  std::int64_t max_length() const { return max_length_; }
  std::int64_t dim() const { return model_->config().hidden_size; }
  int threads() const { return pool_->size(); }

  // Called for each text cut to max_length: (index in the call, its tokens before).
  std::function<void(std::size_t, std::int64_t)> on_truncate;

  // Token ids of one input (special tokens, types, truncation as configured).
  Encoding tokenize(const TextInput& in, std::size_t index) const {
    const std::optional<std::string_view> pair =
        in.pair ? std::optional<std::string_view>(*in.pair) : std::nullopt;
    Encoding full = tokenizer_->encode_pair(in.text, pair, true, 0);
    const std::int64_t n = std::int64_t(full.ids.size());
    if (n <= max_length_) return full;
    check(opt_.truncate, "text ", index + 1, " has ", n, " tokens; the limit is ", max_length_,
          " (truncation is off)");
    if (on_truncate) on_truncate(index, n);
    return tokenizer_->encode_pair(in.text, pair, true, max_length_);
  }

  // One embedding (dim() floats) per text, pooled and normalised as configured.
  std::vector<std::vector<float>> embed(std::span<const TextInput> inputs) {
    std::vector<std::vector<float>> out;
    run(inputs, [&](const EncoderBatch& b) {
      std::vector<float> pooled(std::size_t(b.count() * dim()));
      pool_hidden_states(ws_, dim(), b.seqs, pooling_, normalize_, pooled.data());
      for (std::int64_t i = 0; i < b.count(); ++i)
        out.emplace_back(pooled.begin() + i * dim(), pooled.begin() + (i + 1) * dim());
    }, false);
    return out;
  }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) { return embed(as_inputs(texts)); }

  // Scores per label (id2label order): softmax for single-label
  // classification, sigmoid for multi-label, raw for regression.
  std::vector<std::vector<float>> classify(std::span<const TextInput> inputs) {
    check(model_->has_classifier(), model_->name(), ": the checkpoint has no sequence-classification head");
    const auto& c = model_->config();
    const std::size_t L = c.id2label.size();
    std::vector<std::vector<float>> out;
    run(inputs, [&](const EncoderBatch& b) {
      for (std::int64_t i = 0; i < b.count(); ++i) {
        const std::span<const float> logits(ws_.logits.data() + std::size_t(i) * L, L);
        out.push_back(classification_scores(logits, c.problem_type));
      }
    }, true);
    return out;
  }
  std::vector<std::vector<float>> classify(const std::vector<std::string>& texts) { return classify(as_inputs(texts)); }

  // Totals over every call: texts and real tokens (padding excluded).
  std::int64_t texts_done() const { return texts_; }
  std::int64_t tokens_done() const { return tokens_; }

 private:
  TextEncoder() = default;

  static std::vector<TextInput> as_inputs(const std::vector<std::string>& texts) {
    std::vector<TextInput> in;
    for (const auto& t : texts) in.push_back({t, std::nullopt});
    return in;
  }

  template <class OnBatch>
  void run(std::span<const TextInput> inputs, OnBatch on_batch, bool classify) {
    const std::int32_t pad = tokenizer_->pad_id().value_or(model_->config().pad_token_id.value_or(0));
    for (std::size_t b0 = 0; b0 < inputs.size(); b0 += std::size_t(opt_.batch)) {
      const std::size_t b1 = std::min(inputs.size(), b0 + std::size_t(opt_.batch));
      EncoderBatch batch;
      for (std::size_t i = b0; i < b1; ++i) {
        const Encoding e = tokenize(inputs[i], i);
        batch.add(e.ids, e.type_ids);
        tokens_ += std::int64_t(e.ids.size());
      }
      if (opt_.padded) batch = batch.padded(pad);
      if (classify) model_->classify(batch, ws_, *pool_);
      else model_->forward(batch, ws_, *pool_);
      on_batch(batch);
      texts_ += std::int64_t(b1 - b0);
    }
  }

  TextEncoderOptions opt_;
  std::shared_ptr<const EncoderModel> model_;
  std::shared_ptr<Tokenizer> tokenizer_;
  std::shared_ptr<ThreadPool> pool_;
  EncoderWorkspace ws_;
  Pooling pooling_ = Pooling::Mean;
  bool normalize_ = false;
  std::int64_t max_length_ = 0;
  std::int64_t texts_ = 0, tokens_ = 0;
};

}  // namespace strata
