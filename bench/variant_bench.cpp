// strata-variant-bench: what each variant primitive (docs/VARIANTS.md) costs.
// One random-weight Llama-layout checkpoint holding the tensors of every
// variant is written to a temporary folder; each composition below loads
// what it uses and runs prefill and decode on the same shape. One primitive
// differs from the baseline (Llama: RMSNorm, RoPE, softmax, SwiGLU) per row.
//
//   strata-variant-bench [--threads N] [--prompt 128] [--context 1024] [--steps 32] [--repeats 3]
//                        [--hidden 512] [--layers 4] [--heads 8] [--ffn 1536] [--vocab 8192]
//
// prefill: tokens/s of a --prompt token pass into an empty cache; decode:
// tokens/s of --steps single-token steps after (--context − --steps)
// positions are cached, so the attention reads about --context keys per step.
// Medians of --repeats after a warm-up. The MLP rows (no gate projection)
// do 2/3 of the gated FFN's work by construction. The looped rows run the
// first layers/2 blocks twice (the same depth as the baseline with half the
// block weights), with rank-8 LoRA deltas per pass, and with an exit hook
// that stops every token after the first pass (half the depth).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "cli_args.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"

namespace {

using namespace strata;

constexpr const char* kUsage =
    "usage: strata-variant-bench [--threads N] [--prompt 128] [--context 1024] [--steps 32] [--repeats 3]\n"
    "                            [--hidden 512] [--layers 4] [--heads 8] [--ffn 1536] [--vocab 8192]\n";

using RoPE = Rope<RotateHalf>;
template <class Score = Softmax, class QKNorm = NoQKNorm, class Gate = NoGate, class PosEnc = RoPE>
using Attn = SelfAttention<PosEnc, Causal, NoBias, LlamaAttnNames, Score, QKNorm, Gate>;

struct Variant {
  const char* name;
  const char* what;
  Activation act;
  std::function<std::shared_ptr<const LanguageModel>(const io::Checkpoint&, const ModelConfig&)> load;
  std::int64_t loops = 1, lora = 0;  // looped depth: passes over layers/loops blocks, LoRA rank
  bool exit = false;                 // looped depth: every token exits after the first pass
};

constexpr std::int64_t kLoraRank = 8;

Variant looped(const char* name, const char* what, std::int64_t lora, bool exit) {
  Variant v{name, what, Activation::SiLU, [name](const io::Checkpoint& ck, const ModelConfig& c) {
              return std::shared_ptr<const LanguageModel>(CausalLM<DecoderBlock<RMSNorm, Attn<>, GatedFFN<SiLU>>>::load(ck, c, name));
            }};
  v.loops = 2;
  v.lora = lora;
  v.exit = exit;
  return v;
}

template <class Block, class Norm = RMSNorm>
Variant variant(const char* name, const char* what, Activation act = Activation::SiLU) {
  return {name, what, act, [name](const io::Checkpoint& ck, const ModelConfig& c) {
            return std::shared_ptr<const LanguageModel>(CausalLM<Block, float, LlamaArchWith<Norm>>::load(ck, c, name));
          }};
}

std::vector<Variant> variants() {
  using Swi = GatedFFN<SiLU>;
  return {
      variant<DecoderBlock<RMSNorm, Attn<>, Swi>>("baseline", "Llama: RMSNorm, RoPE, softmax, SwiGLU"),
      variant<DecoderBlock<RMSNorm, Attn<Softmax, NoQKNorm, NoGate, NoRope>, Swi>>("NoPE", "no position encoding"),
      variant<DecoderBlock<RMSNorm, Attn<ALiBi<>, NoQKNorm, NoGate, NoRope>, Swi>>("ALiBi", "ALiBi instead of RoPE"),
      variant<DecoderBlock<RMSNorm, Attn<SigmoidAttn>, Swi>>("sigmoid attention", "σ(s + b), no softmax"),
      variant<DecoderBlock<RMSNorm, Attn<ClippedSoftmax>, Swi>>("clipped softmax", "Quantizable Transformers"),
      variant<DecoderBlock<RMSNorm, Attn<Softmax, QKRMSNorm>, Swi>>("QK-norm", "RMSNorm on q, k heads"),
      variant<DecoderBlock<RMSNorm, Attn<Softmax, NoQKNorm, HeadGate>, Swi>>("head gate", "σ(g_proj(x)) per head"),
      variant<DecoderBlock<RMSNorm, Attn<>, GatedFFN<GELUTanh>>>("GeGLU", "GELU (tanh) gate", Activation::GELUTanh),
      variant<DecoderBlock<RMSNorm, Attn<>, GatedFFN<ReLU>>>("ReGLU", "ReLU gate", Activation::ReLU),
      variant<DecoderBlock<RMSNorm, Attn<>, MLP<GELU, LlamaMLPNames>>>("GELU MLP", "no gate projection",
                                                                       Activation::GELU),
      variant<DecoderBlock<RMSNorm, Attn<>, MLP<ReLU2, LlamaMLPNames>>>("squared-ReLU MLP", "Primer, no gate",
                                                                        Activation::ReLU2),
      variant<DecoderBlock<GemmaRMSNorm, Attn<>, Swi>, GemmaRMSNorm>("(1 + w) RMSNorm", "Gemma norms"),
      variant<DecoderBlock<LayerNorm, Attn<>, Swi>, LayerNorm>("LayerNorm", "with bias"),
      variant<DecoderBlock<LayerNormNoBias, Attn<>, Swi>, LayerNormNoBias>("LayerNorm, no bias", "weight only"),
      variant<DeepNormBlock<RMSNorm, Attn<>, Swi>>("DeepNorm", "post-norm, α-scaled residual"),
      looped("looped 2 passes", "layers/2 blocks applied twice, shared weights", 0, false),
      looped("looped + LoRA r8", "per-pass rank-8 deltas on every projection", kLoraRank, false),
      looped("looped + exit", "every token exits after pass 1 (KV shared)", 0, true),
  };
}

// A checkpoint with every variant's tensors: matrices uniform in ±0.05, norm
// weights 1 (biases 0), gate biases 0.
void write_checkpoint(const std::filesystem::path& dir, const ModelConfig& c) {
  bench::RandomTensors w;
  const auto mat = [&](std::string name, std::int64_t rows, std::int64_t cols) { w.mat(std::move(name), rows, cols); };
  const auto vec = [&](std::string name, std::int64_t n, float value) { w.vec(std::move(name), n, value); };
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  mat("model.embed_tokens.weight", c.vocab_size, H);
  for (std::int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm"}) {
      vec(p + n + ".weight", H, 1.0f);
      vec(p + n + ".bias", H, 0.0f);
    }
    mat(p + "self_attn.q_proj.weight", c.q_dim(), H);
    mat(p + "self_attn.k_proj.weight", c.kv_dim(), H);
    mat(p + "self_attn.v_proj.weight", c.kv_dim(), H);
    mat(p + "self_attn.o_proj.weight", H, c.q_dim());
    vec(p + "self_attn.q_norm.weight", hd, 1.0f);
    vec(p + "self_attn.k_norm.weight", hd, 1.0f);
    mat(p + "self_attn.g_proj.weight", c.num_heads, H);
    vec(p + "self_attn.g_proj.bias", c.num_heads, 0.0f);
    mat(p + "mlp.gate_proj.weight", I, H);
    mat(p + "mlp.up_proj.weight", I, H);
    mat(p + "mlp.down_proj.weight", H, I);
    const std::pair<const char*, std::pair<std::int64_t, std::int64_t>> lora[] = {  // (out, in) of each projection
        {"self_attn.q_proj", {c.q_dim(), H}}, {"self_attn.k_proj", {c.kv_dim(), H}},
        {"self_attn.v_proj", {c.kv_dim(), H}}, {"self_attn.o_proj", {H, c.q_dim()}},
        {"mlp.gate_proj", {I, H}}, {"mlp.up_proj", {I, H}}, {"mlp.down_proj", {H, I}}};
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& [name, shape] : lora) {
        const std::string q = p + name + ".lora_";
        mat(q + "A.loop" + std::to_string(pass) + ".weight", kLoraRank, shape.second);
        mat(q + "B.loop" + std::to_string(pass) + ".weight", shape.first, kLoraRank);
      }
  }
  vec("model.norm.weight", H, 1.0f);
  vec("model.norm.bias", H, 0.0f);
  mat("lm_head.weight", c.vocab_size, H);
  w.write(dir);
}

int run(int argc, char** argv) {
  cli::Args a(argc, argv);
  int threads = 0;
  std::int64_t prompt = 128, context = 1024, steps = 32, repeats = 3;
  ModelConfig c;
  c.model_type = "llama";
  c.hidden_size = 512;
  c.num_layers = 4;
  c.num_heads = 8;
  c.intermediate_size = 1536;
  c.vocab_size = 8192;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (f == "--threads") threads = int(a.integer(f, 1, 1024));
    else if (f == "--prompt") prompt = a.integer(f, 1, 1 << 16);
    else if (f == "--context") context = a.integer(f, 2, 1 << 16);
    else if (f == "--steps") steps = a.integer(f, 1, 1 << 16);
    else if (f == "--repeats") repeats = a.integer(f, 1, 100);
    else if (f == "--hidden") c.hidden_size = a.integer(f, 8, 1 << 14);
    else if (f == "--layers") c.num_layers = a.integer(f, 1, 256);
    else if (f == "--heads") c.num_heads = a.integer(f, 1, 256);
    else if (f == "--ffn") c.intermediate_size = a.integer(f, 1, 1 << 16);
    else if (f == "--vocab") c.vocab_size = a.integer(f, 2, 1 << 20);
    else check(false, "unknown option '", f, "' (see --help)");
  }
  check(c.hidden_size % c.num_heads == 0 && (c.hidden_size / c.num_heads) % 2 == 0,
        "--hidden must be a multiple of 2 x --heads");
  check(steps < context, "--steps (", steps, ") must be less than --context (", context, ")");
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_position_embeddings = std::max(prompt, context);
  c.norm_eps = 1e-5;

  const bench::ScratchDir scratch("strata-variant-bench");
  const auto& dir = scratch.path;
  std::cerr << "strata-variant-bench: writing a random checkpoint to " << dir.string() << "\n";
  write_checkpoint(dir, c);
  const auto ck = io::Checkpoint::open(dir);
  auto pool = std::make_shared<ThreadPool>(threads);

  std::printf("Variants (`strata-variant-bench --threads %d --prompt %lld --context %lld --steps %lld`; hidden %lld, "
              "%lld layers, %lld heads, FFN %lld, vocab %lld, f32):\n\n",
              pool->size(), static_cast<long long>(prompt), static_cast<long long>(context),
              static_cast<long long>(steps), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_layers), static_cast<long long>(c.num_heads),
              static_cast<long long>(c.intermediate_size), static_cast<long long>(c.vocab_size));
  std::printf("| variant | what differs | prefill tok/s | vs baseline | decode tok/s at %lld | vs baseline |\n",
              static_cast<long long>(context));
  std::printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
  const std::vector<std::int32_t> ids = bench::token_stream(std::max(prompt, context), c.vocab_size);
  double base_prefill = 0, base_decode = 0;
  for (const Variant& v : variants()) {
    ModelConfig vc = c;
    vc.hidden_act = v.act;
    if (v.loops > 1) {
      check(c.num_layers % v.loops == 0, "--layers must be even for the looped rows");
      vc.num_layers = c.num_layers / v.loops;
      vc.variants.loops = v.loops;
      vc.variants.loop_lora_rank = v.lora;
    }
    const auto model = v.load(ck, vc);
    SessionOptions so;
    so.context = c.max_position_embeddings;
    so.pool = pool;
    Session s(model, so);
    if (v.exit) s.set_loop_exit([](std::int64_t, std::int64_t, std::int64_t, const float*) { return true; });
    std::vector<double> pre, dec;
    for (std::int64_t r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      s.reset();
      const double tp = bench::seconds([&] { s.prefill(std::span<const std::int32_t>(ids.data(), std::size_t(prompt))); });
      s.reset();
      s.prefill(std::span<const std::int32_t>(ids.data(), std::size_t(context - steps)));
      const double td = bench::seconds([&] {
        for (std::int64_t k = 0; k < steps; ++k) s.step(ids[std::size_t(context - steps + k)]);
      });
      if (r > 0) {
        pre.push_back(double(prompt) / tp);
        dec.push_back(double(steps) / td);
      }
    }
    const double p = bench::median(pre), d = bench::median(dec);
    if (base_prefill == 0) base_prefill = p, base_decode = d;
    std::printf("| %s | %s | %.1f | %.2fx | %.1f | %.2fx |\n", v.name, v.what, p, p / base_prefill, d,
                d / base_decode);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return strata::bench::guarded_main("strata-variant-bench", [&] { return run(argc, argv); });
}
