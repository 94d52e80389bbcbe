// strata-cache-bench: decode speed and KV-cache memory of the bounded cache
// policies (layers/cache_policies.hpp) against the linear cache, as the
// context grows. One random-weight Llama-layout checkpoint is written to a
// temporary folder; each composition differs only in its attention's Mask
// (cache) policy. For each context length N, a session prefills N − steps
// tokens, then decodes `steps` single tokens; the row gives the median
// per-token decode time as tokens/s and the session's KV-cache bytes. A
// linear cache reads N keys per token and holds N positions; the bounded
// ones read and hold a fixed number of slots, so their rows stay flat, as
// does causal linear attention (layers/linear_attention.hpp), whose state
// (head_dim + 1 rows per KV head) replaces the cache.
//
//   strata-cache-bench [--threads N] [--contexts 1024,8192] [--steps 32] [--window 256] [--sinks 4]
//                      [--budget 256] [--hidden 512] [--layers 4] [--heads 8] [--ffn 1536] [--vocab 8192]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "strata/layers/linear_attention.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"

namespace {

using namespace strata;

constexpr const char* kUsage =
    "usage: strata-cache-bench [--threads N] [--contexts 1024,8192] [--steps 32] [--window 256] [--sinks 4]\n"
    "                          [--budget 256] [--hidden 512] [--layers 4] [--heads 8] [--ffn 1536] [--vocab 8192]\n";

template <class Mask>
using PolicyBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Mask>, GatedFFN<SiLU>>;

struct Policy {
  const char* name;
  const char* what;
  std::function<std::shared_ptr<const LanguageModel>(const io::Checkpoint&, const ModelConfig&)> load;
};

template <class Block>
Policy policy(const char* name, const char* what) {
  return {name, what, [name](const io::Checkpoint& ck, const ModelConfig& c) {
            return std::shared_ptr<const LanguageModel>(CausalLM<Block>::load(ck, c, name));
          }};
}

std::vector<Policy> policies() {
  return {
      policy<PolicyBlock<Causal>>("linear", "causal, a row per position"),
      policy<PolicyBlock<SlidingWindow>>("SlidingWindow", "window mask, linear cache"),
      policy<PolicyBlock<RingWindow>>("RingWindow", "window in a ring of slots"),
      policy<PolicyBlock<SinkWindow>>("SinkWindow", "sinks + window (StreamingLLM)"),
      policy<PolicyBlock<A2SF>>("A2SF", "budget, accumulated scores"),
      policy<DecoderBlock<RMSNorm, LinearAttention<>, GatedFFN<SiLU>>>("LinearAttention", "elu + 1 features, state"),
  };
}

// Matrices uniform in ±0.05, norm weights 1.
void write_checkpoint(const std::filesystem::path& dir, const ModelConfig& c) {
  bench::RandomTensors w;
  const std::int64_t H = c.hidden_size, I = c.intermediate_size;
  w.mat("model.embed_tokens.weight", c.vocab_size, H);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.vec(p + "input_layernorm.weight", H, 1.0f);
    w.vec(p + "post_attention_layernorm.weight", H, 1.0f);
    w.mat(p + "self_attn.q_proj.weight", c.q_dim(), H);
    w.mat(p + "self_attn.k_proj.weight", c.kv_dim(), H);
    w.mat(p + "self_attn.v_proj.weight", c.kv_dim(), H);
    w.mat(p + "self_attn.o_proj.weight", H, c.q_dim());
    w.mat(p + "mlp.gate_proj.weight", I, H);
    w.mat(p + "mlp.up_proj.weight", I, H);
    w.mat(p + "mlp.down_proj.weight", H, I);
  }
  w.vec("model.norm.weight", H, 1.0f);
  w.mat("lm_head.weight", c.vocab_size, H);
  w.write(dir);
}

std::vector<std::int64_t> parse_list(const std::string& s, std::string_view flag) {
  std::vector<std::int64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(cli::Args::parse_int(item, flag, 2, 1 << 20));
  check(!out.empty(), flag, ": expected a comma-separated list of context lengths");
  return out;
}

int run(int argc, char** argv) {
  cli::Args a(argc, argv);
  int threads = 0;
  std::int64_t steps = 32;
  std::vector<std::int64_t> contexts = {1024, 8192};
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 512;
  c.num_layers = 4;
  c.num_heads = 8;
  c.intermediate_size = 1536;
  c.vocab_size = 8192;
  c.sliding_window = 256;
  c.variants.kv_budget = 256;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--contexts") contexts = parse_list(a.value(f), f);
    else if (f == "--steps") steps = a.integer(f, 1, 1 << 16);
    else if (f == "--window") c.sliding_window = a.integer(f, 1, 1 << 20);
    else if (f == "--sinks") c.variants.sink_tokens = a.integer(f, 0, 1 << 20);
    else if (f == "--budget") c.variants.kv_budget = a.integer(f, 1, 1 << 20);
    else if (f == "--hidden") c.hidden_size = a.integer(f, 8, 1 << 14);
    else if (f == "--layers") c.num_layers = a.integer(f, 1, 256);
    else if (f == "--heads") c.num_heads = a.integer(f, 1, 256);
    else if (f == "--ffn") c.intermediate_size = a.integer(f, 1, 1 << 16);
    else if (f == "--vocab") c.vocab_size = a.integer(f, 2, 1 << 20);
    else check(false, "unknown option '", f, "' (see --help)");
  }
  check(c.hidden_size % c.num_heads == 0 && (c.hidden_size / c.num_heads) % 2 == 0,
        "--hidden must be a multiple of 2 x --heads");
  for (const auto n : contexts) check(steps < n, "--steps (", steps, ") must be less than every context (", n, ")");
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_position_embeddings = *std::max_element(contexts.begin(), contexts.end());
  c.norm_eps = 1e-5;

  const bench::ScratchDir scratch("strata-cache-bench");
  const auto& dir = scratch.path;
  std::cerr << "strata-cache-bench: writing a random checkpoint to " << dir.string() << "\n";
  write_checkpoint(dir, c);
  const auto ck = io::Checkpoint::open(dir);
  auto pool = std::make_shared<ThreadPool>(threads);

  std::printf("KV-cache policies (`strata-cache-bench --threads %d --steps %lld --window %lld --sinks %lld --budget %lld`; "
              "hidden %lld, %lld layers, %lld heads, FFN %lld, vocab %lld, f32):\n\n",
              pool->size(), static_cast<long long>(steps), static_cast<long long>(c.sliding_window),
              static_cast<long long>(c.variants.sink_tokens), static_cast<long long>(c.variants.kv_budget),
              static_cast<long long>(c.hidden_size), static_cast<long long>(c.num_layers),
              static_cast<long long>(c.num_heads), static_cast<long long>(c.intermediate_size),
              static_cast<long long>(c.vocab_size));
  std::printf("| policy | what | context | decode tok/s | ms/token | KV cache MiB |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
  const std::int64_t max_ctx = c.max_position_embeddings;
  const std::vector<std::int32_t> ids = bench::token_stream(max_ctx, c.vocab_size);
  for (const Policy& p : policies()) {
    const auto model = p.load(ck, c);
    for (const std::int64_t n : contexts) {
      SessionOptions so;
      so.context = n;
      so.pool = pool;
      Session s(model, so);
      for (std::int64_t done = 0; done < n - steps;) {  // prefill in chunks of 512 (bounded scratch)
        const std::int64_t k = std::min<std::int64_t>(512, n - steps - done);
        s.prefill(std::span<const std::int32_t>(ids.data() + done, std::size_t(k)));
        done += k;
      }
      std::vector<double> per_token;
      for (std::int64_t k = 0; k < steps; ++k)
        per_token.push_back(bench::seconds([&] { s.step(ids[std::size_t(n - steps + k)]); }));
      const double t = bench::median(per_token);
      std::printf("| %s | %s | %lld | %.1f | %.2f | %.2f |\n", p.name, p.what, static_cast<long long>(n), 1.0 / t,
                  t * 1e3, double(s.cache().bytes()) / (1 << 20));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-cache-bench", [&] { return run(argc, argv); });
}
