// What the encoder tools (embed, classify) share: their common flags, load
// progress (load_progress.hpp), reading texts from stdin a batch at a time,
// truncation warnings and the throughput line on stderr.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli_args.hpp"
#include "load_progress.hpp"
#include "strata/runtime/text_encoder.hpp"

namespace strata::cli {

struct EncoderFlags {
  std::string model;
  TextEncoderOptions opt;
  QuantFlags quant;
};

// Consumes one of the shared flags; false for any other.
inline bool parse_encoder_flag(Args& a, std::string_view f, EncoderFlags& e) {
  if (f == "--model") e.model = a.value(f);
  else if (f == "--batch") e.opt.batch = a.integer(f, 1, TextEncoder::kMaxBatch);
  else if (f == "--threads") e.opt.threads = int(a.integer(f, 1, 1024));
  else if (f == "--weights") e.opt.weights = weight_type_flag(a, f);
  else if (f == "--compute") e.opt.load.compute = compute_flag(a, f);
  else if (f == "--max-length") e.opt.max_length = a.integer(f, 1, 1 << 24);
  else if (f == "--no-truncate") e.opt.truncate = false;
  else if (f == "--padded") e.opt.padded = true;
  else return parse_quant_flag(a, f, e.quant);
  return true;
}

inline TextEncoder load_encoder_from_flags(EncoderFlags& e) {
  check(!e.model.empty(), "--model DIR is required");
  finish_quant(e.quant);
  e.opt.load.quant = e.quant.spec;
  check(!(e.quant.spec.enabled && e.opt.load.compute == Compute::BF16), "--compute bf16 and --quant cannot be used together");
  e.opt.load.on_progress = load_progress(false);
  return TextEncoder::load(e.model, e.opt);
}

// Reads the texts of stdin (one per line; a trailing '\r' is dropped) and
// hands them to `run` `batch` at a time, so output streams as input arrives.
// With pairs, a TAB splits a line into text and text_pair.
template <class Run>
void for_each_batch(std::istream& in, std::int64_t batch, bool pairs, Run run) {
  std::vector<TextInput> texts;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    TextInput t;
    const std::size_t tab = pairs ? line.find('\t') : std::string::npos;
    if (tab == std::string::npos) t.text = line;
    else t.text = line.substr(0, tab), t.pair = line.substr(tab + 1);
    texts.push_back(std::move(t));
    if (std::int64_t(texts.size()) == batch) {
      run(texts);
      texts.clear();
    }
  }
  if (!texts.empty()) run(texts);
}

// Shortest decimal that reads back as the same float.
inline void append_float(std::string& out, float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// [v0,v1,...] with each float as append_float writes it.
inline void append_json_array(std::string& out, std::span<const float> v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

inline void append_json_string(std::string& out, std::string_view s) {
  out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Counts truncated texts; warns on stderr for the first few.
struct TruncationReport {
  std::int64_t count = 0, limit = 0, offset = 0;  // offset: texts before the current call
  void attach(TextEncoder& enc) {
    limit = enc.max_length();
    enc.on_truncate = [this](std::size_t i, std::int64_t n) {
      if (++count <= 3)
        std::cerr << "warning: text " << offset + std::int64_t(i) + 1 << " has " << n << " tokens; truncated to "
                  << limit << " (--no-truncate makes this an error)\n";
    };
  }
  void finish() const {
    if (count > 3) std::cerr << "warning: " << count << " texts in all were truncated to " << limit << " tokens\n";
  }
};

inline void report_throughput(const char* verb, const TextEncoder& enc, double seconds, bool padded);

// The tools' main loop: texts from stdin `batch` at a time; format(texts, out)
// appends one output line per text to out, which is written and flushed per
// batch; then the truncation summary and the throughput line on stderr.
template <class Format>
void stream_stdin(TextEncoder& enc, const EncoderFlags& flags, const char* verb, bool pairs, Format format) {
  TruncationReport trunc;
  trunc.attach(enc);
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  for_each_batch(std::cin, flags.opt.batch, pairs, [&](const std::vector<TextInput>& texts) {
    out.clear();
    format(texts, out);
    trunc.offset += std::int64_t(texts.size());
    std::cout << out << std::flush;
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  trunc.finish();
  report_throughput(verb, enc, secs, flags.opt.padded);
}

inline void report_throughput(const char* verb, const TextEncoder& enc, double seconds, bool padded) {
  const double s = seconds > 0 ? seconds : 1e-9;
  char line[512];
  std::snprintf(line, sizeof line,
                "%s %lld texts (%lld tokens) in %.3f s: %.1f texts/s, %.0f tokens/s [%s, %d threads, %s batches]\n",
                verb, static_cast<long long>(enc.texts_done()), static_cast<long long>(enc.tokens_done()), seconds,
                double(enc.texts_done()) / s, double(enc.tokens_done()) / s, enc.model().name().c_str(),
                enc.threads(), padded ? "padded" : "packed");
  std::cerr << line;
}

}  // namespace strata::cli
