// strata-embed-bench: encoder throughput (texts/s, tokens/s) of a BERT-family
// checkpoint at one batch size and sequence length, packed or padded, with
// this machine's f32 FMA peak measured in the same run (limits.hpp) and the
// achieved GFLOP/s against it.
//
//   strata-embed-bench --model DIR [--batch 32] [--seq 128] [--lengths fixed|mixed]
//                      [--padded] [--threads N] [--seconds 3] [--weights f32|bf16] [--compute f32|bf16] [--quant q8 ...]
//
// Texts are random token ids (tokenization is not measured): --lengths fixed
// gives every text --seq tokens; mixed draws each length uniformly from
// [--seq/8, --seq] (seeded), the case where padding wastes work. Padded
// batches pad every text to the longest of its batch, as HF's
// padding="longest" does; packed batches run the real tokens only. tokens/s
// counts real tokens in both.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "cli_args.hpp"
#include "limits.hpp"
#include "strata/models/encoder.hpp"

namespace {

constexpr const char* kUsage =
    "usage: strata-embed-bench --model DIR [--batch 32] [--seq 128] [--lengths fixed|mixed] [--padded]\n"
    "                          [--threads N] [--seconds 3] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]\n";

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  std::string model_dir, lengths = "fixed";
  std::int64_t batch = 32, seq = 128;
  int threads = 0;
  double seconds = 3;
  bool padded = false;
  WeightType wt = WeightType::F32;
  Compute compute = Compute::F32;
  cli::QuantFlags quant;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--model") model_dir = a.value(f);
    else if (f == "--batch") batch = a.integer(f, 1, 1 << 16);
    else if (f == "--seq") seq = a.integer(f, 2, 1 << 20);
    else if (f == "--lengths") {
      lengths = a.value(f);
      check(lengths == "fixed" || lengths == "mixed", "--lengths: '", lengths, "' is not one of fixed, mixed");
    } else if (f == "--padded") padded = true;
    else if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--seconds") seconds = a.number(f, 0.01, 3600);
    else if (f == "--weights") wt = cli::weight_type_flag(a, f);
    else if (f == "--compute") compute = cli::compute_flag(a, f);
    else check(cli::parse_quant_flag(a, f, quant), "unknown option '", f, "' (see --help)");
  }
  check(!model_dir.empty(), "--model DIR is required");
  cli::finish_quant(quant);
  LoadOptions lo;
  lo.quant = quant.spec;
  lo.compute = compute;
  lo.threads = threads;
  const auto model = load_encoder(model_dir, wt, lo);
  const auto& c = model->config();
  check(seq <= c.max_position_embeddings, "--seq ", seq, " exceeds the model's ", c.max_position_embeddings,
        " positions");
  ThreadPool pool(threads);

  // The machine's FMA peak with the same threads, before the model runs.
  const auto fma = bench::measure_fma(pool, 3);

  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> id(5, std::int32_t(c.vocab_size - 1));
  std::uniform_int_distribution<std::int64_t> len(std::max<std::int64_t>(2, seq / 8), seq);
  auto make_batch = [&]() {
    EncoderBatch b;
    for (std::int64_t i = 0; i < batch; ++i) {
      std::vector<std::int32_t> ids(std::size_t(lengths == "fixed" ? seq : len(rng)));
      for (auto& x : ids) x = id(rng);
      b.add(ids);
    }
    return padded ? b.padded(0) : b;
  };
  // FLOPs one token costs: 2 per projection weight, plus q·k and p·v over
  // the keys it sees (its own sequence's real tokens, or the padded span).
  const double H = double(c.hidden_size), I = double(c.intermediate_size), Lyr = double(c.num_layers);
  auto flops = [&](const EncoderBatch& b) {
    double f = 0;
    for (std::int64_t i = 0; i < b.count(); ++i) {
      const double span = double(b.seqs.start[std::size_t(i) + 1] - b.seqs.start[std::size_t(i)]);
      f += span * Lyr * (2 * (4 * H * H + 2 * H * I) + 4 * double(b.seqs.len[std::size_t(i)]) * H);
    }
    return f;
  };

  EncoderWorkspace ws;
  model->forward(make_batch(), ws, pool);  // warm-up: workspace, pages
  std::int64_t texts = 0, tokens = 0, computed = 0, batches = 0;
  double flop = 0, elapsed = 0;
  while (batches < 3 || elapsed < seconds) {
    const EncoderBatch b = make_batch();
    const auto t0 = std::chrono::steady_clock::now();
    model->forward(b, ws, pool);
    elapsed += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    texts += b.count();
    for (auto n : b.seqs.len) tokens += n;
    computed += b.tokens();
    flop += flops(b);
    ++batches;
  }
  const double gflops = flop / elapsed / 1e9;
  std::printf(
      "model %s | batch %lld | seq %lld %s | %s | %.1f texts/s | %.0f tokens/s | %.1f GFLOP/s = %.1f%% of %.1f "
      "GFLOP/s FMA peak | %.1f%% of computed tokens are padding | %lld batches, %d threads\n",
      model->name().c_str(), static_cast<long long>(batch), static_cast<long long>(seq), lengths.c_str(),
      padded ? "padded" : "packed", double(texts) / elapsed, double(tokens) / elapsed, gflops,
      100.0 * gflops / fma.best_gflop_s, fma.best_gflop_s, 100.0 * double(computed - tokens) / double(computed),
      static_cast<long long>(batches), pool.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "strata-embed-bench: " << e.what() << "\n";
    return 1;
  }
}
