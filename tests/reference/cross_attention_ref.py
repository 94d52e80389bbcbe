"""Independent float64 (numpy) reference for cross-attention (encoder-decoder decoders, as in
Whisper's WhisperDecoderLayer / T5's decoder with pre-norm): written from those model files, not
from strata's C++.

A decoder layer, pre-norm:
    h   = x + self_attn(input_layernorm(x))                  causal, RoPE, KV cache of positions
    h   = h + cross_attn(cross_attn_layernorm(h), memory)     every memory row, no mask, no RoPE
    out = h + mlp(post_attention_layernorm(h))                SwiGLU
cross_attn: q = q_proj(h) [n, heads, hd]; k = k_proj(memory), v = v_proj(memory) [S, kv_heads, hd];
head i reads KV head i // (heads / kv_heads); softmax(q k^T / sqrt(hd)) v; o_proj. No biases.
Tensor names: model.layers.N.cross_attn.{q,k,v,o}_proj.weight, model.layers.N.cross_attn_layernorm.weight.
"""

import math

import numpy as np

from variants_ref import Decoder, rms_norm, softmax

COMPOSITION = {"norm": "rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": False,
               "gate": False, "ffn": "gated", "act": "silu"}


class CrossDecoder(Decoder):
    """variants_ref.Decoder (self-attention, FFN, norms, cache) plus a cross-attention sublayer per
    layer over `memory` [S, hidden]."""

    def __init__(self, cfg, W, memory):
        super().__init__(cfg, COMPOSITION, W)
        self.memory = np.asarray(memory, dtype=np.float64)

    def cross_attention(self, l, x):
        p = f"model.layers.{l}.cross_attn."
        n, S = x.shape[0], self.memory.shape[0]
        q = (x @ self.W[p + "q_proj.weight"].T).reshape(n, self.H, self.hd)
        k = (self.memory @ self.W[p + "k_proj.weight"].T).reshape(S, self.KV, self.hd)
        v = (self.memory @ self.W[p + "v_proj.weight"].T).reshape(S, self.KV, self.hd)
        group = self.H // self.KV
        out = np.zeros((n, self.H, self.hd))
        for t in range(n):
            for h in range(self.H):
                g = h // group
                w = softmax((k[:, g] @ q[t, h]) / math.sqrt(self.hd))
                out[t, h] = w @ v[:, g]
        return out.reshape(n, self.H * self.hd) @ self.W[p + "o_proj.weight"].T

    def forward(self, ids, cache):
        """Logits [len(ids), vocab] for ids fed after what the cache holds."""
        p0 = cache[0]["k"].shape[0]
        positions = list(range(p0, p0 + len(ids)))
        x = self.embed[np.asarray(ids)]
        for l in range(self.L):
            pre = f"model.layers.{l}."
            x = x + self.attention(l, rms_norm(x, self.W[pre + "input_layernorm.weight"], self.eps), positions,
                                   cache[l])
            x = x + self.cross_attention(l, rms_norm(x, self.W[pre + "cross_attn_layernorm.weight"], self.eps))
            x = x + self.ffn(l, rms_norm(x, self.W[pre + "post_attention_layernorm.weight"], self.eps))
        x = rms_norm(x, self.W["model.norm.weight"], self.eps)
        return x @ self.head.T
