// embed: sentence embeddings from a BERT-family encoder folder.
//
//   embed --model DIR [--pooling mean|cls|max] [--normalize] [--batch N] [--threads N]
//         [--max-length N] [--no-truncate] [--padded] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]
//
// Reads one text per line on stdin; writes one JSON array of floats per line
// on stdout, in input order; throughput (texts/s, tokens/s) on stderr.
// Pooling and normalisation default to the folder's sentence-transformers
// config (modules.json, 1_Pooling/config.json), else mean and none.
#include <iostream>
#include <string>

#include "encoder_cli.hpp"

namespace {

constexpr const char* kUsage =
    "usage: embed --model DIR [--pooling mean|cls|max] [--normalize] [--batch N] [--threads N]\n"
    "             [--max-length N] [--no-truncate] [--padded] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]\n"
    "Reads one text per line on stdin; writes one JSON array of floats per line on stdout.\n";

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  cli::EncoderFlags flags;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--pooling") {
      const std::string v = a.value(f);
      flags.opt.pooling = pooling_from_name(v);
      check(flags.opt.pooling.has_value(), "--pooling: '", v, "' is not one of mean, cls, max");
    } else if (f == "--normalize") {
      flags.opt.normalize = true;
    } else {
      check(cli::parse_encoder_flag(a, f, flags), "unknown option '", f, "' (see --help)");
    }
  }
  TextEncoder enc = cli::load_encoder_from_flags(flags);
  cli::stream_stdin(enc, flags, "embedded", false, [&](const std::vector<TextInput>& texts, std::string& out) {
    for (const auto& v : enc.embed(texts)) {
      cli::append_json_array(out, v);
      out += '\n';
    }
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "embed: " << e.what() << "\n";
    return 1;
  }
}
