// perplexity: how well a model predicts a text, exp(mean negative
// log-likelihood per token), e.g. to compare weight formats:
//   perplexity --model DIR --file story.txt --quant q4
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "cli_args.hpp"
#include "strata/strata.hpp"

namespace {

const char* kUsage = R"usage(usage: perplexity --model DIR (--file PATH | --text TEXT | --ids 1,2,3) [--window N]
                  [--threads N] [--weights f32|bf16|f16] [--quant q8|q4|fp4 [--group G] [--asym]
                  [--quant-head] [--keep NAMES]] [--help]

Prints the perplexity of a Llama-family model on a text: exp of the mean negative
log-likelihood of each token given those before it (the text is tokenized with the
model's tokenizer.json, BOS added per its post-processor). Texts longer than --window
tokens are scored in consecutive windows, each from an empty cache.

  --model DIR        model folder
  --file PATH        the text, from a file (at most 64 MiB)
  --text TEXT        the text, given inline
  --ids LIST         comma-separated token ids instead of a text
  --window N         tokens per window (default: the model's max_position_embeddings)
  --threads N        threads (default: one per hardware thread)
  --weights TYPE     f32 (default), bf16, f16; with --quant: what stays dense
  --quant TYPE       quantize projections at load (see generate --help)
  --group G, --asym, --quant-head, --keep NAMES   as for generate
Output (stdout): one line "perplexity P (mean NLL N nats over T tokens; MODEL)".
)usage";

struct Options {
  std::optional<std::string> model, file, text, ids;
  std::int64_t window = 0;
  int threads = 0;
  strata::WeightType weights = strata::WeightType::F32;
  strata::cli::QuantFlags quant;
};

Options parse(int argc, char** argv) {
  using strata::check;
  strata::cli::Args a(argc, argv);
  Options o;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (f == "--model") {
      o.model = a.value(f);
    } else if (f == "--file") {
      o.file = a.value(f);
    } else if (f == "--text") {
      o.text = a.value(f);
    } else if (f == "--ids") {
      o.ids = a.value(f);
    } else if (f == "--window") {
      o.window = a.integer(f, 2, strata::ConfigLimits::max_positions);
    } else if (f == "--threads") {
      o.threads = int(a.integer(f, 1, 1024));
    } else if (f == "--weights") {
      o.weights = strata::cli::weight_type_flag(a, f);
    } else if (strata::cli::parse_quant_flag(a, f, o.quant)) {
    } else {
      strata::fail("unknown option '", f, "' (see --help)");
    }
  }
  check(o.model.has_value(), "--model DIR is required (see --help)");
  check(!o.model->empty() && std::filesystem::is_directory(*o.model), "--model ", *o.model, ": no such directory");
  check(int(o.file.has_value()) + int(o.text.has_value()) + int(o.ids.has_value()) == 1,
        "give exactly one of --file, --text, --ids");
  strata::cli::finish_quant(o.quant);
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  strata::TextGeneratorOptions to;
  to.weights = o.weights;
  to.threads = o.threads;
  to.load.quant = o.quant.spec;
  std::vector<std::int32_t> ids;
  std::optional<strata::TextGenerator> lm;
  if (o.ids) {
    ids = strata::cli::Args::parse_id_list(*o.ids, "--ids");
  }
  lm.emplace(strata::TextGenerator::load(*o.model, to));
  if (!o.ids) {
    const std::string text = o.text ? *o.text : strata::io::detail::read_file_bounded(*o.file, 64ull << 20);
    ids = lm->tokenizer().encode(text);
  }
  const std::int64_t max_ctx = lm->model().config().max_position_embeddings;
  strata::check(o.window <= max_ctx, "--window ", o.window, " exceeds the model's max_position_embeddings (", max_ctx, ")");
  strata::check(ids.size() >= 2, "the text is ", ids.size(), " token(s); perplexity needs at least 2");
  const auto r = strata::perplexity(lm->model_ptr(), ids, o.threads, o.window);
  std::cout << "perplexity " << r.perplexity << " (mean NLL " << r.mean_nll << " nats over " << r.scored
            << " tokens; " << lm->model().name() << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "perplexity: error: " << e.what() << "\n";
    return 1;
  }
}
