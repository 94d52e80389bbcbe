#!/usr/bin/python3
"""Export a ViT or DeiT checkpoint in the Hugging Face layout to ONNX, for the ONNX Runtime peer benchmark.

    /usr/bin/python3 bench/onnx_peer/export_vit_onnx.py MODEL_DIR [--out MODEL_DIR/model.onnx] [--opset 17]

Needs Debian's python3-torch, python3-onnx and python3-numpy (no transformers: the model is a
small torch nn.Module written here from the semantics of transformers' modeling_vit.py and
modeling_deit.py, and safetensors is parsed by tests/reference/encoder_ref.py's reader).
MODEL_DIR holds config.json (model_type vit or deit) and model.safetensors, e.g. a folder written
by strata's `make-model --model-type vit|deit`. The head follows the tensors:

  * ViTForImageClassification / DeiTForImageClassification: body under "vit." / "deit.",
    `classifier` -> output logits [batch, labels] = classifier(h[:, 0]);
  * DeiTForImageClassificationWithTeacher: body under "deit.", `cls_classifier` and
    `distillation_classifier` -> logits = (cls_classifier(h[:, 0]) + distillation_classifier(h[:, 1])) / 2;
  * ViTModel / DeiTModel (no prefix) with a pooler -> pooler_output [batch, hidden] = tanh(dense(h[:, 0]));
    without one -> last_hidden_state [batch, tokens, hidden].

The ONNX graph: input pixel_values float32 [batch, num_channels, image_size, image_size] (batch
dynamic; the resolution is the config's, so the position embeddings are used as stored, no
interpolation), one output as above.

Checks, each printed, any failure exits non-zero:
  * the torch module, in float64 and in float32 (the one exported), against strata's own float64
    reference (tests/reference/vit_ref.py) on random pixel batches of 1 and 3 images: max abs error
    < 1e-9 in float64 and < 1e-4 in float32;
  * onnx.checker on the exported file;
  * writes OUT minus .onnx + ".check-inputs.json" / ".check-expected.json": the check pixels and
    the float32 torch and float64 reference outputs, which `node ort_vision_bench.mjs --check IN EXP`
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

import encoder_ref  # noqa: E402
import vit_ref as ref  # noqa: E402

TOL = 1e-4
# torch 1.13's exporter warns about every constant it cannot shape-infer (sqrt(d)): noise
warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")


def fail(msg):
    raise SystemExit("export_vit_onnx.py: " + msg)


# --------------------------------------------------------------------------------------------
# ViTModel / DeiTModel and their heads as torch modules; submodule names are the Hugging Face
# tensor names (without the "vit." / "deit." prefix of the classification models)
# --------------------------------------------------------------------------------------------

def activation(name):
    if name == "gelu":
        return lambda x: nn.functional.gelu(x)  # exact erf form
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: nn.functional.gelu(x, approximate="tanh")
    fail("unsupported hidden_act %r" % name)


class PatchEmbeddings(nn.Module):  # ViTPatchEmbeddings / DeiTPatchEmbeddings
    def __init__(self, c):
        super().__init__()
        P = c["patch_size"]
        self.projection = nn.Conv2d(c["num_channels"], c["hidden_size"], kernel_size=P, stride=P)

    def forward(self, pixel_values):  # [n, C, H, W] -> [n, patches, hidden]
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class Embeddings(nn.Module):  # ViTEmbeddings / DeiTEmbeddings at the config's resolution
    def __init__(self, c, n_prefix, n_patches):
        super().__init__()
        H = c["hidden_size"]
        self.n_prefix = n_prefix
        self.cls_token = nn.Parameter(torch.zeros(1, 1, H))
        if n_prefix == 2:
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, H))
        self.patch_embeddings = PatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.zeros(1, n_prefix + n_patches, H))

    def forward(self, pixel_values):
        x = self.patch_embeddings(pixel_values)
        n = x.size(0)
        tokens = [self.cls_token.expand(n, -1, -1)]
        if self.n_prefix == 2:
            tokens.append(self.distillation_token.expand(n, -1, -1))
        return torch.cat(tokens + [x], dim=1) + self.position_embeddings


class SelfAttention(nn.Module):  # ViTSelfAttention, eager
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.hd = H // self.nh
        if self.nh * self.hd != H:
            fail("hidden_size is not a multiple of num_attention_heads")
        bias = c.get("qkv_bias", True)
        self.query = nn.Linear(H, H, bias=bias)
        self.key = nn.Linear(H, H, bias=bias)
        self.value = nn.Linear(H, H, bias=bias)

    def heads(self, t):  # [n, T, H] -> [n, nh, T, hd]
        return t.view(t.size(0), t.size(1), self.nh, self.hd).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        ctx = torch.matmul(nn.functional.softmax(s, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.nh * self.hd)


class Dense(nn.Module):  # ViTSelfOutput / ViTIntermediate / ViTOutput hold one `dense`
    def __init__(self, n_in, n_out):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class Attention(nn.Module):  # ViTAttention: attention (self) + output.dense, no residual inside
    def __init__(self, c):
        super().__init__()
        self.attention = SelfAttention(c)
        self.output = Dense(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return self.output.dense(self.attention(x))


class Layer(nn.Module):  # ViTLayer: pre-norm
    def __init__(self, c):
        super().__init__()
        H, I, eps = c["hidden_size"], c["intermediate_size"], c["layer_norm_eps"]
        self.layernorm_before = nn.LayerNorm(H, eps=eps)
        self.attention = Attention(c)
        self.layernorm_after = nn.LayerNorm(H, eps=eps)
        self.intermediate = Dense(H, I)
        self.output = Dense(I, H)
        self.act = activation(c["hidden_act"])

    def forward(self, x):
        h = self.attention(self.layernorm_before(x)) + x
        return self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(h)))) + h


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])


class Body(nn.Module):  # ViTModel / DeiTModel: last_hidden_state after the final layernorm
    def __init__(self, c, n_prefix, n_patches, with_pooler):
        super().__init__()
        self.embeddings = Embeddings(c, n_prefix, n_patches)
        self.encoder = Encoder(c)
        self.layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        if with_pooler:
            self.pooler = Dense(c["hidden_size"], c["hidden_size"])

    def forward(self, pixel_values):
        x = self.embeddings(pixel_values)
        for layer in self.encoder.layer:
            x = layer(x)
        return self.layernorm(x)


class VisionModel(nn.Module):
    """head: "classifier", "teacher" (cls + distillation classifiers), "pooler" or "none"."""

    def __init__(self, c, n_prefix, n_patches, head, labels):
        super().__init__()
        self.head = head
        self.body = Body(c, n_prefix, n_patches, head == "pooler")
        H = c["hidden_size"]
        if head == "classifier":
            self.classifier = nn.Linear(H, labels)
        elif head == "teacher":
            self.cls_classifier = nn.Linear(H, labels)
            self.distillation_classifier = nn.Linear(H, labels)

    def forward(self, pixel_values):
        h = self.body(pixel_values)
        if self.head == "classifier":
            return self.classifier(h[:, 0])
        if self.head == "teacher":
            return (self.cls_classifier(h[:, 0]) + self.distillation_classifier(h[:, 1])) / 2
        if self.head == "pooler":
            return torch.tanh(self.body.pooler.dense(h[:, 0]))
        return h


OUTPUT_NAME = {"classifier": "logits", "teacher": "logits", "pooler": "pooler_output", "none": "last_hidden_state"}


def image_hw(cfg):
    s = cfg.get("image_size", 224)
    return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") not in ("vit", "deit"):
        fail("%s: model_type %r, expected vit or deit" % (model_dir, cfg.get("model_type")))
    cfg.setdefault("layer_norm_eps", 1e-12)
    cfg.setdefault("hidden_act", "gelu")
    cfg.setdefault("num_channels", 3)
    cfg.setdefault("patch_size", 16)
    tensors = {k: v.astype(np.float32) for k, v in encoder_ref.read_safetensors(
        os.path.join(model_dir, "model.safetensors")).items()}
    mt = cfg["model_type"]
    prefix = mt + "." if mt + ".embeddings.cls_token" in tensors else ""
    if "cls_classifier.weight" in tensors:
        head = "teacher"
    elif "classifier.weight" in tensors:
        head = "classifier"
    elif prefix + "pooler.dense.weight" in tensors:
        head = "pooler"
    else:
        head = "none"
    labels = tensors["cls_classifier.weight" if head == "teacher" else "classifier.weight"].shape[0] \
        if head in ("classifier", "teacher") else 0
    n_prefix = 2 if mt == "deit" else 1
    ih, iw = image_hw(cfg)
    n_patches = (ih // cfg["patch_size"]) * (iw // cfg["patch_size"])
    model = VisionModel(cfg, n_prefix, n_patches, head, labels)
    wanted = model.state_dict()
    state = {}
    for name in wanted:
        hf = prefix + name[len("body."):] if name.startswith("body.") else name
        if hf not in tensors:
            fail("%s: tensor %s missing" % (model_dir, hf))
        t = torch.from_numpy(tensors[hf])
        if tuple(t.shape) != tuple(wanted[name].shape):
            fail("%s has shape %s, config says %s" % (hf, tuple(t.shape), tuple(wanted[name].shape)))
        state[name] = t
    model.load_state_dict(state, strict=True)
    model.eval()
    # The float64 reference reads the same (rounded to float32) values, as float64.
    ref_weights = {k: v.astype(np.float64) for k, v in tensors.items()}
    return cfg, model, ref_weights, prefix, head, labels


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

def check_cases(cfg):
    """Pixel batches the torch module, the reference and ONNX Runtime all run: (name, float32 pixels)."""
    rng = np.random.default_rng(11)
    C = cfg["num_channels"]
    ih, iw = image_hw(cfg)
    return [
        ("batch 1, N(0, 1)", rng.standard_normal((1, C, ih, iw)).astype(np.float32)),
        ("batch 3, U(-2, 2)", rng.uniform(-2.0, 2.0, (3, C, ih, iw)).astype(np.float32)),
    ]


def reference_output(w, cfg, prefix, head, pixels):
    h = ref.forward(w, cfg, pixels.astype(np.float64), prefix=prefix)
    if head == "classifier":
        return ref.classifier(w, h)
    if head == "teacher":
        return ref.classifier_with_teacher(w, h)
    if head == "pooler":
        return ref.pooler(w, h, prefix=prefix)
    return h


def run_torch(model, pixels, dtype):
    with torch.no_grad():
        out = model.to(dtype)(torch.from_numpy(pixels).to(dtype))
    return out.double().numpy()


def flat_floats(a, fmt):
    return "[" + ",".join(fmt % x for x in a.ravel().tolist()) + "]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--out", help="ONNX file (default MODEL_DIR/model.onnx)")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    out = args.out or os.path.join(args.model_dir, "model.onnx")
    stem = out[:-5] if out.endswith(".onnx") else out
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    t0 = time.time()
    cfg, model, w, prefix, head, labels = load_model(args.model_dir)
    out_name = OUTPUT_NAME[head]
    ih, iw = image_hw(cfg)
    print("export_vit_onnx.py: %s: %s, hidden %d, %d layers, %d heads, ffn %d, %dx%d images, patch %d, "
          "act %s, eps %g, qkv_bias %s, prefix %r, head %s%s -> %s"
          % (args.model_dir, cfg["model_type"], cfg["hidden_size"], cfg["num_hidden_layers"],
             cfg["num_attention_heads"], cfg["intermediate_size"], ih, iw, cfg["patch_size"],
             cfg["hidden_act"], cfg["layer_norm_eps"], cfg.get("qkv_bias", True), prefix, head,
             " (%d labels)" % labels if labels else "", out_name))

    # ---- the torch module against strata's float64 reference ----
    cases = check_cases(cfg)
    worst32 = 0.0
    expected = []
    for name, px in cases:
        r = reference_output(w, cfg, prefix, head, px)
        e64 = np.abs(run_torch(model, px, torch.float64) - r).max()
        t32 = run_torch(model, px, torch.float32)
        e32 = np.abs(t32 - r).max()
        worst32 = max(worst32, e32)
        good = e32 < TOL and e64 < 1e-9
        print("  torch vs float64 reference, %-20s -> %s %s max|out| %.3g: float64 module %.2e, float32 module "
              "%.2e %s" % (name, out_name, list(r.shape), np.abs(r).max(), e64, e32, "ok" if good else "FAIL"))
        if not good:
            fail("the torch module disagrees with vit_ref.py on %s" % name)
        expected.append({"name": name, "dims": list(r.shape), "torch_f32": t32.ravel().tolist(),
                         "reference_f64": r.ravel().tolist()})
    model = model.float()

    # ---- export ----
    example = torch.from_numpy(cases[1][1][:2].copy())
    tmp = out + ".tmp"
    with torch.no_grad():
        torch.onnx.export(model, (example,), tmp, input_names=["pixel_values"], output_names=[out_name],
                          dynamic_axes={"pixel_values": {0: "batch"}, out_name: {0: "batch"}},
                          opset_version=args.opset, do_constant_folding=True)

    import onnx  # after torch: the export does not need it
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    os.replace(tmp, out)
    print("  onnx.checker ok: %s, opset %d, %.1f MB, input pixel_values [batch, %d, %d, %d], output %s, ops %s"
          % (out, args.opset, os.path.getsize(out) / 1e6, cfg["num_channels"], ih, iw, out_name,
             ", ".join("%s %d" % kv for kv in sorted(ops.items()))))

    # ---- what ort_vision_bench.mjs --check compares ONNX Runtime against ----
    # Pixels as float32 printed to 9 significant digits: they read back to the same float32.
    with open(stem + ".check-inputs.json", "w") as f:
        f.write('{"inputs": ["pixel_values"], "cases": [')
        f.write(", ".join('{"name": %s, "dims": %s, "pixel_values": %s}'
                          % (json.dumps(n), json.dumps(list(px.shape)), flat_floats(px, "%.9g"))
                          for n, px in cases))
        f.write("]}")
    with open(stem + ".check-expected.json", "w") as f:
        json.dump({"tolerance": TOL, "output": out_name, "cases": expected}, f)
    print("  wrote %s.check-inputs.json and .check-expected.json (%d cases; torch float32 worst %.2e vs the "
          "reference); %.1f s" % (stem, len(cases), worst32, time.time() - t0))


if __name__ == "__main__":
    main()
