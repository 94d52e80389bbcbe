// Gated feed-forward network (SwiGLU for Act = SiLU, Shazeer 2020):
// down_proj(act(gate_proj(x)) * up_proj(x)). HF names under the prefix:
// gate_proj, up_proj, down_proj.
#pragma once

#include <cstdint>
#include <string>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/kernels/activation.hpp"
#include "strata/layers/linear.hpp"

namespace strata {

struct SiLU {
  static void gated(const float* gate, const float* up, std::int64_t n, float* out) {
    kernels::silu_mul(gate, up, n, out);
  }
};

// Scratch for T tokens: gate and up, [T, intermediate] each.
struct FFNScratch {
  float *gate, *up;
};

template <class Act>
struct GatedFFN {
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      gate_.load(ck, prefix + ".gate_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      up_.load(ck, prefix + ".up_proj", c.intermediate_size, c.hidden_size, false, c.quant);
      down_.load(ck, prefix + ".down_proj", c.hidden_size, c.intermediate_size, false, c.quant);
    }

    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool) const {
      const std::int64_t n = T * gate_.out_features();
      gate_.forward(xn, T, s.gate, pool);
      up_.forward(xn, T, s.up, pool);
      Act::gated(s.gate, s.up, n, s.gate);  // act_fn(gate_proj(x)) * up_proj(x)
      down_.forward(s.gate, T, out, pool);
    }

    std::size_t bytes() const { return gate_.bytes() + up_.bytes() + down_.bytes(); }

   private:
    Linear<W> gate_, up_, down_;
  };
};

}  // namespace strata
