#!/usr/bin/python3
"""Export a BERT checkpoint in the Hugging Face layout to ONNX, for the ONNX Runtime peer benchmark.

    /usr/bin/python3 bench/onnx_peer/export_bert_onnx.py MODEL_DIR [--out MODEL_DIR/model.onnx]
                     [--no-token-type-ids] [--opset 17]

Needs Debian's python3-torch, python3-onnx and python3-numpy (no transformers: the model is a
small torch nn.Module written here from the semantics of transformers' BertModel, and
safetensors is parsed by hand). MODEL_DIR holds config.json and model.safetensors, e.g. a folder
written by strata's `make-model --model-type bert`; tensor names may carry a "bert." prefix.

The ONNX graph: inputs input_ids int64 [batch, seq], attention_mask int64 [batch, seq] (1 = real
token, 0 = padding) and, unless --no-token-type-ids, token_type_ids int64 [batch, seq]; output
sentence_embedding float32 [batch, hidden], the mean of the last hidden states over the
attention mask (sentence-transformers' Pooling, mean mode). batch and seq are dynamic.

Checks, each printed, any failure exits non-zero:
  * the torch module, in float64, against strata's own float64 reference
    (tests/reference/encoder_ref.py): single sequences (per-head loop, no mask), a padded batch
    (additive mask), non-zero token types; and the float32 module that is exported against the
    same reference: max abs error of the pooled output < 1e-4;
  * onnx.checker on the exported file;
  * writes OUT minus .onnx + ".check-ids.json" / ".check-expected.json": the check inputs and
    the float32 torch and float64 reference outputs, which `node ort_bench.mjs --check IDS EXP`
    compares with ONNX Runtime's output (python onnxruntime is not a Debian package).
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
sys.dont_write_bytecode = True  # leave no __pycache__ in tests/reference

import encoder_ref as ref  # noqa: E402

TOL = 1e-4
# torch 1.13's exporter warns about every constant it cannot shape-infer (finfo.min, sqrt(d)): noise
warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")


# --------------------------------------------------------------------------------------------
# safetensors: the float64 reference's reader (tests/reference/encoder_ref.py), cast to float32
# --------------------------------------------------------------------------------------------

def read_safetensors(path):
    """-> {name: float32 ndarray}: the reference's reader (F32, F16, BF16; integer tensors skipped)."""
    return {k: v.astype(np.float32) for k, v in ref.read_safetensors(path).items()}


# --------------------------------------------------------------------------------------------
# BertModel + mean pooling as a torch module; submodule names are the Hugging Face tensor names
# --------------------------------------------------------------------------------------------

def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def activation(name):
    if name == "gelu":
        return lambda x: nn.functional.gelu(x)  # exact erf form
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return gelu_tanh
    if name == "relu":
        return nn.functional.relu
    raise SystemExit("export_bert_onnx.py: unsupported hidden_act %r" % name)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, input_ids, token_type_ids):
        pos = torch.arange(input_ids.size(1), dtype=torch.int64, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) \
            + self.position_embeddings(pos)
        return self.LayerNorm(x)


class SelfAttention(nn.Module):  # BertSelfAttention, eager
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.hd = H // self.nh
        assert self.nh * self.hd == H, "hidden_size is not a multiple of num_attention_heads"
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)

    def heads(self, t):  # [B, T, H] -> [B, nh, T, hd]
        return t.view(t.size(0), t.size(1), self.nh, self.hd).permute(0, 2, 1, 3)

    def forward(self, x, mask_bias):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd) + mask_bias
        ctx = torch.matmul(nn.functional.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.nh * self.hd)


class DenseNorm(nn.Module):  # BertSelfOutput / BertOutput: LayerNorm(residual + dense(h))
    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        setattr(self, "self", SelfAttention(c))
        self.output = DenseNorm(c, c["hidden_size"])

    def forward(self, x, mask_bias):
        return self.output(getattr(self, "self")(x, mask_bias), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = activation(c.get("hidden_act", "gelu"))

    def forward(self, x):
        return self.act(self.dense(x))


class Layer(nn.Module):  # post-norm
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c["intermediate_size"])

    def forward(self, x, mask_bias):
        x = self.attention(x, mask_bias)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])


class BertMeanPooled(nn.Module):
    """BertModel's last_hidden_state, mean-pooled over the attention mask."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        m = attention_mask.to(x.dtype)
        # BertModel's extended attention mask: (1 - mask) * finfo(dtype).min on the keys.
        mask_bias = (1.0 - m[:, None, None, :]) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
        # sentence-transformers mean pooling: sum(h * mask) / clamp(sum(mask), min=1e-9)
        me = m.unsqueeze(-1)
        return (x * me).sum(dim=1) / torch.clamp(me.sum(dim=1), min=1e-9)


class NoTypes(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids, attention_mask)


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("layer_norm_eps", 1e-12)
    cfg.setdefault("hidden_act", "gelu")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("export_bert_onnx.py: position_embedding_type %r is not supported"
                         % cfg["position_embedding_type"])
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
    model = BertMeanPooled(cfg)
    wanted = model.state_dict()
    state = {}
    for name in wanted:
        if prefix + name not in tensors:
            raise SystemExit("export_bert_onnx.py: %s: tensor %s missing" % (model_dir, prefix + name))
        t = torch.from_numpy(tensors[prefix + name])
        if tuple(t.shape) != tuple(wanted[name].shape):
            raise SystemExit("export_bert_onnx.py: %s has shape %s, config says %s"
                             % (prefix + name, tuple(t.shape), tuple(wanted[name].shape)))
        state[name] = t
    model.load_state_dict(state, strict=True)
    model.eval()
    # The float64 reference reads the same (rounded to float32) values, as float64.
    ref_weights = {k: v.astype(np.float64) for k, v in tensors.items()}
    return cfg, model, ref_weights, prefix


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

def check_cases(cfg):
    """Inputs the torch module, the reference and ONNX Runtime all run: (name, ids, mask, types)."""
    rng = np.random.default_rng(11)
    V, TV = cfg["vocab_size"], cfg.get("type_vocab_size", 2)
    cases = []
    for T in (5, 16):  # single sequences, no padding, token types 0
        ids = rng.integers(5, V, size=(1, T))
        cases.append(("single T=%d" % T, ids, np.ones_like(ids), np.zeros_like(ids)))
    # a padded batch: lengths 16, 9, 3 padded to 16 (pad id 0), the second text a pair (types 0|1)
    lens = [16, 9, 3]
    ids = np.zeros((3, 16), np.int64)
    mask = np.zeros((3, 16), np.int64)
    types = np.zeros((3, 16), np.int64)
    for b, n in enumerate(lens):
        ids[b, :n] = rng.integers(5, V, size=n)
        mask[b, :n] = 1
    types[1, 5:9] = min(1, TV - 1)
    cases.append(("padded batch lengths 16,9,3, pair types", ids, mask, types))
    T = min(40, cfg["max_position_embeddings"])  # another sequence length: the seq axis is dynamic
    ids = rng.integers(5, V, size=(2, T))
    cases.append(("batch 2 x T=%d" % T, ids, np.ones_like(ids), np.zeros_like(ids)))
    return cases


def reference_pooled(w, cfg, prefix, ids, mask, types):
    """float64 reference: single sequences through the per-head loop, padded ones with the mask."""
    if np.all(mask == 1):
        return np.stack([ref.pool_mean(ref.bert_forward(w, cfg, ids[b], types[b], prefix=prefix))
                         for b in range(ids.shape[0])])
    h = ref.bert_forward_batch(w, cfg, ids, types, mask, prefix=prefix)
    return ref.pool_mean(h, mask)


def run_torch(model, ids, mask, types, dtype):
    with torch.no_grad():
        out = model.to(dtype)(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types))
    return out.double().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--out", help="ONNX file (default MODEL_DIR/model.onnx)")
    ap.add_argument("--no-token-type-ids", action="store_true",
                    help="no token_type_ids input (all types 0)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    out = args.out or os.path.join(args.model_dir, "model.onnx")
    stem = out[:-5] if out.endswith(".onnx") else out
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    t0 = time.time()
    cfg, model, w, prefix = load_model(args.model_dir)
    print("export_bert_onnx.py: %s: hidden %d, %d layers, %d heads, ffn %d, vocab %d, act %s, eps %g, "
          "prefix %r" % (args.model_dir, cfg["hidden_size"], cfg["num_hidden_layers"],
                         cfg["num_attention_heads"], cfg["intermediate_size"], cfg["vocab_size"],
                         cfg["hidden_act"], cfg["layer_norm_eps"], prefix))

    # ---- the torch module against strata's float64 reference ----
    cases = check_cases(cfg)
    if args.no_token_type_ids:
        cases = [c for c in cases if not np.any(c[3])]
    worst32 = 0.0
    expected = []
    for name, ids, mask, types in cases:
        r = reference_pooled(w, cfg, prefix, ids, mask, types)
        e64 = np.abs(run_torch(model, ids, mask, types, torch.float64) - r).max()
        t32 = run_torch(model, ids, mask, types, torch.float32)
        e32 = np.abs(t32 - r).max()
        worst32 = max(worst32, e32)
        print("  torch vs float64 reference, %-40s max|pooled| %.3g: float64 module %.2e, float32 module "
              "%.2e %s" % (name, np.abs(r).max(), e64, e32, "ok" if e32 < TOL and e64 < 1e-9 else "FAIL"))
        if not (e32 < TOL and e64 < 1e-9):
            raise SystemExit("export_bert_onnx.py: the torch module disagrees with encoder_ref.py on %s" % name)
        expected.append({"name": name, "torch_f32": t32.tolist(), "reference_f64": r.tolist()})
    model = model.float()

    # ---- export ----
    T = 16
    ids = torch.randint(5, cfg["vocab_size"], (2, T), dtype=torch.int64)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    if args.no_token_type_ids:
        exported, inputs, names = NoTypes(model).eval(), (ids, mask), ["input_ids", "attention_mask"]
    else:
        exported, inputs, names = model, (ids, mask, types), ["input_ids", "attention_mask", "token_type_ids"]
    tmp = out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(exported, inputs, tmp, input_names=names, output_names=["sentence_embedding"],
                          dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names},
                                        "sentence_embedding": {0: "batch"}},
                          opset_version=args.opset, do_constant_folding=True)

    import onnx  # after torch: the export does not need it
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    os.replace(tmp, out)
    print("  onnx.checker ok: %s, opset %d, %.1f MB, inputs %s, ops %s"
          % (out, args.opset, os.path.getsize(out) / 1e6, names,
             ", ".join("%s %d" % kv for kv in sorted(ops.items()))))

    # ---- what ort_bench.mjs --check compares ONNX Runtime against ----
    with open(stem + ".check-ids.json", "w") as f:
        json.dump({"inputs": names, "cases": [
            {"name": n, "input_ids": i.tolist(), "attention_mask": k.tolist(), "token_type_ids": t.tolist()}
            for n, i, k, t in cases]}, f)
    with open(stem + ".check-expected.json", "w") as f:
        json.dump({"tolerance": TOL, "cases": expected}, f)
    print("  wrote %s.check-ids.json and .check-expected.json (%d cases; torch float32 worst %.2e vs the "
          "reference); %.1f s" % (stem, len(cases), worst32, time.time() - t0))


if __name__ == "__main__":
    main()
