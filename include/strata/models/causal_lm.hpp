// CausalLM<Block, W, Arch>: token embedding (+ learned positions) → N × Block
// → final norm → LM head, the whole graph fixed at compile time from the
// block's policies; sizes come from config.json at run time. W is the weight
// type of every projection (float; bf16 / f16 stored with f32 compute;
// Quantized<B>). Arch names where the parts are in the checkpoint and which
// final norm and position embedding wrap the blocks (LlamaArch, GPT2Arch).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "strata/io/safetensors.hpp"
#include "strata/layers/decoder_block.hpp"
#include "strata/layers/layernorm.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/rmsnorm.hpp"
#include "strata/models/language_model.hpp"

namespace strata {

// How projections compute. F32: f32 multiply-adds on weights of the loaded
// type (f32, or bf16 / f16 widened in registers). BF16: bf16 weights (an f32
// checkpoint rounded at load) and bf16 inputs, products summed in f32, on the
// CPU's bf16 dot-product instruction (AVX512_BF16) where it has one, emulated
// otherwise (same numbers, slower). Opt-in: rounding every projection's input
// to bf16 changes the results (docs/ENCODERS.md has the error measured).
enum class Compute { F32, BF16 };

struct LoadOptions {
  // Called after each block is loaded: (blocks done, blocks total). Blocks
  // load in parallel: the calls come from the loading threads, one at a
  // time, with blocks done counting up to the total.
  std::function<void(std::int64_t, std::int64_t)> on_progress;
  // Threads that read, convert, pack and quantize the weights (the model's
  // blocks, embeddings and head load in parallel); 0: one per hardware
  // thread. The loaded model is the same whatever the count.
  int threads = 0;
  // Quantize the projections of a dense checkpoint at load (quant.enabled;
  // type, group, asym, quantize_head, keep_dense). Ignored fields: source,
  // bf16_dot (set from compute).
  QuantSpec quant;
  Compute compute = Compute::F32;

  // These options, loading with n threads unless `threads` is set.
  LoadOptions with_default_threads(int n) const {
    LoadOptions o = *this;
    if (o.threads == 0) o.threads = n;
    return o;
  }
};

namespace detail {
// Reports loaded blocks through LoadOptions::on_progress, from whichever
// thread loaded them, one call at a time.
class BlockProgress {
 public:
  BlockProgress(const LoadOptions& o, std::int64_t total) : fn_(o.on_progress), total_(total) {}
  void block_done() {
    if (!fn_) return;
    const std::lock_guard<std::mutex> lock(mu_);
    fn_(++done_, total_);
  }

 private:
  const std::function<void(std::int64_t, std::int64_t)>& fn_;
  std::mutex mu_;
  std::int64_t done_ = 0, total_;
};
}  // namespace detail

// ", bf16 dot" in a model's name when its projections compute on bf16 dot products.
inline std::string compute_suffix(const ModelConfig& c) { return c.quant.bf16_dot ? ", bf16 dot" : ""; }

// A loaded model's name: "llama<bf16>", "bert<f32, q8 g32>", "vit<bf16, bf16 dot>".
template <class W>
std::string model_name(std::string family, const ModelConfig& c) {
  std::string quant;
  if constexpr (is_quantized_v<W>) quant = ", " + c.quant.describe() + (c.quant.quantize_head ? " +head" : "");
  return std::move(family) + "<" + weight_type_name<dense_t<W>>() + quant + compute_suffix(c) + ">";
}

namespace detail {
// Loads a model's blocks ("<prefix>N", N < blocks.size()) and, as one more
// task, `rest` (embeddings, norms), in parallel on opt.threads threads, the
// rest first; progress is reported per block (LoadOptions::on_progress).
template <class Blocks, class Rest>
void load_blocks_in_parallel(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c,
                             const LoadOptions& opt, Blocks& blocks, Rest rest) {
  BlockProgress progress(opt, std::int64_t(blocks.size()));
  ThreadPool pool(opt.threads);
  pool.for_each_task(1 + std::int64_t(blocks.size()), [&](std::int64_t i) {
    if (i == 0) {
      rest();
      return;
    }
    blocks[std::size_t(i - 1)].load(ck, prefix + std::to_string(i - 1), c);
    progress.block_done();
  });
}
}  // namespace detail

// Llama family: model.embed_tokens, model.layers.N, model.norm (RMSNorm), lm_head.
struct LlamaArch {
  using FinalNorm = RMSNorm;
  static constexpr const char* embed = "embed_tokens.weight";
  static constexpr const char* positions = nullptr;  // no learned position embeddings
  static constexpr const char* layers = "layers.";
  static constexpr const char* norm = "norm";
  static std::string prefix(const io::Checkpoint&) { return "model."; }
};

// GPT-2: wte, wpe (learned positions), h.N, ln_f (LayerNorm), tied lm_head.
// transformers' GPT2LMHeadModel saves them under "transformer."; OpenAI's
// published checkpoint has no prefix.
struct GPT2Arch {
  using FinalNorm = LayerNorm;
  static constexpr const char* embed = "wte.weight";
  static constexpr const char* positions = "wpe.weight";
  static constexpr const char* layers = "h.";
  static constexpr const char* norm = "ln_f";
  static std::string prefix(const io::Checkpoint& ck) { return ck.find("transformer.wte.weight") ? "transformer." : ""; }
};

// The Llama layout with another final norm, for blocks whose Norm policy is
// not RMSNorm (the final norm is the blocks' kind in every published model).
template <class Norm>
struct LlamaArchWith : LlamaArch {
  using FinalNorm = Norm;
};
// Gemma: the Llama layout with (1 + w) RMSNorms, the final one included;
// the embeddings' √hidden scaling is config.embed_scale (set for gemma).
using GemmaArch = LlamaArchWith<GemmaRMSNorm>;

template <class Block, class W = float, class Arch = LlamaArch>
class CausalLM final : public LanguageModel {
 public:
  using block_layer = typename Block::template layer<W>;
  using dense = dense_t<W>;  // embeddings (and, by default, the LM head)
  using pos_encoding = typename Block::pos_encoding;

  // Loads every tensor the composition names from the checkpoint; a missing
  // or mis-shaped tensor is an error naming it. Every tensor is copied into
  // the model's own memory, so the model keeps no reference to the checkpoint
  // and never reads its files again (they may be changed or deleted).
  static std::shared_ptr<CausalLM> load(const io::Checkpoint& ck, const ModelConfig& c, std::string name,
                                        const LoadOptions& opt = {}) {
    auto m = std::shared_ptr<CausalLM>(new CausalLM());
    m->cfg_ = c;
    // Looped depth (strata_variants.loops = N): the checkpoint's blocks are
    // applied N times with shared weights; the model's depth, and so its KV
    // cache, is N × num_hidden_layers, which config() reports.
    m->loops_ = c.variants.loops;
    m->cfg_.num_layers = c.num_layers * c.variants.loops;
    if constexpr (requires { block_layer::loop_lora; })
      check(c.variants.loop_lora_rank == 0 || block_layer::loop_lora,
            "strata_variants.loop_lora_rank: this composition's attention or FFN has no per-loop LoRA deltas "
            "(SelfAttention with separate q/k/v projections and GatedFFN have)");
    else check(c.variants.loop_lora_rank == 0, "strata_variants.loop_lora_rank: this composition has no per-loop LoRA");
    m->name_ = model_name<W>(std::move(name), c);
    // Tied checkpoints store one matrix, under either name.
    const std::string prefix = Arch::prefix(ck);
    std::string embed_name = prefix + Arch::embed;
    if (c.tie_word_embeddings && !ck.find(embed_name) && ck.find("lm_head.weight")) embed_name = "lm_head.weight";
    // The head stays dense unless asked for (quantize_head) or stored quantized (GPTQ/AWQ lm_head).
    QuantSpec head_q = c.quant;
    if (head_q.source == QuantSpec::Source::Dense) head_q.enabled = head_q.enabled && head_q.quantize_head;
    const bool quant_head = is_quantized_v<W> && head_q.enabled && head_q.quantize_head;
    const bool shared_head = c.tie_word_embeddings && !quant_head;
    std::string head_name = c.tie_word_embeddings ? embed_name : "lm_head.weight";
    head_name.resize(head_name.size() - 7);  // the ".weight" suffix
    // Loaded in parallel, the largest parts first: the embeddings (with the
    // learned positions and the final norm), the head, then each block.
    m->blocks_.resize(std::size_t(c.num_layers));
    detail::BlockProgress progress(opt, c.num_layers);
    ThreadPool pool(opt.threads);
    pool.for_each_task(2 + c.num_layers, [&](std::int64_t i) {
      if (i == 0) {
        m->embed_ = WeightTensor<dense>::load(ck, embed_name, {c.vocab_size, c.hidden_size});
        if constexpr (Arch::positions != nullptr)
          m->positions_ =
              WeightTensor<float>::load(ck, prefix + Arch::positions, {c.max_position_embeddings, c.hidden_size});
        m->norm_.load(ck, prefix + Arch::norm, c.hidden_size, c.norm_eps);
      } else if (i == 1) {
        if (!shared_head) m->head_.load(ck, head_name, c.vocab_size, c.hidden_size, false, head_q);
      } else {
        m->blocks_[std::size_t(i - 2)].load(ck, prefix + Arch::layers + std::to_string(i - 2), c);
        progress.block_done();
      }
    });
    if (shared_head) m->head_.share(m->embed_);
    m->rope_.init(c.head_dim, c.rope_theta, c.rope_scaling);
    return m;
  }

  CausalLM(const CausalLM&) = delete;
  CausalLM& operator=(const CausalLM&) = delete;

  const ModelConfig& config() const override { return cfg_; }
  std::string name() const override { return name_; }

  std::size_t weight_bytes() const override {
    std::size_t b = norm_.bytes() + head_.bytes() + std::size_t(cfg_.hidden_size) * sizeof(dense) +
                    (positions_.empty() ? 0 : std::size_t(cfg_.hidden_size) * sizeof(float));
    for (const auto& blk : blocks_) b += std::size_t(loops_) * blk.bytes();  // a looped model reads them loops_ times
    return b;
  }

  // Cross-attention blocks (CrossDecoderBlock): the encoder memory's K/V,
  // computed once per memory into cache.cross(), one entry per checkpoint
  // block (a looped model's passes share them with the weights).
  static constexpr bool has_cross = requires { block_layer::cross_attention; };
  bool needs_memory() const override { return has_cross; }
  void set_memory(const float* memory, std::int64_t S, std::int64_t width, KVCache& cache,
                  ThreadPool& pool) const override {
    if constexpr (!has_cross) {
      LanguageModel::set_memory(memory, S, width, cache, pool);
    } else {
      check(width == cfg_.hidden_size, "set_memory: memory rows are ", width, " floats wide, but ", name_,
            " has hidden_size ", cfg_.hidden_size);
      check(S >= 1 && S <= ConfigLimits::max_positions, "set_memory: memory length ", S, " is out of range [1, ",
            ConfigLimits::max_positions, "]");
      check(memory != nullptr, "set_memory: no memory given");
      const std::int64_t L = std::int64_t(blocks_.size());
      CrossKVCache& cross = cache.cross();
      cross.resize(L, cfg_.num_kv_heads, S, cfg_.head_dim);
      for (std::int64_t l = 0; l < L; ++l)
        blocks_[std::size_t(l)].set_memory(memory, S, cross.layer(l), cross.k_scratch(), cross.v_scratch(), pool);
      cross.set_length(S);
    }
  }

  std::int64_t cache_slots(std::int64_t context) const override {
    if constexpr (requires(const block_layer& blk) { blk.cache_slots(context); })
      return blocks_.front().cache_slots(context);
    else return context;
  }
  bool cache_slot_state() const override {
    if constexpr (requires { block_layer::cache_slot_state; }) return block_layer::cache_slot_state;
    else return false;
  }

  void forward(std::span<const std::int32_t> tokens, KVCache& cache, DecoderWorkspace& ws, ThreadPool& pool,
               Logits which, float* logits) const override {
    const auto& c = cfg_;
    const std::int64_t T = std::int64_t(tokens.size()), p0 = cache.length(), H = c.hidden_size;
    check(T > 0, "forward: no tokens");
    check(p0 + T <= cache.capacity(), "context is full: ", p0, " + ", T, " tokens exceed the session's ",
          cache.capacity(), " positions");
    check(cache.slots() == cache_slots(cache.capacity()) && cache.slot_state() == cache_slot_state(),
          "forward: the KV cache (", cache.slots(), " rows per KV head", cache.slot_state() ? ", slot state" : "",
          ") does not fit ", name_, ", which needs ", cache_slots(cache.capacity()), " rows per KV head",
          cache_slot_state() ? " with slot state" : "", " for ", cache.capacity(), " positions");
    if constexpr (has_cross)
      check(cache.cross().fits(std::int64_t(blocks_.size()), c.num_kv_heads, c.head_dim), "forward: ", name_,
            " has cross-attention layers and no encoder memory: call set_memory first");
    for (auto id : tokens)
      check(id >= 0 && id < c.vocab_size, "token id ", id, " is out of range [0, ", c.vocab_size, ")");
    ws.ensure(c, T);

    const float embed_scale = float(c.embed_scale);  // Gemma: × √hidden; else 1
    for (std::int64_t t = 0; t < T; ++t) {  // inputs_embeds = self.embed_tokens(input_ids)
      const dense* row = embed_.row(tokens[std::size_t(t)]);
      for (std::int64_t i = 0; i < H; ++i) ws.x[std::size_t(t * H + i)] = widen(row[i]) * embed_scale;
      if (!positions_.empty()) {  // inputs_embeds + self.wpe(position_ids)
        const float* pos = positions_.row(p0 + t);
        for (std::int64_t i = 0; i < H; ++i) ws.x[std::size_t(t * H + i)] += pos[i];
      }
    }
    rope_.tables(p0, T, ws.cos.data(), ws.sin.data());  // position_embeddings = self.rotary_emb(x, position_ids)
    BlockScratch s{ws.xn.data(), ws.tmp.data(), {ws.q.data(), ws.k.data(), ws.v.data(), ws.ctx.data()},
                   {ws.gate.data(), ws.up.data()}};
    const std::int64_t L = std::int64_t(blocks_.size());
    for (std::int64_t pass = 0; pass < loops_; ++pass) {  // one pass unless the model is looped
      s.attn.loop = s.ffn.loop = pass;
      for (std::int64_t l = 0; l < L; ++l)
        if constexpr (has_cross)
          blocks_[std::size_t(l)].forward(ws.x.data(), T, p0, rope_, ws.cos.data(), ws.sin.data(),
                                          cache.layer(pass * L + l), cache.cross().layer(l), s, pool);
        else
          blocks_[std::size_t(l)].forward(ws.x.data(), T, p0, rope_, ws.cos.data(), ws.sin.data(),
                                          cache.layer(pass * L + l), s, pool);
      if (pass + 1 < loops_ && ws.loop_exit && ws.loop_exit(pass, p0, T, ws.x.data())) {
        share_kv(cache, pass, p0, T);
        break;
      }
    }
    cache.set_length(p0 + T);

    // hidden_states = self.norm(hidden_states); logits = self.lm_head(hidden_states)
    const std::int64_t first = which == Logits::All ? 0 : T - 1, n = T - first;
    norm_.forward(ws.x.data() + first * H, n, ws.xn.data());
    head_.forward(ws.xn.data(), n, logits, pool);
  }

 private:
  CausalLM() = default;

  // Early exit after `pass`: the passes skipped for these tokens get this
  // pass's K/V at their positions (MoR's KV sharing across recursions), so
  // later tokens attend to something at every depth.
  void share_kv(KVCache& cache, std::int64_t pass, std::int64_t p0, std::int64_t T) const {
    check(!cache.slot_state() && cache.slots() == cache.capacity(),
          "loop exit: the skipped passes' K/V are shared from the exit pass, which needs a linear KV cache");
    const std::int64_t L = std::int64_t(blocks_.size()), hd = cfg_.head_dim;
    for (std::int64_t j = pass + 1; j < loops_; ++j)
      for (std::int64_t l = 0; l < L; ++l) {
        const KVLayerView src = cache.layer(pass * L + l), dst = cache.layer(j * L + l);
        for (std::int64_t g = 0; g < cfg_.num_kv_heads; ++g) {
          std::copy(src.k_at(g, p0), src.k_at(g, p0) + T * hd, dst.k_at(g, p0));
          std::copy(src.v_at(g, p0), src.v_at(g, p0) + T * hd, dst.v_at(g, p0));
        }
      }
  }

  ModelConfig cfg_;
  std::string name_;
  WeightTensor<dense> embed_;
  WeightTensor<float> positions_;  // learned position embeddings (Arch::positions), else empty
  std::vector<block_layer> blocks_;
  std::int64_t loops_ = 1;  // passes over blocks_ (looped depth)
  typename Arch::FinalNorm norm_;
  Linear<W> head_;
  pos_encoding rope_;
};

}  // namespace strata
