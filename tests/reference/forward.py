"""Plain NumPy forward pass of a dense Llama-family decoder (Llama 1/2/3, Mistral,
Qwen2, Qwen3): shardlm's own numerical reference. Standard library + NumPy only.

    m = load_model("stories260K.gguf")        # .gguf, HF directory or llama2.c .bin
    logits = m.forward([1, 403, 407])         # (n_tok, n_vocab)
    ids, prompt_logits = m.greedy([1, 403], 20)

Per layer (pre-norm), for n_tok new tokens at positions p0 .. p0+n_tok-1:
    h = rmsnorm(x) * attn_norm
    q, k, v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
    q, k = rmsnorm over head_dim * q_norm / k_norm        (Qwen3 only)
    q, k = rope(q), rope(k)
    a = softmax(q k^T / sqrt(head_dim) + causal mask) v   (query head h reads
        KV head h // (n_head / n_head_kv))
    x = x + a Wo^T
    h = rmsnorm(x) * ffn_norm
    x = x + (silu(h Wgate^T) * (h Wup^T)) Wdown^T
logits = (rmsnorm(x) * output_norm) Wout^T       (Wout = token embedding if tied)
rmsnorm(x) = x / sqrt(mean(x^2) + eps)

RoPE rotates pair i of each head by pos * inv_freq[i], inv_freq[i] =
theta^(-2i/n_rot). Which components form pair i depends on how Q/K rows are
stored: "adjacent" (2i, 2i+1) for GGUF arch llama and llama2.c checkpoints
(llama.cpp's converter permutes HF Q/K rows into that order); "halves"
(i, i + n_rot/2) for GGUF qwen2/qwen3 and every HF checkpoint (rotate_half).

All weights are dequantized to float32 up front; matmuls run in float32 (or
float64 with dtype=np.float64). RoPE angles are computed in float64.
"""
import json
import math
import os
import struct
from types import SimpleNamespace

import numpy as np

from gguf_reader import GGUF
from st_reader import SafeTensors

# Canonical per-layer weight keys. Shapes (PyTorch Linear convention, (out, in)):
#   attn_norm (n_embd,)            wq (n_head*hd, n_embd)   bq (n_head*hd,)
#   wk, wv (n_head_kv*hd, n_embd)  bk, bv (n_head_kv*hd,)   wo (n_embd, n_head*hd)
#   q_norm, k_norm (hd,)           ffn_norm (n_embd,)
#   w_gate, w_up (n_ff, n_embd)    w_down (n_embd, n_ff)
LINEARS = ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down")

GGUF_NAMES = {"attn_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v",
              "wo": "attn_output", "q_norm": "attn_q_norm", "k_norm": "attn_k_norm",
              "ffn_norm": "ffn_norm", "w_gate": "ffn_gate", "w_up": "ffn_up", "w_down": "ffn_down"}
HF_NAMES = {"attn_norm": "input_layernorm", "wq": "self_attn.q_proj", "wk": "self_attn.k_proj",
            "wv": "self_attn.v_proj", "wo": "self_attn.o_proj", "q_norm": "self_attn.q_norm",
            "k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm",
            "w_gate": "mlp.gate_proj", "w_up": "mlp.up_proj", "w_down": "mlp.down_proj"}
HF_ARCHS = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
            "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}


def _hparams(**kw):
    hp = SimpleNamespace(**kw)
    defaults = dict(n_rot=kw["head_dim"], rope_layout="halves", rope_scaling=None,
                    freq_factors=None, sliding_window=None, eps=1e-5, theta=10000.0, tied=False)
    for k, v in defaults.items():
        hp.__dict__.setdefault(k, v)
    return hp


def _uniform(v, what):
    """GGUF allows per-layer arrays for some keys; only uniform ones are supported."""
    if isinstance(v, list):
        if len(set(v)) != 1:
            raise NotImplementedError("per-layer %s" % what)
        v = v[0]
    return v


# ------------------------------------------------------------------ loaders

def load_gguf(path):
    g = GGUF(path)
    arch = g.meta.get("general.architecture")
    if arch not in ("llama", "qwen2", "qwen3"):
        raise NotImplementedError("GGUF architecture %r" % arch)

    def key(name, default=None):
        return _uniform(g.meta.get("%s.%s" % (arch, name), default), name)

    n_embd, n_head = int(key("embedding_length")), int(key("attention.head_count"))
    scaling = None
    stype = key("rope.scaling.type")
    if stype == "linear" and float(key("rope.scaling.factor", 1.0)) != 1.0:
        scaling = {"type": "linear", "factor": float(key("rope.scaling.factor"))}
    elif stype not in (None, "none", "linear"):
        raise NotImplementedError("GGUF rope scaling %r" % stype)
    head_dim = int(key("attention.key_length", n_embd // n_head))
    hp = _hparams(
        fmt="gguf", arch=arch, n_embd=n_embd, n_head=n_head,
        n_layer=int(key("block_count")), n_ff=int(key("feed_forward_length")),
        n_head_kv=int(key("attention.head_count_kv", n_head)), head_dim=head_dim,
        n_rot=int(key("rope.dimension_count", head_dim)),
        eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
        theta=float(key("rope.freq_base", 10000.0)),
        rope_layout="adjacent" if arch == "llama" else "halves", rope_scaling=scaling,
        tied="output.weight" not in g.infos)
    if "rope_freqs.weight" in g.infos:
        hp.freq_factors = g.tensor("rope_freqs.weight")      # (n_rot/2,)
    W = {"tok_embd": g.tensor("token_embd.weight"),          # (n_vocab, n_embd)
         "out_norm": g.tensor("output_norm.weight")}         # (n_embd,)
    W["output"] = W["tok_embd"] if hp.tied else g.tensor("output.weight")
    W["layers"] = []
    for i in range(hp.n_layer):
        L = {}
        for k, n in GGUF_NAMES.items():
            for suffix, kk in ((".weight", k), (".bias", "b" + k[1:] if k in LINEARS else None)):
                name = "blk.%d.%s%s" % (i, n, suffix)
                if kk and name in g.infos:
                    L[kk] = g.tensor(name)
        W["layers"].append(L)
    return hp, W


def load_hf(path):
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    arch = next((HF_ARCHS[a] for a in cfg.get("architectures", []) if a in HF_ARCHS), None)
    if arch is None:
        raise NotImplementedError("HF architectures %r" % cfg.get("architectures"))
    if cfg.get("quantization") or cfg.get("quantization_config"):
        raise NotImplementedError("quantized HF checkpoints")
    if cfg.get("hidden_act", "silu") != "silu":
        raise NotImplementedError("hidden_act %r" % cfg["hidden_act"])
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        raise NotImplementedError("partial_rotary_factor")
    n_embd, n_head = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    scaling = None
    rs = cfg.get("rope_scaling")
    if rs:
        rtype = rs.get("rope_type", rs.get("type"))
        if rtype == "llama3":
            scaling = {"type": "llama3", "factor": float(rs["factor"]),
                       "low": float(rs["low_freq_factor"]), "high": float(rs["high_freq_factor"]),
                       "orig": float(rs["original_max_position_embeddings"])}
        elif rtype == "linear":
            scaling = {"type": "linear", "factor": float(rs["factor"])}
        elif rtype != "default":
            raise NotImplementedError("rope_scaling %r" % rtype)
    window = None
    if arch == "mistral":
        window = cfg.get("sliding_window")
    elif cfg.get("use_sliding_window"):
        raise NotImplementedError("Qwen use_sliding_window")
    hp = _hparams(
        fmt="hf", arch=arch, n_embd=n_embd, n_head=n_head,
        n_layer=int(cfg["num_hidden_layers"]), n_ff=int(cfg["intermediate_size"]),
        n_head_kv=int(cfg.get("num_key_value_heads") or n_head),
        head_dim=int(cfg.get("head_dim") or n_embd // n_head),
        eps=float(cfg.get("rms_norm_eps", 1e-6)), theta=float(cfg.get("rope_theta", 10000.0)),
        rope_layout="halves", rope_scaling=scaling, sliding_window=window)
    st = SafeTensors(path)
    has_emb, has_head = st.has("model.embed_tokens.weight"), st.has("lm_head.weight")
    emb = st.tensor("model.embed_tokens.weight" if has_emb else "lm_head.weight")
    hp.tied = bool(cfg.get("tie_word_embeddings", False)) or not has_head
    W = {"tok_embd": emb,                                    # (n_vocab, n_embd)
         "output": emb if hp.tied else st.tensor("lm_head.weight"),
         "out_norm": st.tensor("model.norm.weight"), "layers": []}
    for i in range(hp.n_layer):
        L = {}
        for k, n in HF_NAMES.items():
            for suffix, kk in ((".weight", k), (".bias", "b" + k[1:] if k in LINEARS else None)):
                name = "model.layers.%d.%s%s" % (i, n, suffix)
                if kk and st.has(name):
                    L[kk] = st.tensor(name)
        W["layers"].append(L)
    return hp, W


def load_llama2c(path):
    """llama2.c legacy checkpoint: 7 int32 header, then float32 arrays."""
    with open(path, "rb") as f:
        dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", f.read(28))
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    hp = _hparams(fmt="llama2c", arch="llama", n_embd=dim, n_head=n_heads, n_layer=n_layers,
                  n_ff=hidden, n_head_kv=n_kv, head_dim=hd, eps=1e-5, theta=10000.0,
                  rope_layout="adjacent", tied=shared)
    data = np.memmap(path, dtype="<f4", mode="r", offset=28)
    pos = [0]

    def take(*shape):
        n = int(np.prod(shape))
        a = np.array(data[pos[0]:pos[0] + n], dtype=np.float32).reshape(shape)
        pos[0] += n
        return a

    emb = take(vocab, dim)                                   # (n_vocab, n_embd)
    rms_att = take(n_layers, dim)
    wq, wk = take(n_layers, dim, dim), take(n_layers, kv_dim, dim)
    wv, wo = take(n_layers, kv_dim, dim), take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1, w2, w3 = take(n_layers, hidden, dim), take(n_layers, dim, hidden), take(n_layers, hidden, dim)
    out_norm = take(dim)
    take(seq_len * hd // 2)                                  # freq_cis_real (unused)
    take(seq_len * hd // 2)                                  # freq_cis_imag (unused)
    out = emb if shared else take(vocab, dim)
    layers = [{"attn_norm": rms_att[i], "wq": wq[i], "wk": wk[i], "wv": wv[i], "wo": wo[i],
               "ffn_norm": rms_ffn[i], "w_gate": w1[i], "w_down": w2[i], "w_up": w3[i]}
              for i in range(n_layers)]
    return hp, {"tok_embd": emb, "out_norm": out_norm, "output": out, "layers": layers}


# ------------------------------------------------------------------ model

def rope_inv_freq(hp):
    """float64 (n_rot/2,) inverse frequencies after any scaling."""
    inv = hp.theta ** (-np.arange(0, hp.n_rot, 2, dtype=np.float64) / hp.n_rot)
    s = hp.rope_scaling
    if hp.freq_factors is not None:              # GGUF rope_freqs.weight (Llama 3)
        inv = inv / hp.freq_factors.astype(np.float64)[:len(inv)]
    elif s and s["type"] == "llama3":            # HF's _compute_llama3_parameters
        wavelen = 2 * math.pi / inv
        lo_wl, hi_wl = s["orig"] / s["low"], s["orig"] / s["high"]
        smooth = (s["orig"] / wavelen - s["low"]) / (s["high"] - s["low"])
        mid = (1 - smooth) * inv / s["factor"] + smooth * inv
        inv = np.where(wavelen > lo_wl, inv / s["factor"], np.where(wavelen < hi_wl, inv, mid))
    if s and s["type"] == "linear":
        inv = inv / s["factor"]
    return inv


class KVCache:
    def __init__(self, n_layer):
        self.k = [None] * n_layer                # per layer (n_pos, n_head_kv, hd)
        self.v = [None] * n_layer
        self.n = 0                               # positions stored


class Model:
    def __init__(self, hp, W, dtype=np.float32):
        self.hp, self.dtype = hp, dtype
        cast = lambda a: np.ascontiguousarray(a, dtype=dtype)
        self.tok_embd, self.out_norm = cast(W["tok_embd"]), cast(W["out_norm"])
        self.output = self.tok_embd if W["output"] is W["tok_embd"] else cast(W["output"])
        self.layers = [{k: cast(v) for k, v in L.items()} for L in W["layers"]]
        self.n_vocab = self.tok_embd.shape[0]
        self.inv_freq = rope_inv_freq(hp)
        self._check()

    def _check(self):
        hp, E, hd = self.hp, self.hp.n_embd, self.hp.head_dim
        want = {"attn_norm": (E,), "wq": (hp.n_head * hd, E), "wk": (hp.n_head_kv * hd, E),
                "wv": (hp.n_head_kv * hd, E), "wo": (E, hp.n_head * hd), "ffn_norm": (E,),
                "w_gate": (hp.n_ff, E), "w_up": (hp.n_ff, E), "w_down": (E, hp.n_ff)}
        if hp.arch == "qwen3":
            want.update(q_norm=(hd,), k_norm=(hd,))
        for i, L in enumerate(self.layers):
            for k, shape in want.items():
                if k not in L or L[k].shape != shape:
                    raise ValueError("layer %d %s: shape %s, expected %s"
                                     % (i, k, getattr(L.get(k), "shape", None), shape))
        if self.output.shape != self.tok_embd.shape or self.tok_embd.shape[1] != E:
            raise ValueError("embedding/output shapes %s %s" % (self.tok_embd.shape, self.output.shape))
        if hp.n_head % hp.n_head_kv or hp.n_rot % 2 or hp.n_rot > hd:
            raise ValueError("bad head counts / rotary size")

    def _rmsnorm(self, x, w):
        # x (..., n), w (n,)
        return x * (1 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.dtype(self.hp.eps))) * w

    def _linear(self, L, name, x):
        # x (n_tok, in) -> (n_tok, out)
        y = x @ L[name].T
        b = "b" + name[1:]
        return y + L[b] if b in L else y

    def _rope(self, x, cos, sin):
        # x (n_tok, n_heads, hd); cos, sin (n_tok, 1, n_rot/2)
        r = self.hp.n_rot
        if self.hp.rope_layout == "adjacent":
            a, b = x[..., 0:r:2], x[..., 1:r:2]
        else:
            a, b = x[..., :r // 2], x[..., r // 2:r]
        ra, rb = a * cos - b * sin, a * sin + b * cos
        out = x.copy()
        if self.hp.rope_layout == "adjacent":
            out[..., 0:r:2], out[..., 1:r:2] = ra, rb
        else:
            out[..., :r // 2], out[..., r // 2:r] = ra, rb
        return out

    def forward(self, ids, cache=None):
        """Logits (n_tok, n_vocab) for the new tokens `ids`, appended after the
        positions already in `cache` (a fresh cache if None)."""
        hp, dt = self.hp, self.dtype
        cache = cache or KVCache(hp.n_layer)
        n, p0, hd = len(ids), cache.n, hp.head_dim
        H, Hkv = hp.n_head, hp.n_head_kv
        G = H // Hkv                                         # query heads per KV head
        pos = np.arange(p0, p0 + n)                          # (n_tok,)
        ang = pos[:, None].astype(np.float64) * self.inv_freq[None, :]   # (n_tok, n_rot/2)
        cos, sin = np.cos(ang).astype(dt)[:, None, :], np.sin(ang).astype(dt)[:, None, :]
        kpos = np.arange(p0 + n)                             # (n_ctx,)
        allowed = kpos[None, :] <= pos[:, None]              # (n_tok, n_ctx) causal
        if hp.sliding_window:
            allowed &= kpos[None, :] > pos[:, None] - hp.sliding_window
        mask = np.where(allowed, 0, -np.inf).astype(dt)
        scale = dt(1 / math.sqrt(hd))

        x = self.tok_embd[np.asarray(ids)]                   # (n_tok, n_embd)
        for li, L in enumerate(self.layers):
            h = self._rmsnorm(x, L["attn_norm"])
            q = self._linear(L, "wq", h).reshape(n, H, hd)   # (n_tok, H, hd)
            k = self._linear(L, "wk", h).reshape(n, Hkv, hd)  # (n_tok, Hkv, hd)
            v = self._linear(L, "wv", h).reshape(n, Hkv, hd)
            if "q_norm" in L:
                q, k = self._rmsnorm(q, L["q_norm"]), self._rmsnorm(k, L["k_norm"])
            q, k = self._rope(q, cos, sin), self._rope(k, cos, sin)
            if cache.k[li] is not None:
                k = np.concatenate([cache.k[li], k])         # (n_ctx, Hkv, hd)
                v = np.concatenate([cache.v[li], v])
            cache.k[li], cache.v[li] = k, v
            qg = q.reshape(n, Hkv, G, hd).transpose(1, 2, 0, 3)          # (Hkv, G, n_tok, hd)
            kt = k.transpose(1, 2, 0)[:, None]                           # (Hkv, 1, hd, n_ctx)
            s = (qg @ kt) * scale + mask                                 # (Hkv, G, n_tok, n_ctx)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            p = s / s.sum(axis=-1, keepdims=True)
            a = p @ v.transpose(1, 0, 2)[:, None]                        # (Hkv, G, n_tok, hd)
            a = a.transpose(2, 0, 1, 3).reshape(n, H * hd)               # (n_tok, H*hd)
            x = x + self._linear(L, "wo", a)
            h = self._rmsnorm(x, L["ffn_norm"])
            g, u = self._linear(L, "w_gate", h), self._linear(L, "w_up", h)   # (n_tok, n_ff)
            with np.errstate(over="ignore"):
                act = g / (1 + np.exp(-g)) * u
            x = x + self._linear(L, "w_down", act)
        cache.n += n
        return self._rmsnorm(x, self.out_norm) @ self.output.T          # (n_tok, n_vocab)

    def greedy(self, ids, n_new, stop=()):
        """Greedy ids (up to n_new, ending at a stop id if one comes) and the
        prompt logits (n_prompt, n_vocab)."""
        cache = KVCache(self.hp.n_layer)
        prompt_logits = self.forward(list(ids), cache)
        out, last = [], prompt_logits[-1]
        for _ in range(n_new):
            t = int(np.argmax(last))
            out.append(t)
            if t in stop or len(out) == n_new:
                break
            last = self.forward([t], cache)[-1]
        return out, prompt_logits


def load_model(path, dtype=np.float32):
    if os.path.isdir(path):
        hp, W = load_hf(path)
    elif path.endswith(".gguf") or open(path, "rb").read(4) == b"GGUF":
        hp, W = load_gguf(path)
    else:
        hp, W = load_llama2c(path)
    return Model(hp, W, dtype)
