#!/usr/bin/python3
"""Write tests/fixtures/cross_attention/: a tiny random-weight Llama-layout decoder whose layers
have cross-attention (config.json, model.safetensors) and, in reference.json, its float64 logits
(cross_attention_ref.py) over two encoder memories.

    /usr/bin/python3 tests/reference/make_cross_attention_fixtures.py

numpy only; fixed seeds, so re-running rewrites byte-identical files. Weights are drawn in
float64, rounded to float32 and stored as F32; memories are rounded to float32 too; the reference
computes in float64 from the stored values. Init: matrices and embeddings N(0, 0.25); norm weights
1 + N(0, 0.1); memories N(0, 1).

reference.json: n_prompt, memory_a [S_a, hidden] and memory_b [S_b, hidden] (row-major, flat,
s_a / s_b rows), and per memory x in (a, b): ids_x, a random prompt of n_prompt ids followed by
greedy ids (ids_x[p + 1] = argmax logits_x[p] for p >= n_prompt - 1; the test prefills the prompt,
then feeds the rest one at a time), and logits_x[p], the logits after ids_x[0..p] with that memory.
Every greedy choice has a top-1/top-2 margin of at least MIN_MARGIN (min_greedy_margin).
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "cross_attention")
sys.path.insert(0, HERE)

import cross_attention_ref as ref  # noqa: E402
from make_llama_fixtures import write_safetensors  # noqa: E402  (our own safetensors writer)
from make_variant_fixtures import f32, rounded  # noqa: E402  (float32 rounding, 9-digit JSON)

N_TOKENS = 16
N_PROMPT = 7
MIN_MARGIN = 1e-3
S_A, S_B = 11, 5

CONFIG = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "vocab_size": 48,
          "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
          "tie_word_embeddings": False, "torch_dtype": "float32"}


def make_weights(cfg, rng):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, kv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    t = []

    def mat(name, rows, cols):
        t.append((name, rng.normal(0.0, 0.25, (rows, cols))))

    def norm(name):
        t.append((name, 1.0 + rng.normal(0.0, 0.1, H)))

    mat("model.embed_tokens.weight", V, H)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        norm(p + "input_layernorm.weight")
        for a in ("self_attn", "cross_attn"):
            mat(p + a + ".q_proj.weight", nh * hd, H)
            mat(p + a + ".k_proj.weight", kv * hd, H)
            mat(p + a + ".v_proj.weight", kv * hd, H)
            mat(p + a + ".o_proj.weight", H, nh * hd)
        norm(p + "cross_attn_layernorm.weight")
        norm(p + "post_attention_layernorm.weight")
        mat(p + "mlp.gate_proj.weight", I, H)
        mat(p + "mlp.up_proj.weight", I, H)
        mat(p + "mlp.down_proj.weight", H, I)
    norm("model.norm.weight")
    mat("lm_head.weight", V, H)
    stored = [(n, f32(a)) for n, a in t]
    return stored, {n: a.astype(np.float64) for n, a in stored}


def run(W, memory, prompt):
    """The prompt, then greedy decoding to N_TOKENS ids: (ids, logits [N_TOKENS, vocab], smallest
    top-1/top-2 margin of the greedy choices)."""
    m = ref.CrossDecoder(CONFIG, W, memory)
    cache = m.new_cache()
    ids = list(prompt)
    logits = list(m.forward(ids, cache))
    margin = np.inf
    while len(ids) < N_TOKENS:
        top = np.sort(logits[-1])[::-1]
        margin = min(margin, top[0] - top[1])
        ids.append(int(np.argmax(logits[-1])))
        logits.append(m.forward([ids[-1]], cache)[0])
    return ids, np.array(logits), margin


def main():
    os.makedirs(OUT, exist_ok=True)
    stored, W = make_weights(CONFIG, np.random.default_rng(77))
    rng = np.random.default_rng(78)
    H = CONFIG["hidden_size"]
    mem_a = f32(rng.normal(0.0, 1.0, (S_A, H))).astype(np.float64)
    mem_b = f32(rng.normal(0.0, 1.0, (S_B, H))).astype(np.float64)
    prompt = [int(i) for i in rng.integers(0, CONFIG["vocab_size"], N_PROMPT)]
    ids_a, la, ma = run(W, mem_a, prompt)
    ids_b, lb, mb = run(W, mem_b, prompt)
    assert min(ma, mb) >= MIN_MARGIN, f"greedy margin {min(ma, mb)}"
    assert np.max(np.abs(la[:N_PROMPT] - lb[:N_PROMPT])) > 1e-1, "the memory must change the logits"
    # feeding the prompt one token at a time gives the same logits (the cross K/V do not depend on it)
    m = ref.CrossDecoder(CONFIG, W, mem_a)
    c = m.new_cache()
    step = np.array([m.forward([i], c)[0] for i in ids_a[:N_PROMPT]])
    assert np.max(np.abs(step - la[:N_PROMPT])) < 1e-10
    print(f"smallest greedy margin {min(ma, mb):.3g}")
    out = {"n_prompt": N_PROMPT, "memory_a": rounded(mem_a), "memory_b": rounded(mem_b), "s_a": S_A, "s_b": S_B,
           "min_greedy_margin": float(f"{min(ma, mb):.9g}"), "ids_a": ids_a, "ids_b": ids_b,
           "logits_a": [rounded(r) for r in la], "logits_b": [rounded(r) for r in lb]}
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
