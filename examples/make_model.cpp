// make-model: writes a random-weight checkpoint in the Hugging Face layout
// (config.json + model.safetensors), any shape, so benchmarks and tests need
// no download: the Llama family, GPT-2, or a BERT encoder (with a WordPiece
// tokenizer.json over letters, so any text embeds).
//
//   make-model --out DIR [--hidden 768] [--layers 12] [--heads 12] [--kv-heads H]
//              [--ffn 2048] [--vocab 32000] [--max-pos 2048] [--dtype f32|bf16|f16]
//              [--model-type llama|mistral|mixtral|qwen2|qwen3|gemma|gpt2|bert|vit|deit] [--labels N]
//              [--image-size 224] [--patch 16]
//              [--experts N] [--experts-per-token K] [--tied] [--seed S]
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>
#include <strata/io/safetensors_writer.hpp>

#include "cli_args.hpp"

namespace {

const char* kUsage = R"(usage: make-model --out DIR [options]
Writes DIR/config.json and DIR/model.safetensors: a model with random weights
(normal, std 0.02; norm weights 1), in the Hugging Face layout. For bert, also a
WordPiece DIR/tokenizer.json (letters, digits, punctuation and ## pieces); for vit
and deit, the preprocessor_config.json of google/vit-base-patch16-224 or of
facebook/deit-base-distilled-patch16-224 scaled to --image-size.
  --out DIR           output folder (created)
  --hidden N          hidden size (default 768)
  --layers N          decoder layers (default 12)
  --heads N           attention heads (default 12)
  --kv-heads N        key/value heads (default: --heads)
  --ffn N             intermediate size (default 2048)
  --vocab N           vocabulary size (default 32000)
  --max-pos N         max_position_embeddings (default 2048)
  --dtype T           f32 (default), bf16 or f16
  --model-type T      llama (default), mistral (adds sliding_window = max-pos), mixtral (experts),
                      qwen2 (q/k/v bias),
                      qwen3 (QK-norm), gemma ((1 + w) norms, GeGLU-tanh, always tied),
                      gpt2 (Conv1D, tied head), bert (BertModel; with --labels, BertForSequenceClassification),
                      vit (ViTModel; with --labels, ViTForImageClassification), deit (DeiTModel; with
                      --labels, DeiTForImageClassificationWithTeacher)
  --labels N          bert, vit, deit: a classification head of N labels (LABEL_0 ...)
  --image-size N      vit, deit: image_size (default 224)
  --patch N           vit, deit: patch_size (default 16)
  --experts N         mixtral: num_local_experts (default 8), each of --ffn intermediate size
  --experts-per-token K  mixtral: num_experts_per_tok, the router's top-k (default 2)
  --tied              tie the LM head to the embedding (stores no lm_head.weight)
  --seed S            random seed (default 1)
)";

struct Shape {
  std::int64_t hidden = 768, layers = 12, heads = 12, kv_heads = 0, ffn = 2048, vocab = 32000, max_pos = 2048;
};

void fill_random(std::byte* dst, std::size_t nbytes, strata::DType dt, std::uint64_t seed, float std_dev,
                 float constant = 0.0f, bool use_constant = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, std_dev);
  const std::size_t n = nbytes / strata::dtype_size(dt);
  for (std::size_t i = 0; i < n; ++i) {
    const float x = use_constant ? constant : nd(rng);
    if (dt == strata::DType::F32) {
      std::memcpy(dst + 4 * i, &x, 4);
    } else {
      const std::uint16_t h = dt == strata::DType::BF16 ? strata::f32_to_bf16(x) : strata::f32_to_f16(x);
      std::memcpy(dst + 2 * i, &h, 2);
    }
  }
}

// A WordPiece tokenizer.json as BERT uncased ships it (BertNormalizer,
// BertPreTokenizer, [CLS] $A [SEP] template), over single characters and their
// ## continuations, so every ASCII text tokenizes (one piece per character).
void write_wordpiece_tokenizer(const std::filesystem::path& path, std::int64_t max_pos) {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::string chars;
  for (char c = 'a'; c <= 'z'; ++c) chars += c;
  for (char c = '0'; c <= '9'; ++c) chars += c;
  const std::string punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  for (char c : chars + punct) vocab.emplace_back(1, c);
  for (char c : chars) vocab.push_back(std::string("##") + c);
  nlohmann::ordered_json v;
  for (std::size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  auto added = [](int id, const char* content) {
    return nlohmann::ordered_json{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                                  {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  const nlohmann::ordered_json tok = {
      {"version", "1.0"},
      {"truncation", {{"direction", "Right"}, {"max_length", std::min<std::int64_t>(max_pos, 512)},
                      {"strategy", "LongestFirst"}, {"stride", 0}}},
      {"padding", nullptr},
      {"added_tokens", {added(0, "[PAD]"), added(1, "[UNK]"), added(2, "[CLS]"), added(3, "[SEP]"), added(4, "[MASK]")}},
      {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                      {"strip_accents", nullptr}, {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                    {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}}},
        {"pair", {{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                  {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}},
                  {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
                            {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                 {"max_input_chars_per_word", 100}, {"vocab", v}}}};
  std::ofstream f(path);
  f << tok.dump(2) << "\n";
  f.close();
  strata::check(bool(f), path.string(), ": cannot write");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    strata::cli::Args a(argc, argv);
    Shape s;
    std::string out, model_type = "llama";
    strata::DType dt = strata::DType::F32;
    bool tied = false;
    std::uint64_t seed = 1;
    std::int64_t labels = 0, experts = 0, experts_per_token = 0, image_size = 224, patch = 16;
    while (!a.done()) {
      const auto f = a.next_flag();
      if (f == "--help") {
        std::cout << kUsage;
        return 0;
      } else if (f == "--out") out = a.value(f);
      else if (f == "--hidden") s.hidden = a.integer(f, 2, 1 << 16);
      else if (f == "--layers") s.layers = a.integer(f, 1, 1024);
      else if (f == "--heads") s.heads = a.integer(f, 1, 1024);
      else if (f == "--kv-heads") s.kv_heads = a.integer(f, 1, 1024);
      else if (f == "--ffn") s.ffn = a.integer(f, 1, 1 << 20);
      else if (f == "--vocab") s.vocab = a.integer(f, 3, 1 << 22);
      else if (f == "--max-pos") s.max_pos = a.integer(f, 1, 1 << 24);
      else if (f == "--seed") seed = std::uint64_t(a.integer(f, 0, INT64_MAX));
      else if (f == "--tied") tied = true;
      else if (f == "--labels") labels = a.integer(f, 1, 65536);
      else if (f == "--image-size") image_size = a.integer(f, 1, 4096);
      else if (f == "--patch") patch = a.integer(f, 1, 1024);
      else if (f == "--experts") experts = a.integer(f, 1, 1024);
      else if (f == "--experts-per-token") experts_per_token = a.integer(f, 1, 1024);
      else if (f == "--model-type") {
        model_type = a.value(f);
        strata::check(model_type == "llama" || model_type == "mistral" || model_type == "mixtral" ||
                          model_type == "qwen2" || model_type == "qwen3" || model_type == "gemma" ||
                          model_type == "gpt2" || model_type == "bert" || model_type == "vit" || model_type == "deit",
                      "--model-type: '", model_type,
                      "' is not one of llama, mistral, mixtral, qwen2, qwen3, gemma, gpt2, bert, vit, deit");
      } else if (f == "--dtype") {
        const std::string d = a.value(f);
        strata::check(d == "f32" || d == "bf16" || d == "f16", "--dtype: '", d, "' is not one of f32, bf16, f16");
        dt = d == "f32" ? strata::DType::F32 : d == "bf16" ? strata::DType::BF16 : strata::DType::F16;
      } else strata::fail("unknown option '", f, "' (see --help)");
    }
    strata::check(!out.empty(), "--out DIR is required");
    if (s.kv_heads == 0) s.kv_heads = s.heads;
    strata::check(s.hidden % s.heads == 0, "--hidden (", s.hidden, ") must be divisible by --heads (", s.heads, ")");
    strata::check(s.heads % s.kv_heads == 0, "--heads must be a multiple of --kv-heads");
    const std::int64_t hd = s.hidden / s.heads, kvd = s.kv_heads * hd;
    const bool vision = model_type == "vit" || model_type == "deit";
    const bool rope = model_type != "gpt2" && model_type != "bert" && !vision;
    strata::check(!vision || patch <= image_size, "--patch (", patch, ") is larger than --image-size (", image_size, ")");
    strata::check(!rope || hd % 2 == 0, "head dim (hidden / heads = ", hd, ") must be even");
    strata::check(rope || s.kv_heads == s.heads, "--kv-heads: ", model_type, " has one KV head per head");
    strata::check(labels == 0 || model_type == "bert" || vision, "--labels: only bert, vit and deit have a classification head here");
    strata::check(!tied || (rope && model_type != "gemma"), "--tied: ", model_type,
                  (model_type == "gpt2" || model_type == "gemma" ? " is always tied" : " has no LM head"));
    if (model_type == "gemma") tied = true;
    const bool moe = model_type == "mixtral";
    strata::check(moe || (experts == 0 && experts_per_token == 0), "--experts, --experts-per-token: only mixtral has experts");
    if (moe) {
      if (experts == 0) experts = 8;
      if (experts_per_token == 0) experts_per_token = 2;
      strata::check(experts_per_token <= experts, "--experts-per-token (", experts_per_token, ") exceeds --experts (",
                    experts, ")");
    }

    std::vector<strata::io::TensorToWrite> ts;
    std::uint64_t k = seed * 1000003;
    auto randn = [&](std::string name, std::vector<std::int64_t> shape) {  // N(0, 0.02), any shape
      const std::uint64_t sd = k++;
      ts.push_back({std::move(name), dt, std::move(shape),
                    [=](std::byte* p, std::size_t n) { fill_random(p, n, dt, sd, 0.02f); }});
    };
    auto mat = [&](std::string name, std::int64_t r, std::int64_t c) { randn(std::move(name), {r, c}); };
    auto vec = [&](std::string name, std::int64_t n, bool ones) {
      const std::uint64_t sd = k++;
      ts.push_back({std::move(name), dt, {n}, [=](std::byte* p, std::size_t nb) { fill_random(p, nb, dt, sd, 0.02f, 1.0f, ones); }});
    };
    auto bias = [&](std::string name, std::int64_t n) { vec(std::move(name), n, false); };
    auto layernorm = [&](const std::string& p) {
      vec(p + ".weight", s.hidden, true);
      bias(p + ".bias", s.hidden);
    };
    if (model_type == "gpt2") {
      mat("wte.weight", s.vocab, s.hidden);
      mat("wpe.weight", s.max_pos, s.hidden);
      for (std::int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        layernorm(p + "ln_1");
        mat(p + "attn.c_attn.weight", s.hidden, 3 * s.hidden);  // Conv1D: [in, out]
        bias(p + "attn.c_attn.bias", 3 * s.hidden);
        mat(p + "attn.c_proj.weight", s.hidden, s.hidden);
        bias(p + "attn.c_proj.bias", s.hidden);
        layernorm(p + "ln_2");
        mat(p + "mlp.c_fc.weight", s.hidden, s.ffn);
        bias(p + "mlp.c_fc.bias", s.ffn);
        mat(p + "mlp.c_proj.weight", s.ffn, s.hidden);
        bias(p + "mlp.c_proj.bias", s.hidden);
      }
      layernorm("ln_f");
    } else if (model_type == "bert") {
      const std::string pre = labels > 0 ? "bert." : "";
      mat(pre + "embeddings.word_embeddings.weight", s.vocab, s.hidden);
      mat(pre + "embeddings.position_embeddings.weight", s.max_pos, s.hidden);
      mat(pre + "embeddings.token_type_embeddings.weight", 2, s.hidden);
      layernorm(pre + "embeddings.LayerNorm");
      for (std::int64_t l = 0; l < s.layers; ++l) {
        const std::string p = pre + "encoder.layer." + std::to_string(l) + ".";
        for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                              "attention.output.dense"}) {
          mat(p + m + ".weight", s.hidden, s.hidden);
          bias(p + m + ".bias", s.hidden);
        }
        layernorm(p + "attention.output.LayerNorm");
        mat(p + "intermediate.dense.weight", s.ffn, s.hidden);
        bias(p + "intermediate.dense.bias", s.ffn);
        mat(p + "output.dense.weight", s.hidden, s.ffn);
        bias(p + "output.dense.bias", s.hidden);
        layernorm(p + "output.LayerNorm");
      }
      mat(pre + "pooler.dense.weight", s.hidden, s.hidden);
      bias(pre + "pooler.dense.bias", s.hidden);
      if (labels > 0) {
        mat("classifier.weight", labels, s.hidden);
        bias("classifier.bias", labels);
      }
    } else if (vision) {
      const std::string pre = labels > 0 ? model_type + "." : "";
      const std::int64_t prefix = model_type == "deit" ? 2 : 1, grid = image_size / patch;
      randn(pre + "embeddings.cls_token", {1, 1, s.hidden});
      if (prefix == 2) randn(pre + "embeddings.distillation_token", {1, 1, s.hidden});
      randn(pre + "embeddings.position_embeddings", {1, grid * grid + prefix, s.hidden});
      randn(pre + "embeddings.patch_embeddings.projection.weight", {s.hidden, 3, patch, patch});
      bias(pre + "embeddings.patch_embeddings.projection.bias", s.hidden);
      for (std::int64_t l = 0; l < s.layers; ++l) {
        const std::string p = pre + "encoder.layer." + std::to_string(l) + ".";
        for (const char* m : {"attention.attention.query", "attention.attention.key", "attention.attention.value",
                              "attention.output.dense"}) {
          mat(p + m + ".weight", s.hidden, s.hidden);
          bias(p + m + ".bias", s.hidden);
        }
        layernorm(p + "layernorm_before");
        mat(p + "intermediate.dense.weight", s.ffn, s.hidden);
        bias(p + "intermediate.dense.bias", s.ffn);
        mat(p + "output.dense.weight", s.hidden, s.ffn);
        bias(p + "output.dense.bias", s.hidden);
        layernorm(p + "layernorm_after");
      }
      layernorm(pre + "layernorm");
      if (labels == 0) {
        mat("pooler.dense.weight", s.hidden, s.hidden);
        bias("pooler.dense.bias", s.hidden);
      }
      for (const char* head : {"classifier", "cls_classifier", "distillation_classifier"}) {
        if (labels == 0 || (model_type == "deit") == (std::string(head) == "classifier")) continue;
        mat(std::string(head) + ".weight", labels, s.hidden);
        bias(std::string(head) + ".bias", labels);
      }
    } else {
    mat("model.embed_tokens.weight", s.vocab, s.hidden);
    const bool ones = model_type != "gemma";  // Gemma stores the norm weights as offsets from 1
    for (std::int64_t l = 0; l < s.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      vec(p + "input_layernorm.weight", s.hidden, ones);
      mat(p + "self_attn.q_proj.weight", s.hidden, s.hidden);
      mat(p + "self_attn.k_proj.weight", kvd, s.hidden);
      mat(p + "self_attn.v_proj.weight", kvd, s.hidden);
      if (model_type == "qwen2") {
        vec(p + "self_attn.q_proj.bias", s.hidden, false);
        vec(p + "self_attn.k_proj.bias", kvd, false);
        vec(p + "self_attn.v_proj.bias", kvd, false);
      }
      if (model_type == "qwen3") {
        vec(p + "self_attn.q_norm.weight", s.hidden / s.heads, true);
        vec(p + "self_attn.k_norm.weight", s.hidden / s.heads, true);
      }
      mat(p + "self_attn.o_proj.weight", s.hidden, s.hidden);
      vec(p + "post_attention_layernorm.weight", s.hidden, ones);
      if (moe) {  // MixtralSparseMoeBlock: router "gate", experts.N.w1 (gate), w3 (up), w2 (down)
        mat(p + "block_sparse_moe.gate.weight", experts, s.hidden);
        for (std::int64_t e = 0; e < experts; ++e) {
          const std::string x = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
          mat(x + "w1.weight", s.ffn, s.hidden);
          mat(x + "w2.weight", s.hidden, s.ffn);
          mat(x + "w3.weight", s.ffn, s.hidden);
        }
        continue;
      }
      mat(p + "mlp.gate_proj.weight", s.ffn, s.hidden);
      mat(p + "mlp.up_proj.weight", s.ffn, s.hidden);
      mat(p + "mlp.down_proj.weight", s.hidden, s.ffn);
    }
    vec("model.norm.weight", s.hidden, ones);
    if (!tied) mat("lm_head.weight", s.vocab, s.hidden);
    }

    // Sizes are bounded by the flag ranges (at most ~2^50 bytes in all), so the
    // sums cannot overflow. Refuse what cannot be written before writing anything:
    // each tensor is filled in memory whole, and all of them go to disk.
    std::size_t total = 0, largest = 0;
    for (const auto& t : ts) {
      total += t.nbytes();
      largest = std::max(largest, t.nbytes());
    }
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && largest / std::size_t(page) >= std::size_t(pages))
      strata::fail("the largest tensor is ", largest, " bytes, more than this machine's memory (",
                   std::size_t(pages) * std::size_t(page), " bytes); choose a smaller shape");
    std::filesystem::create_directories(out);
    const auto free_bytes = std::filesystem::space(out).available;
    strata::check(total <= free_bytes, "the checkpoint needs ", total, " bytes but ", out, " has ", free_bytes,
                  " bytes free; choose a smaller shape");
    const char* torch_dtype = dt == strata::DType::F32 ? "float32" : dt == strata::DType::BF16 ? "bfloat16" : "float16";
    nlohmann::ordered_json cfg = {
        {"architectures", {model_type == "llama"     ? "LlamaForCausalLM"
                           : model_type == "mistral" ? "MistralForCausalLM"
                           : model_type == "qwen2"   ? "Qwen2ForCausalLM"
                           : model_type == "qwen3"   ? "Qwen3ForCausalLM"
                           : model_type == "mixtral" ? "MixtralForCausalLM"
                                                     : "GemmaForCausalLM"}},
        {"model_type", model_type}, {"hidden_size", s.hidden}, {"intermediate_size", s.ffn},
        {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads},
        {"vocab_size", s.vocab}, {"max_position_embeddings", s.max_pos}, {"rms_norm_eps", 1e-5},
        {"rope_theta", 10000.0}, {"rope_scaling", nullptr}, {"hidden_act", "silu"}, {"tie_word_embeddings", tied},
        {"bos_token_id", 1}, {"eos_token_id", 2},
        {"torch_dtype", torch_dtype}};
    if (model_type == "gpt2") {
      cfg = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"n_embd", s.hidden},
             {"n_layer", s.layers}, {"n_head", s.heads}, {"n_inner", s.ffn}, {"n_positions", s.max_pos},
             {"n_ctx", s.max_pos}, {"vocab_size", s.vocab}, {"activation_function", "gelu_new"},
             {"layer_norm_epsilon", 1e-5}, {"bos_token_id", 1}, {"eos_token_id", 2}, {"torch_dtype", torch_dtype}};
    } else if (model_type == "bert") {
      strata::check(s.vocab >= 256, "--vocab: bert needs at least 256 ids (its tokenizer has ~200 pieces)");
      cfg = {{"architectures", {labels > 0 ? "BertForSequenceClassification" : "BertModel"}},
             {"model_type", "bert"}, {"hidden_size", s.hidden}, {"num_hidden_layers", s.layers},
             {"num_attention_heads", s.heads}, {"intermediate_size", s.ffn}, {"hidden_act", "gelu"},
             {"max_position_embeddings", s.max_pos}, {"type_vocab_size", 2}, {"vocab_size", s.vocab},
             {"layer_norm_eps", 1e-12}, {"pad_token_id", 0}, {"position_embedding_type", "absolute"},
             {"torch_dtype", torch_dtype}};
      if (labels > 0) {
        nlohmann::ordered_json names;
        for (std::int64_t i = 0; i < labels; ++i) names[std::to_string(i)] = "LABEL_" + std::to_string(i);
        cfg["id2label"] = names;
      }
      write_wordpiece_tokenizer(std::filesystem::path(out) / "tokenizer.json", s.max_pos);
    } else if (vision) {
      const bool deit = model_type == "deit";
      cfg = {{"architectures", {labels == 0 ? (deit ? "DeiTModel" : "ViTModel")
                                : deit      ? "DeiTForImageClassificationWithTeacher"
                                            : "ViTForImageClassification"}},
             {"model_type", model_type}, {"hidden_size", s.hidden}, {"num_hidden_layers", s.layers},
             {"num_attention_heads", s.heads}, {"intermediate_size", s.ffn}, {"hidden_act", "gelu"},
             {"layer_norm_eps", 1e-12}, {"image_size", image_size}, {"patch_size", patch}, {"num_channels", 3},
             {"qkv_bias", true}, {"encoder_stride", patch}, {"torch_dtype", torch_dtype}};
      if (labels > 0) {
        nlohmann::ordered_json names;
        for (std::int64_t i = 0; i < labels; ++i) names[std::to_string(i)] = "LABEL_" + std::to_string(i);
        cfg["id2label"] = names;
      }
      // The published processors: ViT resizes to the model's size (bilinear, mean/std 0.5);
      // DeiT resizes to 256/224 of it (bicubic) and crops the center (ImageNet mean/std).
      nlohmann::ordered_json pre =
          deit ? nlohmann::ordered_json{{"crop_size", {{"height", image_size}, {"width", image_size}}},
                                        {"do_center_crop", true}, {"do_normalize", true}, {"do_rescale", true},
                                        {"do_resize", true}, {"image_mean", {0.485, 0.456, 0.406}},
                                        {"image_processor_type", "DeiTImageProcessor"},
                                        {"image_std", {0.229, 0.224, 0.225}}, {"resample", 3},
                                        {"rescale_factor", 1.0 / 255},
                                        {"size", {{"height", image_size * 256 / 224}, {"width", image_size * 256 / 224}}}}
               : nlohmann::ordered_json{{"do_normalize", true}, {"do_rescale", true}, {"do_resize", true},
                                        {"image_mean", {0.5, 0.5, 0.5}}, {"image_processor_type", "ViTImageProcessor"},
                                        {"image_std", {0.5, 0.5, 0.5}}, {"resample", 2}, {"rescale_factor", 1.0 / 255},
                                        {"size", {{"height", image_size}, {"width", image_size}}}};
      std::ofstream pf(std::filesystem::path(out) / "preprocessor_config.json");
      pf << pre.dump(2) << "\n";
      pf.close();
      strata::check(bool(pf), out, "/preprocessor_config.json: cannot write");
    }
    if (model_type == "mistral") cfg["sliding_window"] = s.max_pos;
    if (moe) {
      cfg["num_local_experts"] = experts;
      cfg["num_experts_per_tok"] = experts_per_token;
      cfg["sliding_window"] = nullptr;
      cfg["router_aux_loss_coef"] = 0.02;
      cfg["output_router_logits"] = false;
    }
    if (model_type == "qwen2" || model_type == "qwen3") cfg["use_sliding_window"] = false;
    if (model_type == "qwen3" || model_type == "gemma") cfg["head_dim"] = s.hidden / s.heads;
    if (model_type == "gemma") {
      cfg["hidden_act"] = "gelu";
      cfg["hidden_activation"] = "gelu_pytorch_tanh";
    }
    const auto cfg_path = std::filesystem::path(out) / "config.json";
    std::ofstream cfg_file(cfg_path);
    cfg_file << cfg.dump(2) << "\n";
    cfg_file.close();
    strata::check(bool(cfg_file), cfg_path.string(), ": cannot write");

    const auto path = std::filesystem::path(out) / "model.safetensors";
    strata::io::write_safetensors(path, ts, {{"format", "pt"}}, [&](std::size_t i, std::size_t n) {
      std::cerr << "\rwriting " << path.string() << ": tensor " << i << "/" << n << std::flush;
    });
    std::cerr << "\nwrote " << total / 1e6 << " MB of weights to " << out << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "make-model: error: " << e.what() << "\n";
    return 1;
  }
}
