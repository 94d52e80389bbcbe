#!/usr/bin/python3
"""Independent float64 (numpy-only) reference for BERT-family encoders and GPT-2.

Written from the math of Hugging Face transformers' BertModel / BertForSequenceClassification /
GPT2LMHeadModel (eager attention, eval mode: every dropout is the identity) and
sentence-transformers' Pooling / Normalize modules. It shares no code with strata and needs
nothing but numpy. Weights are dicts {tensor name: float64 ndarray} with Hugging Face names;
`read_safetensors` loads a checkpoint into that form.

BERT (post-norm), per sequence of T tokens, H = hidden_size, nh heads, hd = H / nh:
    x  = LN_emb(word[ids] + position[0..T-1] + token_type[type_ids])
    per layer:
        q, k, v = x @ W{q,k,v}^T + b{q,k,v}             (nn.Linear: W is [out, in])
        per head: P = softmax(q_h k_h^T / sqrt(hd) + mask), ctx_h = P v_h
        x = LN_attn(x + concat_h(ctx_h) @ Wo^T + bo)     (attention.output.{dense,LayerNorm})
        x = LN_out(x + gelu(x @ Wi^T + bi) @ Wd^T + bd)  (intermediate.dense, output.{dense,LayerNorm})
    pooler_output = tanh(x[0] @ Wp^T + bp);  logits = pooler_output @ Wc^T + bc
    gelu = exact erf form (hidden_act "gelu"); LN(x) = (x - mean) / sqrt(var + eps) * w + b,
    var the biased variance over the last dim, eps = layer_norm_eps.

GPT-2 (pre-norm), Conv1D weights are [in, out] and y = x @ W + b:
    h = wte[ids] + wpe[0..T-1]
    per block: a = ln_1(h); q|k|v = split(a @ c_attn.W + c_attn.b, H, last dim)
               h += concat_h(causal_softmax(q_h k_h^T / sqrt(hd)) v_h) @ c_proj.W + c_proj.b
               h += gelu_new(ln_2(h) @ c_fc.W + c_fc.b) @ mlp.c_proj.W + mlp.c_proj.b
    logits = ln_f(h) @ wte^T  (tied; lm_head.weight used instead if present)
    gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
"""

import json
import math
import struct

import numpy as np

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


# --------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------

def read_safetensors(path, keep_ints=False):
    """-> {name: float64 ndarray} (integer tensors are skipped unless keep_ints)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        assert base + e <= len(data), name
        raw = data[base + b:base + e]
        if info["dtype"] == "BF16":  # the high half of a float32
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]])
        arr = arr.reshape(info["shape"])
        if info["dtype"].startswith("I"):
            if keep_ints:
                out[name] = arr.copy()
            continue
        out[name] = arr.astype(np.float64)
    return out


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    """hidden_act "gelu" (torch.nn.functional.gelu, approximate='none')."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_new(x):
    """activation_function "gelu_new" (tanh approximation, transformers.activations.NewGELU)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * np.power(x, 3.0))))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, W, b):
    """nn.Linear: W [out, in]."""
    return x @ W.T + b


def conv1d(x, W, b):
    """transformers.pytorch_utils.Conv1D: W [in, out]."""
    return x @ W + b


def softmax(s, axis=-1):
    m = s.max(axis=axis, keepdims=True)
    e = np.exp(s - m)
    return e / e.sum(axis=axis, keepdims=True)


def _act(name):
    if name == "gelu":
        return gelu_erf
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return gelu_new
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    raise ValueError("unsupported activation %r" % name)


# --------------------------------------------------------------------------------------------
# BERT
# --------------------------------------------------------------------------------------------

def _bert_embeddings(w, cfg, ids, types, p):
    T = ids.shape[-1]
    assert T <= cfg["max_position_embeddings"]
    x = (w[p + "embeddings.word_embeddings.weight"][ids]
         + w[p + "embeddings.position_embeddings.weight"][np.arange(T)]
         + w[p + "embeddings.token_type_embeddings.weight"][types])
    return layer_norm(x, w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"],
                      cfg["layer_norm_eps"])


def _bert_ffn_and_norms(w, cfg, L, x, ctx):
    """The parts of a layer after the attention context ([..., T, H] in, out)."""
    eps = cfg["layer_norm_eps"]
    act = _act(cfg["hidden_act"])
    a = linear(ctx, w[L + "attention.output.dense.weight"], w[L + "attention.output.dense.bias"])
    x = layer_norm(x + a, w[L + "attention.output.LayerNorm.weight"],
                   w[L + "attention.output.LayerNorm.bias"], eps)
    i = act(linear(x, w[L + "intermediate.dense.weight"], w[L + "intermediate.dense.bias"]))
    o = linear(i, w[L + "output.dense.weight"], w[L + "output.dense.bias"])
    return layer_norm(x + o, w[L + "output.LayerNorm.weight"], w[L + "output.LayerNorm.bias"], eps)


def bert_forward(weights, config, input_ids, token_type_ids=None, attention_mask=None, prefix=""):
    """One sequence: input_ids [T] -> last_hidden_state [T, H] (no padding, all keys real).

    A 2-D input_ids [B, T] (with attention_mask [B, T], 1 = real, 0 = padding) is handed to
    bert_forward_batch instead."""
    ids = np.asarray(input_ids, dtype=np.int64)
    if ids.ndim == 2:
        return bert_forward_batch(weights, config, ids, token_type_ids, attention_mask, prefix)
    assert attention_mask is None or np.all(np.asarray(attention_mask) == 1)
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids, np.int64)
    w, p = weights, prefix
    H, nh = config["hidden_size"], config["num_attention_heads"]
    hd = H // nh
    assert hd * nh == H
    x = _bert_embeddings(w, config, ids, types, p)
    for l in range(config["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (p, l)
        q = linear(x, w[L + "attention.self.query.weight"], w[L + "attention.self.query.bias"])
        k = linear(x, w[L + "attention.self.key.weight"], w[L + "attention.self.key.bias"])
        v = linear(x, w[L + "attention.self.value.weight"], w[L + "attention.self.value.bias"])
        ctx = np.empty_like(x)
        for h in range(nh):  # head h owns columns h*hd .. (h+1)*hd-1
            c = slice(h * hd, (h + 1) * hd)
            P = softmax(q[:, c] @ k[:, c].T / math.sqrt(hd))
            ctx[:, c] = P @ v[:, c]
        x = _bert_ffn_and_norms(w, config, L, x, ctx)
    return x


def bert_forward_batch(weights, config, input_ids, token_type_ids, attention_mask, prefix=""):
    """Padded batch: [B, T] ids / types / mask -> [B, T, H].

    As BertModel does, the mask is turned into an additive bias on the attention scores,
    (1 - mask) * finfo(dtype).min (HF uses torch.finfo(float32).min for float32; here the
    float64 minimum), so padded keys get probability exactly 0. Rows of padded *queries* are
    computed too (they are garbage in HF as well) and must be ignored by the caller."""
    w, p = weights, prefix
    ids = np.asarray(input_ids, dtype=np.int64)
    B, T = ids.shape
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids, np.int64)
    mask = np.ones((B, T)) if attention_mask is None else np.asarray(attention_mask, np.float64)
    H, nh = config["hidden_size"], config["num_attention_heads"]
    hd = H // nh
    bias = ((1.0 - mask) * np.finfo(np.float64).min)[:, None, None, :]  # [B, 1, 1, Tk]
    x = _bert_embeddings(w, config, ids, types, p)
    for l in range(config["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (p, l)

        def heads(t):  # [B, T, H] -> [B, nh, T, hd]
            return t.reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
        q = heads(linear(x, w[L + "attention.self.query.weight"], w[L + "attention.self.query.bias"]))
        k = heads(linear(x, w[L + "attention.self.key.weight"], w[L + "attention.self.key.bias"]))
        v = heads(linear(x, w[L + "attention.self.value.weight"], w[L + "attention.self.value.bias"]))
        s = np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(hd) + bias
        ctx = np.einsum("bhqk,bhkd->bhqd", softmax(s), v).transpose(0, 2, 1, 3).reshape(B, T, H)
        x = _bert_ffn_and_norms(w, config, L, x, ctx)
    return x


def bert_pooler(weights, last_hidden_state, prefix=""):
    """BertPooler: tanh(dense(h[0])). last_hidden_state [T, H] (or [B, T, H])."""
    h0 = np.asarray(last_hidden_state)[..., 0, :]
    return np.tanh(linear(h0, weights[prefix + "pooler.dense.weight"],
                          weights[prefix + "pooler.dense.bias"]))


def bert_classifier(weights, pooler_output):
    """BertForSequenceClassification head (dropout = identity): classifier(pooler_output)."""
    return linear(pooler_output, weights["classifier.weight"], weights["classifier.bias"])


# --------------------------------------------------------------------------------------------
# sentence-transformers pooling (Pooling / Normalize modules)
# --------------------------------------------------------------------------------------------

def _mask_for(h, mask):
    h = np.asarray(h, dtype=np.float64)
    if mask is None:
        mask = np.ones(h.shape[:-1])
    return h, np.asarray(mask, dtype=np.float64)[..., None]


def pool_mean(h, mask=None):
    """sum(h * mask) / clamp(sum(mask), min=1e-9) over tokens; h [T, H] or [B, T, H]."""
    h, m = _mask_for(h, mask)
    return (h * m).sum(axis=-2) / np.maximum(m.sum(axis=-2), 1e-9)


def pool_cls(h, mask=None):
    return np.asarray(h, dtype=np.float64)[..., 0, :]


def pool_max(h, mask=None):
    """Padding set to -1e9, then max over tokens (as sentence-transformers does)."""
    h, m = _mask_for(h, mask)
    return np.where(m == 0, -1e9, h).max(axis=-2)


def l2_normalize(x):
    """torch.nn.functional.normalize(p=2, dim=-1): x / max(||x||, 1e-12)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.sqrt((x * x).sum(axis=-1, keepdims=True)), 1e-12)


# --------------------------------------------------------------------------------------------
# GPT-2
# --------------------------------------------------------------------------------------------

def gpt2_forward(weights, config, input_ids, prefix=None):
    """input_ids [T] -> logits [T, vocab]; row t is the prediction for token t+1.

    prefix None: "transformer." if the checkpoint uses it (GPT2LMHeadModel.save_pretrained),
    else "" (OpenAI's published GPT2Model names)."""
    w = weights
    if prefix is None:
        prefix = "transformer." if "transformer.wte.weight" in w else ""
    p = prefix
    ids = np.asarray(input_ids, dtype=np.int64)
    T = ids.shape[0]
    H, nh = config["n_embd"], config["n_head"]
    hd = H // nh
    assert hd * nh == H and T <= config["n_positions"]
    eps = config["layer_norm_epsilon"]
    act = _act(config.get("activation_function", "gelu_new"))
    causal = np.tril(np.ones((T, T), dtype=bool))
    h = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][np.arange(T)]
    for l in range(config["n_layer"]):
        B = "%sh.%d." % (p, l)
        a = layer_norm(h, w[B + "ln_1.weight"], w[B + "ln_1.bias"], eps)
        qkv = conv1d(a, w[B + "attn.c_attn.weight"], w[B + "attn.c_attn.bias"])
        q, k, v = qkv[:, :H], qkv[:, H:2 * H], qkv[:, 2 * H:]
        ctx = np.empty((T, H))
        for hh in range(nh):
            c = slice(hh * hd, (hh + 1) * hd)
            s = q[:, c] @ k[:, c].T / math.sqrt(hd)
            s = np.where(causal, s, np.finfo(np.float64).min)
            ctx[:, c] = softmax(s) @ v[:, c]
        h = h + conv1d(ctx, w[B + "attn.c_proj.weight"], w[B + "attn.c_proj.bias"])
        m = layer_norm(h, w[B + "ln_2.weight"], w[B + "ln_2.bias"], eps)
        m = act(conv1d(m, w[B + "mlp.c_fc.weight"], w[B + "mlp.c_fc.bias"]))
        h = h + conv1d(m, w[B + "mlp.c_proj.weight"], w[B + "mlp.c_proj.bias"])
    h = layer_norm(h, w[p + "ln_f.weight"], w[p + "ln_f.bias"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w[p + "wte.weight"]
    return h @ head.T


def gpt2_greedy(weights, config, prompt, n_new, prefix=None):
    """Greedy argmax continuation, re-running the full forward on the growing sequence.
    -> (new ids, per-step top-1 minus top-2 logit margins)."""
    seq = [int(t) for t in prompt]
    new, margins = [], []
    for _ in range(n_new):
        row = gpt2_forward(weights, config, seq, prefix)[-1]
        order = np.argsort(-row, kind="stable")
        margins.append(float(row[order[0]] - row[order[1]]))
        new.append(int(order[0]))
        seq.append(int(order[0]))
    return new, margins
