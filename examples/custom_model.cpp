// custom_model: a new architecture from existing parts in a few `using` lines.
//
// Here: a Llama whose checkpoint keeps q/k rows in the interleaved rotary
// layout of Meta's original release (pairs (x[2i], x[2i+1])) instead of HF's
// rotate-half layout, with sliding-window attention. Nothing in the library
// changes; the composition is a type, and loading is generated from it.
//
//   custom_model --model DIR [--prompt-ids 1,2,3] [-n N]
#include <iostream>

#include <strata/strata.hpp>

#include "cli_args.hpp"

using InterleavedWindowBlock =
    strata::DecoderBlock<strata::RMSNorm,
                         strata::SelfAttention<strata::Rope<strata::Interleaved>, strata::SlidingWindow>,
                         strata::GatedFFN<strata::SiLU>>;
using InterleavedWindowLM = strata::CausalLM<InterleavedWindowBlock, float>;

int main(int argc, char** argv) {
  try {
    strata::cli::Args a(argc, argv);
    std::string model;
    std::vector<std::int32_t> prompt{1};
    std::int64_t n = 16;
    while (!a.done()) {
      const auto f = a.next_flag();
      if (f == "--model") model = a.value(f);
      else if (f == "--prompt-ids") prompt = strata::cli::Args::parse_id_list(a.value(f), f);
      else if (f == "-n") n = a.integer(f, 0, 1 << 20);
      else if (f == "--help") {
        std::cout << "usage: custom_model --model DIR [--prompt-ids 1,2,3] [-n N]\n"
                     "Runs a Llama-layout checkpoint as an interleaved-RoPE, sliding-window model\n"
                     "(window from config.json 'sliding_window', default 4 here) and prints greedy ids.\n";
        return 0;
      } else strata::fail("unknown option '", f, "' (see --help)");
    }
    strata::check(!model.empty(), "--model DIR is required");

    strata::ModelConfig cfg = strata::load_model_config(model);
    if (cfg.sliding_window == 0) cfg.sliding_window = 4;
    auto lm = InterleavedWindowLM::load(strata::io::Checkpoint::open(model), cfg, "interleaved-window");

    strata::SessionOptions so;
    so.context = std::int64_t(prompt.size()) + n + 1;
    so.threads = 1;
    strata::Session session(lm, so);
    strata::GenerateOptions opt;
    opt.max_new_tokens = n;
    opt.sampling.temperature = 0;  // greedy
    const auto r = strata::generate(session, prompt, opt);
    std::cout << lm->name() << ":";
    for (auto id : r.tokens) std::cout << ' ' << id;
    std::cout << '\n';
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "custom_model: error: " << e.what() << "\n";
    return 1;
  }
}
