// strata-ffn-bench: what the FFN variants that skip work buy.
//
//   strata-ffn-bench [--threads N] [--repeats 5] [--hidden 512] [--layers 4] [--ffn 1536] [--no-sparse]
//
// 1. Mixture of experts against a dense model of equal active parameters:
//    the same Llama-layout model (--hidden, --layers, 8 heads, vocab 8192)
//    with a SwiGLU FFN of --ffn, with Mixtral blocks of 8 experts × ffn/2
//    routed top-2 (2 × ffn/2 active), and with 8 experts × ffn routed top-1;
//    prefill tok/s of a 128-token prompt and decode tok/s of 64 steps after
//    it. Experts hold 4× or 8× the dense FFN's weights.
// 2. The activation-sparse down projection (SparseMLP) against the dense
//    one (MLP), a ReLU MLP of hidden 1024 and intermediate 4096 with its up
//    bias set so that about 50%, 10%, 3% or 1% of the activations are
//    non-zero (the density is measured and printed): time per FFN call for
//    one token (decode) and for 32 (a prefill chunk), on the same weights.
//
// Random weights (uniform ±0.05), written to a temporary folder. Medians of
// --repeats after a warm-up.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "strata/layers/sparse_ffn.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"

namespace {

using namespace strata;

constexpr const char* kUsage =
    "usage: strata-ffn-bench [--threads N] [--repeats 5] [--hidden 512] [--layers 4] [--ffn 1536] [--no-sparse]\n";

using bench::median;
using bench::seconds;

// ---- 1. MoE vs dense ---------------------------------------------------------------------------

struct ModelCase {
  const char* name;
  std::int64_t experts, top_k, ffn;  // experts 0: dense
};

void write_model(const std::filesystem::path& dir, const ModelConfig& c, const ModelCase& m) {
  bench::RandomTensors w;
  const std::int64_t H = c.hidden_size;
  w.mat("model.embed_tokens.weight", c.vocab_size, H);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.vec(p + "input_layernorm.weight", H, 1.0f);
    w.vec(p + "post_attention_layernorm.weight", H, 1.0f);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) w.mat(p + "self_attn." + n + ".weight", H, H);
    if (m.experts == 0) {
      w.mat(p + "mlp.gate_proj.weight", m.ffn, H);
      w.mat(p + "mlp.up_proj.weight", m.ffn, H);
      w.mat(p + "mlp.down_proj.weight", H, m.ffn);
      continue;
    }
    w.mat(p + "block_sparse_moe.gate.weight", m.experts, H);
    for (std::int64_t e = 0; e < m.experts; ++e) {
      const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
      w.mat(x + "w1.weight", m.ffn, H);
      w.mat(x + "w2.weight", H, m.ffn);
      w.mat(x + "w3.weight", m.ffn, H);
    }
  }
  w.vec("model.norm.weight", H, 1.0f);
  w.mat("lm_head.weight", c.vocab_size, H);
  w.write(dir);
}

void moe_table(const std::filesystem::path& tmp, const std::shared_ptr<ThreadPool>& pool, std::int64_t repeats,
               std::int64_t hidden, std::int64_t layers, std::int64_t ffn) {
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = c.num_kv_heads = 8;
  c.head_dim = hidden / 8;
  c.vocab_size = 8192;
  c.max_position_embeddings = 512;
  c.norm_eps = 1e-5;
  const std::int64_t prompt = 128, steps = 64;
  const std::string top2 = "MoE 8 × " + std::to_string(ffn / 2) + ", top-2", top1 = "MoE 8 × " + std::to_string(ffn) + ", top-1";
  const ModelCase cases[] = {{"dense SwiGLU", 0, 0, ffn}, {top2.c_str(), 8, 2, ffn / 2}, {top1.c_str(), 8, 1, ffn}};
  std::printf("Mixture of experts vs dense, equal active FFN parameters (hidden %lld, %lld layers, 8 heads, vocab 8192, "
              "f32, %d threads; prefill %lld tokens, decode %lld steps after it):\n\n",
              static_cast<long long>(hidden), static_cast<long long>(layers), pool->size(),
              static_cast<long long>(prompt), static_cast<long long>(steps));
  std::printf("| FFN | active FFN weights / layer | all FFN weights / layer | prefill tok/s | vs dense | decode tok/s | vs dense |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  const std::vector<std::int32_t> ids = bench::token_stream(prompt + steps, c.vocab_size);
  double base_p = 0, base_d = 0;
  for (const ModelCase& m : cases) {
    const auto dir = tmp / ("model-" + std::to_string(m.experts) + "-" + std::to_string(m.top_k));
    write_model(dir, c, m);
    ModelConfig mc = c;
    mc.model_type = m.experts ? "mixtral" : "llama";
    mc.intermediate_size = m.ffn;
    mc.num_experts = m.experts;
    mc.experts_per_token = m.top_k;
    const auto ck = io::Checkpoint::open(dir);
    const std::shared_ptr<const LanguageModel> model =
        m.experts ? std::shared_ptr<const LanguageModel>(CausalLM<MixtralBlock>::load(ck, mc, m.name))
                  : std::shared_ptr<const LanguageModel>(CausalLM<LlamaBlock>::load(ck, mc, m.name));
    SessionOptions so;
    so.context = c.max_position_embeddings;
    so.pool = pool;
    Session s(model, so);
    std::vector<double> pre, dec;
    for (std::int64_t r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      s.reset();
      const double tp = seconds([&] { s.prefill(std::span<const std::int32_t>(ids.data(), std::size_t(prompt))); });
      const double td = seconds([&] {
        for (std::int64_t k = 0; k < steps; ++k) s.step(ids[std::size_t(prompt + k)]);
      });
      if (r > 0) pre.push_back(double(prompt) / tp), dec.push_back(double(steps) / td);
    }
    const double p = median(pre), d = median(dec);
    if (base_p == 0) base_p = p, base_d = d;
    const double active = double(3 * m.ffn * c.hidden_size * std::max<std::int64_t>(1, m.top_k)) / 1e6;
    const double all = double(3 * m.ffn * c.hidden_size * std::max<std::int64_t>(1, m.experts)) / 1e6;
    std::printf("| %s | %.2f M | %.2f M | %.1f | %.2fx | %.1f | %.2fx |\n", m.name, active, all, p, p / base_p, d,
                d / base_d);
    std::fflush(stdout);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);  // the largest is 8× the dense FFN
  }
}

// ---- 2. activation-sparse FFN ---------------------------------------------------------------

struct BiasedMLPNames {
  static constexpr const char *up = "up_proj", *down = "down_proj";
  static constexpr bool conv1d = false;
  static constexpr bool bias = true;
};

void sparse_table(const std::filesystem::path& tmp, ThreadPool& pool, std::int64_t repeats) {
  ModelConfig c;
  c.hidden_size = 1024;
  c.intermediate_size = 4096;
  c.hidden_act = Activation::ReLU;
  const std::int64_t H = c.hidden_size, I = c.intermediate_size;
  // Pre-activations are ~N(0, σ²), σ = √H · 0.1/√12, for inputs of unit variance:
  // a bias of −zσ leaves a fraction 1 − Φ(z) of them positive.
  const double sigma = std::sqrt(double(H)) * 0.1 / std::sqrt(12.0);
  const double targets[] = {0.5, 0.1, 0.03, 0.01};
  const double z[] = {0.0, 1.2816, 1.8808, 2.3263};
  bench::RandomTensors w;
  for (int i = 0; i < 4; ++i) {
    const std::string p = "d" + std::to_string(i) + ".";
    w.mat(p + "up_proj.weight", I, H);
    w.vec(p + "up_proj.bias", I, float(-z[i] * sigma));
    w.mat(p + "down_proj.weight", H, I);
    w.vec(p + "down_proj.bias", H, 0.0f);
  }
  w.write(tmp / "sparse");
  const auto ck = io::Checkpoint::open(tmp / "sparse");

  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const std::int64_t Tmax = 32;
  std::vector<float> x(static_cast<std::size_t>(Tmax * H)), y(static_cast<std::size_t>(Tmax * H));
  for (auto& v : x) v = nd(rng);
  std::vector<float> gate(static_cast<std::size_t>(Tmax * I)), up(static_cast<std::size_t>(Tmax * I));
  const FFNScratch s{gate.data(), up.data()};

  std::printf("\nActivation-sparse ReLU MLP (hidden 1024, intermediate 4096, f32, %d threads): time per FFN call, "
              "dense down projection (MLP) vs only the non-zero units' rows (SparseMLP), same weights:\n\n",
              pool.size());
  std::printf("| non-zero activations | tokens | dense µs | sparse µs | speedup |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: |\n");
  for (int i = 0; i < 4; ++i) {
    const std::string p = "d" + std::to_string(i);
    MLP<ReLU, BiasedMLPNames>::layer<float> dense;
    SparseMLP<ReLU, BiasedMLPNames>::layer<float> sparse;
    dense.load(ck, p, c);
    sparse.load(ck, p, c);
    for (const std::int64_t T : {std::int64_t(1), Tmax}) {
      // Density of this input: the activations the down projection sees.
      dense.forward(x.data(), T, s, y.data(), pool);
      std::int64_t nz = 0;
      for (std::int64_t k = 0; k < T * I; ++k) nz += gate[std::size_t(k)] != 0.0f;
      const std::int64_t calls = T == 1 ? 200 : 20;
      std::vector<double> td, ts;
      for (std::int64_t r = 0; r <= repeats; ++r) {
        const double a = seconds([&] {
          for (std::int64_t k = 0; k < calls; ++k) dense.forward(x.data(), T, s, y.data(), pool);
        });
        const double b = seconds([&] {
          for (std::int64_t k = 0; k < calls; ++k) sparse.forward(x.data(), T, s, y.data(), pool);
        });
        if (r > 0) td.push_back(a / double(calls) * 1e6), ts.push_back(b / double(calls) * 1e6);
      }
      const double a = median(td), b = median(ts);
      std::printf("| %.1f%% (target %.0f%%) | %lld | %.1f | %.1f | %.2fx |\n", 100.0 * double(nz) / double(T * I),
                  100.0 * targets[i], static_cast<long long>(T), a, b, a / b);
      std::fflush(stdout);
    }
  }
}

int run(int argc, char** argv) {
  cli::Args a(argc, argv);
  int threads = 0;
  std::int64_t repeats = 5, hidden = 512, layers = 4, ffn = 1536;
  bool sparse = true;
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
    else if (f == "--ffn") ffn = a.integer(f, 2, 1 << 16);
    else if (f == "--no-sparse") sparse = false;
    else check(false, "unknown option '", f, "' (see --help)");
  }
  const bench::ScratchDir scratch("strata-ffn-bench");
  const auto& tmp = scratch.path;
  std::cerr << "strata-ffn-bench: writing random checkpoints to " << tmp.string() << "\n";
  auto pool = std::make_shared<ThreadPool>(threads);
  check(hidden % 16 == 0, "--hidden must be a multiple of 16 (8 heads of an even head_dim)");
  check(ffn % 2 == 0, "--ffn must be even (top-2 experts of --ffn / 2)");
  moe_table(tmp, pool, repeats, hidden, layers, ffn);
  if (sparse) sparse_table(tmp, *pool, repeats);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-ffn-bench", [&] { return run(argc, argv); });
}
