#!/usr/bin/python3
"""Independent float64 reference packer for GPTQ / AWQ 4-bit checkpoints, and the fixtures it makes.

Run from anywhere with Debian's python (numpy only; torch is not used):

    /usr/bin/python3 tests/reference/make_quant_fixtures.py         # (re)write fixtures + self-checks

Fixed seeds: re-running rewrites byte-identical files. The model itself (config, float64 forward
pass, safetensors writer, expected.json writer) is reused from make_llama_fixtures.py.

What it writes
--------------
Every case quantizes the same small llama (MODEL below: hidden 128, intermediate 256, 2 layers,
4 heads / 2 KV heads, head_dim 32, vocab 128, untied): every projection has K = 128 (one group)
except down_proj (K = 256, two groups). About 0.48 MB per case, 1.43 MB in all.

tests/fixtures/quant/<case>/   for case in gptq-g128, gptq-g128-actorder, awq-g128
    config.json          llama config (as make_llama_fixtures.make_config writes it, torch_dtype
                         float16) + "quantization_config" as the quantizing library publishes it
    model.safetensors    embed_tokens / norms / lm_head as F16 and every q/k/v/o/gate/up/down
                         projection in the quantized layout below (no `<prefix>.weight` for them)
    expected.safetensors `<prefix>.dequantized` F32 [out, in] for model.layers.0.self_attn.q_proj and
                         model.layers.1.mlp.down_proj (exact: f16 scale x small integer)
    expected.json        prompt_ids / prompt_logits / decode_ids / decode_logits as in
                         make_llama_fixtures, computed by its float64 Reference on the DEQUANTIZED
                         projections (F16 norms / embeddings / head widened to float64)

Notation: a Linear `<prefix>` has weight W [N = out_features, K = in_features], y = x @ W.T.
4-bit codes q[n, k] in 0..15, 8 codes per 32-bit word, code j of a word at bits 4j..4j+3 (LSB
first). Words are stored as little-endian int32 (safetensors "I32"): a word whose bit 31 is set
(top code >= 8) is a NEGATIVE int32; readers must reinterpret it as uint32 (or use logical
shifts / mask after an arithmetic shift).

GPTQ, checkpoint_format "gptq" (= "v1"), as AutoGPTQ's QuantLinear.pack writes it
-----------------------------------------------------------------------------------
    <prefix>.qweight  I32 [K/8, N]       word [i, n], code j = q[n, k = 8i + j]   (packed along K)
    <prefix>.qzeros   I32 [K/128, N/8]   word [g, c], code j = zero[g, 8c + j] - 1 (packed along N)
    <prefix>.scales   F16 [K/128, N]
    <prefix>.g_idx    I32 [K]            group of input column k
    W[n, k] = scales[g_idx[k], n] * (q[n, k] - (stored_zero[g_idx[k], n] + 1))
desc_act=false: g_idx[k] = k // 128. desc_act=true (act order): GPTQ visits the input columns in an
order perm (AutoGPTQ: argsort of the Hessian diagonal, descending; here a fixed random
permutation), cuts groups of 128 in THAT order and then writes everything back in the original
column order: g_idx[perm[i]] = i // 128, qweight rows stay in original k order, and scales / qzeros
row g belongs to the columns {k : g_idx[k] == g}. g_idx is therefore not monotone (where K = 256;
with K = 128 there is one group and g_idx is all 0 whatever perm is).
Zero-minus-one ("v1"): the file holds zero - 1 and readers add 1 back. A zero of 0 cannot be
stored: AutoGPTQ computes `zeros -= 1` on a float tensor, casts it to uint32 (-1 becomes
0xFFFFFFFF) and ORs it in shifted by 4j, which also sets every HIGHER nibble of that word to 15
(AutoGPTQ issue #331). Readers see nibble 15 -> zero 16. This packer refuses (asserts) any zero
outside 1..16; the quantizers below only produce 1..15 (the self-check asserts it).
Quantization here: per output row and group (of perm), RTN as AutoGPTQ's Quantizer.find_params
(perchannel, mse off), with xmin = min(min(x), 0), xmax = max(max(x), 0) and then
  sym=True  (gptq-g128): xmax = max(|xmin|, xmax), xmin = -xmax if xmin < 0;
            scale = f16((xmax - xmin) / 15), zero = (maxq + 1) / 2 = 8, stored 7: every qzeros word
            is 0x77777777.
  sym=False (gptq-g128-actorder): scale = f16((xmax - xmin) / 15), zero = round(-xmin / scale)
            (round half to even, like torch.round; AutoGPTQ divides by the unrounded scale, which
            can differ only when -xmin / scale is within 15 * 2^-11 < 0.008 of a .5).
  both:     q = clamp(round(x / scale) + zero, 0, 15) with the f16 scale (GPTQ's error feedback is
            not applied: that changes which codes are chosen, not the layout).
How the asymmetric zeros stay in 1..15 (v1 stores zero - 1, so 0 is not storable): xmin <= 0 <=
xmax gives 0 <= -xmin / scale <= 15 / (1 - 2^-11) < 15.5, so zero <= 15 with no clamp. zero = 0
needs -xmin < scale / 2, i.e. a (row, group) block with no value below -(xmax - xmin) / 30 (all
but non-negative). The weights are Gaussian: in the unshaped blocks -xmin / scale is >= 4.2 (the
zeros that occur there are 4..10). Output rows 0..15 of every projection and group are shaped
(shape_block: the negative and positive parts rescaled, range kept) to the designed zeros
pattern_zeros(g) = ZERO_PATTERN halves rolled by g, which hold every value 1..15 (1 and 15
included; 15 = an all non-positive block); -xmin / f16 scale is then z (1 +- 2^-11) and rounds to
z. quantize_gptq asserts 0..15, pack_gptq asserts stored 0..15 and the self-check asserts
1 <= zero <= 15 for every block, so a change that produced zero 0 fails instead of writing
AutoGPTQ's overflowed word. Consequence for the layout test: qzeros words [g, 0] and [g, 1] of
every projection hold 8 pairwise distinct nibbles (e.g. layers.0.q_proj word [0, 0] = 0x8C16A3E0,
a negative int32), so any nibble-order or column-order mistake changes the dequantized weights.

AWQ, version "gemm", as AutoAWQ's WQLinear_GEMM.from_linear writes it
-------------------------------------------------------------------
    <prefix>.qweight  I32 [K, N/8]       word [k, c], code i = q[n = 8c + ORDER[i], k] (packed along N)
    <prefix>.qzeros   I32 [K/128, N/8]   word [g, c], code i = zero[g, 8c + ORDER[i]]  (no offset)
    <prefix>.scales   F16 [K/128, N]
    ORDER = [0, 2, 4, 6, 1, 3, 5, 7]     (so output column 8c + r sits in nibble [0,4,1,5,2,6,3,7][r])
    W[n, k] = scales[k // 128, n] * (q[n, k] - zero[k // 128, n])
No g_idx tensor. Zeros 0..15 are all representable (here some groups are forced all >= 0 or all
<= 0 so that zeros 0 and 15 both occur). Quantization: AutoAWQ's pseudo_quantize_tensor with
zero_point=True: scale = f16(max(max - min, 1e-5) / 15), zero = clamp(-round(min / scale), 0, 15),
q = clamp(round(x / scale) + zero, 0, 15).

Dequantized values scale * (q - z) are exact in float32 (11-bit f16 significand x |q - z| <= 16).

Sources read (public code; nothing copied)
------------------------------------------
- AutoGPTQ/AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda.py (and qlinear_cuda_old.py):
  buffer shapes qweight [in // 32 * bits, out], qzeros [ceil(in / group_size), out // 32 * bits],
  scales f16 [groups, out], g_idx int32 [in]; pack(): qweight row r ORs intweight rows 8r + j
  shifted by 4j, `zeros -= 1`, qzeros column c ORs zero columns 8c + j shifted by 4j, both cast
  uint32 -> int32; the torch fallback forward unpacks with shifts 0, 4, .., 28, masks 0xF,
  adds 1 to zeros and computes scales[g_idx] * (weight - zeros[g_idx]).
- AutoGPTQ/AutoGPTQ auto_gptq/quantization/gptq.py (fasterquant): actorder perm =
  argsort(diag(H), descending); groups found on the permuted columns; g_idx = i // group_size
  over the permuted order, then `g_idx = g_idx[invperm]` and `Q = Q[:, invperm]`.
- AutoGPTQ/AutoGPTQ auto_gptq/quantization/quantizer.py (find_params): xmin / xmax clipped to
  include 0, sym widens them to +-max|.|, scale = (xmax - xmin) / maxq, zero = (maxq + 1) / 2 if sym
  else round(-xmin / scale) (not clamped); quantize() clamps round(x / scale) + zero to 0..maxq.
- AutoGPTQ/AutoGPTQ auto_gptq/quantization/config.py: BaseQuantizeConfig.to_dict keys (bits,
  group_size, damp_percent, desc_act, static_groups, sym, true_sequential, model_name_or_path,
  model_file_base_name, quant_method, checkpoint_format), checkpoint_format "gptq".
- huggingface/optimum optimum/gptq/quantizer.py: checkpoint_format "gptq" (v1) is read by both
  auto-gptq and gptqmodel, "gptq_v2" (zeros without the -1) by gptqmodel only.
- casper-hansen/AutoAWQ awq/modules/linear/gemm.py (WQLinear_GEMM): buffer shapes qweight
  [in, out // 8], qzeros [in // group_size, out // 8], scales f16 [in // group_size, out];
  from_linear packs column `col * 8 + order_map[i]` at bit 4i with order_map [0,2,4,6,1,3,5,7],
  zeros packed the same way with no offset.
- casper-hansen/AutoAWQ awq/utils/packing_utils.py: AWQ_REVERSE_ORDER [0,4,1,5,2,6,3,7];
  dequantize_gemm = (iweight - izeros) * scales with zeros / scales repeat_interleave'd by
  group_size along the input dim; the result is [in, out] and used as x @ W.
- casper-hansen/AutoAWQ awq/quantize/quantizer.py (pseudo_quantize_tensor, zero_point branch).
- casper-hansen/AutoAWQ awq/models/_config.py (to_transformers_dict: quant_method, zero_point,
  group_size, bits, version lower-cased, modules_to_not_convert).
- huggingface/transformers src/transformers/integrations/awq.py: replace_with_awq_linear swaps
  nn.Linear for AutoAWQ's WQLinear_GEMM when version is gemm (so HF loads AutoAWQ's layout).
- Issues: AutoGPTQ/AutoGPTQ #331 (zero 0 -> -1 overflows the uint32 cast), #325 (removing the
  -1 is a breaking format change), #640 (checkpoint_format gptq_v2); vllm-project/vllm #26092
  (v1: w - (stored + 1); v2: w - stored).
"""

import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_llama_fixtures as L  # noqa: E402

# Teach the shared safetensors writer/reader the int32 storage type ("I32" in safetensors).
L._STORAGE.setdefault("I32", np.dtype("<i4"))

OUT_ROOT = os.path.join(L.FIXTURES, "quant")
BITS = 4
PER_WORD = 32 // BITS  # 8 codes per int32
GROUP = 128
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)
PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
EXPECTED_LAYERS = ("model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj")

# The small llama every case quantizes (keys as make_llama_fixtures' case dicts use them).
# hidden 128, intermediate 256, 4 heads / 2 KV heads (head_dim 32): every K is 128 or 256, so
# only down_proj (K = 256) has two groups.
MODEL = dict(model_type="llama", vocab=128, hidden=128, heads=4, kv_heads=2, inter=256, layers=2,
             tied=False, dtype="F16")

GPTQ_CONFIG = {"bits": BITS, "group_size": GROUP, "damp_percent": 0.01, "static_groups": False,
               "sym": True, "true_sequential": True, "model_name_or_path": None,
               "model_file_base_name": None, "quant_method": "gptq", "checkpoint_format": "gptq"}
AWQ_CONFIG = {"quant_method": "awq", "zero_point": True, "group_size": GROUP, "bits": BITS,
              "version": "gemm", "modules_to_not_convert": None}

# Asymmetric GPTQ (gptq-g128-actorder): in every projection and group g, output rows 0..15 are
# shaped so that their zeros are pattern_zeros(g): each 8-row half of ZERO_PATTERN rolled by g
# (8 distinct values per half; together every zero 1..15 occurs). qzeros words [g, 0] and [g, 1]
# then hold 8 distinct nibbles each. Rows >= 16 keep their natural zeros (4..10 here).
ZERO_PATTERN = ((1, 15, 4, 11, 7, 2, 13, 9), (3, 12, 6, 14, 8, 5, 10, 2))

CASES = [
    dict(name="gptq-g128", method="gptq", desc_act=False, sym=True, seed=301,
         about="GPTQ 4-bit, group 128, sym, desc_act false (g_idx[k] = k // 128); checkpoint_format "
               "gptq (v1: qzeros hold zero - 1 = 7)"),
    dict(name="gptq-g128-actorder", method="gptq", desc_act=True, sym=False, seed=302,
         about="GPTQ 4-bit, group 128, asymmetric (sym false, zeros 1..15, stored zero - 1), "
               "desc_act true: groups cut along a random column permutation perm, "
               "g_idx[perm[i]] = i // 128 (not monotone where K = 256); qweight in original "
               "column order; qzeros words [g, 0] and [g, 1] of every projection hold 8 distinct nibbles"),
    dict(name="awq-g128", method="awq", seed=303,
         about="AWQ GEMM 4-bit, group 128, zero_point: packed along the output dim in order "
               "[0,2,4,6,1,3,5,7], zeros without offset (0 and 15 both occur)"),
]


def f16(x):
    """float64 -> float64 value of the nearest float16 (round-to-nearest-even)."""
    return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Quantizers (RTN per output row and group). Return integer codes q [N, K] (original column
# order), zeros [G, N] (true zero points), scales [G, N] (float64 holding f16 values), g_idx [K].
# --------------------------------------------------------------------------------------------

def quantize_gptq(w, perm, sym):
    """AutoGPTQ Quantizer.find_params (perchannel, mse off) per output row and group of perm."""
    n, k = w.shape
    groups = k // GROUP
    maxq = 2 ** BITS - 1
    g_idx = np.empty(k, dtype=np.int64)
    g_idx[perm] = np.arange(k) // GROUP
    q = np.empty((n, k), dtype=np.int64)
    scales = np.empty((groups, n))
    zeros = np.empty((groups, n), dtype=np.int64)
    for g in range(groups):
        cols = perm[g * GROUP:(g + 1) * GROUP]
        x = w[:, cols]
        lo = np.minimum(x.min(axis=1), 0.0)
        hi = np.maximum(x.max(axis=1), 0.0)
        if sym:
            hi = np.maximum(np.abs(lo), hi)
            lo = np.where(lo < 0, -hi, lo)
        both0 = (lo == 0) & (hi == 0)
        lo, hi = np.where(both0, -1.0, lo), np.where(both0, 1.0, hi)
        s = f16((hi - lo) / maxq)
        assert np.all(s > 0)
        if sym:
            z = np.full(n, (maxq + 1) // 2, dtype=np.int64)  # (maxq + 1) / 2 = 8
        else:
            # round(-xmin / scale) with the stored (f16) scale; lo <= 0 <= hi bounds it by
            # 15 / (1 - 2^-11) < 15.5, so it is 0..15 without a clamp (AutoGPTQ has none).
            z = np.round(-lo / s).astype(np.int64)
            assert z.min() >= 0 and z.max() <= maxq
        scales[g] = s
        zeros[g] = z
        q[:, cols] = np.clip(np.round(x / s[:, None]) + z[:, None], 0, maxq)
    return q, zeros, scales, g_idx


def shape_block(x, z):
    """Rescale the negative / positive parts of one (row, group) block of weights (range R kept)
    so that asymmetric RTN gives it zero point z in 1..15: min = -z R / 15, max = (15 - z) R / 15
    (z = 15: the block is -|x|, max 0). Then -xmin / f16(R / 15) = z (1 +- 2^-11) rounds to z."""
    assert 1 <= z <= 2 ** BITS - 1 and x.min() < 0 < x.max()
    r = x.max() - x.min()
    if z == 2 ** BITS - 1:
        y = -np.abs(x)
        return y * (r / -y.min())
    return np.where(x < 0, x * (z * r / 15.0 / -x.min()), x * ((15 - z) * r / 15.0 / x.max()))


def pattern_zeros(g):
    """Zero points forced on output rows 0..15 of group g (asymmetric GPTQ)."""
    return np.concatenate([np.roll(np.array(h, dtype=np.int64), g) for h in ZERO_PATTERN])


def quantize_awq(w):
    n, k = w.shape
    groups = k // GROUP
    x = w.reshape(n, groups, GROUP)
    s = f16(np.maximum(x.max(axis=2) - x.min(axis=2), 1e-5) / (2 ** BITS - 1))
    z = np.clip(-np.round(x.min(axis=2) / s), 0, 2 ** BITS - 1)
    q = np.clip(np.round(x / s[..., None]) + z[..., None], 0, 2 ** BITS - 1).reshape(n, k)
    g_idx = np.arange(k) // GROUP
    return q.astype(np.int64), (z + 0.0).astype(np.int64).T.copy(), s.T.copy(), g_idx


def dequantize(q, zeros, scales, g_idx):
    """W[n, k] = scales[g_idx[k], n] * (q[n, k] - zeros[g_idx[k], n]) in float64."""
    return scales[g_idx].T * (q - zeros[g_idx].T)


# --------------------------------------------------------------------------------------------
# Packers (vectorised)
# --------------------------------------------------------------------------------------------

def _words(nibbles):
    """nibbles [..., 8] ints 0..15 -> int32 words [...], nibble j at bits 4j."""
    assert nibbles.shape[-1] == PER_WORD
    assert nibbles.min() >= 0 and nibbles.max() <= 2 ** BITS - 1
    u = np.zeros(nibbles.shape[:-1], dtype=np.uint32)
    for j in range(PER_WORD):
        u |= nibbles[..., j].astype(np.uint32) << np.uint32(BITS * j)
    return u.view(np.int32)


def pack_gptq(q, zeros, scales, g_idx):
    n, k = q.shape
    stored = zeros - 1  # checkpoint_format "gptq" (v1)
    assert stored.min() >= 0 and stored.max() <= 2 ** BITS - 1, "v1 cannot store this zero"
    # qweight [K/8, N]: word [i, n] holds q[n, 8i + j] at nibble j
    qweight = _words(q.T.reshape(k // PER_WORD, PER_WORD, n).transpose(0, 2, 1))
    # qzeros [G, N/8]: word [g, c] holds stored[g, 8c + j] at nibble j
    qzeros = _words(stored.reshape(stored.shape[0], n // PER_WORD, PER_WORD))
    return {"qweight": qweight, "qzeros": qzeros, "scales": scales.astype("<f2"),
            "g_idx": g_idx.astype(np.int32)}


def pack_awq(q, zeros, scales):
    n, k = q.shape
    order = list(AWQ_ORDER)
    # qweight [K, N/8]: word [k, c] holds q[8c + ORDER[i], k] at nibble i
    qweight = _words(q.T.reshape(k, n // PER_WORD, PER_WORD)[:, :, order])
    qzeros = _words(zeros.reshape(zeros.shape[0], n // PER_WORD, PER_WORD)[:, :, order])
    return {"qweight": qweight, "qzeros": qzeros, "scales": scales.astype("<f2")}


# --------------------------------------------------------------------------------------------
# Second, deliberately plain unpacker (python ints, one word at a time) for the self-check.
# --------------------------------------------------------------------------------------------

def _nibbles_of(word):
    u = int(word) & 0xFFFFFFFF  # int32 bit pattern -> unsigned
    return [(u >> (4 * j)) & 0xF for j in range(8)]


def unpack_gptq_plain(t, n, k):
    qw, qz, g_idx = t["qweight"], t["qzeros"], t["g_idx"]
    assert qw.shape == (k // 8, n) and qz.shape == (k // GROUP, n // 8) and g_idx.shape == (k,)
    q = np.zeros((n, k), dtype=np.int64)
    for i in range(k // 8):
        for col in range(n):
            for j, v in enumerate(_nibbles_of(qw[i, col])):
                q[col, 8 * i + j] = v
    zeros = np.zeros((k // GROUP, n), dtype=np.int64)
    for g in range(k // GROUP):
        for c in range(n // 8):
            for j, v in enumerate(_nibbles_of(qz[g, c])):
                zeros[g, 8 * c + j] = v + 1  # v1: stored zero - 1
    return q, zeros, g_idx.astype(np.int64)


def unpack_awq_plain(t, n, k):
    qw, qz = t["qweight"], t["qzeros"]
    assert qw.shape == (k, n // 8) and qz.shape == (k // GROUP, n // 8)
    q = np.zeros((n, k), dtype=np.int64)
    for row in range(k):
        for c in range(n // 8):
            for i, v in enumerate(_nibbles_of(qw[row, c])):
                q[8 * c + AWQ_ORDER[i], row] = v
    zeros = np.zeros((k // GROUP, n), dtype=np.int64)
    for g in range(k // GROUP):
        for c in range(n // 8):
            for i, v in enumerate(_nibbles_of(qz[g, c])):
                zeros[g, 8 * c + AWQ_ORDER[i]] = v
    return q, zeros, np.array([kk // GROUP for kk in range(k)])


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

def quantize_model(case, W64):
    """-> (tensors {name: (dtype, array)}, W for the Reference {name: float64}, info for checks)."""
    rng = np.random.default_rng([case["seed"], 11])
    tensors, W, info = {}, {}, {}
    for name, w in W64.items():
        prefix = name[:-len(".weight")]
        if not any(prefix.endswith(p) for p in PROJECTIONS):
            st, W[name] = L.to_storage(w, "F16")
            tensors[name] = ("F16", st)
            continue
        n, k = w.shape
        if case["method"] == "gptq":
            perm = rng.permutation(k) if case["desc_act"] else np.arange(k)
            if not case["sym"]:
                w = w.copy()
                for g in range(k // GROUP):
                    cols = perm[g * GROUP:(g + 1) * GROUP]
                    for r, z in enumerate(pattern_zeros(g)):
                        w[r, cols] = shape_block(w[r, cols], int(z))
            q, zeros, scales, g_idx = quantize_gptq(w, perm, case["sym"])
            packed = pack_gptq(q, zeros, scales, g_idx)
        else:
            w = w.copy()
            # force some (row, group) blocks to one sign so that zeros 0 and 15 both occur
            rows = np.arange(n)
            pos, neg = rows[rows % 29 == 3], rows[rows % 31 == 7]
            w[pos, :GROUP] = np.abs(w[pos, :GROUP])
            w[neg, k - GROUP:] = -np.abs(w[neg, k - GROUP:])
            q, zeros, scales, g_idx = quantize_awq(w)
            packed = pack_awq(q, zeros, scales)
        deq = dequantize(q, zeros, scales, g_idx)
        W[name] = deq
        for part, arr in packed.items():
            tensors[prefix + "." + part] = ("F16" if part == "scales" else "I32", arr)
        info[prefix] = dict(q=q, zeros=zeros, g_idx=g_idx, scales=scales, deq=deq, orig=w, n=n, k=k)
    return tensors, W, info


def build_case(case):
    c = dict(MODEL, **case)
    cfg = L.make_config(c)
    if case["method"] == "gptq":
        qc = dict(GPTQ_CONFIG, desc_act=case["desc_act"], sym=case["sym"])
    else:
        qc = dict(AWQ_CONFIG)
    cfg["quantization_config"] = qc
    assert cfg["torch_dtype"] == "float16"
    W64 = L.init_weights(c, cfg)
    tensors, W, info = quantize_model(case, W64)
    model = L.Reference(cfg, W)

    eos = cfg["eos_token_id"] if isinstance(cfg["eos_token_id"], list) else [cfg["eos_token_id"]]
    for attempt in range(1000):
        prng = np.random.default_rng([case["seed"], 7, attempt])
        prompt = [cfg["bos_token_id"]] + [int(x) for x in prng.integers(3, c["vocab"], L.N_PROMPT - 1)]
        pl, ids, dl = model.generate(prompt, L.N_DECODE)
        margin = L.greedy_margins(pl, dl)
        if margin >= L.MIN_MARGIN and not (set(ids) & set(eos)) and len(set(ids)) >= L.MIN_DISTINCT:
            break
    else:
        raise RuntimeError(f"{case['name']}: no prompt with a clear greedy path")
    c["_margin"] = float(margin)

    d = os.path.join(OUT_ROOT, case["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    L.dump_json(os.path.join(d, "config.json"), cfg)
    L.write_safetensors(os.path.join(d, "model.safetensors"),
                        [(nm, tensors[nm][0], tensors[nm][1]) for nm in sorted(tensors)])
    L.write_safetensors(os.path.join(d, "expected.safetensors"),
                        [(p + ".dequantized", "F32", info[p]["deq"].astype("<f4")) for p in EXPECTED_LAYERS])
    L.write_expected(os.path.join(d, "expected.json"), c, prompt, pl, ids, dl)
    allr = np.concatenate([pl, dl])
    print(f"{case['name']:20s} attempt {attempt:3d}  |logits| max {np.abs(allr).max():6.2f} "
          f"std {allr.std():5.2f}  min greedy margin {margin:.4f}  decode {ids}")
    return cfg, W, info, prompt, pl, ids, dl


# --------------------------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------------------------

def self_check(case, cfg, W, info, prompt, pl, ids, dl):
    d = os.path.join(OUT_ROOT, case["name"])
    ok = True
    R = L.read_safetensors(os.path.join(d, "model.safetensors"))  # float64 of whatever was stored
    E = L.read_safetensors(os.path.join(d, "expected.safetensors"))
    gptq = case["method"] == "gptq"
    names = set(R)
    for p, inf in info.items():
        n, k = inf["n"], inf["k"]
        parts = ("qweight", "qzeros", "scales", "g_idx") if gptq else ("qweight", "qzeros", "scales")
        ok &= (p + ".weight") not in names and all(p + "." + s in names for s in parts)
        if not gptq:
            ok &= (p + ".g_idx") not in names
        t = {s: R[p + "." + s].astype(np.int64).astype(np.int32) for s in parts if s != "scales"}
        if gptq:
            q, zeros, g_idx = unpack_gptq_plain(t, n, k)
        else:
            q, zeros, g_idx = unpack_awq_plain(t, n, k)
        ok &= np.array_equal(q, inf["q"]) and np.array_equal(zeros, inf["zeros"])
        ok &= np.array_equal(g_idx, inf["g_idx"])
        ok &= np.array_equal(R[p + ".scales"], inf["scales"])
        # dequantize again, element by element from the published formula, for one row stripe
        sc = R[p + ".scales"]
        for nn in range(0, n, 37):
            for kk in range(k):
                g = int(g_idx[kk])
                ok &= sc[g, nn] * (q[nn, kk] - zeros[g, nn]) == W[p + ".weight"][nn, kk]
        ok &= np.array_equal(W[p + ".weight"].astype(np.float32).astype(np.float64), W[p + ".weight"])
        # every group holds exactly GROUP input columns; quantization error within scale/2 unless clamped
        ok &= np.all(np.bincount(g_idx, minlength=k // GROUP) == GROUP)
        err = np.abs(inf["deq"] - inf["orig"])
        step = inf["scales"][inf["g_idx"]].T
        clamped = (inf["q"] == 0) | (inf["q"] == 2 ** BITS - 1)
        ok &= np.all(err[~clamped] <= step[~clamped] * 0.5 + 1e-12)
        if gptq:
            if case["sym"]:
                ok &= np.all(inf["zeros"] == 8) and np.all(t["qzeros"] == 0x77777777)
            else:
                # v1-representable zeros only, the forced rows as designed, and per group two
                # words with 8 distinct nibbles (a nibble-order mistake cannot go unnoticed)
                ok &= inf["zeros"].min() >= 1 and inf["zeros"].max() <= 15
                for g in range(k // GROUP):
                    ok &= np.array_equal(inf["zeros"][g, :16], pattern_zeros(g))
                    ok &= all(len(set(_nibbles_of(t["qzeros"][g, c]))) == 8 for c in (0, 1))
            if case["desc_act"] and k > GROUP:
                ok &= np.any(np.diff(g_idx) < 0)
            elif case["desc_act"]:
                ok &= np.all(g_idx == 0)
            else:
                ok &= np.array_equal(g_idx, np.arange(k) // GROUP)
        if p in EXPECTED_LAYERS:
            ok &= np.array_equal(E[p + ".dequantized"], W[p + ".weight"])
    allq = np.concatenate([inf["q"].ravel() for inf in info.values()])
    allz = np.concatenate([inf["zeros"].ravel() for inf in info.values()])
    qw = np.concatenate([R[p + ".qweight"].ravel() for p in info])
    ok &= set(np.unique(allq)) == set(range(16)) and np.any(qw < 0)  # bit 31 set somewhere
    if not gptq:
        ok &= 0 in allz and 15 in allz
    elif not case["sym"]:
        ok &= set(np.unique(allz)) == set(range(1, 16))
        # hand-written words: stored zero - 1 at nibbles 0..7. Group 0: 0,14,3,10,6,1,12,8 and
        # 2,11,5,13,7,4,9,1; group 1 (rolled by one): 8,0,14,3,10,6,1,12 and 1,2,11,5,13,7,4,9
        qz = R["model.layers.0.self_attn.q_proj.qzeros"]
        ok &= int(qz[0, 0]) == 0x8C16A3E0 - 2 ** 32 and int(qz[0, 1]) == 0x1947D5B2
        qz = R["model.layers.1.mlp.down_proj.qzeros"]
        ok &= int(qz[1, 0]) == 0xC16A3E08 - 2 ** 32 and int(qz[1, 1]) == 0x947D5B21 - 2 ** 32
    # non-quantized tensors round-trip as F16 values
    for nm in W:
        if nm[:-len(".weight")] not in info:
            ok &= np.array_equal(R[nm], W[nm])
    # the reference: KV-cache run == full recompute on the dequantized model
    model = L.Reference(cfg, W)
    full = model.forward(list(prompt) + list(ids), model.new_cache())
    diff = np.abs(full - np.concatenate([pl, dl])).max()
    ok &= diff < 1e-9
    vals, cnt = np.unique(allz, return_counts=True)
    zs = "zeros {" + ",".join(f"{v}:{c}" for v, c in zip(vals.tolist(), cnt.tolist())) + "}"
    print(f"  check {case['name']:20s} plain unpack == codes, dequant exact, cache-vs-full {diff:.1e}, "
          f"{zs}  {'OK' if ok else 'FAIL'}")
    return bool(ok)


def known_answers():
    """Hand-computed words, independent of the packers' index arithmetic."""
    q = np.zeros((8, 8), dtype=np.int64)
    q[0] = np.arange(1, 9)  # output column 0, input rows k = 0..7 hold codes 1..8
    # GPTQ: qweight nibble j = code of input row j; qzeros nibble j = zero of column j minus 1
    g = pack_gptq(q, np.arange(1, 9).reshape(1, 8), np.ones((1, 8)), np.zeros(8, np.int64))
    ok = int(g["qweight"][0, 0]) == 0x87654321 - 2 ** 32  # bit 31 set: a negative int32
    ok &= int(g["qzeros"][0, 0]) == 0x76543210
    # AWQ: output columns 0..7 hold codes 0..7 -> nibble i = column ORDER[i]
    a = pack_awq(np.arange(8).reshape(8, 1), np.arange(8).reshape(1, 8) + 8, np.ones((1, 8)))
    ok &= int(a["qweight"][0, 0]) == 0x75316420
    ok &= int(a["qzeros"][0, 0]) == 0xFDB9ECA8 - 2 ** 32
    print(f"  check known-answer words  {'OK' if ok else 'FAIL'}")
    return ok


def main():
    os.makedirs(OUT_ROOT, exist_ok=True)
    ok = known_answers()
    for case in CASES:
        built = build_case(case)
        ok &= self_check(case, *built)
    for case in CASES:
        d = os.path.join(OUT_ROOT, case["name"])
        for f in sorted(os.listdir(d)):
            with open(os.path.join(d, f), "rb") as fh:
                data = fh.read()
            print(f"  {case['name']}/{f:22s} {len(data):8d} bytes  sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    if not ok:
        print("SELF-CHECK FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
