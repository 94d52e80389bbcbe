// The generation loop: one batched prefill of the prompt, then one token per
// step until EOS, the token budget, the context end, or the callback says stop.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "strata/runtime/sampler.hpp"
#include "strata/runtime/session.hpp"

namespace strata {

struct GenerateOptions {
  std::int64_t max_new_tokens = 128;
  SamplerOptions sampling;
  bool stop_at_eos = true;
};

enum class StopReason { Eos, MaxTokens, ContextFull, Callback };

struct GenerationResult {
  std::vector<std::int32_t> tokens;  // generated ids (EOS included when it ended the run)
  StopReason stop = StopReason::MaxTokens;
  std::int64_t prompt_tokens = 0;
  double prompt_seconds = 0, generate_seconds = 0;
  double prompt_tok_s() const { return prompt_seconds > 0 ? double(prompt_tokens) / prompt_seconds : 0; }
  double generate_tok_s() const {
    return generate_seconds > 0 ? double(tokens.size()) / generate_seconds : 0;
  }
};

// on_token(id) is called for each generated id as soon as it is chosen;
// returning false stops generation.
inline GenerationResult generate(Session& s, std::span<const std::int32_t> prompt, const GenerateOptions& opt,
                                 const std::function<bool(std::int32_t)>& on_token = {}) {
  using clock = std::chrono::steady_clock;
  check(!prompt.empty(), "generate: the prompt has no tokens");
  check(opt.max_new_tokens >= 0, "generate: max_new_tokens must be >= 0");
  check(s.length() + std::int64_t(prompt.size()) <= s.capacity(), "the prompt (", prompt.size(),
        " tokens) is longer than the context (", s.capacity() - s.length(), " positions left)");
  Sampler sampler(opt.sampling);
  const auto& eos = s.config().eos_token_ids;
  std::vector<std::int32_t> history(prompt.begin(), prompt.end());
  GenerationResult r;
  r.prompt_tokens = std::int64_t(prompt.size());

  auto t0 = clock::now();
  std::span<const float> logits = s.prefill(prompt);
  r.prompt_seconds = std::chrono::duration<double>(clock::now() - t0).count();

  t0 = clock::now();
  while (std::int64_t(r.tokens.size()) < opt.max_new_tokens) {
    const std::int32_t id = sampler.sample(logits, history);
    r.tokens.push_back(id);
    history.push_back(id);
    const bool is_eos = std::find(eos.begin(), eos.end(), id) != eos.end();
    if (on_token && !on_token(id)) {
      r.stop = StopReason::Callback;
      break;
    }
    if (opt.stop_at_eos && is_eos) {
      r.stop = StopReason::Eos;
      break;
    }
    if (std::int64_t(r.tokens.size()) == opt.max_new_tokens) break;
    if (s.length() >= s.capacity()) {
      r.stop = StopReason::ContextFull;
      break;
    }
    logits = s.step(id);
  }
  r.generate_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  return r;
}

}  // namespace strata
