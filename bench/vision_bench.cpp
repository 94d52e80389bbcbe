// strata-vision-bench: images/s of a vision transformer (ViT, DeiT) at one
// batch size, with this machine's f32 FMA peak measured in the same run
// (limits.hpp) and the achieved GFLOP/s against it. Model time only: the
// pixel_values are made once (image decoding and preprocessing are not
// measured) and every timed call runs forward + the model's head.
//
//   strata-vision-bench --model DIR [--batch 8] [--threads N] [--seconds 3] [--merge R | --keep-rate P]
//                       [--weights f32|bf16] [--compute f32|bf16] [--quant q8 ...]
//
// --merge R: ToMe token merging, R tokens per image in every block;
// --keep-rate P: EViT token pruning; the GFLOP/s count the work the reduced
// model does (fewer tokens per layer).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "limits.hpp"
#include "strata/models/vit.hpp"

namespace {

constexpr const char* kUsage =
    "usage: strata-vision-bench --model DIR [--batch 8] [--threads N] [--seconds 3] [--merge R | --keep-rate P]\n"
    "                           [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...]\n";

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  std::string model_dir;
  std::int64_t batch = 8;
  int threads = 0;
  double seconds = 3;
  TokenReduction reduce;
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
    else if (f == "--batch") batch = a.integer(f, 1, 4096);
    else if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--seconds") seconds = a.number(f, 0.01, 3600);
    else if (f == "--merge") reduce.merge = a.integer(f, 0, 1 << 20);
    else if (f == "--keep-rate") reduce.keep_rate = a.number(f, 1e-6, 1.0);
    else if (f == "--weights") wt = cli::weight_type_flag(a, f);
    else if (f == "--compute") compute = cli::compute_flag(a, f);
    else check(cli::parse_quant_flag(a, f, quant), "unknown option '", f, "' (see --help)");
  }
  check(!model_dir.empty(), "--model DIR is required");
  check(reduce.merge == 0 || reduce.keep_rate == 1, "--merge and --keep-rate cannot be used together");
  cli::finish_quant(quant);
  LoadOptions lo;
  lo.quant = quant.spec;
  lo.compute = compute;
  lo.threads = threads;
  const auto model = load_vision_model(model_dir, wt, lo);
  const VisionConfig& vc = model->config();
  ThreadPool pool(threads);
  const auto fma = bench::measure_fma(pool, 3);

  // Random pixel_values at the model's resolution (normalized pixels are about N(0, 1)).
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  PixelBatch pixels;
  std::vector<float> img(std::size_t(vc.num_channels * vc.image_height * vc.image_width));
  for (std::int64_t i = 0; i < batch; ++i) {
    for (auto& v : img) v = nd(rng);
    pixels.add(img, vc.num_channels, vc.image_height, vc.image_width);
  }
  // FLOPs per image: the patch embedding, 2 per projection weight per token,
  // q·k and p·v over the image's tokens, and the head.
  const ModelConfig& c = vc.blocks;
  const double H = double(c.hidden_size), I = double(c.intermediate_size);
  const double T = double(vc.prefix_tokens + vc.num_patches());
  const double K = double(vc.num_channels * vc.patch_size * vc.patch_size);
  double per_image = 2 * double(vc.num_patches()) * K * H +
                     2 * H * double(std::max<std::size_t>(model->labels().size(), std::size_t(H)));
  // Each layer on the tokens it has: attention on t, the MLP on what the
  // reduction leaves (merging: t - r; pruning at its blocks: the kept + 1).
  const TokenMerging tm{reduce.merge, true, vc.prefix_tokens == 2};
  const TokenPruning tp{reduce.keep_rate, vc.prefix_tokens == 2};
  const auto prune_at = TokenPruning::pruning_layers(c.num_layers);
  std::int64_t t = std::int64_t(T);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const double ta = double(t);
    if (reduce.merge > 0) t -= tm.merged(t);
    const std::int64_t m = t - tp.protected_tokens();
    if (reduce.keep_rate < 1 && std::count(prune_at.begin(), prune_at.end(), l) && m > 0 && tp.kept(m) < m)
      t = tp.protected_tokens() + tp.kept(m) + 1;
    per_image += ta * (2 * 4 * H * H + 4 * ta * H) + double(t) * (2 * 2 * H * I);
  }

  VisionWorkspace ws;
  auto step = [&] {
    if (model->has_classifier()) model->classify(pixels, ws, pool, reduce);
    else {
      model->forward(pixels, ws, pool, reduce);
      if (model->has_pooler()) model->pooler(pixels, ws, pool);
    }
  };
  step();  // warm-up: workspace, pages
  std::int64_t batches = 0;
  double elapsed = 0;
  while (batches < 3 || elapsed < seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    elapsed += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++batches;
  }
  const double images = double(batches * batch), gflops = images * per_image / elapsed / 1e9;
  std::string merge_note;
  if (reduce.merge > 0) merge_note = ", merge " + std::to_string(reduce.merge);
  if (reduce.keep_rate < 1) merge_note = ", keep rate " + std::to_string(reduce.keep_rate).substr(0, 4);
  if (!merge_note.empty()) merge_note += " -> " + std::to_string(ws.tokens_per_image) + " tokens";
  std::printf(
      "model %s | %lldx%lld, %lld tokens%s | batch %lld | %.2f images/s | %.1f GFLOP/s = %.1f%% of %.1f GFLOP/s FMA "
      "peak | %lld batches, %d threads\n",
      model->name().c_str(), static_cast<long long>(vc.image_height), static_cast<long long>(vc.image_width),
      static_cast<long long>(T), merge_note.c_str(), static_cast<long long>(batch), images / elapsed, gflops,
      100.0 * gflops / fma.best_gflop_s, fma.best_gflop_s, static_cast<long long>(batches), pool.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-vision-bench", [&] { return run(argc, argv); });
}
