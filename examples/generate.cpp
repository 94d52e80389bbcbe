// generate: text generation from a Hugging Face model folder.
//
//   generate --model DIR --prompt "Once upon a time" -n 64
//
// Streams the text to stdout as it is generated and prints prompt and
// generation speed to stderr. Errors are one line on stderr, exit status 1.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <string>

#include <strata/kernels/dispatch.hpp>
#include <strata/strata.hpp>

#include "cli_args.hpp"
#include "load_progress.hpp"

namespace {

constexpr const char* kDefaultModel = "../shared/models/tinystories-656k";

const char* kUsage = R"(usage: generate [--model DIR] [--prompt TEXT | --prompt-ids 1,2,3] [-n N] [--temp T]
                [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S]
                [--threads N] [--weights f32|bf16|f16] [--compute f32|bf16]
                [--quant q8|q4|fp4 [--group G] [--asym] [--quant-head] [--keep NAMES]] [--ids]
                [--verbose] [--help]

Generates text with a Llama-family model (model_type llama, mistral, qwen2) from a
Hugging Face folder (config.json, model.safetensors or a sharded index, tokenizer.json).

  --model DIR          model folder; default: $STRATA_MODEL, else ../shared/models/tinystories-656k
  --prompt TEXT        prompt text, tokenized with the model's tokenizer.json (BOS added per
                       its post-processor); default: "Once upon a time"
  --prompt-ids LIST    prompt as comma-separated token ids, used as given (no BOS added)
  -n N                 tokens to generate at most (default 128); stops early at EOS or when the
                       model's context (max_position_embeddings) is full
  --temp T             sampling temperature (default 0.8); 0 is greedy (argmax)
  --top-k K            keep the K most likely tokens (default 40; 0 = off)
  --top-p P            keep the smallest set with probability mass >= P (default 0.95; 1 = off)
  --min-p P            drop tokens below P x the top probability (default 0.05; 0 = off)
  --repeat-penalty R   divide positive / multiply negative logits of tokens already seen
                       (prompt and output) by R (default 1.0 = off)
  --seed S             random seed for sampling (default: random; printed with --verbose)
  --threads N          threads (default: one per hardware thread)
  --weights TYPE       weight type in memory: f32 (default), bf16 or f16 (half the bytes, f32 math);
                       with --quant, the type of what stays unquantized (embeddings, LM head)
  --compute TYPE       f32 (default) or bf16: projections on bf16 dot products (bf16 weights,
                       inputs rounded to bf16, f32 sums; AVX512_BF16 where the CPU has it)
  --quant TYPE         quantize the projections at load: q8 (8-bit, groups of 32), q4 (4-bit)
                       or fp4 (E2M1 with a per-group scale); a GPTQ, AWQ or `quantize`d
                       checkpoint loads quantized without this flag
  --group G            values per scale for q4 / fp4: 32 (default), 64 or 128
  --asym               q4 with a per-group offset (zero point)
  --quant-head         quantize the LM head too (default: it stays in the --weights type)
  --keep NAMES         comma-separated name parts of projections to keep unquantized
                       (e.g. down_proj or layers.0.)
  --ids                print only the generated token ids, as one JSON array on stdout
  --verbose            print the model, CPU features, kernel target and load time to stderr,
                       and the blocks loaded as they load (without it: only on a terminal,
                       once loading takes over a second)
  --help               print this help
)";

struct Options {
  std::optional<std::string> model, prompt, prompt_ids;
  strata::GenerateOptions gen;
  int threads = 0;
  strata::WeightType weights = strata::WeightType::F32;
  strata::Compute compute = strata::Compute::F32;
  strata::cli::QuantFlags quant;
  bool ids_only = false, verbose = false, seed_given = false;
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
    } else if (f == "--prompt") {
      o.prompt = a.value(f);
    } else if (f == "--prompt-ids") {
      o.prompt_ids = a.value(f);
    } else if (f == "-n") {
      o.gen.max_new_tokens = a.integer(f, 0, 1 << 24);
    } else if (f == "--temp") {
      o.gen.sampling.temperature = float(a.number(f, 0.0, 100.0));
    } else if (f == "--top-k") {
      o.gen.sampling.top_k = std::int32_t(a.integer(f, 0, 1 << 24));
    } else if (f == "--top-p") {
      o.gen.sampling.top_p = float(a.number(f, 0.0, 1.0));
      check(o.gen.sampling.top_p > 0, "--top-p: must be greater than 0");
    } else if (f == "--min-p") {
      o.gen.sampling.min_p = float(a.number(f, 0.0, 1.0));
    } else if (f == "--repeat-penalty") {
      o.gen.sampling.repeat_penalty = float(a.number(f, 1e-3, 1e3));
    } else if (f == "--seed") {
      o.gen.sampling.seed = std::uint64_t(a.integer(f, 0, INT64_MAX));
      o.seed_given = true;
    } else if (f == "--threads") {
      o.threads = int(a.integer(f, 1, 1024));
    } else if (f == "--weights") {
      o.weights = strata::cli::weight_type_flag(a, f);
    } else if (f == "--compute") {
      o.compute = strata::cli::compute_flag(a, f);
    } else if (strata::cli::parse_quant_flag(a, f, o.quant)) {
    } else if (f == "--ids") {
      o.ids_only = true;
    } else if (f == "--verbose") {
      o.verbose = true;
    } else {
      strata::fail("unknown option '", f, "' (see --help)");
    }
  }
  check(!(o.prompt && o.prompt_ids), "--prompt and --prompt-ids cannot be used together");
  strata::cli::finish_quant(o.quant);
  return o;
}

// --model, else $STRATA_MODEL, else the shared TinyStories model.
std::filesystem::path find_model(const Options& o) {
  if (o.model) {
    strata::check(!o.model->empty(), "--model: empty path");
    strata::check(std::filesystem::is_directory(*o.model), "--model ", *o.model, ": no such directory");
    return *o.model;
  }
  if (const char* env = std::getenv("STRATA_MODEL"); env && *env) {
    strata::check(std::filesystem::is_directory(env), "$STRATA_MODEL=", env, ": no such directory");
    return env;
  }
  strata::check(std::filesystem::is_directory(kDefaultModel), "no model folder: pass --model DIR, set $STRATA_MODEL, or "
                "provide ", kDefaultModel, " (relative to ", std::filesystem::current_path().string(), ")");
  return kDefaultModel;
}

int run(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (!o.seed_given) o.gen.sampling.seed = std::random_device{}();
  o.gen.sampling.validate();
  const auto dir = find_model(o);
  // The kernel table in use (a bad STRATA_TARGET fails here, before any work).
  const char* kernel_target = strata::kernels::active_kernels().target;

  const auto t0 = std::chrono::steady_clock::now();
  strata::TextGeneratorOptions to;
  to.weights = o.weights;
  to.load.quant = o.quant.spec;
  to.load.compute = o.compute;
  to.threads = o.threads;
  to.load.on_progress = strata::cli::load_progress(o.verbose);
  const auto lm = strata::TextGenerator::load(dir, to);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<std::int32_t> ids = o.prompt_ids ? strata::cli::Args::parse_id_list(*o.prompt_ids, "--prompt-ids")
                                               : lm.tokenizer().encode(o.prompt.value_or("Once upon a time"));
  if (o.verbose) {
    std::cerr << "model: " << dir.string() << " (" << lm.model().name() << ", "
              << lm.model().config().num_layers << " layers, " << lm.model().weight_bytes() / 1e6
              << " MB of weights), loaded in " << load_s << " s\n"
              << "cpu: " << strata::describe_cpu_features(strata::detect_cpu_features())
              << "; kernels: " << kernel_target << " (compiled for "
              << strata::compiled_target() << "); threads " << lm.pool()->size()
              << "; seed " << o.gen.sampling.seed << "\n";
  }

  strata::GenerationResult r;
  if (o.ids_only) {
    r = lm.generate_ids(ids, o.gen);
    std::cout << "[";
    for (std::size_t i = 0; i < r.tokens.size(); ++i) std::cout << (i ? "," : "") << r.tokens[i];
    std::cout << "]\n";
  } else {
    if (o.prompt) std::cout << *o.prompt << std::flush;
    r = lm.generate_ids(ids, o.gen, [](std::string_view piece) { std::cout << piece << std::flush; });
    std::cout << "\n";
  }
  std::cerr << "prompt: " << r.prompt_tokens << " tokens, " << r.prompt_tok_s() << " tok/s | generation: "
            << r.tokens.size() << " tokens, " << r.generate_tok_s() << " tok/s";
  if (r.stop == strata::StopReason::ContextFull) std::cerr << " (stopped: context full)";
  std::cerr << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "generate: error: " << e.what() << "\n";
    return 1;
  }
}
