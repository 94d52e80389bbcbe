// The decoder families (Llama, Mistral, Mixtral, Qwen2, Qwen3, Gemma, GPT-2) as compositions of
// layer templates, and the mapping from a Hugging Face config.json to one of
// them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "strata/io/hf_config.hpp"
#include "strata/io/quant_checkpoint.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/decoder_block.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/layernorm.hpp"
#include "strata/layers/moe.hpp"
#include "strata/layers/rmsnorm.hpp"
#include "strata/layers/rope.hpp"
#include "strata/models/causal_lm.hpp"

namespace strata {

using LlamaBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, GatedFFN<SiLU>>;
using LlamaBiasBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal, QKVOBias>, GatedFFN<SiLU>>;
using MistralBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, SlidingWindow>, GatedFFN<SiLU>>;
using Qwen2Block = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal, QKVBias>, GatedFFN<SiLU>>;
// Qwen3: Llama with RMSNorm on each head of q and k (q_norm, k_norm).
using Qwen3Block =
    DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal, NoBias, LlamaAttnNames, Softmax, QKRMSNorm>,
                 GatedFFN<SiLU>>;
// Gemma: (1 + w) RMSNorms, GeGLU with the tanh GELU, embeddings × √hidden (GemmaArch).
using GemmaBlock = DecoderBlock<GemmaRMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, GatedFFN<GELUTanh>>;

// Mixtral: Mistral's attention (full causal: the published configs have no
// window) with a top-2-of-8 mixture of SwiGLU experts in block_sparse_moe.
struct MixtralNames : LlamaNames {
  static constexpr const char* ffn = "block_sparse_moe";
};
using MixtralBlock = DecoderBlock<RMSNorm, SelfAttention<Rope<RotateHalf>, Causal>, SparseMoE<SiLU>, MixtralNames>;

struct GPT2Names {
  static constexpr const char* attn_norm = "ln_1";
  static constexpr const char* attn = "attn";
  static constexpr const char* ffn_norm = "ln_2";
  static constexpr const char* ffn = "mlp";
};
// Pre-norm LayerNorm blocks, fused Conv1D c_attn, positions learned (GPT2Arch), GELU (tanh) MLP.
using GPT2Block = DecoderBlock<LayerNorm, SelfAttention<NoRope, Causal, QKVOBias, GPT2AttnNames>,
                               MLP<GELUTanh, GPT2MLPNames>, GPT2Names>;
using GPT2ErfBlock = DecoderBlock<LayerNorm, SelfAttention<NoRope, Causal, QKVOBias, GPT2AttnNames>,
                                  MLP<GELU, GPT2MLPNames>, GPT2Names>;

template <class W = float>
using Llama = CausalLM<LlamaBlock, W>;
template <class W = float>
using GPT2 = CausalLM<GPT2Block, W, GPT2Arch>;
template <class W = float>
using Mistral = CausalLM<MistralBlock, W>;
template <class W = float>
using Qwen2 = CausalLM<Qwen2Block, W>;
template <class W = float>
using Qwen3 = CausalLM<Qwen3Block, W>;
template <class W = float>
using Gemma = CausalLM<GemmaBlock, W, GemmaArch>;
template <class W = float>
using Mixtral = CausalLM<MixtralBlock, W>;

enum class WeightType { F32, BF16, F16 };

// Picks the composition for a config (a finite set compiled in) and loads it.
template <class W>
std::shared_ptr<const LanguageModel> load_decoder(const io::Checkpoint& ck, const ModelConfig& c,
                                                        const LoadOptions& opt) {
  check(!c.is_encoder(), "model_type ", c.model_type, " is an encoder, not a text generator (use load_encoder)");
  if (c.model_type == "gpt2") {
    if (c.hidden_act == Activation::GELU) return CausalLM<GPT2ErfBlock, W, GPT2Arch>::load(ck, c, "gpt2", opt);
    return CausalLM<GPT2Block, W, GPT2Arch>::load(ck, c, "gpt2", opt);
  }
  // The built-in Llama-layout compositions use one activation each; other
  // activations (relu, relu2, gelu) parse, for compositions of your own.
  const Activation builtin = c.model_type == "gemma" ? Activation::GELUTanh : Activation::SiLU;
  check(c.hidden_act == builtin, "model_type ", c.model_type, " with activation ", activation_name(c.hidden_act),
        ": the built-in composition uses ", activation_name(builtin),
        " (compose a block with the activation you need; docs/VARIANTS.md)");
  // (An attention_bias the composition lacks is refused by SelfAttention::load.)
  if (c.model_type == "gemma") return CausalLM<GemmaBlock, W, GemmaArch>::load(ck, c, "gemma", opt);
  if (c.model_type == "mixtral") return CausalLM<MixtralBlock, W>::load(ck, c, "mixtral", opt);
  if (c.model_type == "qwen3") return CausalLM<Qwen3Block, W>::load(ck, c, "qwen3", opt);
  if (c.model_type == "qwen2") return CausalLM<Qwen2Block, W>::load(ck, c, "qwen2", opt);
  if (c.model_type == "mistral" && c.sliding_window > 0)
    return CausalLM<MistralBlock, W>::load(ck, c, "mistral", opt);
  if (c.qkv_bias) return CausalLM<LlamaBiasBlock, W>::load(ck, c, "llama+bias", opt);
  return CausalLM<LlamaBlock, W>::load(ck, c, c.model_type == "mistral" ? "mistral" : "llama", opt);
}

// Every weight type × composition is instantiated wherever load_causal_lm
// is used. A program with many translation units can compile them once:
// define STRATA_EXTERN_MODEL_TEMPLATES for all of them and, in one, include
// <strata/models/llama_instances.hpp> (this project's tests, examples and
// benchmark tools share one such translation unit, examples/model_instances.cpp).
#if defined(STRATA_EXTERN_MODEL_TEMPLATES)
#define STRATA_MODEL_INSTANCE(W)                                                                              \
  extern template std::shared_ptr<const LanguageModel> load_decoder<W>(const io::Checkpoint&, const ModelConfig&, \
                                                                            const LoadOptions&);
STRATA_MODEL_INSTANCE(float)
STRATA_MODEL_INSTANCE(bf16)
STRATA_MODEL_INSTANCE(f16)
STRATA_MODEL_INSTANCE(Quantized<float>)
STRATA_MODEL_INSTANCE(Quantized<bf16>)
STRATA_MODEL_INSTANCE(Quantized<f16>)
#undef STRATA_MODEL_INSTANCE
#endif

// Merges what the checkpoint holds (config.json quantization_config, the
// strata metadata of a `quantize`d checkpoint) with what the caller asked for.
inline void resolve_quantization(ModelConfig& c, const io::Checkpoint& ck, const QuantSpec& requested,
                                 const std::string& where) {
  const QuantSpec meta = io::strata_quant_metadata(ck);
  if (meta.enabled) {
    check(!c.quant.enabled, where, ": config.json has a quantization_config and the safetensors metadata has ",
          io::kStrataQuantKey, "; only one may describe the weights");
    c.quant = meta;
    c.quant.quantize_head = ck.find("lm_head.qcodes") != nullptr;  // `quantize --quant-head` (untied heads)
  }
  if (!requested.enabled) return;
  check(!c.quant.enabled, where, ": the checkpoint is already quantized (", c.quant.describe(),
        "); quantizing at load applies to f32/bf16/f16 checkpoints");
  kernels::check_quant_params(requested.type, requested.group, requested.asym, "quantization");
  c.quant = requested;
  c.quant.source = QuantSpec::Source::Dense;
}

// Applies opt.compute to the weight type and the config (after
// resolve_quantization): BF16 compute needs dense projections, and loads f32
// or bf16 weights as bf16.
inline void resolve_compute(ModelConfig& c, WeightType& wt, const LoadOptions& opt, const std::string& where) {
  c.quant.bf16_dot = false;
  if (opt.compute != Compute::BF16) return;
  check(!c.quant.enabled, where, ": bf16 compute applies to dense projections, not quantized ones (",
        c.quant.describe(), ")");
  check(wt != WeightType::F16, where, ": bf16 compute needs f32 or bf16 weights, not f16");
  wt = WeightType::BF16;
  c.quant.bf16_dot = true;
}

inline std::shared_ptr<const LanguageModel> load_causal_lm(const std::filesystem::path& dir,
                                                            WeightType wt = WeightType::F32,
                                                            const LoadOptions& opt = {}) {
  std::error_code ec;  // the non-throwing overload: a bad path is our error, not filesystem_error
  check(std::filesystem::is_directory(dir, ec), dir.string(), ": not a directory");
  ModelConfig c = load_model_config(dir);
  const io::Checkpoint ck = io::Checkpoint::open(dir);
  resolve_quantization(c, ck, opt.quant, dir.string());
  resolve_compute(c, wt, opt, dir.string());
  if (c.quant.enabled) {
    switch (wt) {
      case WeightType::BF16: return load_decoder<Quantized<bf16>>(ck, c, opt);
      case WeightType::F16: return load_decoder<Quantized<f16>>(ck, c, opt);
      case WeightType::F32: break;
    }
    return load_decoder<Quantized<float>>(ck, c, opt);
  }
  switch (wt) {
    case WeightType::BF16: return load_decoder<bf16>(ck, c, opt);
    case WeightType::F16: return load_decoder<f16>(ck, c, opt);
    case WeightType::F32: break;
  }
  return load_decoder<float>(ck, c, opt);
}

}  // namespace strata
