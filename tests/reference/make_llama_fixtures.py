#!/usr/bin/python3
"""Independent float64 reference for Llama-family decoder LMs, and the fixtures it makes.

Run from anywhere with Debian's python (numpy + torch 1.13, no transformers/safetensors):

    /usr/bin/python3 tests/reference/make_llama_fixtures.py                # (re)write fixtures
    /usr/bin/python3 tests/reference/make_llama_fixtures.py --check-golden # + real-model check

Everything is deterministic (fixed seeds), so re-running rewrites byte-identical files.

What it writes
--------------
tests/fixtures/llama/<case>/
    config.json              as Hugging Face writes it for the model_type (sorted keys, indent 2)
    model.safetensors        our own writer (see write_safetensors); or, for `sharded`,
                             model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json
    generation_config.json   for some cases (eos_token_id as a list, as HF allows)
    expected.json            reference ids and logits, float64 computed, see below
tests/fixtures/rope/cases.json
    RoPE inputs/outputs for both the rotate-half (HF) and the interleaved (GPT-J / Meta) layouts.

expected.json fields (N = 20 prompt tokens, M = 10 decode steps, positions start at 0)
--------------------
prompt_ids       N token ids fed at positions 0..N-1 (prompt_ids[0] is the BOS id).
prompt_logits    N rows of vocab_size floats; row p = logits at position p after feeding
                 prompt_ids[0..p] (causal), i.e. the distribution for the token at p+1.
decode_ids       M ids chosen greedily (argmax, no sampling, no EOS stopping):
                 decode_ids[0] = argmax(prompt_logits[N-1]),
                 decode_ids[k] = argmax(decode_logits[k-1]) for k >= 1.
decode_logits    M rows; decode_logits[k] = logits at position N+k, where decode_ids[k] is the
                 input token (fed after the prompt and decode_ids[0..k-1]); it is the
                 distribution that picks decode_ids[k+1]. decode_logits[M-1] picks an
                 (unrecorded) 11th token.
Prompts are chosen (deterministically) so that every greedy choice has a top-1/top-2 logit
margin of at least MIN_MARGIN, no decode id is an EOS id and decode_ids hold at least
MIN_DISTINCT different ids, so float32 engines must agree on the ids exactly. Floats are written with 9 significant digits.

The forward pass mirrors transformers' LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM
(eager attention); the PyTorch lines it mirrors are quoted in comments.

Sliding window (Mistral): query position i attends to key positions j with
    i - sliding_window < j <= i          (exactly `sliding_window` keys, self included)
as in transformers/src/transformers/masking_utils.py:
    def sliding_window_overlay(sliding_window):
        def inner_mask(batch_idx, head_idx, q_idx, kv_idx):
            return kv_idx > q_idx - sliding_window
    sliding_window_causal_mask_function = and_masks(sliding_window_overlay(w), causal_mask_function)
    causal_mask_function: return kv_idx <= q_idx
(read from the transformers main branch). The flash-attention path had an off-by-one against
this (issue #39408: it passed window_size=(sliding_window, sliding_window)), fixed to match by
PR #40163 ("[Flash Attention] Fix sliding window size"). Older transformers
(modeling_attn_mask_utils._make_causal_mask, `diagonal = past_key_values_length - sliding_window - 1`)
let each query see sliding_window + 1 keys; issue #29623 discusses that history. We follow the
current convention: a window of `sliding_window` tokens including the current one.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
SHARED = os.path.join(os.path.dirname(REPO), "shared")

N_PROMPT = 20
N_DECODE = 10
MIN_MARGIN = 5e-3
MIN_DISTINCT = 4  # decode_ids must not be one token repeated (random tied models like to loop)
TRANSFORMERS_VERSION = "4.46.3"

# --------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length N, N bytes of JSON header (space padded to a
# multiple of 8), then raw little-endian tensor data; data_offsets are relative to the data start.
# --------------------------------------------------------------------------------------------

_STORAGE = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
            "F64": np.dtype("<f8")}


def round_to_bf16_bits(x):
    """float -> bfloat16 bit patterns (uint16), round-to-nearest-even from float32.

    This is what torch's `tensor.to(torch.bfloat16)` does for finite values (checked against
    torch in self_check)."""
    f = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    assert np.all(np.isfinite(f))
    u = f.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f64(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32).astype(np.float64)


def to_storage(x, dtype):
    """float64 array -> (array in the safetensors storage type, float64 of the stored values)."""
    if dtype == "F32":
        s = np.asarray(x, dtype="<f4")
        return s, s.astype(np.float64)
    if dtype == "F16":
        s = np.asarray(x, dtype=np.float64).astype("<f2")  # numpy: round-to-nearest-even
        return s, s.astype(np.float64)
    if dtype == "BF16":
        s = round_to_bf16_bits(x).astype("<u2")
        return s, bf16_bits_to_f64(s)
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype string, storage ndarray), written in that order."""
    header = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, dtype, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype=_STORAGE[dtype])
        b = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return offset  # bytes of tensor data


def read_safetensors(path):
    """-> {name: float64 ndarray}. Checks every offset against the file size."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} past end of file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _STORAGE[info["dtype"]]
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e <= len(data) - base) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: bad data_offsets for {name}")
        a = np.frombuffer(data, dtype=dt, count=count, offset=base + b).reshape(shape)
        out[name] = bf16_bits_to_f64(a) if info["dtype"] == "BF16" else a.astype(np.float64)
    return out


# --------------------------------------------------------------------------------------------
# RoPE
# --------------------------------------------------------------------------------------------

def rope_inv_freq(head_dim, theta, rope_scaling=None):
    """transformers modeling_rope_utils._compute_default_rope_parameters:
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    (HF evaluates this in float32; we use float64.)
    and, for rope_type "llama3", _compute_llama3_parameters:
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    """
    inv_freq = 1.0 / (float(theta) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    if rope_scaling is None:
        return inv_freq
    rope_type = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if rope_type in (None, "default"):
        return inv_freq
    if rope_type != "llama3":
        raise NotImplementedError(f"rope_type {rope_type}")
    factor = float(rope_scaling["factor"])
    low = float(rope_scaling["low_freq_factor"])
    high = float(rope_scaling["high_freq_factor"])
    old_ctx = float(rope_scaling["original_max_position_embeddings"])
    low_freq_wavelen = old_ctx / low
    high_freq_wavelen = old_ctx / high
    wavelen = 2.0 * math.pi / inv_freq
    inv_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1.0 - smooth) * inv_llama / factor + smooth * inv_llama
    is_medium = (~(wavelen < high_freq_wavelen)) & (~(wavelen > low_freq_wavelen))
    return np.where(is_medium, smoothed, inv_llama)


def rope_cos_sin(positions, inv_freq):
    """LlamaRotaryEmbedding.forward:
        freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling     # attention_scaling is 1.0 for default/llama3
        sin = emb.sin() * self.attention_scaling
    -> cos, sin of shape [n, head_dim]"""
    freqs = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb), np.sin(emb)


def rotate_half(x):
    """x1 = x[..., : x.shape[-1] // 2]; x2 = x[..., x.shape[-1] // 2 :]; return torch.cat((-x2, x1), dim=-1)"""
    d = x.shape[-1] // 2
    return np.concatenate([-x[..., d:], x[..., :d]], axis=-1)


def apply_rope_rotate_half(x, cos, sin):
    """apply_rotary_pos_emb: q_embed = (q * cos) + (rotate_half(q) * sin). x: [..., n, head_dim]"""
    return x * cos + rotate_half(x) * sin


def apply_rope_interleaved(x, positions, inv_freq):
    """GPT-J / original Meta layout: pair (x[2i], x[2i+1]) rotated by angle pos * inv_freq[i]."""
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    c, s = np.cos(ang), np.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


# --------------------------------------------------------------------------------------------
# The model (numpy float64)
# --------------------------------------------------------------------------------------------

def head_dim_of(cfg):
    # MistralAttention / LlamaAttention:
    #   self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def sliding_window_of(cfg):
    mt = cfg["model_type"]
    if mt == "mistral":
        return cfg.get("sliding_window")  # None (null) means full causal attention
    if mt == "qwen2":
        if cfg.get("use_sliding_window", False):
            raise NotImplementedError("qwen2 use_sliding_window=true (per-layer windows)")
        return None  # Qwen2: sliding_window is ignored unless use_sliding_window is true
    return None  # llama: no window


class Reference:
    """float64 Llama/Mistral/Qwen2 decoder with a KV cache. W: {HF tensor name: float64 array}."""

    def __init__(self, cfg, W):
        self.cfg = cfg
        self.W = W
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        assert self.H % self.KV == 0
        self.hd = head_dim_of(cfg)
        self.eps = cfg["rms_norm_eps"]
        self.window = sliding_window_of(cfg)
        self.inv_freq = rope_inv_freq(self.hd, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"))
        self.embed = W.get("model.embed_tokens.weight")
        self.lm_head = W.get("lm_head.weight")
        if cfg.get("tie_word_embeddings", False):
            # tied: HF stores one of the two (normally the embedding); both are the same tensor
            if self.embed is None:
                self.embed = self.lm_head
            self.lm_head = self.embed
        assert self.embed is not None and self.lm_head is not None
        assert cfg.get("hidden_act", "silu") == "silu"

    def new_cache(self):
        return [{"k": np.zeros((self.KV, 0, self.hd)), "v": np.zeros((self.KV, 0, self.hd))}
                for _ in range(self.L)]

    def rms_norm(self, x, w):
        # LlamaRMSNorm.forward:
        #   variance = hidden_states.pow(2).mean(-1, keepdim=True)
        #   hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        #   return self.weight * hidden_states.to(input_dtype)
        var = np.mean(x * x, axis=-1, keepdims=True)
        return w * (x / np.sqrt(var + self.eps))

    def linear(self, x, name, bias=False):
        # nn.Linear: y = x @ W.T (+ b); W has shape [out, in]
        y = x @ self.W[name + ".weight"].T
        if bias:
            y = y + self.W[name + ".bias"]
        return y

    def attention(self, i, x, positions, cache):
        p = f"model.layers.{i}.self_attn."
        n = x.shape[0]
        bias = self.cfg["model_type"] == "qwen2" or self.cfg.get("attention_bias", False)
        # query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)   (same for k, v)
        q = self.linear(x, p + "q_proj", bias).reshape(n, self.H, self.hd).transpose(1, 0, 2)
        k = self.linear(x, p + "k_proj", bias).reshape(n, self.KV, self.hd).transpose(1, 0, 2)
        v = self.linear(x, p + "v_proj", bias).reshape(n, self.KV, self.hd).transpose(1, 0, 2)
        # query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)
        cos, sin = rope_cos_sin(positions, self.inv_freq)
        q = apply_rope_rotate_half(q, cos, sin)
        k = apply_rope_rotate_half(k, cos, sin)
        # key_states, value_states = past_key_value.update(key_states, value_states, self.layer_idx, ...)
        cache["k"] = np.concatenate([cache["k"], k], axis=1)
        cache["v"] = np.concatenate([cache["v"], v], axis=1)
        K, V = cache["k"], cache["v"]
        T = K.shape[1]  # keys at positions 0..T-1
        qpos = np.asarray(positions)[:, None]
        kpos = np.arange(T)[None, :]
        allowed = kpos <= qpos                      # causal_mask_function: kv_idx <= q_idx
        if self.window is not None:
            allowed &= kpos > qpos - self.window    # sliding_window_overlay: kv_idx > q_idx - sliding_window
        group = self.H // self.KV
        scaling = self.hd ** -0.5                   # self.scaling = self.head_dim**-0.5
        out = np.empty((self.H, n, self.hd))
        for h in range(self.H):
            g = h // group  # repeat_kv: query head h reads kv head h // n_rep
            # attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
            s = (q[h] @ K[g].T) * scaling
            # attn_weights = attn_weights + causal_mask
            s = np.where(allowed, s, -np.inf)
            # attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32)
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            pr = e / e.sum(axis=-1, keepdims=True)
            # attn_output = torch.matmul(attn_weights, value_states)
            out[h] = pr @ V[g]
        # attn_output = attn_output.transpose(1, 2).contiguous(); .reshape(*input_shape, -1)
        o = out.transpose(1, 0, 2).reshape(n, self.H * self.hd)
        # attn_output = self.o_proj(attn_output)
        return self.linear(o, p + "o_proj")

    def mlp(self, i, x):
        # LlamaMLP: down_proj = self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))
        p = f"model.layers.{i}.mlp."
        g = self.linear(x, p + "gate_proj")
        u = self.linear(x, p + "up_proj")
        silu = g / (1.0 + np.exp(-g))
        return self.linear(silu * u, p + "down_proj")

    def forward(self, ids, cache):
        """Feed `ids` at positions len(cache)..; returns logits [len(ids), vocab]."""
        start = cache[0]["k"].shape[1]
        positions = np.arange(start, start + len(ids))
        # inputs_embeds = self.embed_tokens(input_ids)
        h = self.embed[np.asarray(ids)]
        for i in range(self.L):
            p = f"model.layers.{i}."
            # residual = hidden_states; hidden_states = self.input_layernorm(hidden_states)
            # hidden_states, _ = self.self_attn(...); hidden_states = residual + hidden_states
            h = h + self.attention(i, self.rms_norm(h, self.W[p + "input_layernorm.weight"]),
                                   positions, cache[i])
            # residual = hidden_states; hidden_states = self.post_attention_layernorm(hidden_states)
            # hidden_states = self.mlp(hidden_states); hidden_states = residual + hidden_states
            h = h + self.mlp(i, self.rms_norm(h, self.W[p + "post_attention_layernorm.weight"]))
        # hidden_states = self.norm(hidden_states)
        h = self.rms_norm(h, self.W["model.norm.weight"])
        # logits = self.lm_head(hidden_states[:, slice_indices, :])
        return h @ self.lm_head.T

    def generate(self, prompt, n_new):
        """Prompt in one chunk, then greedy decode one token at a time with the KV cache."""
        cache = self.new_cache()
        prompt_logits = self.forward(prompt, cache)
        ids, rows = [], []
        nxt = int(np.argmax(prompt_logits[-1]))
        for _ in range(n_new):
            ids.append(nxt)
            row = self.forward([nxt], cache)[0]
            rows.append(row)
            nxt = int(np.argmax(row))
        return prompt_logits, ids, np.array(rows)


# --------------------------------------------------------------------------------------------
# Second code path for the self-check: a literal torch float64 transcription of HF's eager
# modeling code (batched 4D tensors, repeat_kv, additive finfo.min mask), no KV cache.
# --------------------------------------------------------------------------------------------

def torch_hf_literal_logits(cfg, W, ids):
    import torch
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in W.items()}
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = head_dim_of(cfg)
    eps = cfg["rms_norm_eps"]
    window = sliding_window_of(cfg)
    bias = cfg["model_type"] == "qwen2"
    embed = t.get("model.embed_tokens.weight", t.get("lm_head.weight"))
    head = embed if cfg.get("tie_word_embeddings") else t["lm_head.weight"]

    def rms(x, w):
        variance = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(variance + eps))

    def lin(x, name, b=False):
        return torch.nn.functional.linear(x, t[name + ".weight"], t[name + ".bias"] if b else None)

    def rot(x):
        x1 = x[..., : x.shape[-1] // 2]
        x2 = x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def repeat_kv(x, n_rep):
        b, kvh, s, d = x.shape
        return x[:, :, None, :, :].expand(b, kvh, n_rep, s, d).reshape(b, kvh * n_rep, s, d)

    input_ids = torch.tensor([ids])
    S = len(ids)
    inv_freq = torch.from_numpy(rope_inv_freq(hd, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling")))
    position_ids = torch.arange(S, dtype=torch.float64)[None, :]
    freqs = (inv_freq[None, :, None] @ position_ids[:, None, :]).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    q_idx = torch.arange(S)[:, None]
    kv_idx = torch.arange(S)[None, :]
    ok = kv_idx <= q_idx
    if window is not None:
        ok = ok & (kv_idx > q_idx - window)
    mask = torch.zeros(S, S, dtype=torch.float64).masked_fill(~ok, torch.finfo(torch.float64).min)
    h = torch.nn.functional.embedding(input_ids, embed)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        residual = h
        x = rms(h, t[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj", bias).view(1, S, -1, hd).transpose(1, 2)
        k = lin(x, p + "self_attn.k_proj", bias).view(1, S, -1, hd).transpose(1, 2)
        v = lin(x, p + "self_attn.v_proj", bias).view(1, S, -1, hd).transpose(1, 2)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = repeat_kv(k, H // KV)
        v = repeat_kv(v, H // KV)
        w = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + mask
        w = torch.nn.functional.softmax(w, dim=-1)
        a = torch.matmul(w, v).transpose(1, 2).contiguous().reshape(1, S, -1)
        h = residual + lin(a, p + "self_attn.o_proj")
        residual = h
        x = rms(h, t[p + "post_attention_layernorm.weight"])
        x = lin(torch.nn.functional.silu(lin(x, p + "mlp.gate_proj")) * lin(x, p + "mlp.up_proj"),
                p + "mlp.down_proj")
        h = residual + x
    h = rms(h, t["model.norm.weight"])
    return (h @ head.T)[0].numpy()


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

def make_config(c):
    """config.json as transformers' save_pretrained writes it for each model_type."""
    mt = c["model_type"]
    arch = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[mt]
    cfg = {
        "architectures": [arch],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": c.get("eos_token_id", 2),
        "hidden_act": "silu",
        "hidden_size": c["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": c["inter"],
        "max_position_embeddings": c.get("max_pos", 128),
        "model_type": mt,
        "num_attention_heads": c["heads"],
        "num_hidden_layers": c["layers"],
        "num_key_value_heads": c["kv_heads"],
        "rms_norm_eps": c.get("eps", 1e-05),
        "rope_theta": float(c.get("theta", 10000.0)),
        "tie_word_embeddings": c["tied"],
        "torch_dtype": {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[c.get("dtype", "F32")],
        "transformers_version": TRANSFORMERS_VERSION,
        "use_cache": True,
        "vocab_size": c["vocab"],
    }
    if "head_dim" in c:
        cfg["head_dim"] = c["head_dim"]
    if mt == "llama":
        cfg.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1,
                    "rope_scaling": c.get("rope_scaling")})
    elif mt == "mistral":
        cfg["sliding_window"] = c["sliding_window"]
    elif mt == "qwen2":
        cfg.update({"max_window_layers": c["layers"], "rope_scaling": None,
                    "sliding_window": c.get("sliding_window", 32768), "use_sliding_window": False})
    return cfg


LLAMA3_SCALING = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 16, "rope_type": "llama3", "type": "llama3"}

CASES = [
    dict(name="mha_h200", seed=101, model_type="llama", vocab=64, hidden=200, heads=5, kv_heads=5,
         inter=136, layers=2, tied=False,
         about="MHA, hidden 200 / 5 heads (head_dim 40), intermediate 136: sizes off the SIMD grid"),
    dict(name="gqa_tied", seed=102, model_type="llama", vocab=64, hidden=64, heads=8, kv_heads=2,
         inter=56, layers=3, tied=True, gen_eos=[2, 3],
         about="GQA 8 query / 2 KV heads (head_dim 8), 3 layers, tied embeddings (no lm_head tensor); "
               "generation_config.json has eos_token_id as a list"),
    dict(name="mqa", seed=103, model_type="llama", vocab=64, hidden=96, heads=6, kv_heads=1,
         inter=56, layers=2, tied=False,
         about="MQA: 6 query heads share one KV head (head_dim 16)"),
    dict(name="qwen2_bias", seed=104, model_type="qwen2", vocab=64, hidden=64, heads=4, kv_heads=2,
         inter=72, layers=2, tied=True, eps=1e-06, theta=1000000.0,
         about="Qwen2: q/k/v biases, tied, GQA 4/2; sliding_window 32768 with use_sliding_window false "
               "(window must be ignored)"),
    dict(name="mistral_window", seed=105, model_type="mistral", vocab=64, hidden=64, heads=4,
         kv_heads=2, head_dim=24, inter=72, layers=2, tied=False, sliding_window=6,
         about="Mistral: sliding_window 6 (query i sees keys i-5..i) over a 30-token run; explicit "
               "head_dim 24 with 4 heads != hidden 64 (q_proj [96,64], o_proj [64,96])"),
    dict(name="llama3_rope", seed=106, model_type="llama", vocab=64, hidden=64, heads=4, kv_heads=4,
         head_dim=16, inter=72, layers=2, tied=False, theta=500000.0, rope_scaling=LLAMA3_SCALING,
         eos_token_id=[2, 3], gen_eos=[2, 3],
         about="rope_theta 500000 with llama3 rope_scaling (factor 8, low 1, high 4, original context "
               "16): frequency 0 is interpolated, the others divided by 8; eos_token_id lists"),
    dict(name="bf16_weights", seed=107, model_type="llama", vocab=64, hidden=64, heads=4, kv_heads=2,
         inter=80, layers=2, tied=False, dtype="BF16",
         about="GQA 4/2 stored as BF16 (round-to-nearest-even); reference uses the stored values"),
    dict(name="f16_weights", seed=108, model_type="llama", vocab=64, hidden=64, heads=4, kv_heads=2,
         inter=80, layers=2, tied=False, dtype="F16",
         about="GQA 4/2 stored as F16; reference uses the stored values"),
    dict(name="sharded", seed=109, model_type="llama", vocab=64, hidden=48, heads=4, kv_heads=2,
         inter=64, layers=2, tied=False, shards=2,
         about="checkpoint split over model-00001-of-00002 / model-00002-of-00002.safetensors with "
               "model.safetensors.index.json"),
]


def tensor_names_shapes(c, cfg):
    hd = head_dim_of(cfg)
    d, H, KV, I, V = c["hidden"], c["heads"], c["kv_heads"], c["inter"], c["vocab"]
    out = [("model.embed_tokens.weight", (V, d))]
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        out += [(p + "input_layernorm.weight", (d,)),
                (p + "self_attn.q_proj.weight", (H * hd, d)),
                (p + "self_attn.k_proj.weight", (KV * hd, d)),
                (p + "self_attn.v_proj.weight", (KV * hd, d)),
                (p + "self_attn.o_proj.weight", (d, H * hd))]
        if c["model_type"] == "qwen2":
            out += [(p + "self_attn.q_proj.bias", (H * hd,)),
                    (p + "self_attn.k_proj.bias", (KV * hd,)),
                    (p + "self_attn.v_proj.bias", (KV * hd,))]
        out += [(p + "post_attention_layernorm.weight", (d,)),
                (p + "mlp.gate_proj.weight", (I, d)),
                (p + "mlp.up_proj.weight", (I, d)),
                (p + "mlp.down_proj.weight", (d, I))]
    out.append(("model.norm.weight", (d,)))
    if not c["tied"]:
        out.append(("lm_head.weight", (V, d)))
    return out


def init_weights(c, cfg):
    """float64 weights with scales chosen so attention is peaked and logits are O(1..10)."""
    rng = np.random.default_rng(c["seed"])
    hd = head_dim_of(cfg)
    d, H, I = c["hidden"], c["heads"], c["inter"]
    # With tied embeddings the token's own embedding, carried by the residual stream, gives it a
    # large logit and random models repeat one token; larger block outputs drown that out.
    out_scale = 1.6 if c["tied"] else 0.7
    W = {}
    for name, shape in tensor_names_shapes(c, cfg):
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            w = 1.0 + rng.normal(0.0, 0.1, shape)
        elif name == "model.embed_tokens.weight":
            w = rng.normal(0.0, 3.0 / math.sqrt(d) if c["tied"] else 1.0, shape)
        elif name == "lm_head.weight":
            w = rng.normal(0.0, 3.0 / math.sqrt(d), shape)
        elif name.endswith(".bias"):
            w = rng.normal(0.0, 0.5, shape)
        elif "q_proj" in name or "k_proj" in name:
            w = rng.normal(0.0, 1.3 / math.sqrt(d), shape)
        elif "v_proj" in name or "gate_proj" in name or "up_proj" in name:
            w = rng.normal(0.0, 1.0 / math.sqrt(d), shape)
        elif "o_proj" in name:
            w = rng.normal(0.0, out_scale / math.sqrt(H * hd), shape)
        elif "down_proj" in name:
            w = rng.normal(0.0, out_scale / math.sqrt(I), shape)
        else:
            raise AssertionError(name)
        W[name] = w
    return W


def fmt_row(xs):
    return "[" + ",".join(format(float(x), ".9g") for x in xs) + "]"


def write_expected(path, case, prompt, prompt_logits, decode_ids, decode_logits):
    lines = ["{"]
    lines.append(' "case": ' + json.dumps(case["name"]) + ",")
    lines.append(' "about": ' + json.dumps(case["about"]) + ",")
    lines.append(' "definition": ' + json.dumps(
        "Positions start at 0. prompt_logits[p] = logits at position p after feeding prompt_ids[0..p] "
        "(distribution of the token at p+1). decode_ids[0] = argmax(prompt_logits[-1]); "
        "decode_logits[k] = logits at position len(prompt_ids)+k, where decode_ids[k] is the input "
        "token (after the prompt and decode_ids[0..k-1]); decode_ids[k+1] = argmax(decode_logits[k]). "
        "Greedy, no EOS stopping. float64 reference, 9 significant digits.") + ",")
    lines.append(' "min_greedy_margin": ' + format(case["_margin"], ".6g") + ",")
    lines.append(' "prompt_ids": ' + json.dumps([int(i) for i in prompt]) + ",")
    lines.append(' "prompt_logits": [')
    lines.append(",\n".join("  " + fmt_row(r) for r in prompt_logits))
    lines.append(" ],")
    lines.append(' "decode_ids": ' + json.dumps([int(i) for i in decode_ids]) + ",")
    lines.append(' "decode_logits": [')
    lines.append(",\n".join("  " + fmt_row(r) for r in decode_logits))
    lines.append(" ]")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def dump_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def greedy_margins(prompt_logits, decode_logits):
    rows = [prompt_logits[-1]] + list(decode_logits[:-1])
    m = []
    for r in rows:
        top = np.sort(r)[-2:]
        m.append(top[1] - top[0])
    return min(m)


def build_case(c, out_root, verbose=True):
    cfg = make_config(c)
    dtype = c.get("dtype", "F32")
    W64 = init_weights(c, cfg)
    names = [n for n, _ in tensor_names_shapes(c, cfg)]
    storage, W = {}, {}
    for n in names:
        storage[n], W[n] = to_storage(W64[n], dtype)
    model = Reference(cfg, W)

    eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], list) else [cfg["eos_token_id"]]
    eos = set(eos) | set(c.get("gen_eos", []))
    for attempt in range(1000):
        rng = np.random.default_rng([c["seed"], 7, attempt])
        body = [int(x) for x in rng.integers(3, c["vocab"], N_PROMPT - 1)]
        prompt = [cfg["bos_token_id"]] + body
        pl, ids, dl = model.generate(prompt, N_DECODE)
        margin = greedy_margins(pl, dl)
        if margin >= MIN_MARGIN and not (set(ids) & eos) and len(set(ids)) >= MIN_DISTINCT:
            break
    else:
        raise RuntimeError(f"{c['name']}: no prompt with a clear greedy path")
    c["_margin"] = float(margin)

    d = os.path.join(out_root, c["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    dump_json(os.path.join(d, "config.json"), cfg)
    if "gen_eos" in c:
        dump_json(os.path.join(d, "generation_config.json"),
                  {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": c["gen_eos"],
                   "transformers_version": TRANSFORMERS_VERSION})
    items = [(n, dtype, storage[n]) for n in names]
    if c.get("shards", 1) == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), items)
    else:
        k = c["shards"]
        # split on layer boundaries: embeddings + first half of the layers | the rest
        cut = next(j for j, (n, _, _) in enumerate(items)
                   if n.startswith(f"model.layers.{c['layers'] // 2}."))
        parts = [items[:cut], items[cut:]]
        assert k == 2
        weight_map, total = {}, 0
        for j, part in enumerate(parts):
            fname = f"model-{j + 1:05d}-of-{k:05d}.safetensors"
            total += write_safetensors(os.path.join(d, fname), part)
            for n, _, _ in part:
                weight_map[n] = fname
        dump_json(os.path.join(d, "model.safetensors.index.json"),
                  {"metadata": {"total_size": total}, "weight_map": weight_map})
    write_expected(os.path.join(d, "expected.json"), c, prompt, pl, ids, dl)
    if verbose:
        allr = np.concatenate([pl, dl])
        print(f"{c['name']:15s} attempt {attempt:3d}  |logits| max {np.abs(allr).max():6.2f} "
              f"std {allr.std():5.2f}  min greedy margin {margin:.4f}  decode {ids}")
    return cfg, W, prompt, pl, ids, dl


# --------------------------------------------------------------------------------------------
# RoPE fixture
# --------------------------------------------------------------------------------------------

ROPE_CASES = [
    dict(name="hd8_theta1e4", head_dim=8, theta=10000.0, scaling=None, positions=[0, 1, 2, 5, 17, 63]),
    dict(name="hd64_theta1e4", head_dim=64, theta=10000.0, scaling=None,
         positions=[0, 1, 7, 31, 100, 255, 511]),
    dict(name="hd40_theta5e5", head_dim=40, theta=500000.0, scaling=None, positions=[0, 3, 19, 200]),
    dict(name="hd32_llama3", head_dim=32, theta=10000.0,
         scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 64, "rope_type": "llama3", "type": "llama3"},
         positions=[0, 1, 10, 63, 64, 300],
         about="original context 64 -> wavelen < 16 kept (i=0,1), 16..64 interpolated (i=2..4), "
               "> 64 divided by factor (i>=5)"),
    dict(name="hd128_llama31", head_dim=128, theta=500000.0,
         scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         positions=[0, 1, 42, 511],
         about="Llama 3.1 parameters"),
]


def make_rope_fixture(path):
    rng = np.random.default_rng(2024)
    cases = []
    for rc in ROPE_CASES:
        hd = rc["head_dim"]
        inv = rope_inv_freq(hd, rc["theta"], rc["scaling"])
        pos = np.array(rc["positions"])
        x = rng.normal(0.0, 1.0, (len(pos), hd))
        cos, sin = rope_cos_sin(pos, inv)
        rh = apply_rope_rotate_half(x, cos, sin)
        il = apply_rope_interleaved(x, pos, inv)
        # the two layouts are the same rotation on permuted coordinates
        perm = np.concatenate([np.arange(0, hd, 2), np.arange(1, hd, 2)])
        assert np.allclose(apply_rope_rotate_half(x[:, perm], cos, sin), il[:, perm], atol=1e-13)
        cases.append({
            "name": rc["name"], "about": rc.get("about", ""), "head_dim": hd, "rope_theta": rc["theta"],
            "rope_scaling": rc["scaling"], "positions": [int(p) for p in pos],
            "inv_freq": [float(format(v, ".17g")) for v in inv],
            "input": [[float(format(v, ".9g")) for v in r] for r in x],
            "rotate_half": [[float(format(v, ".9g")) for v in r] for r in rh],
            "interleaved": [[float(format(v, ".9g")) for v in r] for r in il],
        })
    # outputs were computed from the unrounded inputs; recompute from the written (rounded) inputs
    # so that a consumer reading `input` reproduces the expected values to float64 precision
    for cj, rc in zip(cases, ROPE_CASES):
        inv = rope_inv_freq(rc["head_dim"], rc["theta"], rc["scaling"])
        pos = np.array(rc["positions"])
        x = np.array(cj["input"])
        cos, sin = rope_cos_sin(pos, inv)
        cj["rotate_half"] = [[float(format(v, ".9g")) for v in r] for r in apply_rope_rotate_half(x, cos, sin)]
        cj["interleaved"] = [[float(format(v, ".9g")) for v in r] for r in apply_rope_interleaved(x, pos, inv)]
    doc = {
        "description": (
            "RoPE reference (float64). For each case and each positions[p], input[p] is one head "
            "vector of head_dim values. inv_freq[i] = rope_theta^(-2i/head_dim) for i < head_dim/2, "
            "then llama3 scaling when rope_scaling is set (transformers _compute_llama3_parameters). "
            "rotate_half (HF layout): out = x*cos + rotate_half(x)*sin with cos/sin of "
            "pos*inv_freq duplicated to head_dim and rotate_half(x) = cat(-x[d/2:], x[:d/2]); i.e. "
            "pairs (x[i], x[i+d/2]) rotate by pos*inv_freq[i]. interleaved (GPT-J / Meta layout): "
            "pairs (x[2i], x[2i+1]) rotate by pos*inv_freq[i]: out[2i] = x[2i]cos - x[2i+1]sin, "
            "out[2i+1] = x[2i]sin + x[2i+1]cos."),
        "generator": "tests/reference/make_llama_fixtures.py",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps(doc, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------------------------

def self_check(cfg, W, prompt, pl, ids, dl, name):
    """(a) KV-cache incremental decode == full recompute of all 30 positions (same code),
    (b) == a literal torch float64 transcription of HF's eager forward (second code path)."""
    model = Reference(cfg, W)
    seq = list(prompt) + list(ids)
    full = model.forward(seq, model.new_cache())
    inc = np.concatenate([pl, dl])
    d1 = np.abs(full - inc).max()
    # token-by-token from the start as well
    cache = model.new_cache()
    one = np.concatenate([model.forward([t], cache) for t in seq])
    d2 = np.abs(one - inc).max()
    tl = torch_hf_literal_logits(cfg, W, seq)
    d3 = np.abs(tl - inc).max()
    ok = max(d1, d2, d3) < 1e-9
    print(f"  check {name:15s} cache-vs-full {d1:.2e}  one-by-one {d2:.2e}  torch-HF-literal {d3:.2e}"
          f"  {'OK' if ok else 'FAIL'}")
    return ok


def check_bf16_against_torch():
    import torch
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 1, 100000).astype(np.float32),
                        # exact ties: low 16 bits 0x8000 with even and odd bit 16
                        (np.arange(1000, dtype=np.uint32) << 16 | 0x8000).view(np.float32)])
    ours = round_to_bf16_bits(x)
    theirs = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    ok = np.array_equal(ours, theirs)
    print(f"  check bf16 rounding vs torch: {'OK' if ok else 'FAIL'}")
    return ok


def check_golden():
    mdir = os.path.join(SHARED, "models", "tinystories-656k")
    with open(os.path.join(mdir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(SHARED, "golden", "tinystories-656k.json")) as f:
        gold = json.load(f)
    W = read_safetensors(os.path.join(mdir, "model.safetensors"))
    model = Reference(cfg, W)
    prompt = [1, 80, 147, 201, 282, 57]
    assert gold["prompt_ids"] == prompt
    pl, ids, _ = model.generate(prompt, len(gold["greedy_40"]))
    diff = np.abs(pl[-1] - np.array(gold["last_position_logits"])).max()
    ok = diff <= 1e-6 and ids == gold["greedy_40"]
    print(f"golden tinystories-656k: max |logit - golden| = {diff:.3e} (golden has 6 decimals); "
          f"greedy_40 {'matches' if ids == gold['greedy_40'] else 'DIFFERS'}  {'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-golden", action="store_true",
                    help="also check the reference against ../shared/golden/tinystories-656k.json")
    ap.add_argument("--no-self-check", action="store_true", help="skip the torch/KV-cache self-checks")
    ap.add_argument("--out", default=FIXTURES, help="fixtures root (default tests/fixtures)")
    args = ap.parse_args()

    ok = True
    llama_root = os.path.join(args.out, "llama")
    os.makedirs(llama_root, exist_ok=True)
    built = []
    for c in CASES:
        c = dict(c)
        built.append((c["name"],) + build_case(c, llama_root))
    make_rope_fixture(os.path.join(args.out, "rope", "cases.json"))
    print("wrote", os.path.join(args.out, "rope", "cases.json"))

    if not args.no_self_check:
        for name, cfg, W, prompt, pl, ids, dl in built:
            # re-read what was written, so the check also covers the safetensors round trip
            d = os.path.join(llama_root, name)
            Wr = {}
            for f in sorted(os.listdir(d)):
                if f.endswith(".safetensors"):
                    Wr.update(read_safetensors(os.path.join(d, f)))
            same = set(Wr) == set(W) and all(np.array_equal(Wr[k], W[k]) for k in W)
            if not same:
                print(f"  check {name}: safetensors round trip FAIL")
                ok = False
            ok &= self_check(cfg, Wr, prompt, pl, ids, dl, name)
        ok &= check_bf16_against_torch()
    if args.check_golden:
        ok &= check_golden()
    if not ok:
        print("SELF-CHECK FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
