#!/usr/bin/python3
"""Write tests/fixtures/encoders/<case>/: tiny random-weight BERT / sentence-transformers /
GPT-2 checkpoints in the Hugging Face layout, plus float64 reference outputs.

    /usr/bin/python3 tests/reference/make_encoder_fixtures.py

numpy only. The forward passes live in encoder_ref.py (an independent float64 transcription of
transformers' BertModel / BertForSequenceClassification / GPT2LMHeadModel and
sentence-transformers' Pooling / Normalize). Seeds are fixed and every file is written in a
fixed order with fixed formatting, so re-running rewrites byte-identical files.

Weights are drawn in float64 from numpy's default_rng(seed), rounded to float32 and stored as
F32; the reference reads the file back and computes in float64 from those float32 values.
Init: matrices and embeddings N(0, 0.2); LayerNorm weights 1 + N(0, 0.1); biases N(0, 0.1).

Self-checks (asserts) run on every generation:
  * BERT: the padded-batch forward (additive attention-mask bias, einsum over all heads) equals
    the per-sequence forward (per-head loop, no mask) on real tokens to < 1e-12, and so do the
    masked poolings;
  * GPT-2: logits of every prompt prefix equal the first rows of the full prompt's logits
    (causality) to < 1e-12; every greedy step has a top-1/top-2 logit margin > MIN_MARGIN.
"""

import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "encoders")
sys.path.insert(0, HERE)

import encoder_ref as ref  # noqa: E402

TRANSFORMERS_VERSION = "4.46.3"
MIN_MARGIN = 1e-3
N_GREEDY = 8
MIN_DISTINCT = 3  # greedy new tokens: at least this many different ids (random models loop)

# --------------------------------------------------------------------------------------------
# safetensors writer: u64 LE header length, JSON header (space padded to a multiple of 8),
# raw LE data. Tensors ordered as the safetensors library orders them (dtype with larger
# alignment first, then by name), header "__metadata__" first then tensors in data order.
# --------------------------------------------------------------------------------------------

_ST = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}
_RANK = {"I64": 0, "F32": 1}


def write_safetensors(path, tensors):
    """tensors: {name: (dtype string, ndarray)}."""
    order = sorted(tensors, key=lambda n: (_RANK[tensors[n][0]], n))
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name in order:
        dt, arr = tensors[name]
        b = np.ascontiguousarray(arr, dtype=_ST[dt]).tobytes()
        header[name] = {"dtype": dt, "shape": [int(s) for s in arr.shape],
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------------------------
# JSON: configs as transformers writes them (indent 2, sorted keys, trailing newline);
# reference files with one innermost list per line.
# --------------------------------------------------------------------------------------------

def write_config(path, cfg, sort_keys=True):
    with open(path, "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=sort_keys) + "\n")


def _fmt(x, ind=0):
    pad = " " * ind
    if isinstance(x, dict):
        items = ['%s "%s": %s' % (pad, k, _fmt(v, ind + 1).lstrip()) for k, v in x.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(x, list) and x and isinstance(x[0], (list, dict)):
        return pad + "[\n" + ",\n".join(_fmt(v, ind + 1) for v in x) + "\n" + pad + "]"
    return pad + json.dumps(x, separators=(",", ":"))


def write_reference(path, doc):
    with open(path, "w") as f:
        f.write(_fmt(doc) + "\n")


def fl(a):
    """float64 ndarray -> nested Python floats (json writes repr, round-trips exactly)."""
    return np.asarray(a, dtype=np.float64).tolist()


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

def init_weights(rng, specs):
    """specs: ordered list of (name, shape, kind); kind in mat/ln/bias/tril/pos_ids.
    -> {name: (dtype, ndarray)} with float32 floats."""
    out = {}
    for name, shape, kind in specs:
        if kind == "mat":
            a = (rng.standard_normal(shape) * 0.2).astype(np.float32)
        elif kind == "ln":
            a = (1.0 + rng.standard_normal(shape) * 0.1).astype(np.float32)
        elif kind == "bias":
            a = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        elif kind == "tril":
            n = shape[-1]
            a = np.tril(np.ones((n, n), dtype=np.float32)).reshape(shape)
        elif kind == "pos_ids":
            out[name] = ("I64", np.arange(shape[-1], dtype=np.int64).reshape(shape))
            continue
        else:
            raise ValueError(kind)
        out[name] = ("F32", a)
    return out


def bert_specs(c, p="", pooler=True, position_ids=False):
    H, I = c["hidden_size"], c["intermediate_size"]
    s = [(p + "embeddings.word_embeddings.weight", (c["vocab_size"], H), "mat"),
         (p + "embeddings.position_embeddings.weight", (c["max_position_embeddings"], H), "mat"),
         (p + "embeddings.token_type_embeddings.weight", (c["type_vocab_size"], H), "mat"),
         (p + "embeddings.LayerNorm.weight", (H,), "ln"),
         (p + "embeddings.LayerNorm.bias", (H,), "bias")]
    if position_ids:
        s.append((p + "embeddings.position_ids", (1, c["max_position_embeddings"]), "pos_ids"))
    for l in range(c["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (p, l)
        for m in ("query", "key", "value"):
            s += [(L + "attention.self.%s.weight" % m, (H, H), "mat"),
                  (L + "attention.self.%s.bias" % m, (H,), "bias")]
        s += [(L + "attention.output.dense.weight", (H, H), "mat"),
              (L + "attention.output.dense.bias", (H,), "bias"),
              (L + "attention.output.LayerNorm.weight", (H,), "ln"),
              (L + "attention.output.LayerNorm.bias", (H,), "bias"),
              (L + "intermediate.dense.weight", (I, H), "mat"),
              (L + "intermediate.dense.bias", (I,), "bias"),
              (L + "output.dense.weight", (H, I), "mat"),
              (L + "output.dense.bias", (H,), "bias"),
              (L + "output.LayerNorm.weight", (H,), "ln"),
              (L + "output.LayerNorm.bias", (H,), "bias")]
    if pooler:
        s += [(p + "pooler.dense.weight", (H, H), "mat"), (p + "pooler.dense.bias", (H,), "bias")]
    return s


def gpt2_specs(c, p="", attn_bias=False):
    H, N = c["n_embd"], c["n_positions"]
    I = c["n_inner"] or 4 * H
    s = [(p + "wte.weight", (c["vocab_size"], H), "mat"), (p + "wpe.weight", (N, H), "mat")]
    for l in range(c["n_layer"]):
        B = "%sh.%d." % (p, l)
        s += [(B + "ln_1.weight", (H,), "ln"), (B + "ln_1.bias", (H,), "bias")]
        if attn_bias:
            s.append((B + "attn.bias", (1, 1, N, N), "tril"))
        s += [(B + "attn.c_attn.weight", (H, 3 * H), "mat"),
              (B + "attn.c_attn.bias", (3 * H,), "bias"),
              (B + "attn.c_proj.weight", (H, H), "mat"),
              (B + "attn.c_proj.bias", (H,), "bias"),
              (B + "ln_2.weight", (H,), "ln"), (B + "ln_2.bias", (H,), "bias"),
              (B + "mlp.c_fc.weight", (H, I), "mat"), (B + "mlp.c_fc.bias", (I,), "bias"),
              (B + "mlp.c_proj.weight", (I, H), "mat"), (B + "mlp.c_proj.bias", (H,), "bias")]
    s += [(p + "ln_f.weight", (H,), "ln"), (p + "ln_f.bias", (H,), "bias")]
    return s


# --------------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------------

def bert_config(arch, vocab, hidden, heads, layers, inter, max_pos, **extra):
    c = {"architectures": [arch], "attention_probs_dropout_prob": 0.1,
         "classifier_dropout": None, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
         "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": inter,
         "layer_norm_eps": 1e-12, "max_position_embeddings": max_pos, "model_type": "bert",
         "num_attention_heads": heads, "num_hidden_layers": layers, "pad_token_id": 0,
         "position_embedding_type": "absolute", "torch_dtype": "float32",
         "transformers_version": TRANSFORMERS_VERSION, "type_vocab_size": 2,
         "use_cache": True, "vocab_size": vocab}
    c.update(extra)
    return c


def gpt2_config(vocab, n_embd, n_head, n_layer, n_pos, **extra):
    c = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
         "attn_pdrop": 0.1, "bos_token_id": vocab - 1, "embd_pdrop": 0.1,
         "eos_token_id": vocab - 1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
         "model_type": "gpt2", "n_ctx": n_pos, "n_embd": n_embd, "n_head": n_head,
         "n_inner": None, "n_layer": n_layer, "n_positions": n_pos,
         "reorder_and_upcast_attn": False, "resid_pdrop": 0.1,
         "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
         "summary_activation": None, "summary_first_dropout": 0.1,
         "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
         "tie_word_embeddings": True, "torch_dtype": "float32",
         "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "vocab_size": vocab}
    c.update(extra)
    return c


LABELS = ["negative", "neutral", "positive"]

CASES = [
    dict(name="bert-plain", kind="bert", seed=1101, prefix="", pooler=True, position_ids=True,
         config=bert_config("BertModel", 100, 32, 4, 2, 64, 40)),
    dict(name="bert-cls", kind="bert", seed=1202, prefix="bert.", pooler=True,
         position_ids=False, classifier=True,
         config=bert_config("BertForSequenceClassification", 100, 32, 4, 3, 64, 24,
                            id2label={str(i): n for i, n in enumerate(LABELS)},
                            label2id={n: i for i, n in enumerate(LABELS)},
                            problem_type="single_label_classification")),
    dict(name="minilm-st", kind="bert", seed=1303, prefix="", pooler=True, position_ids=False,
         sentence_transformers=True, max_seq_length=32,
         config=bert_config("BertModel", 120, 48, 12, 2, 192, 64)),
    dict(name="gpt2-plain", kind="gpt2", seed=2101, prefix="", attn_bias=True,
         config=gpt2_config(96, 32, 4, 2, 48,
                            task_specific_params={"text-generation": {"do_sample": True,
                                                                      "max_length": 50}})),
    dict(name="gpt2-prefixed", kind="gpt2", seed=2202, prefix="transformer.", attn_bias=False,
         config=gpt2_config(80, 24, 2, 3, 32)),
]


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------

def write_sentence_transformers(d, case):
    H = case["config"]["hidden_size"]
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]
    write_config(os.path.join(d, "modules.json"), modules, sort_keys=False)
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    write_config(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True}, sort_keys=False)
    write_config(os.path.join(d, "sentence_bert_config.json"),
                 {"max_seq_length": case["max_seq_length"], "do_lower_case": False},
                 sort_keys=False)
    # 2_Normalize/ holds no files in sentence-transformers, so it is not stored (git keeps no
    # empty dirs); modules.json still lists it.


def bert_case(case, w, rng):
    c, p = case["config"], case["prefix"]
    V, maxlen = c["vocab_size"], case.get("max_seq_length", c["max_position_embeddings"])
    batches_in = []
    ids = rng.integers(1, V, size=9)
    batches_in.append([(ids, np.zeros(9, dtype=np.int64))])
    seqs = []
    for T in (7, 1, maxlen, 3, 12):  # mixed order so the padding is not monotone
        ids = rng.integers(1, V, size=T)
        types = np.zeros(T, dtype=np.int64)
        if T in (7, maxlen):  # sentence-pair pattern 0..0 1..1
            types[T // 2 + 1:] = 1
        seqs.append((ids, types))
    batches_in.append(seqs)

    batches = []
    for seqs in batches_in:
        hs = [ref.bert_forward(w, c, ids, types, prefix=p) for ids, types in seqs]
        # padded batch (pad id 0, type 0, mask 0) must agree on real tokens
        B, Tm = len(seqs), max(len(s[0]) for s in seqs)
        bid = np.zeros((B, Tm), np.int64)
        btt = np.zeros((B, Tm), np.int64)
        bm = np.zeros((B, Tm), np.int64)
        for i, (ids, types) in enumerate(seqs):
            bid[i, :len(ids)], btt[i, :len(ids)], bm[i, :len(ids)] = ids, types, 1
        hb = ref.bert_forward(w, c, bid, btt, bm, prefix=p)
        for i, h in enumerate(hs):
            d = np.abs(hb[i, :len(h)] - h).max()
            assert d < 1e-12, (case["name"], i, d)
        for fn in (ref.pool_mean, ref.pool_max, ref.pool_cls):
            d = np.abs(fn(hb, bm) - np.stack([fn(h) for h in hs])).max()
            assert d < 1e-12, (case["name"], fn.__name__, d)
        d = np.abs(ref.bert_pooler(w, hb, p) - np.stack([ref.bert_pooler(w, h, p) for h in hs]))
        assert d.max() < 1e-12

        b = {"input_ids": [[int(t) for t in s[0]] for s in seqs],
             "token_type_ids": [[int(t) for t in s[1]] for s in seqs],
             "last_hidden_state": [fl(h) for h in hs],
             "pooled": {"mean": [fl(ref.pool_mean(h)) for h in hs],
                        "cls": [fl(ref.pool_cls(h)) for h in hs],
                        "max": [fl(ref.pool_max(h)) for h in hs],
                        "mean_normalized": [fl(ref.l2_normalize(ref.pool_mean(h))) for h in hs]}}
        if case.get("pooler"):
            pooled = [ref.bert_pooler(w, h, p) for h in hs]
            b["pooler_output"] = [fl(x) for x in pooled]
            if case.get("classifier"):
                b["logits"] = [fl(ref.bert_classifier(w, x)) for x in pooled]
        batches.append(b)
    return {"batches": batches}


def gpt2_case(case, w, rng):
    c = case["config"]
    V, N = c["vocab_size"], c["n_positions"]
    prompts = [rng.integers(0, V, size=T) for T in (1, 5, N)]
    logits = []
    for pr in prompts:
        lg = ref.gpt2_forward(w, c, pr)
        assert lg.shape == (len(pr), V)
        for t in (1, 2, len(pr) // 2 + 1):  # causality: a prefix's logits do not change
            if t <= len(pr):
                d = np.abs(ref.gpt2_forward(w, c, pr[:t]) - lg[:t]).max()
                assert d < 1e-12, (case["name"], t, d)
        logits.append(fl(lg))
    greedy = None
    for attempt in range(100):
        pr = [int(t) for t in rng.integers(0, V, size=6)]
        new, margins = ref.gpt2_greedy(w, c, pr, N_GREEDY)
        if (min(margins) > MIN_MARGIN and c["eos_token_id"] not in new
                and len(set(new)) >= MIN_DISTINCT):
            greedy = {"prompt": pr, "new_tokens": new, "min_margin": min(margins)}
            print("  %s: greedy prompt found on attempt %d, min margin %.4g, new %s"
                  % (case["name"], attempt + 1, min(margins), new))
            break
    assert greedy is not None, case["name"]
    return {"prompts": [[int(t) for t in pr] for pr in prompts], "logits": logits,
            "greedy": [greedy]}


def make_case(case):
    d = os.path.join(OUT, case["name"])
    os.makedirs(d, exist_ok=True)
    c = case["config"]
    rng = np.random.default_rng(case["seed"])
    if case["kind"] == "bert":
        specs = bert_specs(c, case["prefix"], case["pooler"], case["position_ids"])
        if case.get("classifier"):
            specs += [("classifier.weight", (len(LABELS), c["hidden_size"]), "mat"),
                      ("classifier.bias", (len(LABELS),), "bias")]
    else:
        specs = gpt2_specs(c, case["prefix"], case["attn_bias"])
    tensors = init_weights(rng, specs)
    st = os.path.join(d, "model.safetensors")
    write_safetensors(st, tensors)
    write_config(os.path.join(d, "config.json"), c)
    if case.get("sentence_transformers"):
        write_sentence_transformers(d, case)

    w = ref.read_safetensors(st)  # the reference runs on what was written
    ints = ref.read_safetensors(st, keep_ints=True)
    for name, (dt, arr) in tensors.items():
        got = ints[name] if dt == "I64" else w[name]
        assert got.shape == arr.shape and np.array_equal(got, arr.astype(got.dtype)), name

    data_rng = np.random.default_rng(case["seed"] + 50000)
    doc = bert_case(case, w, data_rng) if case["kind"] == "bert" else gpt2_case(case, w, data_rng)
    write_reference(os.path.join(d, "reference.json"), doc)

    total = 0
    for root, _, files in os.walk(d):
        for f in sorted(files):
            total += os.path.getsize(os.path.join(root, f))
    print("%-14s %8d bytes  (model.safetensors %d, reference.json %d)"
          % (case["name"], total, os.path.getsize(st),
             os.path.getsize(os.path.join(d, "reference.json"))))


def main():
    os.makedirs(OUT, exist_ok=True)
    for case in CASES:
        make_case(case)


if __name__ == "__main__":
    main()
