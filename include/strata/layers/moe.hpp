// SparseMoE<Act, Names>: a mixture of gated FFN experts behind a top-k router
// (Shazeer et al. 2017; Mixtral, Jiang et al. 2024), an FFN policy like
// GatedFFN, so a block composes it in the FFN slot:
//
//   p = softmax(router(x))                 over the E experts, per token
//   S = the k largest p (ties: lower expert index)
//   out = Σ_{e ∈ S} p_e / Σ_{e' ∈ S} p_e' · down_e(act(gate_e(x)) · up_e(x))
//
// as transformers' MixtralSparseMoeBlock (softmax in float, top-k, then
// renormalised over the chosen k). Each expert runs one GEMM over the tokens
// routed to it, gathered into a contiguous block; experts no token chose are
// not touched, so a forward pass reads the router and at most min(E, T·k)
// experts. The router stays f32 whatever the experts' weight type (it is
// E × hidden, and a quantized router can flip close routing decisions).
//
// Sizes: config num_local_experts (E), num_experts_per_tok (k),
// intermediate_size (each expert's). Mixtral names (MixtralMoENames):
// block_sparse_moe.gate [E, hidden], block_sparse_moe.experts.N.w1 (gate),
// .w3 (up), .w2 (down).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/linear.hpp"

namespace strata {

struct MixtralMoENames {  // under the block's FFN prefix ("block_sparse_moe")
  static constexpr const char* router = "gate";
  static constexpr const char* experts = "experts.";
  static constexpr const char *gate = "w1", *up = "w3", *down = "w2";
};

// The routing of T tokens: for expert e, its tokens are
// token[offset[e] .. offset[e + 1]) with weights weight[...] (renormalised).
struct MoERouting {
  std::vector<std::int64_t> offset;  // E + 1
  std::vector<std::int32_t> token;   // T · k
  std::vector<float> weight;         // T · k

  // logits [T, E] → the top-k of each token's softmax, grouped by expert
  // (tokens of one expert in increasing order).
  void route(const float* logits, std::int64_t T, std::int64_t E, std::int64_t k) {
    offset.assign(std::size_t(E + 1), 0);
    token.resize(std::size_t(T * k));
    weight.resize(std::size_t(T * k));
    chosen_.resize(std::size_t(T * k));
    chosen_w_.resize(std::size_t(T * k));
    prob_.resize(std::size_t(E));
    for (std::int64_t t = 0; t < T; ++t) {
      const float* z = logits + t * E;
      const float mx = *std::max_element(z, z + E);
      double sum = 0;
      for (std::int64_t e = 0; e < E; ++e) sum += prob_[std::size_t(e)] = std::exp(double(z[e]) - double(mx));
      for (std::int64_t e = 0; e < E; ++e) prob_[std::size_t(e)] /= sum;
      // top-k by selection: k is small (Mixtral: 2 of 8).
      std::int32_t* sel = chosen_.data() + t * k;
      double picked = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        std::int64_t best = -1;
        for (std::int64_t e = 0; e < E; ++e) {
          if (std::find(sel, sel + i, std::int32_t(e)) != sel + i) continue;
          if (best < 0 || prob_[std::size_t(e)] > prob_[std::size_t(best)]) best = e;
        }
        sel[i] = std::int32_t(best);
        picked += prob_[std::size_t(best)];
        ++offset[std::size_t(best) + 1];
      }
      for (std::int64_t i = 0; i < k; ++i) chosen_w_[std::size_t(t * k + i)] = float(prob_[std::size_t(sel[i])] / picked);
    }
    for (std::int64_t e = 0; e < E; ++e) offset[std::size_t(e + 1)] += offset[std::size_t(e)];
    std::vector<std::int64_t>& fill = fill_;
    fill.assign(offset.begin(), offset.end() - 1);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t i = 0; i < k; ++i) {
        const std::int64_t e = chosen_[std::size_t(t * k + i)], at = fill[std::size_t(e)]++;
        token[std::size_t(at)] = std::int32_t(t);
        weight[std::size_t(at)] = chosen_w_[std::size_t(t * k + i)];
      }
  }

  std::int64_t count(std::int64_t e) const { return offset[std::size_t(e + 1)] - offset[std::size_t(e)]; }

 private:
  std::vector<std::int32_t> chosen_;
  std::vector<float> chosen_w_;
  std::vector<double> prob_;
  std::vector<std::int64_t> fill_;
};

template <class Act, class Names = MixtralMoENames>
struct SparseMoE {
  template <class W>
  class layer {
   public:
    void load(const io::Checkpoint& ck, const std::string& prefix, const ModelConfig& c) {
      check_activation<Act>(c, prefix);
      check(c.num_experts >= 1 && c.experts_per_token >= 1 && c.experts_per_token <= c.num_experts, prefix,
            ": a mixture-of-experts block needs num_local_experts >= 1 and 1 <= num_experts_per_tok <= "
            "num_local_experts in the config (got ",
            c.num_experts, " experts, ", c.experts_per_token, " per token)");
      E_ = c.num_experts;
      k_ = c.experts_per_token;
      hidden_ = c.hidden_size;
      router_.load(ck, prefix + "." + Names::router, E_, c.hidden_size, false);
      experts_.resize(std::size_t(E_));
      for (std::int64_t e = 0; e < E_; ++e) {
        const std::string p = prefix + "." + Names::experts + std::to_string(e) + ".";
        Expert& x = experts_[std::size_t(e)];
        x.gate.load(ck, p + Names::gate, c.intermediate_size, c.hidden_size, false, c.quant);
        x.up.load(ck, p + Names::up, c.intermediate_size, c.hidden_size, false, c.quant);
        x.down.load(ck, p + Names::down, c.hidden_size, c.intermediate_size, false, c.quant);
      }
    }

    // xn: [T, hidden] → out: [T, hidden]. s.gate / s.up hold [T, intermediate]
    // and serve each expert's ≤ T tokens in turn.
    void forward(const float* xn, std::int64_t T, const FFNScratch& s, float* out, ThreadPool& pool) const {
      // Per calling thread: sessions on other threads use their own.
      thread_local std::vector<float> logits, xs, ys;
      thread_local MoERouting routing;
      const std::int64_t H = hidden_;
      logits.resize(std::size_t(T * E_));
      router_.forward(xn, T, logits.data(), pool);  // router_logits = self.gate(hidden_states)
      routing.route(logits.data(), T, E_, k_);
      std::fill(out, out + T * H, 0.0f);
      if (T == 1 && k_ >= pool.size() && pool.size() > 1) {  // decode: one expert per thread
        decode_parallel(xn, routing, out, pool);
        return;
      }
      for (std::int64_t e = 0; e < E_; ++e) {  // only the experts some token chose
        const std::int64_t n = routing.count(e), o = routing.offset[std::size_t(e)];
        if (n == 0) continue;
        if (xs.size() < std::size_t(n * H)) xs.resize(std::size_t(T * H)), ys.resize(std::size_t(T * H));
        for (std::int64_t i = 0; i < n; ++i) {
          const float* row = xn + std::int64_t(routing.token[std::size_t(o + i)]) * H;
          std::copy(row, row + H, xs.data() + i * H);
        }
        const Expert& x = experts_[std::size_t(e)];
        x.gate.forward(xs.data(), n, s.gate, pool);
        x.up.forward(xs.data(), n, s.up, pool);
        Act::gated(s.gate, s.up, n * x.gate.out_features(), s.gate);
        x.down.forward(s.gate, n, ys.data(), pool);
        for (std::int64_t i = 0; i < n; ++i) {  // final_hidden_states.index_add_(0, top_x, expert_out · w)
          const float w = routing.weight[std::size_t(o + i)];
          float* dst = out + std::int64_t(routing.token[std::size_t(o + i)]) * H;
          const float* src = ys.data() + i * H;
          for (std::int64_t j = 0; j < H; ++j) dst[j] += w * src[j];
        }
      }
    }

    // Bytes one decoded token reads: the router and k experts.
    std::size_t bytes() const {
      if (experts_.empty()) return router_.bytes();
      const Expert& x = experts_.front();
      return router_.bytes() + std::size_t(k_) * (x.gate.bytes() + x.up.bytes() + x.down.bytes());
    }
    // Bytes of every expert (what the layer holds in memory).
    std::size_t total_bytes() const {
      std::size_t b = router_.bytes();
      for (const Expert& x : experts_) b += x.gate.bytes() + x.up.bytes() + x.down.bytes();
      return b;
    }

   private:
    // One token's k experts run side by side, each whole on one thread (its
    // projections run on a one-thread pool: no nested jobs), instead
    // of one after another each split across the threads: k small GEMVs
    // synchronise once, not 3k times. The sum is taken afterwards in expert
    // order, as in the sequential path, so the result is the same.
    void decode_parallel(const float* xn, const MoERouting& routing, float* out, ThreadPool& pool) const {
      thread_local std::vector<std::int64_t> active;
      thread_local std::vector<float> ys;
      const std::int64_t H = hidden_;
      active.clear();
      for (std::int64_t e = 0; e < E_; ++e)
        if (routing.count(e) > 0) active.push_back(e);
      const std::int64_t n = std::int64_t(active.size());
      ys.resize(std::size_t(n * H));
      const std::int64_t* ids = active.data();  // workers see these through pointers, not their own thread_locals
      float* y = ys.data();
      pool.parallel_for(n, [&](std::int64_t b, std::int64_t e) {
        thread_local std::vector<float> g, u;  // this worker's scratch
        thread_local ThreadPool serial(1);      // runs every call inline
        for (std::int64_t a = b; a < e; ++a) {
          const Expert& x = experts_[std::size_t(ids[a])];
          const std::int64_t I = x.gate.out_features();
          g.resize(std::size_t(I));
          u.resize(std::size_t(I));
          x.gate.forward(xn, 1, g.data(), serial);
          x.up.forward(xn, 1, u.data(), serial);
          Act::gated(g.data(), u.data(), I, g.data());
          x.down.forward(g.data(), 1, y + a * H, serial);
        }
      });
      for (std::int64_t a = 0; a < n; ++a) {
        const float w = routing.weight[std::size_t(routing.offset[std::size_t(ids[a])])];
        for (std::int64_t j = 0; j < H; ++j) out[j] += w * y[a * H + j];
      }
    }

    struct Expert {
      Linear<W> gate, up, down;
    };
    Linear<float> router_;
    std::vector<Expert> experts_;
    std::int64_t E_ = 0, k_ = 0, hidden_ = 0;
  };
};

}  // namespace strata
