// Text in, text out: a model folder's weights, config and tokenizer behind
// one object. The embedding entry point for applications:
//
//   auto lm = strata::TextGenerator::load("path/to/hf-model");
//   lm.generate("Once upon a time", {}, [](std::string_view s) { std::cout << s << std::flush; });
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "strata/io/tokenizer.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/generate.hpp"

namespace strata {

struct TextGeneratorOptions {
  WeightType weights = WeightType::F32;
  int threads = 0;  // 0: one per hardware thread; loading uses as many unless load.threads is set
  LoadOptions load;
};

class TextGenerator {
 public:
  static TextGenerator load(const std::filesystem::path& dir, const TextGeneratorOptions& o = {}) {
    TextGenerator g;
    g.model_ = load_causal_lm(dir, o.weights, o.load.with_default_threads(o.threads));
    // A folder without tokenizer.json (e.g. from make-model) still runs from token ids.
    std::error_code ec;
    if (std::filesystem::exists(dir / "tokenizer.json", ec))
      g.tokenizer_ = std::make_shared<Tokenizer>(Tokenizer::from_file(dir / "tokenizer.json"));
    g.dir_ = dir;
    g.pool_ = std::make_shared<ThreadPool>(o.threads);
    return g;
  }

  const LanguageModel& model() const { return *model_; }
  std::shared_ptr<const LanguageModel> model_ptr() const { return model_; }
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  const Tokenizer& tokenizer() const {
    check(tokenizer_ != nullptr, (dir_ / "tokenizer.json").string(), ": not found; text needs a tokenizer (token ids do not)");
    return *tokenizer_;
  }
  std::shared_ptr<ThreadPool> pool() const { return pool_; }

  // Generates a continuation of `prompt`; on_text receives each piece of text
  // as soon as it is final. Returns the ids and timings.
  GenerationResult generate(std::string_view prompt, const GenerateOptions& opt = {},
                            const std::function<void(std::string_view)>& on_text = {}) const {
    const auto ids = tokenizer().encode(prompt);
    return generate_ids(ids, opt, on_text);
  }

  GenerationResult generate_ids(std::span<const std::int32_t> ids, const GenerateOptions& opt = {},
                                const std::function<void(std::string_view)>& on_text = {}) const {
    const std::int64_t max_ctx = model_->config().max_position_embeddings, vocab = model_->config().vocab_size;
    for (auto id : ids) check(id >= 0 && id < vocab, "token id ", id, " is out of range [0, ", vocab, ")");
    check(std::int64_t(ids.size()) <= max_ctx, "the prompt is ", ids.size(),
          " tokens, longer than the model's context of ", max_ctx, " positions");
    const std::int64_t ctx = std::min<std::int64_t>(max_ctx, std::int64_t(ids.size()) + std::max<std::int64_t>(opt.max_new_tokens, 1));
    SessionOptions so;
    so.context = ctx;
    so.pool = pool_;
    Session s(model_, so);
    if (on_text) tokenizer();  // text output needs the tokenizer: fail before any work
    std::optional<StreamDecoder> dec;
    if (on_text) dec.emplace(*tokenizer_, ids);
    auto r = strata::generate(s, ids, opt, [&](std::int32_t id) {
      if (on_text) {
        const bool special = tokenizer_->is_special(id);
        const std::string piece = special ? std::string() : dec->push(id);
        if (!piece.empty()) on_text(piece);
      }
      return true;
    });
    if (on_text) {
      const std::string rest = dec->finish();
      if (!rest.empty()) on_text(rest);
    }
    return r;
  }

 private:
  TextGenerator() = default;
  std::shared_ptr<const LanguageModel> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<ThreadPool> pool_;
  std::filesystem::path dir_;
};

}  // namespace strata
