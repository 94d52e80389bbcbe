#!/usr/bin/python3
"""Write tests/fixtures/images/: Pillow's resize output and transformers'
pixel_values for small images, for tests/image/test_image_resize.cpp and
test_image_processor.cpp.

    /usr/bin/python3 tests/reference/make_image_fixtures.py

Needs Pillow and numpy (Debian's Pillow 9.4.0 made the committed files); it
does not import transformers. The image processors' steps are written here in
numpy from transformers' code; each function names the transformers function
it mirrors. Seeds are fixed, so re-running rewrites byte-identical files.

Layout (all raw little-endian, no headers; sizes are in manifest.json):
  inputs/NAME.u8        pixels, rows top to bottom, channels interleaved (L, RGB or RGBA)
  resize/CASE.u8        np.asarray(Image.resize((w, h), resample)) of an input
  configs/NAME.json     preprocessor_config.json files
  processor/CASE.u8     the 8-bit image after resize and center crop, [3, H, W], zeros
                        where the crop pads
  processor/CASE.f32    per channel, the value rescale + normalize give each 8-bit
                        value: [3, 256] float32
pixel_values[c, y, x] is processor/CASE.f32[c][processor/CASE.u8[c, y, x]]: rescale and
normalize are elementwise, so this holds exactly (checked below against the
pixel_values computed by the full pipeline) and takes 4x less space than the
float32 [3, 224, 224] arrays.
"""

import json
import math
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "images")

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- inputs ---------------------------------------------------------------------------------

def make_inputs():
    rng = np.random.default_rng(20261206)
    inputs = {}
    inputs["rand37x23"] = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    y, x = np.mgrid[0:48, 0:64].astype(np.float64)
    grad = np.stack([x * 4, y * 5, (x + y) * 2.2], -1) + rng.normal(0, 3, (48, 64, 3))
    inputs["grad64x48"] = np.clip(grad, 0, 255).astype(np.uint8)
    inputs["px1x1"] = np.array([[[200, 17, 90]]], dtype=np.uint8)
    y, x = np.mgrid[0:10, 0:1000].astype(np.float64)
    wide = np.stack([x * 0.255, 128 + 100 * np.sin(x / 17 + y), (x * 7) % 256], -1)
    inputs["wide1000x10"] = np.clip(wide + rng.normal(0, 8, wide.shape), 0, 255).astype(np.uint8)
    # A photo-like 300x200: smooth shading, hard edges (a disc, stripes) and noise,
    # so both the antialiasing and the negative lobes (clipping) matter.
    y, x = np.mgrid[0:200, 0:300].astype(np.float64)
    base = np.stack([120 + 80 * np.sin(x / 40), 100 + 90 * np.cos(y / 30), 60 + x * 0.5], -1)
    disc = ((x - 180) ** 2 + (y - 90) ** 2) < 55 ** 2
    base[disc] = [250, 250, 20]
    base[((x.astype(int) // 7) % 2 == 0) & (y > 150)] = [5, 5, 5]
    inputs["photo300x200"] = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    inputs["tall9x40"] = rng.integers(0, 256, (40, 9, 3), dtype=np.uint8)
    inputs["gray17x13"] = rng.integers(0, 256, (13, 17, 1), dtype=np.uint8)
    inputs["rgba19x11"] = rng.integers(0, 256, (11, 19, 4), dtype=np.uint8)
    return inputs


def pil_image(a):
    c = a.shape[2]
    return Image.fromarray(a[:, :, 0] if c == 1 else a, MODES[c])


def as_hwc(img):
    a = np.asarray(img)
    return a[:, :, None] if a.ndim == 2 else a


# ---- resize cases ---------------------------------------------------------------------------

FIXED_RESIZES = [
    ("rand37x23", 74, 46),     # upscale x2 (exact)
    ("rand37x23", 50, 31),     # upscale, non-integer
    ("rand37x23", 12, 7),      # downscale ~3
    ("rand37x23", 5, 3),       # downscale ~7.5
    ("rand37x23", 36, 23),     # width only (height unchanged: one pass)
    ("rand37x23", 37, 40),     # height only
    ("rand37x23", 37, 23),     # same size: a copy
    ("px1x1", 7, 5),           # 1x1 up
    ("wide1000x10", 64, 10),   # width /15.6, height unchanged
    ("wide1000x10", 3, 2),     # large factors both ways
    ("wide1000x10", 1000, 3),  # height only
    ("wide1000x10", 150, 31),  # down in x, up in y
    ("photo300x200", 13, 9),   # /23
    ("photo300x200", 49, 37),  # non-integer ratios
    ("photo300x200", 1, 1),
    ("grad64x48", 80, 60),     # x1.25
    ("grad64x48", 17, 131),    # down in x, up in y
    ("tall9x40", 9, 100),
    ("gray17x13", 40, 9),      # L mode
    ("gray17x13", 3, 29),
]
RANDOM_RESIZES = 8  # per filter: random output sizes 1..64 of random inputs


def resize_cases(inputs):
    rng = np.random.default_rng(7)
    names = [n for n in inputs if inputs[n].shape[2] != 4]
    cases = []
    for f in range(6):
        for name, w, h in FIXED_RESIZES:
            cases.append((name, w, h, f))
        for _ in range(RANDOM_RESIZES):
            name = names[int(rng.integers(len(names)))]
            cases.append((name, int(rng.integers(1, 65)), int(rng.integers(1, 65)), f))
    return cases


# ---- transformers' processors in numpy --------------------------------------------------------

IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]  # image_utils.IMAGENET_STANDARD_MEAN / _STD
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # image_utils.OPENAI_CLIP_MEAN / _STD
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def get_size_dict(size, default_to_square=True):
    """image_processing_utils.get_size_dict / convert_to_size_dict (no max_size)."""
    if isinstance(size, dict):
        return size
    if isinstance(size, int):
        return {"height": size, "width": size} if default_to_square else {"shortest_edge": size}
    if isinstance(size, (tuple, list)):
        return {"height": size[0], "width": size[1]}
    raise ValueError(size)


def processor_settings(cfg):
    """The __init__ of ViTImageProcessor, DeiTImageProcessor, CLIPImageProcessor:
    defaults for absent (or null) fields. AutoImageProcessor picks the class from
    image_processor_type, else feature_extractor_type (FeatureExtractor -> ImageProcessor)."""
    kind = cfg.get("image_processor_type") or cfg.get("feature_extractor_type")
    kind = kind.replace("FeatureExtractor", "ImageProcessor")
    g = lambda k, d: cfg[k] if cfg.get(k) is not None else d  # noqa: E731
    s = {"kind": kind, "do_resize": g("do_resize", True), "do_rescale": g("do_rescale", True),
         "rescale_factor": g("rescale_factor", 1 / 255), "do_normalize": g("do_normalize", True)}
    if kind == "ViTImageProcessor":
        s.update(size=get_size_dict(g("size", {"height": 224, "width": 224})), resample=g("resample", 2),
                 do_center_crop=False, mean=g("image_mean", IMAGENET_STANDARD_MEAN),
                 std=g("image_std", IMAGENET_STANDARD_STD), do_convert_rgb=g("do_convert_rgb", None))
    elif kind == "DeiTImageProcessor":
        s.update(size=get_size_dict(g("size", {"height": 256, "width": 256})), resample=g("resample", 3),
                 do_center_crop=g("do_center_crop", True),
                 crop_size=get_size_dict(g("crop_size", {"height": 224, "width": 224})),
                 mean=g("image_mean", IMAGENET_STANDARD_MEAN), std=g("image_std", IMAGENET_STANDARD_STD),
                 do_convert_rgb=False)
    elif kind == "CLIPImageProcessor":
        size = get_size_dict(g("size", {"shortest_edge": 224}), default_to_square=False)
        if cfg.get("use_square_size"):
            size = {"height": size["shortest_edge"], "width": size["shortest_edge"]}
        s.update(size=size, resample=g("resample", 3), do_center_crop=g("do_center_crop", True),
                 crop_size=get_size_dict(g("crop_size", {"height": 224, "width": 224})),
                 mean=g("image_mean", OPENAI_CLIP_MEAN), std=g("image_std", OPENAI_CLIP_STD),
                 do_convert_rgb=g("do_convert_rgb", True))
    else:
        raise ValueError(kind)
    return s


def get_resize_output_image_size(h, w, size, default_to_square):
    """image_transforms.get_resize_output_image_size (no max_size)."""
    if isinstance(size, (tuple, list)):
        return tuple(size)
    if default_to_square:
        return (size, size)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if w <= h else (new_short, new_long)


def resize_size(s, h, w):
    """ViTImageProcessor.resize / DeiTImageProcessor.resize (height, width only) and
    CLIPImageProcessor.resize (shortest_edge, else height and width)."""
    size = s["size"]
    if s["kind"] == "CLIPImageProcessor" and "shortest_edge" in size:
        return get_resize_output_image_size(h, w, size["shortest_edge"], default_to_square=False)
    return (size["height"], size["width"])


def resize(a, hw, resample):
    """image_transforms.resize on a uint8 HWC array: to_pil_image (no rescale for uint8),
    PIL's Image.resize((width, height)), back to a numpy array."""
    return as_hwc(pil_image(a).resize((hw[1], hw[0]), resample=resample))


def center_crop(a, hw):
    """image_transforms.center_crop, step by step (channels first inside, as there)."""
    img = a.transpose(2, 0, 1)
    oh, ow = img.shape[1:]
    ch, cw = hw
    top = (oh - ch) // 2
    bottom = top + ch
    left = (ow - cw) // 2
    right = left + cw
    if top >= 0 and bottom <= oh and left >= 0 and right <= ow:
        return img[:, top:bottom, left:right].transpose(1, 2, 0)
    nh, nw = max(ch, oh), max(cw, ow)
    new = np.zeros_like(img, shape=img.shape[:-2] + (nh, nw))
    top_pad = math.ceil((nh - oh) / 2)
    left_pad = math.ceil((nw - ow) / 2)
    new[:, top_pad:top_pad + oh, left_pad:left_pad + ow] = img
    top += top_pad
    bottom += top_pad
    left += left_pad
    right += left_pad
    new = new[:, max(0, top):min(nh, bottom), max(0, left):min(nw, right)]
    return new.transpose(1, 2, 0)


def rescale(a, scale):
    """image_transforms.rescale: float64 multiply, then float32."""
    return (a.astype(np.float64) * scale).astype(np.float32)


def normalize(a, mean, std):
    """image_transforms.normalize, channels last: float32 (x - mean) / std."""
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    n = a.shape[-1]
    mean = mean if isinstance(mean, (list, tuple)) else [mean] * n
    std = std if isinstance(std, (list, tuple)) else [std] * n
    return (a - np.array(mean, dtype=a.dtype)) / np.array(std, dtype=a.dtype)


def preprocess(img, cfg):
    """The processors' preprocess(): convert_to_rgb (PIL convert("RGB")), to_numpy_array,
    resize, center_crop, rescale, normalize, to channels first. Returns the 8-bit image
    after the crop and pixel_values, both [3, H, W]."""
    s = processor_settings(cfg)
    # Channels are last throughout, as passing input_data_format="channels_last" gives;
    # transformers' own inference would take an image 1 or 3 pixels high as channels
    # first (docs/IMAGES.md), which strata does not reproduce.
    if s["do_convert_rgb"] and img.mode != "RGB":
        img = img.convert("RGB")
    a = as_hwc(img)
    assert a.shape[2] == 3, "normalize would raise: not 3 channels"
    if s["do_resize"]:
        a = resize(a, resize_size(s, a.shape[0], a.shape[1]), s["resample"])
    if s["do_center_crop"]:
        crop = s["crop_size"]
        a = center_crop(a, (crop["height"], crop["width"]))
    u8 = a
    if s["do_rescale"]:
        a = rescale(a, s["rescale_factor"])
    if s["do_normalize"]:
        a = normalize(a, s["mean"], s["std"])
    return u8.transpose(2, 0, 1), np.asarray(a).transpose(2, 0, 1), s


def value_table(s):
    """What rescale + normalize do to each 8-bit value, per channel: the same functions
    applied to a [1, 256, 3] image of the values 0..255."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    a = ramp
    if s["do_rescale"]:
        a = rescale(a, s["rescale_factor"])
    if s["do_normalize"]:
        a = normalize(a, s["mean"], s["std"])
    return np.asarray(a, dtype=np.float32)[0].T.copy()  # [3, 256]


# ---- configs --------------------------------------------------------------------------------

# The published preprocessor_config.json files (their fields, as on the Hub).
REAL_CONFIGS = {
    "vit-base-patch16-224": {
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224},
    "deit-base-distilled-patch16-224": {
        "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "DeiTFeatureExtractor", "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "resample": 3, "size": 256},
    "clip-vit-base-patch32": {
        "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224},
    "swin-tiny-patch4-window7-224": {
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "resample": 3,
        "size": 224},
}

# Small configs for the other rules: dict sizes, padding crops, each filter, no
# rescale / normalize, scalar mean and std, use_square_size, defaults.
SMALL_CONFIGS = {
    "deit-pad": {"image_processor_type": "DeiTImageProcessor", "size": {"height": 20, "width": 30},
                 "crop_size": {"height": 24, "width": 24}},
    "clip-pad-odd": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 16},
                     "crop_size": {"height": 41, "width": 7}},
    "clip-hw": {"image_processor_type": "CLIPImageProcessor", "size": {"height": 30, "width": 18},
                "do_center_crop": False, "resample": 1},
    "clip-square": {"image_processor_type": "CLIPImageProcessor", "size": 33, "use_square_size": True,
                    "crop_size": [20, 28], "resample": 5},
    "clip-defaults-shortest": {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 21},
                               "do_center_crop": False},
    "deit-nocrop-noresize": {"image_processor_type": "DeiTImageProcessor", "do_resize": False,
                             "crop_size": 29},
    "vit-norescale": {"image_processor_type": "ViTImageProcessor", "size": [19, 25], "resample": 0,
                      "do_rescale": False, "image_mean": 100.5, "image_std": 60.25},
    "vit-raw": {"image_processor_type": "ViTImageProcessor", "size": {"height": 15, "width": 16},
                "resample": 4, "do_rescale": False, "do_normalize": False},
    "vit-rescale-only": {"image_processor_type": "ViTImageProcessor", "size": 12, "do_normalize": False,
                         "rescale_factor": 0.0078125, "do_convert_rgb": True},
}

PROCESSOR_CASES = [
    ("vit-base-patch16-224", "rand37x23"),
    ("deit-base-distilled-patch16-224", "photo300x200"),
    ("clip-vit-base-patch32", "photo300x200"),
    ("clip-vit-base-patch32", "wide1000x10"),  # shortest edge 10 -> 224: 22400 x 224, then the crop
    ("swin-tiny-patch4-window7-224", "grad64x48"),
    ("deit-pad", "photo300x200"),
    ("clip-pad-odd", "tall9x40"),
    ("clip-pad-odd", "px1x1"),
    ("clip-hw", "gray17x13"),  # do_convert_rgb (CLIP's default) on an L image
    ("clip-square", "rgba19x11"),  # RGBA: alpha dropped by convert("RGB")
    ("clip-defaults-shortest", "wide1000x10"),
    ("clip-defaults-shortest", "tall9x40"),
    ("deit-nocrop-noresize", "rand37x23"),
    ("vit-norescale", "grad64x48"),
    ("vit-raw", "rand37x23"),
    ("vit-rescale-only", "gray17x13"),
]


def main():
    inputs = make_inputs()
    manifest = {"inputs": {}, "resize": [], "configs": [], "processor": []}
    for name, a in inputs.items():
        write(f"inputs/{name}.u8", a.tobytes())
        manifest["inputs"][name] = {"width": a.shape[1], "height": a.shape[0], "channels": a.shape[2]}

    for name, w, h, f in resize_cases(inputs):
        out = as_hwc(pil_image(inputs[name]).resize((w, h), resample=f))
        assert out.shape == (h, w, inputs[name].shape[2])
        case = f"{name}_to_{w}x{h}_f{f}"
        write(f"resize/{case}.u8", out.tobytes())
        manifest["resize"].append({"input": name, "width": w, "height": h, "resample": f, "file": case})

    configs = {**REAL_CONFIGS, **SMALL_CONFIGS}
    for name, cfg in configs.items():
        write(f"configs/{name}.json", (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode())
        manifest["configs"].append(name)

    for cfg_name, in_name in PROCESSOR_CASES:
        u8, pv, s = preprocess(pil_image(inputs[in_name]), configs[cfg_name])
        table = value_table(s)
        # The table reproduces the pipeline's pixel_values exactly.
        # (Without rescale and normalize transformers returns the uint8 values; strata gives them as float32.)
        pv = pv if pv.dtype == np.float32 else pv.astype(np.float32)
        rebuilt = np.stack([table[c][u8[c]] for c in range(3)])
        assert np.array_equal(rebuilt.view(np.uint32), pv.view(np.uint32)), cfg_name
        case = f"{cfg_name}_{in_name}"
        write(f"processor/{case}.u8", np.ascontiguousarray(u8).tobytes())
        write(f"processor/{case}.f32", table.astype("<f4").tobytes())
        manifest["processor"].append({"config": cfg_name, "input": in_name, "file": case,
                                      "height": int(u8.shape[1]), "width": int(u8.shape[2])})

    write("manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"{len(manifest['resize'])} resize cases, {len(manifest['processor'])} processor cases, "
          f"{total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
