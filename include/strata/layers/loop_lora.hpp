// Per-loop low-rank deltas for looped (recursive) models: a model whose
// blocks are applied N times with shared weights (config
// strata_variants.loops, see CausalLM) may relax the sharing with a LoRA
// delta per loop iteration on each projection (Bae et al. 2024, "Relaxed
// Recursive Transformers"):
//
//   at loop i:  y = W x + B_i (A_i x)
//
// with A_i [r, in] and B_i [out, r] stored beside the projection as
// "<proj>.lora_A.loop<i>.weight" and "<proj>.lora_B.loop<i>.weight" (PEFT's
// naming with the adapter named after the loop), r =
// strata_variants.loop_lora_rank; the LoRA scaling α/r is folded into B. The
// deltas stay f32 whatever the projection's weight type. Rank 0: no deltas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/layers/linear.hpp"

namespace strata {

class LoopLoRA {
 public:
  // Reads the deltas of projection `prefix` (W [out, in]) for every loop, if
  // the config asks for them.
  void load(const io::Checkpoint& ck, const std::string& prefix, std::int64_t out, std::int64_t in,
            const ModelConfig& c) {
    a_.clear();
    b_.clear();
    rank_ = c.variants.loop_lora_rank;
    if (rank_ == 0) return;
    a_.resize(std::size_t(c.variants.loops));
    b_.resize(std::size_t(c.variants.loops));
    for (std::int64_t i = 0; i < c.variants.loops; ++i) {
      const std::string loop = ".loop" + std::to_string(i);
      a_[std::size_t(i)].load(ck, prefix + ".lora_A" + loop, rank_, in, false);
      b_[std::size_t(i)].load(ck, prefix + ".lora_B" + loop, out, rank_, false);
    }
  }

  // y [T, out] += B_loop A_loop x for x [T, in].
  void add(const float* x, std::int64_t T, std::int64_t loop, float* y, ThreadPool& pool) const {
    if (a_.empty()) return;
    thread_local std::vector<float> low, delta;  // per calling thread, as Linear's scratch
    const Linear<float>& a = a_[std::size_t(loop)];
    const Linear<float>& b = b_[std::size_t(loop)];
    low.resize(std::size_t(T * rank_));
    delta.resize(std::size_t(T * b.out_features()));
    a.forward(x, T, low.data(), pool);
    b.forward(low.data(), T, delta.data(), pool);
    for (std::size_t i = 0; i < delta.size(); ++i) y[i] += delta[i];
  }

  bool empty() const { return a_.empty(); }

  std::size_t bytes() const {  // one loop's deltas: what one pass reads
    return a_.empty() ? 0 : a_.front().bytes() + b_.front().bytes();
  }

 private:
  std::vector<Linear<float>> a_, b_;
  std::int64_t rank_ = 0;
};

}  // namespace strata
