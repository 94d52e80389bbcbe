// strata-bench: end-to-end speed of a checkpoint, llama-bench style, next to
// this machine's limits measured in the same run (DESIGN.md, "Performance
// model").
//
//   strata-bench --model DIR [-p 128] [-n 64] [--threads N] [--quant f32|bf16|f16] [--compute f32|bf16]
//                [--repeats 5] [--json]
//
// After one warm-up run, each of R repeats opens a new Session, times the
// prefill of p prompt tokens (one batched pass, logits for the last position
// only) and then n greedy decode steps; the medians are reported. The prompt
// is p token ids from a fixed-seed generator (no tokenizer needed, so it runs
// on make-model checkpoints). The probes of limits.hpp measure the read
// bandwidth and the f32 FMA peak with the same thread count, and each figure
// is shown as a percentage of its limit:
//
//   decode % of bandwidth = weight bytes read per token × decode tok/s ÷ bandwidth
//   prefill % of FMA peak = prefill FLOPs ÷ prefill time ÷ FMA peak
//
// Output: a table on stdout, or with --json exactly one JSON object line;
// progress and notes go to stderr. Errors are one line on stderr, exit 1.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <strata/kernels/dispatch.hpp>
#include <strata/strata.hpp>

#include "cli_args.hpp"
#include "limits.hpp"

namespace {

const char* kUsage = R"(usage: strata-bench --model DIR [-p N] [-n N] [--threads N] [--quant TYPE] [--group G]
                    [--asym] [--quant-head] [--keep NAMES] [--weights TYPE] [--compute TYPE] [--repeats R] [--json]

Times the prefill of a p-token prompt and n greedy decode steps of a Llama-family
checkpoint (config.json + model.safetensors; no tokenizer needed), after one warm-up
run, and reports the median of R repeats next to this machine's read bandwidth and
f32 FMA peak, measured in the same run with the same threads.

  --model DIR      model folder (e.g. written by make-model)
  -p N             prompt tokens, random ids from a fixed seed (default 128)
  -n N             decode steps (default 64); p + n must fit the model's
                   max_position_embeddings
  --threads N      threads, 1..1024 (default: one per hardware thread)
  --quant TYPE     weight type in memory: f32 (default), bf16 or f16 (f32 math), or
                   q8, q4, fp4: projections quantized at load (int8 activations,
                   integer dot products); a GPTQ / AWQ / quantized checkpoint is
                   measured as stored
  --group G        q4 / fp4 values per scale: 32 (default), 64, 128
  --asym           q4 with per-group offsets
  --quant-head     quantize the LM head too
  --keep NAMES     comma-separated name parts of projections left unquantized
  --weights TYPE   with q8/q4/fp4: the type of what stays dense (embeddings, head):
                   f32 (default), bf16, f16
  --compute TYPE   f32 (default) or bf16: projections on bf16 dot products (bf16
                   weights and inputs, f32 sums; AVX512_BF16 where the CPU has it)
  --repeats R      timed repeats, 1..1000 (default 5)
  --json           print one JSON object line instead of the table, with
                   prefill_tok_s, decode_tok_s, bandwidth_gb_s, fma_peak_gflop_s,
                   decode_pct_bandwidth, prefill_pct_peak, bytes_per_token,
                   prefill_flops and the run's settings
  --help           print this help

decode % of bandwidth = bytes of weights read per decoded token (every projection,
the LM head, the norms and one embedding row) x decode tok/s / read bandwidth.
prefill % of peak = prefill FLOPs / prefill time / f32 FMA peak, where prefill FLOPs
= 2 x block projection parameters x p + causal attention (4 x head_dim x heads per
visible key, per query, per layer) + the LM head for the last position only.
)";

constexpr std::uint64_t kPromptSeed = 0x5eed;

struct Options {
  std::filesystem::path model;
  std::int64_t p = 128, n = 64;
  int threads = 0;
  int repeats = 5;
  strata::WeightType quant = strata::WeightType::F32;
  std::string quant_name = "f32";
  strata::cli::QuantFlags qflags;
  std::optional<strata::WeightType> dense;
  strata::Compute compute = strata::Compute::F32;
  bool json = false;
};

// The in-memory weight types strata-bench can load, by their --quant name.
std::optional<strata::WeightType> weight_type(const std::string& name) {
  if (name == "f32") return strata::WeightType::F32;
  if (name == "bf16") return strata::WeightType::BF16;
  if (name == "f16") return strata::WeightType::F16;
  return std::nullopt;
}

Options parse(int argc, char** argv) {
  strata::cli::Args a(argc, argv);
  Options o;
  bool have_model = false;
  while (!a.done()) {
    const std::string_view f = a.next_flag();
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (f == "--model") {
      o.model = a.value(f);
      have_model = true;
    } else if (f == "-p") {
      o.p = a.integer(f, 1, strata::ConfigLimits::max_positions);
    } else if (f == "-n") {
      o.n = a.integer(f, 1, strata::ConfigLimits::max_positions);
    } else if (f == "--threads") {
      o.threads = int(a.integer(f, 1, 1024));
    } else if (f == "--repeats") {
      o.repeats = int(a.integer(f, 1, 1000));
    } else if (f == "--quant") {
      o.quant_name = a.value(f);
      const auto wt = weight_type(o.quant_name);
      const auto qt = strata::quant_type_from_name(o.quant_name);
      strata::check(wt.has_value() || qt.has_value(), "--quant ", o.quant_name,
                    ": not supported (supported: f32, bf16, f16, q8, q4, fp4)");
      if (wt) {
        o.quant = *wt;
      } else {
        o.qflags.spec.enabled = true;
        o.qflags.spec.type = *qt;
      }
    } else if (f == "--weights") {
      const std::string v = a.value(f);
      o.dense = weight_type(v);
      strata::check(o.dense.has_value(), "--weights: '", v, "' is not one of f32, bf16, f16");
    } else if (f == "--compute") {
      o.compute = strata::cli::compute_flag(a, f);
    } else if (strata::cli::parse_quant_flag(a, f, o.qflags)) {
    } else if (f == "--json") {
      o.json = true;
    } else {
      strata::fail("unknown option '", f, "' (see --help)");
    }
  }
  strata::check(have_model, "--model DIR is required (see --help)");
  strata::cli::finish_quant(o.qflags);
  strata::check(!o.dense || o.qflags.spec.enabled, "--weights needs --quant q8|q4|fp4 (use --quant f32|bf16|f16)");
  if (o.dense) o.quant = *o.dense;
  if (o.qflags.spec.enabled) {
    o.quant_name += o.qflags.spec.asym ? " asym" : "";
    if (o.qflags.spec.type != strata::QuantType::Q8) o.quant_name += " g" + std::to_string(o.qflags.spec.group);
    if (o.dense) o.quant_name += std::string(" +") + (*o.dense == strata::WeightType::BF16 ? "bf16" : *o.dense == strata::WeightType::F16 ? "f16" : "f32");
  }
  strata::check(!o.model.empty(), "--model: empty path");
  strata::check(std::filesystem::is_directory(o.model), "--model ", o.model.string(), ": no such directory");
  if (o.threads == 0) o.threads = int(std::clamp(std::thread::hardware_concurrency(), 1u, 1024u));
  return o;
}

// FLOPs of the prefill of p tokens (a multiply-add counts 2): every block
// projection for each token, causal attention (QKᵀ and PV: 2 × 2 × head_dim
// per head, per visible key), and the LM head for the last position only
// (Session::prefill asks for Logits::Last). Norms, RoPE and softmax are left
// out: they are O(hidden) per token.
double prefill_flops(const strata::ModelConfig& c, std::int64_t p) {
  const double H = double(c.hidden_size), F = double(c.intermediate_size);
  const double per_layer_params = H * double(c.q_dim())      // q_proj
                                  + 2 * H * double(c.kv_dim())  // k_proj, v_proj
                                  + double(c.q_dim()) * H       // o_proj
                                  + 3 * H * F;                  // gate_proj, up_proj, down_proj
  double visible = 0;  // Σ over queries t of the keys it attends to
  for (std::int64_t t = 0; t < p; ++t)
    visible += double(c.sliding_window > 0 ? std::min(t + 1, c.sliding_window) : t + 1);
  const double attention = 4.0 * double(c.head_dim) * double(c.num_heads) * visible;
  return double(c.num_layers) * (2 * per_layer_params * double(p) + attention) + 2 * double(c.vocab_size) * H;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

struct RunTimes {
  double prefill_s = 0, decode_s = 0;
};

// One repeat: a new session, the prompt in one pass, then n greedy steps.
RunTimes run_once(const std::shared_ptr<const strata::LanguageModel>& model, const std::shared_ptr<strata::ThreadPool>& pool,
                  const std::vector<std::int32_t>& prompt, std::int64_t n) {
  using Clock = std::chrono::steady_clock;
  strata::SessionOptions so;
  so.context = std::int64_t(prompt.size()) + n;
  so.pool = pool;
  strata::Session s(model, so);
  const auto V = model->config().vocab_size;

  const auto t0 = Clock::now();
  auto logits = s.prefill(prompt);
  const auto t1 = Clock::now();
  auto token = std::int32_t(strata::kernels::argmax(logits.data(), V));
  const auto t2 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    logits = s.step(token);
    token = std::int32_t(strata::kernels::argmax(logits.data(), V));
  }
  const auto t3 = Clock::now();
  return {std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t3 - t2).count()};
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// Rounds for the JSON line (the measurements are not more precise).
double round_to(double v, int digits) {
  const double s = std::pow(10.0, digits);
  return std::round(v * s) / s;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const strata::ModelConfig cfg = strata::load_model_config(o.model);
  strata::check(o.p + o.n <= cfg.max_position_embeddings, "-p ", o.p, " + -n ", o.n, " = ", o.p + o.n,
                " positions exceed the model's max_position_embeddings (", cfg.max_position_embeddings, ")");
  const char* target = strata::kernels::active_kernels().target;  // may throw for a bad STRATA_TARGET

  strata::LoadOptions lo;
  lo.quant = o.qflags.spec;
  lo.compute = o.compute;
  lo.threads = o.threads;
  const auto model = strata::load_causal_lm(o.model, o.quant, lo);
  // A GPTQ / AWQ / `quantize`d checkpoint is measured as stored: name its format.
  std::string weights_name = o.quant_name + (model->config().quant.bf16_dot ? " (bf16 dot)" : "");
  if (model->config().quant.enabled && !o.qflags.spec.enabled)
    weights_name = model->config().quant.describe() + " +" + o.quant_name;
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  if (o.threads > hw)
    std::cerr << "strata-bench: note: " << o.threads << " threads on " << hw
              << " hardware threads; the figures will understate this machine\n";
  auto pool = std::make_shared<strata::ThreadPool>(o.threads);

  // The machine's limits, with the same threads; the buffer is freed before the model runs.
  std::cerr << "strata-bench: measuring read bandwidth and FMA peak (" << o.threads << " threads)\n";
  const auto bw = strata::bench::measure_bandwidth(*pool, strata::bench::kDefaultBandwidthBytes, o.repeats);
  const auto fma = strata::bench::measure_fma(*pool, o.repeats);

  std::mt19937_64 rng(kPromptSeed);
  std::vector<std::int32_t> prompt(std::size_t(o.p));
  for (auto& id : prompt) id = std::int32_t(rng() % std::uint64_t(cfg.vocab_size));

  std::cerr << "strata-bench: warm-up run (p " << o.p << ", n " << o.n << ")\n";
  run_once(model, pool, prompt, o.n);
  std::vector<double> prefill_tok_s, decode_tok_s;
  for (int r = 0; r < o.repeats; ++r) {
    const RunTimes t = run_once(model, pool, prompt, o.n);
    prefill_tok_s.push_back(double(o.p) / t.prefill_s);
    decode_tok_s.push_back(double(o.n) / t.decode_s);
    std::cerr << "strata-bench: repeat " << r + 1 << "/" << o.repeats << ": prefill " << fixed(prefill_tok_s.back(), 1)
              << " tok/s, decode " << fixed(decode_tok_s.back(), 1) << " tok/s\n";
  }

  const double pp = median(prefill_tok_s), tg = median(decode_tok_s);
  const auto bytes_per_token = model->weight_bytes();
  const double flops = prefill_flops(cfg, o.p);
  const double decode_pct = 100.0 * double(bytes_per_token) * tg / (bw.best_gb_s * 1e9);
  const double prefill_pct = 100.0 * flops * (pp / double(o.p)) / (fma.best_gflop_s * 1e9);
  const std::string cpu = strata::bench::cpu_model_name();
  const std::string features = strata::describe_cpu_features(strata::detect_cpu_features());

  if (o.json) {
    const nlohmann::ordered_json j = {
        {"model", o.model.string()},
        {"model_name", model->name()},
        {"weights", weights_name},
        {"target", target},
        {"cpu", cpu},
        {"cpu_features", features},
        {"threads", o.threads},
        {"p", o.p},
        {"n", o.n},
        {"repeats", o.repeats},
        {"prefill_tok_s", round_to(pp, 2)},
        {"decode_tok_s", round_to(tg, 2)},
        {"prefill_tok_s_min", round_to(*std::min_element(prefill_tok_s.begin(), prefill_tok_s.end()), 2)},
        {"prefill_tok_s_max", round_to(*std::max_element(prefill_tok_s.begin(), prefill_tok_s.end()), 2)},
        {"decode_tok_s_min", round_to(*std::min_element(decode_tok_s.begin(), decode_tok_s.end()), 2)},
        {"decode_tok_s_max", round_to(*std::max_element(decode_tok_s.begin(), decode_tok_s.end()), 2)},
        {"bandwidth_gb_s", round_to(bw.best_gb_s, 2)},
        {"fma_peak_gflop_s", round_to(fma.best_gflop_s, 2)},
        {"bytes_per_token", bytes_per_token},
        // An integer while doubles hold it exactly (any real model).
        {"prefill_flops", flops < 9e15 ? nlohmann::ordered_json(std::uint64_t(flops)) : nlohmann::ordered_json(flops)},
        {"decode_pct_bandwidth", round_to(decode_pct, 1)},
        {"prefill_pct_peak", round_to(prefill_pct, 1)}};
    std::cout << j.dump() << "\n";
  } else {
    std::string targets;
    for (const auto* t : strata::kernels::available_kernel_tables())
      targets += std::string(targets.empty() ? "" : ", ") + t->target;
    const auto row = [](const char* k, const std::string& v) {
      std::cout << "  " << std::left << std::setw(14) << k << v << "\n";
    };
    std::cout << "strata-bench: " << o.model.string() << "\n";
    row("model", model->name() + ", " + std::to_string(cfg.num_layers) + " layers, hidden " +
                     std::to_string(cfg.hidden_size) + ", ffn " + std::to_string(cfg.intermediate_size) + ", vocab " +
                     std::to_string(cfg.vocab_size));
    row("weights", weights_name + ", " + fixed(double(bytes_per_token) / 1e6, 1) + " MB read per decoded token");
    row("cpu", cpu + " (" + std::to_string(hw) + " hardware threads)");
    row("features", features);
    row("kernels", std::string(target) + " (available: " + targets + ")");
    row("threads", std::to_string(o.threads));
    row("limits", fixed(bw.best_gb_s, 2) + " GB/s read bandwidth, " + fixed(fma.best_gflop_s, 1) +
                      " GFLOP/s f32 FMA peak (best of " + std::to_string(o.repeats) + ")");
    std::cout << "\n| model | weights | threads | test | tok/s (median of " << o.repeats
              << ") | min | max | % of limit |\n| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n";
    const auto line = [&](const std::string& test, const std::vector<double>& v, double med, const std::string& pct) {
      std::cout << "| " << model->name() << " | " << weights_name << " | " << o.threads << " | " << test << " | "
                << fixed(med, 1) << " | " << fixed(*std::min_element(v.begin(), v.end()), 1) << " | "
                << fixed(*std::max_element(v.begin(), v.end()), 1) << " | " << pct << " |\n";
    };
    line("pp" + std::to_string(o.p), prefill_tok_s, pp,
         fixed(prefill_pct, 1) + "% of FMA peak (" + fixed(flops / 1e9, 2) + " GFLOP)");
    line("tg" + std::to_string(o.n), decode_tok_s, tg, fixed(decode_pct, 1) + "% of bandwidth");
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "strata-bench: error: " << e.what() << "\n";
    return 1;
  }
}
