"""Independent float64 (numpy) reference for the bounded KV-cache policies of
include/strata/layers/cache_policies.hpp, run token by token on a Llama-layout decoder (the
Decoder of variants_ref.py with softmax attention, RoPE, RMSNorm and SwiGLU). Written from the
papers' definitions, in terms of the set of positions each query sees, not from strata's slots:

    ring  (sliding window)  query at i sees keys j with i - W < j <= i
    sink  (StreamingLLM)    j < S or i - W < j <= i (keys keep the RoPE of their own position)
    a2sf  (Jo & Shin 2024)  per (layer, KV head) a set of at most B positions with scores; when a
                            token arrives and the set is full, the position of lowest score (ties:
                            the oldest) leaves; the new one enters with score 0; the query heads of
                            the group attend over the set; then every member's score becomes
                            lam * score + (sum over the group's heads of the weight it received)
    linear                  every j <= i (the plain causal cache, for comparison)

and for causal linear attention (Katharopoulos et al. 2020), policy "linear_attention": no RoPE,
no softmax; per KV head the running sums S = sum_j phi(k_j) v_j^T and z = sum_j phi(k_j) with
phi(x) = elu(x) + 1, and out = phi(q)^T S / (phi(q)^T z), token by token (the recurrent form).
"""

import math

import numpy as np

import variants_ref as ref

COMPOSITION = {"norm": "rms", "block": "prenorm", "pos": "rope", "score": "softmax", "qk_norm": False,
               "gate": False, "ffn": "gated", "act": "silu"}


class PolicyDecoder(ref.Decoder):
    def __init__(self, cfg, W, policy):
        super().__init__(cfg, COMPOSITION, W)
        v = cfg.get("strata_variants", {})
        self.policy = policy
        self.window = cfg.get("sliding_window") or 0
        self.sinks = v.get("sink_tokens", 4)
        self.budget = v.get("kv_budget", 0)
        self.lam = v.get("a2sf_forgetting", 0.9)
        self.min_gap = math.inf  # smallest score gap seen at an A2SF eviction (fixture robustness)

    def new_cache(self):
        # full K/V by position (what a query may see is chosen per policy), plus A2SF's sets
        return [{"k": np.zeros((0, self.KV, self.hd)), "v": np.zeros((0, self.KV, self.hd)),
                 "held": [dict() for _ in range(self.KV)],
                 "S": np.zeros((self.KV, self.hd, self.hd)), "z": np.zeros((self.KV, self.hd))}
                for _ in range(self.L)]

    def visible(self, i, g, cache):
        if self.policy == "linear":
            return list(range(i + 1))
        if self.policy == "ring":
            return [j for j in range(i + 1) if j > i - self.window]
        if self.policy == "sink":
            return [j for j in range(i + 1) if j < self.sinks or j > i - self.window]
        if self.policy == "a2sf":
            return sorted(cache["held"][g])
        raise ValueError(self.policy)

    def linear_attention(self, l, x, cache):
        p = f"model.layers.{l}.self_attn."
        n = x.shape[0]
        phi = lambda a: np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0)))  # elu(a) + 1
        q = phi(self.lin(x, p + "q_proj").reshape(n, self.H, self.hd))
        k = phi(self.lin(x, p + "k_proj").reshape(n, self.KV, self.hd))
        v = self.lin(x, p + "v_proj").reshape(n, self.KV, self.hd)
        cache["k"] = np.concatenate([cache["k"], k], axis=0)  # only counts positions here
        group = self.H // self.KV
        out = np.zeros((n, self.H, self.hd))
        for t in range(n):
            for g in range(self.KV):
                cache["S"][g] += np.outer(k[t, g], v[t, g])
                cache["z"][g] += k[t, g]
                for h in range(g * group, (g + 1) * group):
                    out[t, h] = (q[t, h] @ cache["S"][g]) / (q[t, h] @ cache["z"][g])
        return self.lin(out.reshape(n, self.H * self.hd), p + "o_proj")

    def attention(self, l, x, positions, cache):
        if self.policy == "linear_attention":
            return self.linear_attention(l, x, cache)
        p = f"model.layers.{l}.self_attn."
        n = x.shape[0]
        q = self.lin(x, p + "q_proj").reshape(n, self.H, self.hd)
        k = self.lin(x, p + "k_proj").reshape(n, self.KV, self.hd)
        v = self.lin(x, p + "v_proj").reshape(n, self.KV, self.hd)
        q = np.stack([ref.rope(q[:, h], positions, self.hd, self.theta) for h in range(self.H)], axis=1)
        k = np.stack([ref.rope(k[:, g], positions, self.hd, self.theta) for g in range(self.KV)], axis=1)
        group = self.H // self.KV
        out = np.zeros((n, self.H, self.hd))
        for t in range(n):  # one token at a time: its key enters, then its query attends
            i = positions[t]
            cache["k"] = np.concatenate([cache["k"], k[t:t + 1]], axis=0)
            cache["v"] = np.concatenate([cache["v"], v[t:t + 1]], axis=0)
            for g in range(self.KV):
                held = cache["held"][g]
                if self.policy == "a2sf":
                    if len(held) == self.budget:
                        order = sorted(held, key=lambda j: (held[j], j))
                        self.min_gap = min(self.min_gap, held[order[1]] - held[order[0]])
                        del held[order[0]]
                    held[i] = 0.0
                vis = self.visible(i, g, cache)
                K, V = cache["k"][vis, g], cache["v"][vis, g]
                received = np.zeros(len(vis))
                for h in range(g * group, (g + 1) * group):
                    w = ref.softmax(K @ q[t, h] / math.sqrt(self.hd))
                    out[t, h] = w @ V
                    received += w
                if self.policy == "a2sf":
                    for idx, j in enumerate(vis):
                        held[j] = self.lam * held[j] + received[idx]
        return self.lin(out.reshape(n, self.H * self.hd), p + "o_proj")
