#!/usr/bin/python3
"""Write tests/fixtures/variants/: float64 reference values for the variant primitives
(primitives.json) and tiny random-weight decoders composed from them (<case>/config.json,
model.safetensors, reference.json).

    /usr/bin/python3 tests/reference/make_variant_fixtures.py

numpy only; the math is in variants_ref.py. Seeds are fixed, so re-running rewrites
byte-identical files. Weights are drawn in float64, rounded to float32 and stored as F32; the
reference computes in float64 from the stored float32 values. Init: matrices and embeddings
N(0, 0.25); norm weights 1 + N(0, 0.1) (Gemma's (1 + w) norms: N(0, 0.1)); biases N(0, 0.1).

A Mixtral case also needs every routing decision (k-th vs (k+1)-th expert probability, every
token and layer) to have a margin of at least MIN_MARGIN.

reference.json: composition (see variants_ref.py), prompt_ids, prompt_logits (row p = logits
after prompt_ids[0..p]), decode_ids (greedy), decode_logits (row k = logits after feeding
decode_ids[k]). Prompts are picked so that every greedy step has a top-1/top-2 margin of at
least MIN_MARGIN.
"""

import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "variants")
sys.path.insert(0, HERE)

import variants_ref as ref  # noqa: E402
from make_llama_fixtures import write_safetensors  # noqa: E402  (our own safetensors writer)

N_PROMPT = 12
N_DECODE = 6
MIN_MARGIN = 1e-3


def f32(a):
    return np.asarray(a, dtype=np.float64).astype("<f4")


def rounded(x):
    return [float(f"{v:.9g}") for v in np.asarray(x, dtype=np.float64).ravel()]


# ---- the decoders ----------------------------------------------------------------------------

CASES = {
    # Qwen3: QK-norm, head_dim (16) != hidden / heads, GQA 4:2.
    "qwen3": (
        {"model_type": "qwen3", "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 96,
         "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
         "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False,
         "use_sliding_window": False, "torch_dtype": "float32"},
        {"norm": "rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": True,
         "gate": False, "ffn": "gated", "act": "silu"}),
    # Gemma: (1 + w) RMSNorm, GeGLU (tanh), embeddings x sqrt(hidden), MQA, tied head, head_dim 16.
    "gemma": (
        {"model_type": "gemma", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 96,
         "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
         "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": True,
         "torch_dtype": "float32"},
        {"norm": "gemma_rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": False,
         "gate": False, "ffn": "gated", "act": "gelu_tanh", "embed_scale": math.sqrt(32)}),
    # ALiBi (6 heads: not a power of 2) + QK-norm + head gate, bias-free LayerNorm, ReGLU, no RoPE.
    "alibi-gated": (
        {"model_type": "llama", "hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 6, "vocab_size": 96, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
         "hidden_act": "relu", "tie_word_embeddings": False},
        {"norm": "layernorm_nobias", "block": "prenorm", "pos": "none", "score": "alibi_softmax",
         "qk_norm": True, "gate": True, "ffn": "gated", "act": "relu"}),
    # DeepNorm post-norm blocks, sigmoid attention with ALiBi, squared-ReLU MLP.
    "deepnorm-sigmoid": (
        {"model_type": "llama", "hidden_size": 32, "intermediate_size": 96, "num_hidden_layers": 3,
         "num_attention_heads": 4, "vocab_size": 96, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
         "hidden_act": "relu2", "tie_word_embeddings": False, "strata_variants": {"sigmoid_bias": -2.0}},
        {"norm": "rms", "block": "deepnorm", "pos": "none", "score": "alibi_sigmoid", "qk_norm": False,
         "gate": False, "ffn": "mlp", "act": "relu2"}),
    # Clipped softmax with RoPE, Gemma norms, GELU MLP (no gate), GQA 4:2.
    "clipped-gelu": (
        {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64,
         "rms_norm_eps": 1e-6, "hidden_act": "gelu", "tie_word_embeddings": False,
         "strata_variants": {"clip_gamma": -0.03, "clip_zeta": 1.02}},
        {"norm": "gemma_rms", "block": "prenorm", "pos": "rope", "score": "clipped", "qk_norm": False,
         "gate": False, "ffn": "mlp", "act": "gelu"}),
    # Mixtral: 4 SwiGLU experts, top-2 with renormalised weights, GQA 4:2, no sliding window.
    "mixtral": (
        {"model_type": "mixtral", "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64,
         "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "hidden_act": "silu", "tie_word_embeddings": False,
         "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None,
         "router_aux_loss_coef": 0.02, "output_router_logits": False, "torch_dtype": "float32"},
        {"norm": "rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": False,
         "gate": False, "ffn": "moe", "act": "silu"}),
    # Looped depth: 2 unique Llama layers applied 3 times, with rank-2 LoRA deltas per pass on every
    # projection; one-token calls at odd positions exit after the first pass (the test's hook).
    "looped-lora": (
        {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 96, "max_position_embeddings": 64,
         "rms_norm_eps": 1e-6, "hidden_act": "silu", "tie_word_embeddings": False,
         "strata_variants": {"loops": 3, "loop_lora_rank": 2}},
        {"norm": "rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": False,
         "gate": False, "ffn": "gated", "act": "silu", "exit": "odd_decode"}),
}


def make_weights(cfg, comp, rng):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or H // nh
    t = []  # (name, array)

    def mat(name, rows, cols):
        t.append((name, rng.normal(0.0, 0.25, (rows, cols))))

    def norm(name, dim):
        w = rng.normal(0.0, 0.1, dim) if comp["norm"] == "gemma_rms" else 1.0 + rng.normal(0.0, 0.1, dim)
        t.append((name + ".weight", w))
        if comp["norm"] == "layernorm":
            t.append((name + ".bias", rng.normal(0.0, 0.1, dim)))

    mat("model.embed_tokens.weight", V, H)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        norm(p + "input_layernorm", H)
        mat(p + "self_attn.q_proj.weight", nh * hd, H)
        mat(p + "self_attn.k_proj.weight", kv * hd, H)
        mat(p + "self_attn.v_proj.weight", kv * hd, H)
        mat(p + "self_attn.o_proj.weight", H, nh * hd)
        if comp["qk_norm"]:
            t.append((p + "self_attn.q_norm.weight", 1.0 + rng.normal(0.0, 0.1, hd)))
            t.append((p + "self_attn.k_norm.weight", 1.0 + rng.normal(0.0, 0.1, hd)))
        if comp["gate"]:
            mat(p + "self_attn.g_proj.weight", nh, H)
            t.append((p + "self_attn.g_proj.bias", rng.normal(0.0, 0.1, nh)))
        norm(p + "post_attention_layernorm", H)
        if comp["ffn"] == "moe":
            mat(p + "block_sparse_moe.gate.weight", cfg["num_local_experts"], H)
            for e in range(cfg["num_local_experts"]):
                mat(p + f"block_sparse_moe.experts.{e}.w1.weight", I, H)
                mat(p + f"block_sparse_moe.experts.{e}.w2.weight", H, I)
                mat(p + f"block_sparse_moe.experts.{e}.w3.weight", I, H)
            continue
        if comp["ffn"] == "gated":
            mat(p + "mlp.gate_proj.weight", I, H)
        mat(p + "mlp.up_proj.weight", I, H)
        mat(p + "mlp.down_proj.weight", H, I)
    v = cfg.get("strata_variants", {})
    r = v.get("loop_lora_rank", 0)
    for l in range(cfg["num_hidden_layers"] if r else 0):
        p = f"model.layers.{l}."
        shapes = {"self_attn.q_proj": (nh * hd, H), "self_attn.k_proj": (kv * hd, H),
                  "self_attn.v_proj": (kv * hd, H), "self_attn.o_proj": (H, nh * hd),
                  "mlp.gate_proj": (I, H), "mlp.up_proj": (I, H), "mlp.down_proj": (H, I)}
        for i in range(v["loops"]):
            for name, (out, inp) in shapes.items():
                t.append((f"{p}{name}.lora_A.loop{i}.weight", rng.normal(0.0, 0.1, (r, inp))))
                t.append((f"{p}{name}.lora_B.loop{i}.weight", rng.normal(0.0, 0.1, (out, r))))
    norm("model.norm", H)
    if not cfg.get("tie_word_embeddings"):
        mat("lm_head.weight", V, H)
    stored = [(n, f32(a)) for n, a in t]
    return stored, {n: a.astype(np.float64) for n, a in stored}


def run_case(name, cfg, comp, seed):
    rng = np.random.default_rng(seed)
    stored, W = make_weights(cfg, comp, rng)
    model = ref.Decoder(cfg, comp, W)
    for attempt in range(200):
        prng = np.random.default_rng(seed * 1000 + attempt)
        prompt = [int(i) for i in prng.integers(0, cfg["vocab_size"], N_PROMPT)]
        cache = model.new_cache()
        model.route_margin = math.inf
        logits = model.forward(prompt, cache)
        # causality self-check: a prefix's logits equal the first rows of the full prompt's
        short = model.forward(prompt[:5], model.new_cache())
        assert np.max(np.abs(short - logits[:5])) < 1e-10, name
        ok, ids, dec = model.route_margin >= MIN_MARGIN, [], []
        last = logits[-1]
        for _ in range(N_DECODE):
            top = np.sort(last)[::-1]
            if top[0] - top[1] < MIN_MARGIN:
                ok = False
                break
            ids.append(int(np.argmax(last)))
            last = model.forward([ids[-1]], cache)[0]
            dec.append(last)
        ok = ok and model.route_margin >= MIN_MARGIN  # no routing decision within rounding of a tie
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no prompt with greedy margins >= {MIN_MARGIN}")
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), [(n, "F32", a) for n, a in stored])
    out = {"composition": comp, "prompt_ids": prompt, "prompt_logits": [rounded(r) for r in logits],
           "decode_ids": ids, "decode_logits": [rounded(r) for r in dec]}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


# ---- primitives ------------------------------------------------------------------------------

def primitives():
    rng = np.random.default_rng(7)
    out = {}
    out["alibi_slopes"] = {str(n): rounded(ref.alibi_slopes(n)) for n in (1, 2, 3, 4, 6, 8, 12, 16, 20)}

    # one query at position 9 over keys at positions 0..9, head_dim 8
    hd, n, pos = 8, 10, 9
    q, K, V = (f32(rng.normal(0, 1, s)).astype(np.float64) for s in ((hd,), (n, hd), (n, hd)))
    s = K @ q / math.sqrt(hd)
    slopes = ref.alibi_slopes(6)
    params = {"sigmoid_bias": -1.5, "clip_gamma": -0.03, "clip_zeta": 1.02}
    att = {"q": rounded(q), "k": rounded(K), "v": rounded(V), "pos": pos, "heads": 6, "head": 3, **params}
    for kind in ("softmax", "alibi_softmax", "sigmoid", "alibi_sigmoid", "clipped"):
        w = ref.score_weights(kind, s, 3, pos, np.arange(n), slopes, params)
        att[kind] = rounded(w @ V)
    out["attention"] = att

    x = f32(rng.normal(0, 1, (3, 24))).astype(np.float64)
    w = f32(rng.normal(0, 0.3, 24)).astype(np.float64)
    b = f32(rng.normal(0, 0.3, 24)).astype(np.float64)
    out["norms"] = {"x": rounded(x), "w": rounded(w), "b": rounded(b), "eps": 1e-5,
                    "rms": rounded(ref.rms_norm(x, w, 1e-5)),
                    "gemma_rms": rounded(ref.gemma_rms_norm(x, w, 1e-5)),
                    "layernorm": rounded(ref.layer_norm(x, w, b, 1e-5)),
                    "layernorm_nobias": rounded(ref.layer_norm(x, w, None, 1e-5))}

    g = f32(rng.normal(0, 1.5, 40)).astype(np.float64)
    u = f32(rng.normal(0, 1.0, 40)).astype(np.float64)
    acts = {"gate": rounded(g), "up": rounded(u)}
    for a in ("silu", "gelu", "gelu_tanh", "relu", "relu2"):
        acts[a] = rounded(ref.act(a, g))
        acts[a + "_gated"] = rounded(ref.act(a, g) * u)
    out["activations"] = acts

    # head gate: x [2, 12], g_proj [3 heads, 12] + bias, ctx [2, 3 heads x 4]
    x = f32(rng.normal(0, 1, (2, 12))).astype(np.float64)
    Wg = f32(rng.normal(0, 0.5, (3, 12))).astype(np.float64)
    bg = f32(rng.normal(0, 0.5, 3)).astype(np.float64)
    ctx = f32(rng.normal(0, 1, (2, 3, 4))).astype(np.float64)
    gate = 1.0 / (1.0 + np.exp(-(x @ Wg.T + bg)))
    out["head_gate"] = {"x": rounded(x), "w": rounded(Wg), "b": rounded(bg), "ctx": rounded(ctx),
                        "out": rounded(ctx * gate[:, :, None])}
    with open(os.path.join(OUT, "primitives.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    primitives()
    for i, (name, (cfg, comp)) in enumerate(CASES.items()):
        run_case(name, cfg, comp, 100 + i)
        print("wrote", os.path.join(OUT, name))


if __name__ == "__main__":
    main()
