#!/usr/bin/python3
"""Write tests/fixtures/cache_policies/: one tiny random-weight Llama-layout decoder
(config.json, model.safetensors) and, in reference.json, its float64 logits under each bounded
KV-cache policy (cache_policies_ref.py) for a token stream about ten times the window / budget.

    /usr/bin/python3 tests/reference/make_cache_policy_fixtures.py

numpy only; fixed seeds, so re-running rewrites byte-identical files. Weights are drawn in
float64, rounded to float32 and stored as F32; the reference computes in float64 from the stored
values. Init: matrices and embeddings N(0, 0.25); norm weights 1 + N(0, 0.1).

config.json is model_type "mistral" (sliding_window is read for it) with strata_variants
sink_tokens, kv_budget and a2sf_forgetting; every policy of the test reads the fields it uses.

reference.json: ids (the whole stream: the test prefills the first n_prompt, then feeds the rest
one at a time), n_prompt, and per policy ("linear", "ring", "sink", "a2sf", and
"linear_attention": the same weights under causal linear attention, no RoPE) logits[p] = logits
after ids[0..p]. A2SF evicts by comparing float scores, so the stream is chosen such that at
every eviction the lowest two scores differ by at least MIN_GAP (float32 arithmetic then picks
the same slot as float64).
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "cache_policies")
sys.path.insert(0, HERE)

import cache_policies_ref as ref  # noqa: E402
from make_llama_fixtures import write_safetensors  # noqa: E402  (our own safetensors writer)
from make_variant_fixtures import f32, rounded  # noqa: E402  (float32 rounding, 9-digit JSON)

N_TOKENS = 80
N_PROMPT = 24
MIN_GAP = 1e-3

CONFIG = {"model_type": "mistral", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "vocab_size": 48,
          "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
          "sliding_window": 6, "tie_word_embeddings": False, "torch_dtype": "float32",
          "strata_variants": {"sink_tokens": 2, "kv_budget": 8, "a2sf_forgetting": 0.8}}


def make_weights(cfg, rng):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, kv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    t = []

    def mat(name, rows, cols):
        t.append((name, rng.normal(0.0, 0.25, (rows, cols))))

    mat("model.embed_tokens.weight", V, H)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        t.append((p + "input_layernorm.weight", 1.0 + rng.normal(0.0, 0.1, H)))
        mat(p + "self_attn.q_proj.weight", nh * hd, H)
        mat(p + "self_attn.k_proj.weight", kv * hd, H)
        mat(p + "self_attn.v_proj.weight", kv * hd, H)
        mat(p + "self_attn.o_proj.weight", H, nh * hd)
        t.append((p + "post_attention_layernorm.weight", 1.0 + rng.normal(0.0, 0.1, H)))
        mat(p + "mlp.gate_proj.weight", I, H)
        mat(p + "mlp.up_proj.weight", I, H)
        mat(p + "mlp.down_proj.weight", H, I)
    t.append(("model.norm.weight", 1.0 + rng.normal(0.0, 0.1, H)))
    mat("lm_head.weight", V, H)
    stored = [(n, f32(a)) for n, a in t]
    return stored, {n: a.astype(np.float64) for n, a in stored}


def run(policy, W, ids):
    m = ref.PolicyDecoder(CONFIG, W, policy)
    cache = m.new_cache()
    logits = list(m.forward(ids[:N_PROMPT], cache))
    for i in ids[N_PROMPT:]:
        logits.append(m.forward([i], cache)[0])
    return np.array(logits), m.min_gap


def main():
    os.makedirs(OUT, exist_ok=True)
    stored, W = make_weights(CONFIG, np.random.default_rng(2024))
    for attempt in range(100):
        ids = [int(i) for i in np.random.default_rng(500 + attempt).integers(0, CONFIG["vocab_size"], N_TOKENS)]
        out = {"ids": ids, "n_prompt": N_PROMPT}
        a2sf, gap = run("a2sf", W, ids)
        if gap < MIN_GAP:
            continue
        out["a2sf"] = [rounded(r) for r in a2sf]
        for policy in ("linear", "ring", "sink", "linear_attention"):
            logits, _ = run(policy, W, ids)
            out[policy] = [rounded(r) for r in logits]
        # the policies differ from one another once the stream outgrows them
        for p in ("ring", "sink", "a2sf", "linear_attention"):
            assert np.max(np.abs(np.array(out[p]) - np.array(out["linear"]))) > 1e-2, p
        # prefill in one pass equals feeding the prompt one token at a time (the policies are causal)
        m = ref.PolicyDecoder(CONFIG, W, "a2sf")
        c = m.new_cache()
        step = np.array([m.forward([i], c)[0] for i in ids[:N_PROMPT]])
        assert np.max(np.abs(step - a2sf[:N_PROMPT])) < 1e-10
        break
    else:
        raise RuntimeError(f"no token stream with A2SF eviction gaps >= {MIN_GAP}")
    print(f"stream seed {500 + attempt}, smallest A2SF eviction gap {gap:.3g}")
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(OUT, "model.safetensors"), [(n, "F32", a) for n, a in stored])
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
