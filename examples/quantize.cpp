// quantize: writes a quantized copy of a dense Llama-family checkpoint in
// strata's own layout (q8, q4 or fp4 projections), which generate and
// load_causal_lm then load quantized without --quant. The codes are exactly
// those `generate --quant` computes at load. See quantize_checkpoint.hpp.
//
//   quantize --model DIR --out DIR2 --type q8|q4|fp4 [--group 32|64|128] [--asym]
//            [--quant-head] [--keep NAMES] [--force]
#include <cstdio>
#include <iostream>
#include <string>

#include "cli_args.hpp"
#include "quantize_checkpoint.hpp"

namespace {

const char* kUsage = R"(usage: quantize --model DIR --out DIR2 --type q8|q4|fp4 [options]
Writes DIR2/model.safetensors with the projections of every decoder block quantized
(strata's layout; `generate --model DIR2` loads it quantized, no --quant needed), and
copies config.json, generation_config.json, tokenizer.json, tokenizer_config.json and
special_tokens_map.json (those present). Everything else (embeddings, norms, biases, the
LM head unless --quant-head) is copied as stored. The codes are the ones `generate --quant`
computes at load, so both give the same logits.
  --model DIR     a dense (f32, bf16 or f16) Llama-family model folder, single file or sharded
  --out DIR2      the folder to write (created; must be empty unless --force)
  --type T        q8 (8-bit, groups of 32), q4 (4-bit) or fp4 (E2M1 with a per-group scale)
  --group G       input values per scale for q4 and fp4: 32 (default), 64 or 128
  --asym          q4 with a per-group offset (the group's minimum) as well as a scale
  --quant-head    quantize the LM head too (an untied one; a tied head stays as stored)
  --keep NAMES    comma-separated name parts of projections to leave unquantized (e.g. down_proj)
  --force         write into a non-empty DIR2, replacing model.safetensors and the copied files
  --help          this text
)";

std::string fixed2(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return buf;
}
std::string mb(std::uint64_t bytes) { return fixed2(double(bytes) / 1e6); }

}  // namespace

int main(int argc, char** argv) {
  bool progress_shown = false;
  try {
    strata::cli::Args a(argc, argv);
    strata::cli::QuantFlags qf;
    strata::tools::QuantizeOptions o;
    std::string model, out;
    while (!a.done()) {
      const auto f = a.next_flag();
      if (f == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (f == "--model") {
        model = a.value(f);
        strata::check(!model.empty(), "--model: empty path");
      } else if (f == "--out") {
        out = a.value(f);
        strata::check(!out.empty(), "--out: empty path");
      } else if (f == "--type") {
        const std::string v = a.value(f);
        const auto t = strata::quant_type_from_name(v);
        strata::check(t.has_value(), "--type: '", v, "' is not one of q8, q4, fp4");
        qf.spec.enabled = true;
        qf.spec.type = *t;
      } else if (f == "--force") {
        o.force = true;
      } else if (f == "--quant" || !strata::cli::parse_quant_flag(a, f, qf)) {  // --type, not --quant, here
        strata::fail("unknown option '", f, "' (see --help)");
      }
    }
    strata::check(!model.empty(), "--model DIR is required");
    strata::check(!out.empty(), "--out DIR2 is required");
    strata::check(qf.spec.enabled, "--type q8|q4|fp4 is required");
    strata::cli::finish_quant(qf);
    o.model = model;
    o.out = out;
    o.spec = qf.spec;
    o.on_note = [](const std::string& note) { std::cerr << "quantize: note: " << note << "\n"; };
    o.on_progress = [&](std::size_t i, std::size_t n, std::uint64_t done, std::uint64_t total) {
      constexpr int kWidth = 30;
      const int filled = total ? int(double(done) / double(total) * kWidth) : kWidth;
      std::cerr << "\rquantize: [" << std::string(std::size_t(filled), '#') << std::string(std::size_t(kWidth - filled), '.')
                << "] tensor " << i << "/" << n << ", " << mb(done) << "/" << mb(total) << " MB" << std::flush;
      progress_shown = true;
    };
    const auto rep = strata::tools::quantize_checkpoint(o);
    if (progress_shown) std::cerr << "\n";
    std::cerr << "quantize: wrote " << rep.written.string() << ": " << rep.quantized << " projections as "
              << qf.spec.describe() << " (" << fixed2(rep.bits_per_weight())
              << " bits per weight), " << rep.copied << " tensors copied; " << mb(rep.bytes_in) << " MB in, "
              << mb(rep.bytes_out) << " MB out\n";
    return 0;
  } catch (const std::exception& e) {
    if (progress_shown) std::cerr << "\n";
    std::cerr << "quantize: error: " << e.what() << "\n";
    return 1;
  }
}
