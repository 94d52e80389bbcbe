#!/usr/bin/env python3
"""Seed inputs for the fuzz harnesses in tests/fuzz (standard library only).

  make_seeds.py corpus DIR    writes the committed seed corpus (DIR/<harness>/...):
                              small files written here by hand, no model data
                              (quant_layout: also one projection of each
                              tests/fixtures/quant checkpoint, 16 outputs kept).
                              tests/fuzz/corpus is this script's output.
  make_seeds.py runtime DIR   writes extra seeds derived at run time from the real
                              files (../shared/models/*, tests/fixtures/**): configs,
                              tokenizer.json files, and each fixture safetensors
                              file's header with every shape cut to at most 2 per
                              dimension (so names, dtypes and metadata are real but
                              the file stays a few KB). Never copies weights, except
                              for quant_layout: every projection of the
                              tests/fixtures/quant checkpoints as prefix "p", its
                              first 16 outputs kept (1-3.5 KB each).
"""
import glob
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared")

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "U8": 1}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, align=8, gap=0):
    """tensors: list of (name, dtype, shape, bytes)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    off = gap
    data = b"\0" * gap
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    while align > 1 and len(text) % align:
        text += b" "
    return struct.pack("<Q", len(text)) + text + data


def f32(*vals):
    return struct.pack("<%df" % len(vals), *vals)


def u16(*vals):
    return struct.pack("<%dH" % len(vals), *vals)


def f16(*vals):
    return struct.pack("<%de" % len(vals), *vals)


def i32(*vals):
    return struct.pack("<%di" % len(vals), *vals)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# ---- committed corpus -----------------------------------------------------------

def corpus_safetensors(out):
    d = os.path.join(out, "safetensors")
    write(os.path.join(d, "mixed_dtypes.safetensors"), safetensors([
        ("a", "F32", [2, 2], f32(1, 2, 3, 4)),
        ("b", "BF16", [3], u16(0x3F80, 0x4000, 0xFF80)),
        ("c", "F16", [2, 1], u16(0x3C00, 0x7E00)),
        ("scalar", "F32", [], f32(0.5)),
        ("empty", "F16", [0, 4], b""),
    ], metadata={"format": "pt"}))
    hidden, inter, vocab = 4, 6, 8
    llama = []
    for name, shape in [("model.embed_tokens.weight", [vocab, hidden]),
                        ("model.layers.0.input_layernorm.weight", [hidden]),
                        ("model.layers.0.self_attn.q_proj.weight", [hidden, hidden]),
                        ("model.layers.0.self_attn.k_proj.weight", [2, hidden]),
                        ("model.layers.0.mlp.gate_proj.weight", [inter, hidden]),
                        ("model.norm.weight", [hidden]),
                        ("lm_head.weight", [vocab, hidden])]:
        llama.append((name, "BF16", shape, u16(*([0x3F80] * numel(shape)))))
    write(os.path.join(d, "tiny_llama_bf16.safetensors"), safetensors(llama, metadata={"format": "pt"}))
    # No header padding, a gap before the first tensor, odd alignment.
    write(os.path.join(d, "unpadded_gap.safetensors"),
          safetensors([("x", "F16", [3], u16(1, 2, 3)), ("y", "F32", [1], f32(7))], align=1, gap=3))
    write(os.path.join(d, "empty_header.safetensors"), safetensors([]))
    # I32 and U8 (packed quantized weights), at odd offsets; a negative int32.
    write(os.path.join(d, "int_dtypes.safetensors"), safetensors([
        ("u", "U8", [3], b"\x01\x80\xff"),
        ("w", "I32", [2, 2], i32(-1, 0x77777777, -2147483648, 7)),
        ("e", "U8", [0], b""),
        ("f", "F16", [1], u16(0x3C00)),
    ], align=1))
    # Broken on purpose: the fuzzer starts next to the error paths too.
    good = safetensors([("a", "F32", [2], f32(1, 2)), ("b", "F32", [1], f32(3))])
    write(os.path.join(d, "bad_overlap.safetensors"),
          good.replace(b'"data_offsets":[8,12]', b'"data_offsets":[4,8] '))
    write(os.path.join(d, "bad_header_length.safetensors"), struct.pack("<Q", 2**63) + good[8:])
    write(os.path.join(d, "bad_dtype.safetensors"),
          safetensors([("i", "I8", [4], b"\1\2\3\4")]))
    write(os.path.join(d, "bad_shape_overflow.safetensors"),
          good.replace(b'"shape":[2]', b'"shape":[4611686018427387904,4]'))


# ---- quantized projections (fuzz_quant_layout: prefix "p") -------------------------

class Lcg:
    """A fixed pseudo-random sequence (the seeds must not change between runs)."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def next(self):
        self.s = (self.s * 1664525 + 1013904223) & 0xFFFFFFFF
        return self.s >> 8

    def below(self, n):
        return self.next() % n

    def uniform(self, lo, hi):
        return lo + (hi - lo) * (self.next() / float(1 << 24))

    def shuffled(self, n):
        v = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            v[i], v[j] = v[j], v[i]
        return v


def pack8(codes):
    """8 codes of 4 bits, code j at bits 4j..4j+3, as a signed int32."""
    w = 0
    for j, c in enumerate(codes):
        w |= (c & 0xF) << (4 * j)
    return w - (1 << 32) if w >= 1 << 31 else w


AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def gptq_tensors(rng, N, K, G, act_order=False, g_idx=True):
    """GPTQ (checkpoint_format gptq): codes q[n][k], zeros 1..15 stored minus one."""
    q = [[rng.below(16) for _ in range(K)] for _ in range(N)]
    ng = K // G
    zero = [[1 + rng.below(15) for _ in range(N)] for _ in range(ng)]
    if act_order:
        perm = rng.shuffled(K)
        gi = [0] * K
        for i, k in enumerate(perm):
            gi[k] = i // G
    else:
        gi = [k // G for k in range(K)]
    qweight = [pack8([q[n][8 * i + j] for j in range(8)]) for i in range(K // 8) for n in range(N)]
    qzeros = [pack8([zero[g][8 * c + j] - 1 for j in range(8)]) for g in range(ng) for c in range(N // 8)]
    scales = [round(rng.uniform(0.002, 0.03), 4) for _ in range(ng * N)]
    t = [("p.qweight", "I32", [K // 8, N], i32(*qweight)),
         ("p.qzeros", "I32", [ng, N // 8], i32(*qzeros)),
         ("p.scales", "F16", [ng, N], f16(*scales))]
    if g_idx:
        t.append(("p.g_idx", "I32", [K], i32(*gi)))
    return t


def awq_tensors(rng, N, K, G):
    """AWQ gemm: packed along the output in the order 0 2 4 6 1 3 5 7, zeros as stored."""
    q = [[rng.below(16) for _ in range(N)] for _ in range(K)]
    ng = K // G
    zero = [[rng.below(16) for _ in range(N)] for _ in range(ng)]
    qweight = [pack8([q[k][8 * c + AWQ_ORDER[i]] for i in range(8)]) for k in range(K) for c in range(N // 8)]
    qzeros = [pack8([zero[g][8 * c + AWQ_ORDER[i]] for i in range(8)]) for g in range(ng) for c in range(N // 8)]
    scales = [round(rng.uniform(0.002, 0.03), 4) for _ in range(ng * N)]
    return [("p.qweight", "I32", [K, N // 8], i32(*qweight)),
            ("p.qzeros", "I32", [ng, N // 8], i32(*qzeros)),
            ("p.scales", "F16", [ng, N], f16(*scales))]


def strata_quant(rng, qtype, N, K, G, asym=False, bias=False):
    """strata's layout and metadata, as the quantize tool writes it."""
    ng = K // G
    if qtype == "q8":
        codes = bytes(1 + rng.below(255) for _ in range(N * K))
        shape = [N, K]
    else:
        codes = bytes(rng.below(16) | rng.below(16) << 4 for _ in range(N * K // 2))
        shape = [N, K // 2]
    t = [("p.qcodes", "U8", shape, codes),
         ("p.qscales", "F32", [N, ng], f32(*[rng.uniform(0.001, 0.02) for _ in range(N * ng)]))]
    if asym:
        t.append(("p.qmins", "F32", [N, ng], f32(*[rng.uniform(-0.2, 0.0) for _ in range(N * ng)])))
    if bias:
        t.append(("p.bias", "F32", [N], f32(*[rng.uniform(-1, 1) for _ in range(N)])))
    meta = {"format": "pt",
            "strata.quantization": json.dumps({"type": qtype, "group": G, "asym": asym}, separators=(",", ":"))}
    return t, meta


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} and the metadata of a file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            b, end = e["data_offsets"]
            out[name] = (e["dtype"], e["shape"], data[b:end])
    return out, header.get("__metadata__")


def columns(entry, ncols):
    """The first ncols columns of a 2-D tensor (or the first ncols values of a 1-D one)."""
    dtype, shape, raw = entry
    size = DTYPE_SIZE[dtype]
    if len(shape) == 1:
        return dtype, [ncols], raw[: ncols * size]
    rows, cols = shape
    row = cols * size
    return dtype, [rows, ncols], b"".join(raw[r * row: r * row + ncols * size] for r in range(rows))


def fixture_projection(case, layer, n_out):
    """One projection of a tests/fixtures/quant checkpoint renamed to "p", its first
    n_out outputs kept (GPTQ: qweight/scales columns, qzeros words; AWQ: words)."""
    path = os.path.join(REPO, "tests", "fixtures", "quant", case, "model.safetensors")
    tensors, _ = read_safetensors(path)
    gptq = (layer + ".g_idx") in tensors
    out = []
    for part in ("qweight", "qzeros", "scales", "g_idx"):
        e = tensors.get(layer + "." + part)
        if e is None:
            continue
        if part == "g_idx":
            dtype, shape, raw = e
        elif part == "scales" or (part == "qweight" and gptq):
            dtype, shape, raw = columns(e, n_out)
        else:
            dtype, shape, raw = columns(e, n_out // 8)
        out.append(("p." + part, dtype, shape, raw))
    return safetensors(out, {"format": "pt"})


QUANT_FIXTURE_CUTS = [
    ("gptq-g128", "model.layers.0.self_attn.q_proj"),     # K 128, one group, sym (zeros all 8)
    ("gptq-g128", "model.layers.1.mlp.down_proj"),        # K 256, two groups
    ("gptq-g128-actorder", "model.layers.1.mlp.down_proj"),  # g_idx not monotone
    ("awq-g128", "model.layers.0.self_attn.q_proj"),
    ("awq-g128", "model.layers.1.mlp.down_proj"),
]


def corpus_quant_layout(out):
    d = os.path.join(out, "quant_layout")
    for case, layer in QUANT_FIXTURE_CUTS:
        name = "%s_%s_n16.safetensors" % (case, layer.split(".")[-1])
        write(os.path.join(d, name), fixture_projection(case, layer, 16))
    rng = Lcg(20261126)
    write(os.path.join(d, "gptq_g32_n16_k128.safetensors"),
          safetensors(gptq_tensors(rng, 16, 128, 32), {"format": "pt"}))
    write(os.path.join(d, "gptq_g32_actorder_n16_k128.safetensors"),
          safetensors(gptq_tensors(rng, 16, 128, 32, act_order=True), {"format": "pt"}))
    write(os.path.join(d, "gptq_g32_no_g_idx_n8_k32.safetensors"),
          safetensors(gptq_tensors(rng, 8, 32, 32, g_idx=False), {"format": "pt"}))
    write(os.path.join(d, "gptq_g128_actorder_n24_k256.safetensors"),  # 24 outputs: a half-empty second panel
          safetensors(gptq_tensors(rng, 24, 256, 128, act_order=True), {"format": "pt"}))
    t = awq_tensors(rng, 16, 128, 32) + [("p.bias", "F16", [16], f16(*[rng.uniform(-1, 1) for _ in range(16)]))]
    write(os.path.join(d, "awq_g32_bias_n16_k128.safetensors"), safetensors(t, {"format": "pt"}))
    write(os.path.join(d, "awq_g128_n8_k256.safetensors"), safetensors(awq_tensors(rng, 8, 256, 128), {"format": "pt"}))
    for args, name in [(("q8", 16, 128, 32), "q8_g32_n16_k128"),
                       (("q8", 8, 32, 32, False, True), "q8_g32_bias_n8_k32"),
                       (("q4", 8, 256, 32), "q4_g32_n8_k256"),
                       (("q4", 16, 128, 64, True), "q4_g64_asym_n16_k128"),
                       (("q4", 24, 256, 128, True), "q4_g128_asym_n24_k256"),
                       (("fp4", 16, 32, 32), "fp4_g32_n16_k32"),
                       (("fp4", 40, 64, 64), "fp4_g64_n40_k64")]:
        t, meta = strata_quant(rng, *args)
        write(os.path.join(d, "strata_%s.safetensors" % name), safetensors(t, meta))
    # Dense p.weight (no packed tensor: Linear<Quantized> loads it as Linear<float>).
    write(os.path.join(d, "dense_f16_bias_n8_k32.safetensors"), safetensors([
        ("p.weight", "F16", [8, 32], f16(*[rng.uniform(-0.5, 0.5) for _ in range(8 * 32)])),
        ("p.bias", "F32", [8], f32(*[rng.uniform(-1, 1) for _ in range(8)]))], {"format": "pt"}))
    # Broken on purpose.
    t = gptq_tensors(rng, 8, 64, 32)
    t[3] = ("p.g_idx", "I32", [64], i32(*([0] * 40 + [1] * 24)))  # group 0 has 40 columns
    write(os.path.join(d, "bad_gptq_group_sizes.safetensors"), safetensors(t, {"format": "pt"}))
    t = gptq_tensors(rng, 8, 32, 32)
    t[3] = ("p.g_idx", "I32", [32], i32(*([0] * 31 + [-1])))
    write(os.path.join(d, "bad_gptq_negative_g_idx.safetensors"), safetensors(t, {"format": "pt"}))
    t = awq_tensors(rng, 8, 32, 32)
    t[2] = ("p.scales", "F16", [1, 8], f16(*([0.01] * 7)) + u16(0x7C00))  # +inf
    write(os.path.join(d, "bad_awq_inf_scale.safetensors"), safetensors(t, {"format": "pt"}))
    t, meta = strata_quant(rng, "q8", 8, 32, 32)
    t[0] = ("p.qcodes", "U8", [8, 32], b"\0" + t[0][3][1:])
    write(os.path.join(d, "bad_strata_q8_code_zero.safetensors"), safetensors(t, meta))
    t, meta = strata_quant(rng, "q4", 8, 32, 32)
    meta["strata.quantization"] = '{"type":"q8","group":64,"asym":true}'
    write(os.path.join(d, "bad_strata_metadata.safetensors"), safetensors(t, meta))
    t, meta = strata_quant(rng, "q4", 8, 64, 64, asym=True)
    t[1] = ("p.qscales", "I32", [8, 1], i32(*range(8)))
    write(os.path.join(d, "bad_strata_integer_scales.safetensors"), safetensors(t, meta))
    # Finite scales too large for the weights (docs/FUZZING.md, Q1): loaded, and
    # the outputs of those rows are inf (the harness checks only the other rows).
    t, meta = strata_quant(rng, "q8", 8, 32, 32)
    t[1] = ("p.qscales", "F32", [8, 1], f32(*([1e-2] * 7 + [3e38])))
    write(os.path.join(d, "huge_scale_strata_q8.safetensors"), safetensors(t, meta))
    t = gptq_tensors(rng, 8, 32, 32)
    t[2] = ("p.scales", "F32", [1, 8], f32(*([1e-2] * 7 + [3e38])))  # F32 scales: m = -d*zero overflows too
    write(os.path.join(d, "huge_scale_gptq_f32.safetensors"), safetensors(t, {"format": "pt"}))


def corpus_quant_tensors(out):
    """fuzz_quant_tensors: 4 control bytes (format, N, K, flags; see the harness) and data."""
    d = os.path.join(out, "quant_tensors")
    rng = Lcg(7)
    names = ["gptq_g32", "gptq_g64", "gptq_g128", "awq_g32", "awq_g64", "awq_g128", "q8_g32", "q4_g32", "q4_g64",
             "q4_g128", "q4_asym_g32", "q4_asym_g64", "q4_asym_g128", "fp4_g32", "fp4_g64", "fp4_g128"]
    for fmt, name in enumerate(names):
        data = bytes(rng.below(256) for _ in range(192))
        # Valid: p.g_idx a permutation (GPTQ, desc_act), F16 scales, bias, spec from the metadata.
        write(os.path.join(d, "%s_valid.bin" % name), bytes([fmt | 16, 1 + fmt, fmt % 4, 0x83]) + data)
        # Valid: F32 (or BF16) scales, no bias, identity g_idx, 24 or 3 outputs.
        write(os.path.join(d, "%s_f32.bin" % name), bytes([fmt, 2, 0x80 | 1, 0x0A]) + data)
        write(os.path.join(d, "%s_bf16.bin" % name), bytes([fmt, 7, 3, 0x12]) + data)
    # Bytes as they come: g_idx (GPTQ), scales (AWQ), q8 codes with zeros.
    write(os.path.join(d, "gptq_raw_g_idx.bin"), bytes([16, 0, 1, 0x06]) + bytes(rng.below(4) for _ in range(256)))
    write(os.path.join(d, "awq_raw_scales.bin"), bytes([3, 1, 0, 0x21]) + bytes(rng.below(256) for _ in range(256)))
    write(os.path.join(d, "q8_raw_codes.bin"), bytes([6, 5, 0, 0xC0]) + bytes(rng.below(3) for _ in range(64)))


SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"


def corpus_index(out):
    d = os.path.join(out, "safetensors_index")
    wm = {"a": SHARD1, "b": SHARD1, "c": SHARD2, "d": SHARD2}
    write(os.path.join(d, "valid.json"),
          json.dumps({"metadata": {"total_size": 30}, "weight_map": wm}, indent=2))
    write(os.path.join(d, "partial.json"), json.dumps({"weight_map": {"a": SHARD1, "c": SHARD2}}))
    write(os.path.join(d, "wrong_shard.json"), json.dumps({"weight_map": {"a": SHARD2, "c": SHARD1}}))
    write(os.path.join(d, "escape.json"), json.dumps({"weight_map": {"a": "../" + SHARD1}}))
    write(os.path.join(d, "not_safetensors.json"), json.dumps({"weight_map": {"a": "config.json"}}))
    write(os.path.join(d, "subdir.json"), json.dumps({"weight_map": {"a": "subdir"}}))
    write(os.path.join(d, "self.json"), json.dumps({"weight_map": {"a": "model.safetensors.index.json"}}))


def corpus_config(out):
    d = os.path.join(out, "config")
    base = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
            "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": True, "hidden_act": "silu"}
    write(os.path.join(d, "llama.json"), json.dumps(base, indent=2))
    write(os.path.join(d, "llama3_rope.json"), json.dumps(dict(base, head_dim=32, attention_bias=True, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 128}, eos_token_id=[2, 3])))
    write(os.path.join(d, "mistral.json"), json.dumps(dict(base, model_type="mistral", sliding_window=16)))
    write(os.path.join(d, "qwen2.json"), json.dumps(dict(base, model_type="qwen2", use_sliding_window=False,
                                                           sliding_window=32768, bos_token_id=None)))
    # config.json NUL generation_config.json
    write(os.path.join(d, "with_generation_config.bin"),
          json.dumps(base).encode() + b"\0" + json.dumps({"bos_token_id": 3, "eos_token_id": [2, 4]}).encode())
    write(os.path.join(d, "bad_heads.json"), json.dumps(dict(base, num_key_value_heads=3)))
    write(os.path.join(d, "float_sizes.json"), json.dumps(dict(base, hidden_size=64.0, vocab_size=1e300)))
    # quantization_config as AutoGPTQ / AutoAWQ publish it (tests/fixtures/quant/*/config.json).
    gptq = {"bits": 4, "checkpoint_format": "gptq", "damp_percent": 0.01, "desc_act": True, "group_size": 128,
            "model_file_base_name": None, "model_name_or_path": None, "quant_method": "gptq",
            "static_groups": False, "sym": False, "true_sequential": True}
    awq = {"bits": 4, "group_size": 128, "modules_to_not_convert": None, "quant_method": "awq",
           "version": "gemm", "zero_point": True}
    write(os.path.join(d, "quant_gptq.json"), json.dumps(dict(base, quantization_config=gptq), indent=2))
    write(os.path.join(d, "quant_gptq_g32.json"),
          json.dumps(dict(base, quantization_config=dict(gptq, group_size=32, desc_act=False))))
    write(os.path.join(d, "quant_awq.json"), json.dumps(dict(base, quantization_config=awq), indent=2))
    write(os.path.join(d, "quant_awq_keep.json"), json.dumps(dict(base, quantization_config=dict(
        awq, group_size=64, version="GEMM", modules_to_not_convert=["lm_head", "mlp.down_proj"]))))
    write(os.path.join(d, "bad_quant_bits.json"),
          json.dumps(dict(base, quantization_config=dict(gptq, bits=8))))
    write(os.path.join(d, "bad_quant_method.json"),
          json.dumps(dict(base, quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": True})))
    write(os.path.join(d, "bad_quant_gemv.json"),
          json.dumps(dict(base, quantization_config=dict(awq, version="gemv", modules_to_not_convert=[""]))))


def corpus_image_preprocess(out):
    """preprocessor_config.json NUL image bytes: width, height, format (0 L, 1 LA, 2 RGB,
    3 RGBA; each mod 64 / 4), resize width and height, then pixels (repeated)."""
    d = os.path.join(out, "image_preprocess")
    fixtures = os.path.join(REPO, "tests", "fixtures", "images", "configs")
    image = bytes([36, 22, 2, 11, 40]) + bytes(range(0, 256, 3))
    for name in ["vit-base-patch16-224", "deit-base-distilled-patch16-224", "clip-vit-base-patch32",
                 "swin-tiny-patch4-window7-224", "clip-pad-odd", "vit-raw"]:
        with open(os.path.join(fixtures, name + ".json"), "rb") as f:
            write(os.path.join(d, name + ".bin"), f.read() + b"\0" + image)
    clip = {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 9},
            "crop_size": {"height": 12, "width": 5}, "resample": 1}
    write(os.path.join(d, "clip_small_gray.bin"), json.dumps(clip).encode() + b"\0" + bytes([0, 63, 0, 1, 1, 200, 3]))
    write(os.path.join(d, "clip_rgba.bin"), json.dumps(dict(clip, use_square_size=True, resample=5)).encode() +
          b"\0" + bytes([9, 4, 3, 64, 2]) + bytes(range(256)))
    write(os.path.join(d, "vit_nearest_nopixels.bin"),
          json.dumps({"image_processor_type": "ViTImageProcessor", "size": [7, 3], "resample": 0}).encode() + b"\0")
    write(os.path.join(d, "deit_box_scalar.bin"),
          json.dumps({"feature_extractor_type": "DeiTFeatureExtractor", "size": 20, "crop_size": [30, 2], "resample": 4,
                      "image_mean": 0.25, "image_std": 2}).encode() + b"\0" + bytes([50, 1, 2, 0, 63]) + b"xyz")
    write(os.path.join(d, "bad_std.json"), json.dumps({"image_processor_type": "ViTImageProcessor",
                                                        "image_std": [0.5, 0, 0.5]}))
    write(os.path.join(d, "bad_resample.json"), json.dumps({"image_processor_type": "CLIPImageProcessor",
                                                             "resample": 9}))
    write(os.path.join(d, "huge_size.json"), json.dumps({"image_processor_type": "CLIPImageProcessor",
                                                          "size": 8192, "do_center_crop": False}) + "\0\x01\x3f")


SP = "\u2581"


def tokenizer_json(vocab, merges, **kw):
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": merges}
    model.update(kw.pop("model", {}))
    t = {"version": "1.0", "truncation": None, "padding": None,
         "added_tokens": [
             {"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True},
             {"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True},
             {"id": 2, "content": "</s>", "single_word": False, "lstrip": False, "rstrip": True,
              "normalized": False, "special": True}],
         "normalizer": {"type": "Sequence", "normalizers": [
             {"type": "Prepend", "prepend": SP}, {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
         "pre_tokenizer": None,
         "post_processor": {"type": "TemplateProcessing",
                            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                       {"Sequence": {"id": "A", "type_id": 0}}],
                            "pair": [],
                            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
         "decoder": {"type": "Sequence", "decoders": [
             {"type": "Replace", "pattern": {"String": SP}, "content": " "}, {"type": "ByteFallback"},
             {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
         "model": model}
    t.update(kw)
    return json.dumps(t, ensure_ascii=False)


def small_vocab(with_bytes=True):
    pieces = ["<unk>", "<s>", "</s>"]
    if with_bytes:
        pieces += ["<0x%02X>" % b for b in (0x0A, 0x20, 0x41, 0xC3, 0xA9, 0xE2, 0x96, 0x81, 0xF0, 0x9F, 0x98, 0x80)]
    pieces += [SP, "a", "b", "c", "e", "h", "t", "o", "n", "u", "p", SP + "t", "th", SP + "th", "he",
               SP + "the", "on", "ce", "up", SP + "a", SP + "b", "ab", "abc"]
    return {p: i for i, p in enumerate(pieces)}


SMALL_MERGES = [SP + " t", "t h", SP + "t h", "h e", SP + "th e", "o n", "c e", "u p", SP + " a", SP + " b",
                "a b", "ab c"]


def corpus_tokenizer_json(out):
    d = os.path.join(out, "tokenizer_json")
    write(os.path.join(d, "sentencepiece_bytes.json"), tokenizer_json(small_vocab(), SMALL_MERGES))
    write(os.path.join(d, "no_bytes_pair_merges.json"),
          tokenizer_json(small_vocab(False), [m.split(" ") for m in SMALL_MERGES],
                         model={"byte_fallback": False, "fuse_unk": False, "ignore_merges": True}))
    # Metaspace pre-tokenizer and decoder, no normalizer, added tokens with lstrip/rstrip.
    t = json.loads(tokenizer_json(small_vocab(), SMALL_MERGES))
    t["normalizer"] = None
    t["pre_tokenizer"] = {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": True}
    t["decoder"] = {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": True}
    t["added_tokens"][2]["lstrip"] = True
    t["added_tokens"].append({"id": 40, "content": "<pad>", "single_word": False, "lstrip": True, "rstrip": True,
                              "normalized": True, "special": False})
    t["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_id": 40}
    write(os.path.join(d, "metaspace_added.json"), json.dumps(t, ensure_ascii=False))
    # Decoder without Fuse: Strip with stop, Replace before ByteFallback; no post-processor.
    t = json.loads(tokenizer_json(small_vocab(), SMALL_MERGES))
    t["post_processor"] = None
    t["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Strip", "content": SP, "start": 2, "stop": 1},
        {"type": "Replace", "pattern": {"String": SP}, "content": " "}]}
    write(os.path.join(d, "strip_stop.json"), json.dumps(t, ensure_ascii=False))
    t["decoder"] = None
    t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Metaspace", "replacement": "_", "add_prefix_space": False}]}
    write(os.path.join(d, "no_decoder.json"), json.dumps(t, ensure_ascii=False))
    write(os.path.join(d, "bad_merge.json"), tokenizer_json(small_vocab(), ["x y"]))


def corpus_tokenizer_encode(out):
    d = os.path.join(out, "tokenizer_encode")
    write(os.path.join(d, "story.txt"), "Once upon a time, there was a little girl named Lily. She liked to play.")
    write(os.path.join(d, "specials.txt"), "<s>Hi</s> <|start_story|>Tom<|end_story|><unk>")
    write(os.path.join(d, "unicode.txt"), "caf\u00e9 \u2581 \U0001F600 \u4e2d\u6587 \u00a0\t\n")
    write(os.path.join(d, "invalid_utf8.bin"), b"a\xff\xfe b\xc3 \xed\xa0\x80 \xf0\x9f\x98 \xc0\xaf\0z")
    # As ids (2 bytes each): in range, byte tokens (ids 3..258 in stories260K), negatives, past the end.
    ids = [1, 300, 301, 302, 0x4A, 0xC6, 0xA0, 0xAD, 2, 0xFFFF, 0xFFFE, 0xFFF3, 2047, 2050]
    write(os.path.join(d, "ids.bin"), struct.pack("<%dH" % len(ids), *ids))


def make_corpus(out):
    corpus_safetensors(out)
    corpus_index(out)
    corpus_config(out)
    corpus_tokenizer_json(out)
    corpus_tokenizer_encode(out)
    corpus_quant_layout(out)
    corpus_quant_tensors(out)
    corpus_image_preprocess(out)


# ---- run-time seeds from the real files ----------------------------------------------

def shrunk_safetensors(path):
    """The file's header (names, dtypes, metadata) with shapes cut to <= 2 per
    dimension and fresh data (the first bytes of each tensor's real data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        tensors = []
        for name, e in header.items():
            if name == "__metadata__":
                continue
            shape = [min(d, 2) for d in e["shape"]]
            nbytes = numel(shape) * DTYPE_SIZE.get(e["dtype"], 1)
            f.seek(base + e["data_offsets"][0])
            tensors.append((name, e["dtype"], shape, f.read(nbytes).ljust(nbytes, b"\0")))
    return safetensors(tensors, header.get("__metadata__"))


def make_runtime(out):
    count = 0
    fixtures = os.path.join(REPO, "tests", "fixtures")
    models = sorted(glob.glob(os.path.join(SHARED, "models", "*")))
    for i, p in enumerate(sorted(glob.glob(os.path.join(fixtures, "**", "*.safetensors"), recursive=True)) +
                          [os.path.join(m, "model.safetensors") for m in models]):
        if os.path.exists(p):
            tag = os.path.relpath(p, os.path.dirname(REPO)).replace(os.sep, "_")
            write(os.path.join(out, "safetensors", tag), shrunk_safetensors(p))
            count += 1
    for p in sorted(glob.glob(os.path.join(fixtures, "**", "*.index.json"), recursive=True)):
        with open(p) as f:
            wm = json.load(f)["weight_map"]
        # The same layout over the harness's shards: a b -> shard 1, c d -> shard 2.
        names = sorted(wm)
        mapped = {n: SHARD1 for n in names[: len(names) // 2]}
        mapped.update({n: SHARD2 for n in names[len(names) // 2:]})
        write(os.path.join(out, "safetensors_index", "fixture_names.json"), json.dumps({"weight_map": mapped}))
        count += 1
    for p in sorted(glob.glob(os.path.join(fixtures, "llama", "*", "config.json")) +
                    glob.glob(os.path.join(fixtures, "quant", "*", "config.json")) +
                    [os.path.join(m, "config.json") for m in models]):
        if not os.path.exists(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        gen = os.path.join(os.path.dirname(p), "generation_config.json")
        if os.path.exists(gen):
            with open(gen, "rb") as f:
                data += b"\0" + f.read()
        tag = os.path.relpath(p, os.path.dirname(REPO)).replace(os.sep, "_")
        write(os.path.join(out, "config", tag), data)
        count += 1
    # Every quantized projection of the quant fixtures, as prefix "p", 16 outputs kept.
    for p in sorted(glob.glob(os.path.join(fixtures, "quant", "*", "model.safetensors"))):
        case = os.path.basename(os.path.dirname(p))
        tensors, _ = read_safetensors(p)
        for layer in sorted({n[: -len(".qweight")] for n in tensors if n.endswith(".qweight")}):
            tag = "%s_%s.safetensors" % (case, layer.replace("model.layers.", "l").replace(".", "_"))
            write(os.path.join(out, "quant_layout", tag), fixture_projection(case, layer, 16))
            count += 1
    for m in models:
        p = os.path.join(m, "tokenizer.json")
        if os.path.exists(p):
            with open(p, "rb") as f:
                write(os.path.join(out, "tokenizer_json", os.path.basename(m) + ".json"), f.read())
            count += 1
    # Texts: the tokenizer cases of the fixtures.
    for p in sorted(glob.glob(os.path.join(fixtures, "tokenizer", "*.json"))):
        with open(p) as f:
            cases = json.load(f)
        items = cases.get("cases", cases) if isinstance(cases, dict) else cases
        for k, c in enumerate(items if isinstance(items, list) else []):
            text = c.get("text") if isinstance(c, dict) else None
            if isinstance(text, str):
                write(os.path.join(out, "tokenizer_encode", "%s_%03d.txt" % (os.path.basename(p)[:-5], k)), text)
                count += 1
    return count


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("corpus", "runtime"):
        sys.exit(__doc__)
    if sys.argv[1] == "corpus":
        make_corpus(sys.argv[2])
    else:
        print(make_runtime(sys.argv[2]), "run-time seeds written to", sys.argv[2])


if __name__ == "__main__":
    main()
