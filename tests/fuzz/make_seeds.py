#!/usr/bin/env python3
"""Seed inputs for the fuzz harnesses in tests/fuzz (standard library only).

  make_seeds.py corpus DIR    writes the committed seed corpus (DIR/<harness>/...):
                              small files written here by hand, no model data.
                              tests/fuzz/corpus is this script's output.
  make_seeds.py runtime DIR   writes extra seeds derived at run time from the real
                              files (../shared/models/*, tests/fixtures/**): configs,
                              tokenizer.json files, and each fixture safetensors
                              file's header with every shape cut to at most 2 per
                              dimension (so names, dtypes and metadata are real but
                              the file stays a few KB). Never copies weights.
"""
import glob
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared")

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


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
    # Broken on purpose: the fuzzer starts next to the error paths too.
    good = safetensors([("a", "F32", [2], f32(1, 2)), ("b", "F32", [1], f32(3))])
    write(os.path.join(d, "bad_overlap.safetensors"),
          good.replace(b'"data_offsets":[8,12]', b'"data_offsets":[4,8] '))
    write(os.path.join(d, "bad_header_length.safetensors"), struct.pack("<Q", 2**63) + good[8:])
    write(os.path.join(d, "bad_dtype.safetensors"),
          safetensors([("i", "I8", [4], b"\1\2\3\4")]))
    write(os.path.join(d, "bad_shape_overflow.safetensors"),
          good.replace(b'"shape":[2]', b'"shape":[4611686018427387904,4]'))


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
