"""Independent float64 (numpy) reference for the variant primitives of docs/VARIANTS.md and a
decoder that composes them. Written from the papers and the transformers model files the
docstrings name, not from strata's C++.

A composition is a dict (it is also written into each fixture's reference.json):
    norm      "rms" | "gemma_rms" | "layernorm" | "layernorm_nobias"
    block     "prenorm" (h = x + attn(norm1(x)); out = h + ffn(norm2(h)))
              | "deepnorm" (h = norm1(a*x + attn(x)); out = norm2(a*h + ffn(h)))
    pos       "rope" | "none"
    score     "softmax" | "alibi_softmax" | "alibi_sigmoid" | "sigmoid" | "clipped"
    qk_norm   bool (RMSNorm over each head of q and k before RoPE, weights q_norm / k_norm)
    gate      bool (head gate: ctx_h *= sigmoid(g_proj(x)_h))
    ffn       "gated" (down(act(gate(x)) * up(x))) | "mlp" (down(act(up(x))), no bias)
              | "moe" (Mixtral: block_sparse_moe, config num_local_experts / num_experts_per_tok)
    act       "silu" | "gelu" | "gelu_tanh" | "relu" | "relu2"
    embed_scale  float (Gemma: sqrt(hidden))
    exit      optional: "odd_decode" (looped models: a one-token call at an odd position stops
              after the first pass; the skipped passes' caches get that pass's K/V)

Looped depth comes from config strata_variants: "loops" N (the layers applied N times, cache
entry pass * L + l) and "loop_lora_rank" r (per-pass LoRA deltas "<proj>.lora_A.loop<i>" [r, in],
"<proj>.lora_B.loop<i>" [out, r] on every projection: y = W x + B_i (A_i x)).
"""

import math

import numpy as np


# ---- primitives ------------------------------------------------------------------------------

def rms_norm(x, w, eps):
    # LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * w
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def gemma_rms_norm(x, w, eps):
    # GemmaRMSNorm: output = self._norm(x.float()); output = output * (1.0 + self.weight.float())
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def layer_norm(x, w, b, eps):
    # torch.nn.LayerNorm, biased variance; b None: bias=False
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * w
    return y if b is None else y + b


def act(name, x):
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "relu2":  # Primer: squared ReLU
        return np.maximum(x, 0.0) ** 2
    raise ValueError(name)


def alibi_slopes(n):
    """Press et al. (ALiBi), get_slopes: geometric sequence starting at 2^(-8/n) with that ratio;
    for n not a power of 2, the slopes of the closest smaller power of 2 followed by every
    other slope of twice that power."""
    def pow2(n):
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return pow2(n)
    closest = 2 ** math.floor(math.log2(n))
    return pow2(closest) + pow2(2 * closest)[0::2][: n - closest]


def softmax(s):
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def score_weights(kind, s, head, qpos, kpos, slopes, params):
    """s: scaled scores of one query over visible keys at positions kpos."""
    if kind.startswith("alibi"):
        s = s - slopes[head] * (qpos - kpos)  # ALiBi: + m * -(i - j)
    if kind in ("softmax", "alibi_softmax"):
        return softmax(s)
    if kind in ("sigmoid", "alibi_sigmoid"):
        return 1.0 / (1.0 + np.exp(-(s + params["sigmoid_bias"])))
    if kind == "clipped":  # Bondarenko et al.: clip((zeta - gamma) * softmax(x) + gamma, 0, 1)
        g, z = params["clip_gamma"], params["clip_zeta"]
        return np.clip((z - g) * softmax(s) + g, 0.0, 1.0)
    raise ValueError(kind)


def rope(x, positions, head_dim, theta):
    # rotate-half RoPE (LlamaRotaryEmbedding + apply_rotary_pos_emb), x: [n, head_dim]
    inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    f = np.asarray(positions, dtype=np.float64)[:, None] * inv[None, :]
    emb = np.concatenate([f, f], axis=-1)
    d = head_dim // 2
    rot = np.concatenate([-x[:, d:], x[:, :d]], axis=-1)
    return x * np.cos(emb) + rot * np.sin(emb)


# ---- the decoder -----------------------------------------------------------------------------

class Decoder:
    """Llama-layout decoder (model.embed_tokens, model.layers.N.{self_attn,mlp,input_layernorm,
    post_attention_layernorm}, model.norm, lm_head) with the composition's variants."""

    def __init__(self, cfg, comp, W):
        self.cfg, self.comp, self.W = cfg, comp, W
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = cfg.get("head_dim") or cfg["hidden_size"] // self.H
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)
        v = cfg.get("strata_variants", {})
        self.params = {
            "sigmoid_bias": v.get("sigmoid_bias", -math.log(cfg["max_position_embeddings"])),
            "clip_gamma": v.get("clip_gamma", -0.03),
            "clip_zeta": v.get("clip_zeta", 1.0),
        }
        self.alpha = v.get("deepnorm_alpha", (2.0 * self.L) ** 0.25)
        self.loops = v.get("loops", 1)
        self.loop = 0  # the pass being run (selects the LoRA deltas)
        self.slopes = alibi_slopes(self.H)
        self.route_margin = math.inf
        self.embed = W["model.embed_tokens.weight"]
        self.head = self.embed if cfg.get("tie_word_embeddings") else W["lm_head.weight"]

    def norm(self, x, name):
        kind = self.comp["norm"]
        if kind == "rms":
            return rms_norm(x, self.W[name + ".weight"], self.eps)
        if kind == "gemma_rms":
            return gemma_rms_norm(x, self.W[name + ".weight"], self.eps)
        if kind == "layernorm":
            return layer_norm(x, self.W[name + ".weight"], self.W[name + ".bias"], self.eps)
        if kind == "layernorm_nobias":
            return layer_norm(x, self.W[name + ".weight"], None, self.eps)
        raise ValueError(kind)

    def lin(self, x, name, bias=False):
        y = x @ self.W[name + ".weight"].T
        a = self.W.get(f"{name}.lora_A.loop{self.loop}.weight")
        if a is not None:  # Relaxed Recursive Transformers: W x + B_i (A_i x)
            y = y + (x @ a.T) @ self.W[f"{name}.lora_B.loop{self.loop}.weight"].T
        return y + self.W[name + ".bias"] if bias else y

    def attention(self, l, x, positions, cache):
        p = f"model.layers.{l}.self_attn."
        n, c = x.shape[0], self.comp
        q = self.lin(x, p + "q_proj").reshape(n, self.H, self.hd)
        k = self.lin(x, p + "k_proj").reshape(n, self.KV, self.hd)
        v = self.lin(x, p + "v_proj").reshape(n, self.KV, self.hd)
        if c["qk_norm"]:  # Qwen3Attention: self.q_norm(q.view(hidden_shape)), per head over head_dim
            q = rms_norm(q, self.W[p + "q_norm.weight"], self.eps)
            k = rms_norm(k, self.W[p + "k_norm.weight"], self.eps)
        if c["pos"] == "rope":
            q = np.stack([rope(q[:, h], positions, self.hd, self.theta) for h in range(self.H)], axis=1)
            k = np.stack([rope(k[:, g], positions, self.hd, self.theta) for g in range(self.KV)], axis=1)
        cache["k"] = np.concatenate([cache["k"], k], axis=0)
        cache["v"] = np.concatenate([cache["v"], v], axis=0)
        K, V = cache["k"], cache["v"]
        group = self.H // self.KV
        out = np.zeros((n, self.H, self.hd))
        for t in range(n):
            i = positions[t]
            kpos = np.arange(i + 1)
            for h in range(self.H):
                g = h // group
                s = (K[: i + 1, g] @ q[t, h]) / math.sqrt(self.hd)
                w = score_weights(c["score"], s, h, i, kpos, self.slopes, self.params)
                out[t, h] = w @ V[: i + 1, g]
        if c["gate"]:
            gate = 1.0 / (1.0 + np.exp(-self.lin(x, p + "g_proj", bias=True)))  # [n, H]
            out = out * gate[:, :, None]
        return self.lin(out.reshape(n, self.H * self.hd), p + "o_proj")

    def moe(self, l, x):
        """MixtralSparseMoeBlock: routing_weights = softmax(gate(x)) in float; top-k; divided by
        their sum; out = sum over the chosen experts of w2(act(w1(x)) * w3(x)) * routing weight.
        Records in self.route_margin the smallest gap between the k-th and (k+1)-th probability
        (a routing decision that float32 rounding could flip)."""
        p = f"model.layers.{l}.block_sparse_moe."
        E, k, a = self.cfg["num_local_experts"], self.cfg["num_experts_per_tok"], self.comp["act"]
        probs = softmax(self.lin(x, p + "gate"))
        out = np.zeros_like(x)
        for t in range(x.shape[0]):
            order = np.argsort(-probs[t], kind="stable")
            if k < E:
                self.route_margin = min(self.route_margin, probs[t, order[k - 1]] - probs[t, order[k]])
            chosen = order[:k]
            w = probs[t, chosen] / probs[t, chosen].sum()
            for e, we in zip(chosen, w):
                pe = p + f"experts.{e}."
                h = act(a, self.lin(x[t], pe + "w1")) * self.lin(x[t], pe + "w3")
                out[t] += we * self.lin(h, pe + "w2")
        return out

    def ffn(self, l, x):
        if self.comp["ffn"] == "moe":
            return self.moe(l, x)
        p = f"model.layers.{l}.mlp."
        a = self.comp["act"]
        if self.comp["ffn"] == "gated":
            return self.lin(act(a, self.lin(x, p + "gate_proj")) * self.lin(x, p + "up_proj"), p + "down_proj")
        return self.lin(act(a, self.lin(x, p + "up_proj")), p + "down_proj")

    def new_cache(self):
        return [{"k": np.zeros((0, self.KV, self.hd)), "v": np.zeros((0, self.KV, self.hd))}
                for _ in range(self.L * self.loops)]

    def forward(self, ids, cache):
        """Logits [len(ids), vocab] for ids fed after what the cache holds."""
        p0 = cache[0]["k"].shape[0]
        positions = list(range(p0, p0 + len(ids)))
        x = self.embed[np.asarray(ids)] * self.comp.get("embed_scale", 1.0)
        n = len(ids)
        for self.loop in range(self.loops):
            for l in range(self.L):
                pre = f"model.layers.{l}."
                c = cache[self.loop * self.L + l]
                if self.comp["block"] == "prenorm":
                    x = x + self.attention(l, self.norm(x, pre + "input_layernorm"), positions, c)
                    x = x + self.ffn(l, self.norm(x, pre + "post_attention_layernorm"))
                else:  # DeepNet: x_{l+1} = LN(alpha * x_l + G(x_l))
                    x = self.norm(self.alpha * x + self.attention(l, x, positions, c), pre + "input_layernorm")
                    x = self.norm(self.alpha * x + self.ffn(l, x), pre + "post_attention_layernorm")
            last = self.loop + 1 == self.loops
            if not last and self.comp.get("exit") == "odd_decode" and n == 1 and p0 % 2 == 1:
                for j in range(self.loop + 1, self.loops):  # MoR-style KV sharing for the skipped passes
                    for l in range(self.L):
                        src, dst = cache[self.loop * self.L + l], cache[j * self.L + l]
                        dst["k"] = np.concatenate([dst["k"], src["k"][-n:]], axis=0)
                        dst["v"] = np.concatenate([dst["v"], src["v"][-n:]], axis=0)
                break
        self.loop = 0
        x = self.norm(x, "model.norm")
        return x @ self.head.T
