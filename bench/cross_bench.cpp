// strata-cross-bench: what the cross-attention KV cache saves.
//
//   strata-cross-bench [--threads N] [--repeats 3] [--hidden 512] [--layers 4] [--steps 32]
//
// A Llama-layout decoder with cross-attention in every layer (LlamaCrossBlock:
// --hidden, --layers, 8 heads, 4 KV heads, SwiGLU of 3 × hidden, vocab 8192,
// random f32 weights written to a temporary folder) over an encoder memory of
// 64, 256 and 1024 positions:
//   set_memory  — the memory's cross K/V for every layer (done once per memory)
//   cached      — decode tok/s of --steps steps after a 16-token prompt, the
//                 cross K/V read from the cache
//   recomputed  — the same steps with the cross K/V computed again before
//                 each step (set_memory + step), what a decoder without the
//                 cache does
// Medians of --repeats after a warm-up.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "strata/layers/cross_attention.hpp"
#include "strata/models/causal_lm.hpp"
#include "strata/runtime/session.hpp"

namespace {

using namespace strata;

constexpr const char* kUsage =
    "usage: strata-cross-bench [--threads N] [--repeats 3] [--hidden 512] [--layers 4] [--steps 32]\n";

using bench::median;
using bench::seconds;

void write_model(const std::filesystem::path& dir, const ModelConfig& c) {
  bench::RandomTensors w;
  const std::int64_t H = c.hidden_size, kvd = c.kv_dim(), I = c.intermediate_size;
  w.mat("model.embed_tokens.weight", c.vocab_size, H);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "cross_attn_layernorm", "post_attention_layernorm"})
      w.vec(p + n + ".weight", H, 1.0f);
    for (const char* a : {"self_attn.", "cross_attn."}) {
      w.mat(p + a + "q_proj.weight", H, H);
      w.mat(p + a + "k_proj.weight", kvd, H);
      w.mat(p + a + "v_proj.weight", kvd, H);
      w.mat(p + a + "o_proj.weight", H, H);
    }
    w.mat(p + "mlp.gate_proj.weight", I, H);
    w.mat(p + "mlp.up_proj.weight", I, H);
    w.mat(p + "mlp.down_proj.weight", H, I);
  }
  w.vec("model.norm.weight", H, 1.0f);
  w.mat("lm_head.weight", c.vocab_size, H);
  w.write(dir);
}

int run(int argc, char** argv) {
  cli::Args a(argc, argv);
  int threads = 0;
  std::int64_t repeats = 3, hidden = 512, layers = 4, steps = 32;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--repeats") repeats = a.integer(f, 1, 100);
    else if (f == "--hidden") hidden = a.integer(f, 16, 1 << 14);
    else if (f == "--layers") layers = a.integer(f, 1, 256);
    else if (f == "--steps") steps = a.integer(f, 1, 1000);
    else check(false, "unknown option '", f, "' (see --help)");
  }
  check(hidden % 16 == 0, "--hidden must be a multiple of 16 (8 heads of an even head_dim)");
  const bench::ScratchDir scratch("strata-cross-bench");
  std::cerr << "strata-cross-bench: writing a random checkpoint to " << scratch.path.string() << "\n";
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = hidden;
  c.intermediate_size = 3 * hidden;
  c.num_layers = layers;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = hidden / 8;
  c.vocab_size = 8192;
  c.max_position_embeddings = 512;
  c.norm_eps = 1e-5;
  write_model(scratch.path, c);
  const std::shared_ptr<const LanguageModel> model =
      CausalLM<LlamaCrossBlock>::load(io::Checkpoint::open(scratch.path), c, "llama-cross");
  auto pool = std::make_shared<ThreadPool>(threads);
  const std::int64_t prompt = 16;
  const std::vector<std::int32_t> ids = bench::token_stream(prompt + steps, c.vocab_size);

  std::printf("Cross-attention decode, cached vs recomputed cross K/V (hidden %lld, %lld layers, 8 heads / 4 KV heads, "
              "vocab 8192, f32, %d threads; %lld decode steps after a %lld-token prompt):\n\n",
              static_cast<long long>(hidden), static_cast<long long>(layers), pool->size(),
              static_cast<long long>(steps), static_cast<long long>(prompt));
  std::printf("| memory positions | cross K/V bytes | set_memory ms | decode tok/s, cached | decode tok/s, recomputed | "
              "speedup |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const std::int64_t S : {64, 256, 1024}) {
    std::vector<float> memory(static_cast<std::size_t>(S * hidden));
    for (auto& v : memory) v = nd(rng);
    SessionOptions so;
    so.context = c.max_position_embeddings;
    so.pool = pool;
    Session s(model, so);
    std::vector<double> set, cached, recomputed;
    for (std::int64_t r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      const double ts = seconds([&] { s.set_memory(memory.data(), S, hidden); });
      s.reset();
      s.prefill(std::span<const std::int32_t>(ids.data(), std::size_t(prompt)));
      const double tc = seconds([&] {
        for (std::int64_t k = 0; k < steps; ++k) s.step(ids[std::size_t(prompt + k)]);
      });
      s.reset();
      s.prefill(std::span<const std::int32_t>(ids.data(), std::size_t(prompt)));
      const double tr = seconds([&] {
        for (std::int64_t k = 0; k < steps; ++k) {
          s.set_memory(memory.data(), S, hidden);
          s.step(ids[std::size_t(prompt + k)]);
        }
      });
      if (r > 0) set.push_back(ts * 1e3), cached.push_back(double(steps) / tc), recomputed.push_back(double(steps) / tr);
    }
    const double d = median(cached), e = median(recomputed);
    std::printf("| %lld | %.2f MB | %.2f | %.1f | %.1f | %.2fx |\n", static_cast<long long>(S),
                double(s.cache().cross().bytes()) / 1e6, median(set), d, e, d / e);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-cross-bench", [&] { return run(argc, argv); });
}
