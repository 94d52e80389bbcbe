"""Float64 reference forward passes of the ViT family, transcribed from Hugging Face
transformers' modeling_vit.py and modeling_deit.py (eager attention, eval mode):

  ViTModel (with or without its pooler), ViTForImageClassification,
  DeiTModel, DeiTForImageClassification, DeiTForImageClassificationWithTeacher,

including ViTEmbeddings.interpolate_pos_encoding (bicubic, align_corners=False, as
torch.nn.functional.interpolate computes it; written out here, checked against torch in
make_vision_fixtures.py). numpy only; shares no code with strata.
"""

import math

import numpy as np

from encoder_ref import gelu_erf, gelu_new, layer_norm, linear, softmax


def _act(name):
    if name == "gelu":
        return gelu_erf
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return gelu_new
    raise ValueError("unsupported activation %r" % name)


# --------------------------------------------------------------------------------------------
# patch embedding and position embeddings
# --------------------------------------------------------------------------------------------

def conv_patches(pixels, W, b, p):
    """nn.Conv2d(C, hidden, kernel_size=p, stride=p)(pixels).flatten(2).transpose(1, 2):
    pixels [n, C, H, W] -> [n, (H//p)*(W//p), hidden]; the remainder rows/columns are dropped."""
    n, C, H, Wd = pixels.shape
    gh, gw = H // p, Wd // p
    x = pixels[:, :, :gh * p, :gw * p].reshape(n, C, gh, p, gw, p)
    # out[n, gy, gx, o] = sum_{c, ky, kx} x[n, c, gy, ky, gx, kx] * W[o, c, ky, kx] + b[o]
    out = np.einsum("ncyaxb,ocab->nyxo", x, W) + b
    return out.reshape(n, gh * gw, -1)


def _cubic_weights(t, A=-0.75):
    def near(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def bicubic_resize(grid, h, w):
    """torch.nn.functional.interpolate(grid [dim, h0, w0], size=(h, w), mode="bicubic",
    align_corners=False): source coordinate (d + 0.5) * in / out - 0.5 (not clamped), the
    four neighbours clamped to the border, cubic convolution with A = -0.75, x then y."""
    dim, h0, w0 = grid.shape
    if (h0, w0) == (h, w):
        return grid.copy()

    def axis(n_in, n_out):
        idx, wts = [], []
        for d in range(n_out):
            s = (d + 0.5) * n_in / n_out - 0.5
            i = math.floor(s)
            idx.append([min(max(i - 1 + k, 0), n_in - 1) for k in range(4)])
            wts.append(_cubic_weights(s - i))
        return np.array(idx), np.array(wts)

    iy, wy = axis(h0, h)
    ix, wx = axis(w0, w)
    rows = np.einsum("dyxk,xk->dyx", grid[:, :, ix], wx)  # [dim, h0, w]
    return np.einsum("dykx,yk->dyx", rows[:, iy, :], wy)  # [dim, h, w]


def embeddings(w, cfg, pixels, p, n_prefix):
    """ViTEmbeddings / DeiTEmbeddings forward with interpolate_pos_encoding=True."""
    P = cfg["patch_size"]
    x = conv_patches(pixels, w[p + "embeddings.patch_embeddings.projection.weight"],
                     w[p + "embeddings.patch_embeddings.projection.bias"], P)
    n = x.shape[0]
    tokens = [np.broadcast_to(w[p + "embeddings.cls_token"], (n, 1, x.shape[-1]))]
    if n_prefix == 2:
        tokens.append(np.broadcast_to(w[p + "embeddings.distillation_token"], (n, 1, x.shape[-1])))
    x = np.concatenate(tokens + [x], axis=1)
    pos = w[p + "embeddings.position_embeddings"][0]  # [prefix + n0, dim]
    H, Wd = pixels.shape[2], pixels.shape[3]
    n0 = pos.shape[0] - n_prefix
    if not (x.shape[1] - n_prefix == n0 and H == Wd):  # interpolate_pos_encoding's own test
        side = int(math.isqrt(n0))
        assert side * side == n0
        grid = pos[n_prefix:].T.reshape(-1, side, side)
        new = bicubic_resize(grid, H // P, Wd // P).reshape(pos.shape[1], -1).T
        pos = np.concatenate([pos[:n_prefix], new], axis=0)
    return x + pos[None]


# --------------------------------------------------------------------------------------------
# encoder
# --------------------------------------------------------------------------------------------

def _attention(w, cfg, L, x, log_size=None):
    """ViTLayer's first half: h = x + attention(layernorm_before(x)) with the keys' log sizes
    added to the scores when given (ToMe's proportional attention); returns h and the keys
    [n, heads, T, hd]."""
    eps = cfg.get("layer_norm_eps", 1e-12)
    heads = cfg["num_attention_heads"]
    n, T, D = x.shape
    hd = D // heads
    qkv_bias = cfg.get("qkv_bias", True)

    def proj(name, v):
        y = linear(v, w[L + name + ".weight"], w[L + name + ".bias"] if qkv_bias else 0.0)
        return y.reshape(n, T, heads, hd).transpose(0, 2, 1, 3)

    xn = layer_norm(x, w[L + "layernorm_before.weight"], w[L + "layernorm_before.bias"], eps)
    q, k, v = (proj("attention.attention." + p, xn) for p in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) * hd ** -0.5
    if log_size is not None:
        scores = scores + log_size[:, None, None, :]
    ctx = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(n, T, D)
    h = linear(ctx, w[L + "attention.output.dense.weight"], w[L + "attention.output.dense.bias"]) + x
    return h, k


def _mlp(w, cfg, L, h):
    """ViTLayer's second half: h + output(intermediate(layernorm_after(h)))."""
    hn = layer_norm(h, w[L + "layernorm_after.weight"], w[L + "layernorm_after.bias"], cfg.get("layer_norm_eps", 1e-12))
    inter = _act(cfg.get("hidden_act", "gelu"))(linear(hn, w[L + "intermediate.dense.weight"],
                                                       w[L + "intermediate.dense.bias"]))
    return linear(inter, w[L + "output.dense.weight"], w[L + "output.dense.bias"]) + h


def vit_layer(w, cfg, L, x):
    """ViTLayer: h = x + attention(layernorm_before(x)); out = h + output(intermediate(layernorm_after(h)))."""
    return _mlp(w, cfg, L, _attention(w, cfg, L, x)[0])


def forward(w, cfg, pixels, prefix=""):
    """ViTModel / DeiTModel: last_hidden_state (after the final layernorm) [n, T, hidden]."""
    n_prefix = 2 if cfg["model_type"] == "deit" else 1
    x = embeddings(w, cfg, pixels, prefix, n_prefix)
    for i in range(cfg["num_hidden_layers"]):
        x = vit_layer(w, cfg, "%sencoder.layer.%d." % (prefix, i), x)
    return layer_norm(x, w[prefix + "layernorm.weight"], w[prefix + "layernorm.bias"], cfg.get("layer_norm_eps", 1e-12))


def pooler(w, h, prefix=""):
    """ViTPooler / DeiTPooler: tanh(dense(h[:, 0]))."""
    return np.tanh(linear(h[:, 0], w[prefix + "pooler.dense.weight"], w[prefix + "pooler.dense.bias"]))


def classifier(w, h):
    """ViTForImageClassification / DeiTForImageClassification: classifier(h[:, 0])."""
    return linear(h[:, 0], w["classifier.weight"], w["classifier.bias"])


def classifier_with_teacher(w, h):
    """DeiTForImageClassificationWithTeacher: (cls_classifier(h[:, 0]) + distillation_classifier(h[:, 1])) / 2."""
    cls = linear(h[:, 0], w["cls_classifier.weight"], w["cls_classifier.bias"])
    dist = linear(h[:, 1], w["distillation_classifier.weight"], w["distillation_classifier.bias"])
    return (cls + dist) / 2


# --------------------------------------------------------------------------------------------
# Token merging (ToMe, Bolya et al. 2023), transcribed from the authors' tome/merge.py
# (bipartite_soft_matching, merge_wavg) and tome/patch/timm.py (ToMeBlock, ToMeAttention),
# applied to transformers' ViTLayer: h = x + attention(layernorm_before(x)) with
# proportional attention, merge, then h + mlp(layernorm_after(h)).
# --------------------------------------------------------------------------------------------

def tome_match(metric, r, class_token, distill_token):
    """bipartite_soft_matching for one sequence: metric [t, m] -> (r, src_idx, dst_idx, unm_idx)
    and the decision margins (how far each choice was from flipping)."""
    t = metric.shape[0]
    protected = int(class_token) + int(distill_token)
    r = min(r, (t - protected) // 2)
    if r <= 0:
        return None
    metric = metric / np.linalg.norm(metric, axis=-1, keepdims=True)
    a, b = metric[0::2], metric[1::2]
    scores = a @ b.T
    if class_token:
        scores[0, :] = -math.inf
    if distill_token:
        scores[:, 0] = -math.inf
    node_idx = scores.argmax(axis=-1)
    node_max = scores.max(axis=-1)
    edge_idx = np.argsort(-node_max, kind="stable")
    unm_idx, src_idx = edge_idx[r:], edge_idx[:r]
    dst_idx = node_idx[src_idx]
    if class_token:
        unm_idx = np.sort(unm_idx)
    # margins: the r-th vs (r+1)-th best similarity, and each merged token's best vs second-best match
    finite = np.sort(node_max[np.isfinite(node_max)])[::-1]
    margin = finite[r - 1] - finite[r] if r < len(finite) else math.inf
    for i in src_idx:
        row = np.sort(scores[i][np.isfinite(scores[i])])[::-1]
        if len(row) > 1:
            margin = min(margin, row[0] - row[1])
    return r, src_idx, dst_idx, unm_idx, margin


def tome_merge(x, match, distill_token):
    """merge(x, mode="sum") of one sequence: x [t, c]."""
    r, src_idx, dst_idx, unm_idx, _ = match
    src, dst = x[0::2], x[1::2].copy()
    unm = src[unm_idx]
    np.add.at(dst, dst_idx, src[src_idx])
    if distill_token:
        return np.concatenate([unm[:1], dst[:1], unm[1:], dst[1:]], axis=0)
    return np.concatenate([unm, dst], axis=0)


def vit_layer_tome(w, cfg, L, x, size, r, distill_token):
    """One ViTLayer with ToMe on a batch [n, t, D] with token sizes [n, t]; returns the merged
    hidden states, sizes and the smallest decision margin."""
    h, k = _attention(w, cfg, L, x, np.log(size))  # proportional attention
    metric = k.mean(axis=1)  # [n, T, hd]: the keys averaged over heads
    margin = math.inf
    hs, sizes = [], []
    for i in range(h.shape[0]):
        m = tome_match(metric[i], r, True, distill_token)
        if m is None:
            hs.append(h[i])
            sizes.append(size[i])
            continue
        margin = min(margin, m[4])
        s = size[i][:, None]
        merged_x = tome_merge(h[i] * s, m, distill_token)  # merge_wavg: sums of x·size, then / size
        merged_s = tome_merge(s, m, distill_token)
        hs.append(merged_x / merged_s)
        sizes.append(merged_s[:, 0])
    return _mlp(w, cfg, L, np.stack(hs)), np.stack(sizes), margin


def forward_tome(w, cfg, pixels, r, prefix=""):
    """ViTModel / DeiTModel with ToMe (r tokens per block, class and distillation tokens
    protected): last_hidden_state [n, t', hidden] and the smallest decision margin."""
    n_prefix = 2 if cfg["model_type"] == "deit" else 1
    x = embeddings(w, cfg, pixels, prefix, n_prefix)
    size = np.ones(x.shape[:2])
    margin = math.inf
    for i in range(cfg["num_hidden_layers"]):
        x, size, m = vit_layer_tome(w, cfg, "%sencoder.layer.%d." % (prefix, i), x, size, r, n_prefix == 2)
        margin = min(margin, m)
    eps = cfg.get("layer_norm_eps", 1e-12)
    return layer_norm(x, w[prefix + "layernorm.weight"], w[prefix + "layernorm.bias"], eps), margin


# --------------------------------------------------------------------------------------------
# Attentive token pruning with fusion (EViT, Liang et al. 2022), transcribed from the authors'
# evit.py (Attention.forward's top-k of the class token's attention, Block.forward's fused
# token), applied to transformers' ViTLayer at layers L/4, L/2, 3L/4 (EViT's 3, 6, 9 of 12).
# A distillation token (DeiT), for which EViT has no rule, is kept like the class token.
# --------------------------------------------------------------------------------------------

def evit_layers(layers):
    return sorted({layers // 4, layers // 2, 3 * layers // 4})


def evit_prune(h, cls_attn, keep_rate, n_prefix):
    """One image: h [t, D], cls_attn [t] (mean over heads of the first query's attention) ->
    the pruned tokens and the decision margin (the kept/pruned boundary's attention gap)."""
    m = h.shape[0] - n_prefix
    left = math.ceil(keep_rate * m)
    if left >= m:
        return h, math.inf
    assert left >= 1
    a = cls_attn[n_prefix:]
    idx = np.argsort(-a, kind="stable")  # torch.topk(largest=True, sorted=True)
    kept, pruned = idx[:left], idx[left:]
    non_cls = h[n_prefix:]
    fused = (non_cls[pruned] * a[pruned][:, None]).sum(axis=0, keepdims=True)
    margin = a[kept[-1]] - a[pruned[0]]
    return np.concatenate([h[:n_prefix], non_cls[kept], fused], axis=0), margin


def forward_evit(w, cfg, pixels, keep_rate, prefix=""):
    """ViTModel / DeiTModel with EViT pruning: last_hidden_state [n, t', hidden] and the
    smallest decision margin."""
    n_prefix = 2 if cfg["model_type"] == "deit" else 1
    x = embeddings(w, cfg, pixels, prefix, n_prefix)
    heads = cfg["num_attention_heads"]
    L = cfg["num_hidden_layers"]
    margin = math.inf
    for i in range(L):
        name = "%sencoder.layer.%d." % (prefix, i)
        h, k = _attention(w, cfg, name, x)
        if i in evit_layers(L) and keep_rate < 1:
            # the class token's attention probabilities, averaged over heads
            eps = cfg.get("layer_norm_eps", 1e-12)
            xn = layer_norm(x, w[name + "layernorm_before.weight"], w[name + "layernorm_before.bias"], eps)
            n, T, D = x.shape
            hd = D // heads
            qb = w[name + "attention.attention.query.bias"] if cfg.get("qkv_bias", True) else 0.0
            q = linear(xn, w[name + "attention.attention.query.weight"], qb).reshape(n, T, heads, hd).transpose(0, 2, 1, 3)
            probs = softmax(q[:, :, :1] @ k.transpose(0, 1, 3, 2) * hd ** -0.5)[:, :, 0, :]  # [n, heads, T]
            cls_attn = probs.mean(axis=1)
            out = []
            for j in range(n):
                hj, mj = evit_prune(h[j], cls_attn[j], keep_rate, n_prefix)
                out.append(hj)
                margin = min(margin, mj)
            h = np.stack(out)
        x = _mlp(w, cfg, name, h)
    eps = cfg.get("layer_norm_eps", 1e-12)
    return layer_norm(x, w[prefix + "layernorm.weight"], w[prefix + "layernorm.bias"], eps), margin
