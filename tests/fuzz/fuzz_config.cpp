// Fuzz target: config.json, and optionally generation_config.json. The bytes
// before the first NUL are config.json; if there is a NUL, the bytes after it
// are generation_config.json (JSON text cannot hold a raw NUL, so nothing is
// lost). Loads the folder with load_model_config and checks that what it
// accepts is within ConfigLimits and consistent, its quantization_config
// (GPTQ / AWQ) included.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "strata/io/hf_config.hpp"

namespace {

void check_accepted(const strata::ModelConfig& c) {
  using L = strata::ConfigLimits;
  auto in = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
  if (!in(c.hidden_size, 1, L::max_hidden) || !in(c.intermediate_size, 1, L::max_intermediate) ||
      !in(c.num_layers, 1, L::max_layers) || !in(c.num_heads, 1, L::max_heads) ||
      !in(c.num_kv_heads, 1, L::max_heads) || !in(c.head_dim, 2, L::max_head_dim) ||
      !in(c.vocab_size, 1, L::max_vocab) || !in(c.max_position_embeddings, 1, L::max_positions))
    strata::fuzz::invariant_failed("accepted config has a size out of its limits");
  if (c.num_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0)
    strata::fuzz::invariant_failed("accepted config has inconsistent heads");
  if (!(c.norm_eps > 0) || !(c.rope_theta >= 1))
    strata::fuzz::invariant_failed("accepted config has a bad rms_norm_eps or rope_theta");
  if (c.bos_token_id && (*c.bos_token_id < 0 || *c.bos_token_id >= c.vocab_size))
    strata::fuzz::invariant_failed("accepted bos_token_id outside the vocabulary");
  for (const std::int32_t id : c.eos_token_ids)
    if (id < 0 || id >= c.vocab_size) strata::fuzz::invariant_failed("accepted eos_token_id outside the vocabulary");
  if (c.sliding_window < 0) strata::fuzz::invariant_failed("negative sliding_window");
  // quantization_config: GPTQ or AWQ, 4 bits, a group the kernels have.
  const strata::QuantSpec& q = c.quant;
  if (q.enabled) {
    using S = strata::QuantSpec::Source;
    if ((q.source != S::GPTQ && q.source != S::AWQ) || q.type != strata::QuantType::Q4 || !q.asym ||
        !(q.group == 32 || q.group == 64 || q.group == 128))
      strata::fuzz::invariant_failed("accepted quantization_config is not a supported format", q.describe());
    if (q.source == S::AWQ && q.desc_act) strata::fuzz::invariant_failed("AWQ spec with desc_act");
    for (const std::string& m : q.keep_dense)
      if (m.empty()) strata::fuzz::invariant_failed("empty name in modules_to_not_convert");
  } else if (q.source != strata::QuantSpec::Source::Dense || !q.keep_dense.empty()) {
    strata::fuzz::invariant_failed("a disabled quantization spec with a source or modules");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const strata::fuzz::TempFolder dir;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = bytes.find('\0');
  strata::fuzz::write_file(dir / "config.json", bytes.substr(0, nul));
  if (nul == std::string_view::npos) {
    strata::fuzz::remove_file(dir / "generation_config.json");
  } else {
    strata::fuzz::write_file(dir / "generation_config.json", bytes.substr(nul + 1));
  }
  strata::fuzz::expect_ok_or_error([&] { check_accepted(strata::load_model_config(dir.path())); });
  return 0;
}
