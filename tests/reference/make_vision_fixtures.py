#!/usr/bin/python3
"""Write tests/fixtures/vision/<case>/: tiny random-weight ViT / DeiT checkpoints in the
Hugging Face layout, plus float64 reference outputs (vit_ref.py).

    /usr/bin/python3 tests/reference/make_vision_fixtures.py

Weights are drawn in float64 from numpy's default_rng(seed), rounded to float32 and stored as
F32; the reference reads the file back and computes in float64 from those float32 values.
Init: matrices, tokens and position embeddings N(0, 0.2); LayerNorm weights 1 + N(0, 0.1);
biases N(0, 0.1).

pixel_values are not stored: both sides compute them from a formula (float64, then rounded
to float32): value(i, c, y, x) = 2 sin(seed + 1.3 i + 0.7 c + 0.13 y + 0.29 x + 0.011 x y)
for image i of a batch, channel c, row y, column x.

The pipeline cases (vit-cls, deit-distilled) also get the published processors'
preprocessor_config.json scaled to their image size and, in reference.json "pipeline", the
logits for image files of tests/fixtures/image_files as transformers computes them: load_image
(PIL.Image.open -> ImageOps.exif_transpose -> convert("RGB")), the processor's steps as
make_image_fixtures.py transcribes them (PIL resize, center crop, float64 rescale, float32
normalize), then the float64 forward.

Self-checks against torch (Debian python3-torch, float64) run on every generation: the patch
embedding equals torch's conv2d and the position interpolation equals
torch.nn.functional.interpolate(mode="bicubic", align_corners=False) to < 1e-12.
"""

import os
import sys

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "vision")
sys.path.insert(0, HERE)

import encoder_ref  # noqa: E402
import vit_ref as ref  # noqa: E402
from make_encoder_fixtures import fl, init_weights, write_config, write_reference, write_safetensors  # noqa: E402
import make_image_fixtures as processors  # noqa: E402

IMAGE_FILES = os.path.join(REPO, "tests", "fixtures", "image_files")
PIPELINE_IMAGES = ["rgb420_67x45.jpg", "orient6.jpg", "palette_pil_trns.png", "gray8.png", "rgba8.png"]

TRANSFORMERS_VERSION = "4.46.3"


def pixels(seed, n, c, h, w):
    i, ch, y, x = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    v = 2.0 * np.sin(seed + 1.3 * i + 0.7 * ch + 0.13 * y + 0.29 * x + 0.011 * x * y)
    return v.astype(np.float32).astype(np.float64)


def vit_specs(c, p, head):
    H, I, C, P = c["hidden_size"], c["intermediate_size"], c["num_channels"], c["patch_size"]
    n_prefix = 2 if c["model_type"] == "deit" else 1
    n_pos = (c["image_size"] // P) ** 2 + n_prefix
    s = [(p + "embeddings.cls_token", [1, 1, H], "mat")]
    if n_prefix == 2:
        s.append((p + "embeddings.distillation_token", [1, 1, H], "mat"))
    s += [(p + "embeddings.position_embeddings", [1, n_pos, H], "mat"),
          (p + "embeddings.patch_embeddings.projection.weight", [H, C, P, P], "mat"),
          (p + "embeddings.patch_embeddings.projection.bias", [H], "bias")]
    for i in range(c["num_hidden_layers"]):
        L = "%sencoder.layer.%d." % (p, i)
        for name in ("attention.attention.query", "attention.attention.key", "attention.attention.value"):
            s.append((L + name + ".weight", [H, H], "mat"))
            if c.get("qkv_bias", True):
                s.append((L + name + ".bias", [H], "bias"))
        s += [(L + "attention.output.dense.weight", [H, H], "mat"), (L + "attention.output.dense.bias", [H], "bias"),
              (L + "intermediate.dense.weight", [I, H], "mat"), (L + "intermediate.dense.bias", [I], "bias"),
              (L + "output.dense.weight", [H, I], "mat"), (L + "output.dense.bias", [H], "bias"),
              (L + "layernorm_before.weight", [H], "ln"), (L + "layernorm_before.bias", [H], "bias"),
              (L + "layernorm_after.weight", [H], "ln"), (L + "layernorm_after.bias", [H], "bias")]
    s += [(p + "layernorm.weight", [H], "ln"), (p + "layernorm.bias", [H], "bias")]
    labels = len(c.get("id2label", {}))
    if head == "pooler":
        s += [(p + "pooler.dense.weight", [H, H], "mat"), (p + "pooler.dense.bias", [H], "bias")]
    elif head == "classifier":
        s += [("classifier.weight", [labels, H], "mat"), ("classifier.bias", [labels], "bias")]
    elif head == "teacher":
        s += [("cls_classifier.weight", [labels, H], "mat"), ("cls_classifier.bias", [labels], "bias"),
              ("distillation_classifier.weight", [labels, H], "mat"),
              ("distillation_classifier.bias", [labels], "bias")]
    return s


def config(model_type, arch, hidden, heads, layers, inter, image, patch, labels=None, **extra):
    c = {"architectures": [arch], "attention_probs_dropout_prob": 0.0, "encoder_stride": patch,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": hidden, "image_size": image,
         "initializer_range": 0.02, "intermediate_size": inter, "layer_norm_eps": 1e-12, "model_type": model_type,
         "num_attention_heads": heads, "num_channels": 3, "num_hidden_layers": layers, "patch_size": patch,
         "qkv_bias": True, "torch_dtype": "float32", "transformers_version": TRANSFORMERS_VERSION}
    if labels:
        c["id2label"] = {str(i): l for i, l in enumerate(labels)}
        c["label2id"] = {l: i for i, l in enumerate(labels)}
    c.update(extra)
    return c


CASES = {
    # ViTForImageClassification: "vit." prefix, no pooler (add_pooling_layer=False).
    "vit-cls": dict(seed=11, prefix="vit.", head="classifier",
                    preprocessor={"do_normalize": True, "do_rescale": True, "do_resize": True,
                                  "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor",
                                  "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1 / 255,
                                  "size": {"height": 32, "width": 32}},
                    cfg=config("vit", "ViTForImageClassification", 32, 4, 2, 64, 32, 8, ["cat", "dog", "bird"]),
                    batches=[(0.0, 2, 32, 32), (1.0, 1, 48, 40), (2.0, 1, 44, 36)],
                    merge=[(0.0, 2, 32, 32, 3), (1.0, 1, 48, 40, 4), (2.0, 1, 32, 32, 100)],
                    prune=[(0.0, 2, 32, 32, 0.7), (1.0, 1, 48, 40, 0.5), (2.0, 1, 32, 32, 0.1)]),
    # ViTModel with its pooler, no prefix; qkv_bias false, another eps, head dim 12.
    "vit-model": dict(seed=12, prefix="", head="pooler",
                      cfg=config("vit", "ViTModel", 24, 2, 2, 48, 24, 6, qkv_bias=False, layer_norm_eps=1e-6),
                      batches=[(3.0, 3, 24, 24), (4.0, 1, 30, 18)]),
    # DeiTForImageClassificationWithTeacher: class + distillation tokens, two heads averaged.
    "deit-distilled": dict(seed=13, prefix="deit.", head="teacher",
                           preprocessor={"crop_size": {"height": 32, "width": 32}, "do_center_crop": True,
                                         "do_normalize": True, "do_rescale": True, "do_resize": True,
                                         "image_mean": [0.485, 0.456, 0.406],
                                         "image_processor_type": "DeiTImageProcessor",
                                         "image_std": [0.229, 0.224, 0.225], "resample": 3,
                                         "rescale_factor": 1 / 255, "size": {"height": 37, "width": 37}},
                           cfg=config("deit", "DeiTForImageClassificationWithTeacher", 32, 4, 2, 64, 32, 8,
                                      ["a", "b", "c", "d"]),
                           batches=[(5.0, 2, 32, 32), (6.0, 2, 40, 24)],
                           merge=[(5.0, 2, 32, 32, 4), (6.0, 2, 40, 24, 2)],
                           prune=[(5.0, 2, 32, 32, 0.5), (6.0, 2, 40, 24, 0.6)]),
    # DeiTForImageClassification: the class token's head only (the distillation token still runs).
    "deit-cls": dict(seed=14, prefix="deit.", head="classifier",
                     cfg=config("deit", "DeiTForImageClassification", 32, 4, 1, 64, 32, 8, ["yes", "no"]),
                     batches=[(7.0, 1, 32, 32)]),
}


def self_check(w, c, prefix):
    import torch
    P = c["patch_size"]
    px = pixels(9.0, 2, 3, 3 * P + 2, 2 * P + 1)
    W = w[prefix + "embeddings.patch_embeddings.projection.weight"]
    b = w[prefix + "embeddings.patch_embeddings.projection.bias"]
    t = torch.nn.functional.conv2d(torch.from_numpy(px), torch.from_numpy(W), torch.from_numpy(b), stride=P)
    t = t.flatten(2).transpose(1, 2).numpy()
    assert np.abs(ref.conv_patches(px, W, b, P) - t).max() < 1e-12
    grid = w[prefix + "embeddings.position_embeddings"][0, -((c["image_size"] // P) ** 2):].T
    side = c["image_size"] // P
    grid = grid.reshape(-1, side, side)
    for h, wd in ((side + 3, side - 1), (2 * side, 2 * side), (side, side), (1, 7)):
        t = torch.nn.functional.interpolate(torch.from_numpy(grid)[None], size=(h, wd), mode="bicubic",
                                            align_corners=False)[0].numpy()
        assert np.abs(ref.bicubic_resize(grid, h, wd) - t).max() < 1e-12, (h, wd)


def make_case(name, case):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    c = case["cfg"]
    rng = np.random.default_rng(case["seed"])
    tensors = init_weights(rng, vit_specs(c, case["prefix"], case["head"]))
    write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    write_config(os.path.join(d, "config.json"), c)
    w = encoder_ref.read_safetensors(os.path.join(d, "model.safetensors"))
    self_check(w, c, case["prefix"])
    out = []
    for seed, n, h, wd in case["batches"]:
        px = pixels(seed, n, 3, h, wd)
        hs = ref.forward(w, c, px, case["prefix"])
        b = {"seed": seed, "count": n, "height": h, "width": wd, "tokens": hs.shape[1],
             "last_hidden_state": [fl(hs[i].reshape(-1)) for i in range(n)]}
        if case["head"] == "pooler":
            b["pooler_output"] = [fl(v) for v in ref.pooler(w, hs, case["prefix"])]
        elif case["head"] == "classifier":
            b["logits"] = [fl(v) for v in ref.classifier(w, hs)]
        elif case["head"] == "teacher":
            b["logits"] = [fl(v) for v in ref.classifier_with_teacher(w, hs)]
        out.append(b)
    doc = {"head": case["head"], "batches": out}
    # Token reduction: the merges (ToMe) and keep/prune choices (EViT) are decisions, so each must
    # be more than 1e-4 from flipping: a float32 engine has to make the same ones.
    reductions = (("merged", "merge", "merge", lambda px, r: ref.forward_tome(w, c, px, r, case["prefix"])),
                  ("pruned", "prune", "keep_rate", lambda px, p: ref.forward_evit(w, c, px, p, case["prefix"])))
    for key, spec, field, run in reductions:
        batches = []
        for seed, n, h, wd, amount in case.get(spec, []):
            px = pixels(seed, n, 3, h, wd)
            hs, margin = run(px, amount)
            assert margin > 1e-4, (name, key, seed, amount, margin)
            b = {"seed": seed, "count": n, "height": h, "width": wd, field: amount, "tokens": hs.shape[1],
                 "margin": float(margin), "last_hidden_state": [fl(hs[i].reshape(-1)) for i in range(n)]}
            if case["head"] == "classifier":
                b["logits"] = [fl(v) for v in ref.classifier(w, hs)]
            elif case["head"] == "teacher":
                b["logits"] = [fl(v) for v in ref.classifier_with_teacher(w, hs)]
            batches.append(b)
        if batches:
            doc[key] = batches
    if "preprocessor" in case:
        write_config(os.path.join(d, "preprocessor_config.json"), case["preprocessor"])
        pipeline = []
        for name in PIPELINE_IMAGES:
            img = ImageOps.exif_transpose(Image.open(os.path.join(IMAGE_FILES, name))).convert("RGB")
            _, pv, _ = processors.preprocess(img, case["preprocessor"])
            hs = ref.forward(w, c, np.asarray(pv, dtype=np.float64)[None], case["prefix"])
            logits = ref.classifier(w, hs) if case["head"] == "classifier" else ref.classifier_with_teacher(w, hs)
            pipeline.append({"image": name, "logits": fl(logits[0])})
        doc["pipeline"] = pipeline
    write_reference(os.path.join(d, "reference.json"), doc)


def main():
    for name, case in CASES.items():
        make_case(name, case)


if __name__ == "__main__":
    main()
