// Feed-forward networks:
//   GatedFFN<Act> — down_proj(act(gate_proj(x)) * up_proj(x)), the GLU variants
//                   of Shazeer 2020: SwiGLU (Act = SiLU; Llama), GeGLU (GELU,
//                   GELUTanh; Gemma), ReGLU (ReLU); HF names gate_proj, up_proj,
//                   down_proj.
//   MLP<Act, Names> — down(act(up(x) [+ b]) [+ b]), the two-layer MLP: BERT
//                   (intermediate.dense, output.dense), GPT-2 (Conv1D c_fc,
//                   c_proj), Llama layout without gate (up_proj, down_proj, no
//                   bias); Act = GELU, GELUTanh (GELU MLP), ReLU, ReLU2 (squared
//                   ReLU, Primer).
#pragma once

#include <cstdint>
#include <string>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/activation.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/loop_lora.hpp"

namespace strata {

struct SiLU {
  static constexpr Activation kind = Activation::SiLU;
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::silu_mul(gate, up, n, out);
  }
};
struct GELU {  // erf form, HF "gelu"
  static constexpr Activation kind = Activation::GELU;
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::gelu_mul(gate, up, n, out);
  }
  static void apply(float* x, std::int64_t n) { kernels::gelu(x, n, x); }
};
struct GELUTanh {  // HF "gelu_new", "gelu_pytorch_tanh"
  static constexpr Activation kind = Activation::GELUTanh;
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::gelu_tanh_mul(gate, up, n, out);
  }
  static void apply(float* x, std::int64_t n) { kernels::gelu_tanh(x, n, x); }
};

struct ReLU {
  static constexpr Activation kind = Activation::ReLU;
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::relu_mul(gate, up, n, out);
  }
  static void apply(float* x, std::int64_t n) { kernels::relu(x, n, x); }
};
struct ReLU2 {  // squared ReLU (So et al. 2021, "Primer")
  static constexpr Activation kind = Activation::ReLU2;
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::relu2_mul(gate, up, n, out);
  }
  static void apply(float* x, std::int64_t n) { kernels::relu2(x, n, x); }
};

inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::SiLU: return "silu";
    case Activation::GELU: return "gelu (erf)";
    case Activation::GELUTanh: return "gelu (tanh)";
    case Activation::ReLU: return "relu";
    case Activation::ReLU2: return "relu2";
  }
  return "?";
}

template <class Act>
void check_activation(const ModelConfig& c, const std::string& prefix) {
  check(c.hidden_act == Act::kind, prefix, ": the composition's activation is ", activation_name(Act::kind),
        " but the config asks for ", activation_name(c.hidden_act));
}

// Scratch for T tokens: gate and up, [T, intermediate] each.
struct FFNScratch {
  float *gate, *up;
  std::int64_t loop = 0;  // looped depth: the pass over the blocks (selects the per-loop LoRA deltas)
};

template <class Act>
struct GatedFFN {
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check_activation<Act>(c, prefix);
      gate_.load(ck, prefix + ".gate_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      up_.load(ck, prefix + ".up_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      down_.load(ck, prefix + ".down_proj", c.hidden_size, c.intermediate_size, false, c.quant);
      lora_[0].load(ck, prefix + ".gate_proj", c.intermediate_size, c.hidden_size, c);  // looped depth, if asked for
      lora_[1].load(ck, prefix + ".up_proj", c.intermediate_size, c.hidden_size, c);
      lora_[2].load(ck, prefix + ".down_proj", c.hidden_size, c.intermediate_size, c);
    }

    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool) const {
      const std::int64_t n = T * gate_.out_features();
      forward_same_input<W>(xn, T, pool, {{&gate_, s.gate}, {&up_, s.up}});  // quantized: x quantized once
      lora_[0].add(xn, T, s.loop, s.gate, pool);
      lora_[1].add(xn, T, s.loop, s.up, pool);
      Act::gated(s.gate, s.up, n, s.gate);  // act_fn(gate_proj(x)) * up_proj(x)
      down_.forward(s.gate, T, out, pool);
      lora_[2].add(s.gate, T, s.loop, out, pool);
    }

    // Per-loop LoRA deltas (layers/loop_lora.hpp) on every projection.
    static constexpr bool loop_lora = true;

    std::size_t bytes() const {
      return gate_.bytes() + up_.bytes() + down_.bytes() + lora_[0].bytes() + lora_[1].bytes() + lora_[2].bytes();
    }

   private:
    Linear<W> gate_, up_, down_;
    LoopLoRA lora_[3];  // gate, up, down
  };
};

struct BertMLPNames {  // under the layer's prefix
  static constexpr const char *up = "intermediate.dense", *down = "output.dense";
  static constexpr bool conv1d = false;
  static constexpr bool bias = true;
};
struct GPT2MLPNames {  // under the block's "mlp"
  static constexpr const char *up = "c_fc", *down = "c_proj";
  static constexpr bool conv1d = true;  // [in, out]
  static constexpr bool bias = true;
};
struct LlamaMLPNames {  // under the block's "mlp": a Llama MLP without gate_proj (Nemotron's layout)
  static constexpr const char *up = "up_proj", *down = "down_proj";
  static constexpr bool conv1d = false;
  static constexpr bool bias = false;
};

template <class Act, class Names = GPT2MLPNames>
struct MLP {
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check_activation<Act>(c, prefix);
      const std::string p = prefix + ".";
      if constexpr (Names::conv1d) {
        up_.load(ck, MatrixSource{{p + Names::up}, {c.intermediate_size}, true}, c.hidden_size, Names::bias, c.quant);
        down_.load(ck, MatrixSource{{p + Names::down}, {c.hidden_size}, true}, c.intermediate_size, Names::bias,
                   c.quant);
      } else {
        up_.load(ck, p + Names::up, c.intermediate_size, c.hidden_size, Names::bias, c.quant);
        down_.load(ck, p + Names::down, c.hidden_size, c.intermediate_size, Names::bias, c.quant);
      }
    }

    // s.gate holds the [T, intermediate] activations. With a residual
    // ([T, hidden], not aliasing out): out = mlp(xn) + residual. The bias and
    // activation of up, and the bias and residual of down, are fused into the
    // projections (applied per thread, kernels/epilogue.hpp).
    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool,
                 const float* residual = nullptr) const {
      up_.forward(xn, T, s.gate, pool, {&Act::apply, nullptr});
      down_.forward(s.gate, T, out, pool, {nullptr, residual});
    }

    std::size_t bytes() const { return up_.bytes() + down_.bytes(); }

   private:
    Linear<W> up_, down_;
  };
};

}  // namespace strata
