// classify: labels from a BERT-family sequence classifier
// (BertForSequenceClassification; names from config.json id2label).
//
//   classify --model DIR [--batch N] [--threads N] [--max-length N] [--no-truncate] [--padded]
//            [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]
//
// Reads one text per line on stdin (a TAB splits a line into a text pair, for
// cross-encoders); writes one JSON object per line on stdout:
//   {"label":"positive","score":0.93,"scores":{"negative":0.01,"neutral":0.06,"positive":0.93}}
// Scores are softmax probabilities (single-label), sigmoids (multi-label) or
// raw values (regression). Throughput goes to stderr.
#include <algorithm>
#include <iostream>
#include <string>

#include "encoder_cli.hpp"

namespace {

constexpr const char* kUsage =
    "usage: classify --model DIR [--batch N] [--threads N] [--max-length N] [--no-truncate] [--padded]\n"
    "                [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]\n"
    "Reads one text (or TAB-separated pair) per line on stdin; writes one JSON object per line.\n";

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
    check(cli::parse_encoder_flag(a, f, flags), "unknown option '", f, "' (see --help)");
  }
  TextEncoder enc = cli::load_encoder_from_flags(flags);
  check(enc.model().has_classifier(), flags.model, ": no sequence-classification head (classifier.weight); use embed");
  const auto& labels = enc.model().config().id2label;
  cli::stream_stdin(enc, flags, "classified", true, [&](const std::vector<TextInput>& texts, std::string& out) {
    for (const auto& s : enc.classify(texts)) {
      const std::size_t best = std::size_t(std::max_element(s.begin(), s.end()) - s.begin());
      out += "{\"label\":";
      cli::append_json_string(out, labels[best]);
      out += ",\"score\":";
      cli::append_float(out, s[best]);
      out += ",\"scores\":{";
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (i) out += ',';
        cli::append_json_string(out, labels[i]);
        out += ':';
        cli::append_float(out, s[i]);
      }
      out += "}}\n";
    }
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "classify: " << e.what() << "\n";
    return 1;
  }
}
