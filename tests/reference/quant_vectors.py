#!/usr/bin/python3
"""Test vectors for shardlm's scalar (de)quantization (tests/test-kernels-quant.cpp).

An independent NumPy implementation of the GGML block formats. It is written per
element (for every element index e of a block: which byte, which bits, which scale),
not as the block loops the C++ code uses, so the two derivations check each other.

Usage: quant_vectors.py OUTDIR   -> writes OUTDIR/quant_vectors.bin

File format (little-endian):
    magic b"SQV1"
    records until end of file:
        u32 kind        0 = dequantize (input: raw blocks, output: float32[n])
                        1 = quantize   (input: float32[n], output: raw blocks)
        u32 dtype       GGML type id
        u64 n           number of elements
        u64 in_bytes, in_bytes bytes of input
        u64 out_bytes, out_bytes bytes of expected output
        u32 name_len, name (UTF-8): what the record exercises

Floating point follows GGML's reference order, in float32 throughout, no fused
multiply-add: Q4_1 x = q*d + m; K-quants dl = d*sc, ml = dmin*mn, x = dl*q - ml;
Q3_K x = (d*(sc-32))*q; Q6_K x = (d*sc)*q. Quantization: Q8_0 d = amax/127,
id = 1/d, q = round-half-away(x*id); Q4_0 d = max/-8 (max = signed value of the
largest magnitude, first one on ties), id = 1/d, q = min(15, trunc(x*id + 8.5)).
"""

import struct
import sys
from pathlib import Path

import numpy as np

F32 = np.float32

# GGML type id -> (elements per block, bytes per block)
TYPES = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20),
    "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34),
    "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "Q8_K": (15, 256, 292),
    "F64": (28, 1, 8), "BF16": (30, 1, 2),
}


# ---------------------------------------------------------------- helpers

def half_at(b, off):
    """(nb, bytes) uint8 -> (nb, 1) float32 of the IEEE half at byte off."""
    return np.ascontiguousarray(b[:, off:off + 2]).view("<f2").astype(F32)


def fl(a):
    return np.asarray(a).astype(F32)


def nibble(byte, high):
    """high: bool array (broadcast) choosing the high nibble."""
    return np.where(high, byte >> 4, byte & 0x0F)


# ---------------------------------------------------------------- dequantization
# Each function maps (nb, bytes_per_block) uint8 -> (nb, block) float32.

E32 = np.arange(32)
E256 = np.arange(256)


def dq_q4_0(b):
    d = half_at(b, 0)
    q = nibble(b[:, 2 + E32 % 16], E32 >= 16).astype(np.int32) - 8
    return fl(q) * d


def dq_q4_1(b):
    d, m = half_at(b, 0), half_at(b, 2)
    q = nibble(b[:, 4 + E32 % 16], E32 >= 16)
    return fl(q) * d + m


def qh_bits(b, off):
    qh = np.ascontiguousarray(b[:, off:off + 4]).view("<u4").astype(np.uint64)  # (nb, 1)
    return ((qh >> E32.astype(np.uint64)) & 1).astype(np.int32)                # (nb, 32)


def dq_q5_0(b):
    d = half_at(b, 0)
    q = nibble(b[:, 6 + E32 % 16], E32 >= 16).astype(np.int32) | (qh_bits(b, 2) << 4)
    return fl(q - 16) * d


def dq_q5_1(b):
    d, m = half_at(b, 0), half_at(b, 2)
    q = nibble(b[:, 8 + E32 % 16], E32 >= 16).astype(np.int32) | (qh_bits(b, 4) << 4)
    return fl(q) * d + m


def dq_q8_0(b):
    d = half_at(b, 0)
    q = np.ascontiguousarray(b[:, 2:34]).view(np.int8)
    return fl(q) * d


def two_bit_codes(qs_off, b):
    """Q2_K/Q3_K low two bits: element e = 128h + 32j + l is (qs[32h+l] >> 2j) & 3."""
    h, j, l = E256 // 128, (E256 % 128) // 32, E256 % 32
    byte = b[:, qs_off + 32 * h + l].astype(np.int32)
    return (byte >> (2 * j)) & 3, h, j, l


def dq_q2_k(b):
    d, dmin = half_at(b, 80), half_at(b, 82)
    code, _, _, _ = two_bit_codes(16, b)
    sc = b[:, E256 // 16]                       # group of 16 elements
    dl = d * fl(sc & 0x0F)
    ml = dmin * fl(sc >> 4)
    return dl * fl(code) - ml


def dq_q3_k(b):
    d = half_at(b, 108)
    code, h, j, l = two_bit_codes(32, b)
    hbit = (b[:, l].astype(np.int32) >> (4 * h + j)) & 1
    q = code - np.where(hbit == 1, 0, 4)
    g = E256 // 16
    s = b[:, 96:108].astype(np.int32)
    low = np.where(g < 8, s[:, g % 8] & 0x0F, s[:, g % 8] >> 4)
    top = (s[:, 8 + g % 4] >> (2 * (g // 4))) & 3
    sc = (low | (top << 4)) - 32
    return (d * fl(sc)) * fl(q)


def k4_scale_min(b, sub):
    """6-bit scale and min of sub-block index array `sub` from bytes 4..15."""
    s = b[:, 4:16].astype(np.int32)
    lo = sub < 4
    j = sub
    sc = np.where(lo, s[:, j % 12] & 63,
                  (s[:, (j + 4) % 12] & 0x0F) | ((s[:, (j - 4) % 12] >> 6) << 4))
    mn = np.where(lo, s[:, (j + 4) % 12] & 63,
                  (s[:, (j + 4) % 12] >> 4) | ((s[:, j % 12] >> 6) << 4))
    return sc, mn


def dq_q4_k(b):
    d, dmin = half_at(b, 0), half_at(b, 2)
    sub, l = E256 // 32, E256 % 32
    q = nibble(b[:, 16 + 32 * (sub // 2) + l], sub % 2 == 1)
    sc, mn = k4_scale_min(b, sub)
    return (d * fl(sc)) * fl(q) - dmin * fl(mn)


def dq_q5_k(b):
    d, dmin = half_at(b, 0), half_at(b, 2)
    sub, l = E256 // 32, E256 % 32
    q = nibble(b[:, 48 + 32 * (sub // 2) + l], sub % 2 == 1).astype(np.int32)
    q = q + (((b[:, 16 + l].astype(np.int32) >> sub) & 1) << 4)
    sc, mn = k4_scale_min(b, sub)
    return (d * fl(sc)) * fl(q) - dmin * fl(mn)


def dq_q6_k(b):
    d = half_at(b, 208)
    h, k, l = E256 // 128, (E256 % 128) // 32, E256 % 32
    lowbyte = b[:, 64 * h + l + 32 * (k % 2)]
    low = nibble(lowbyte, k >= 2).astype(np.int32)
    top = (b[:, 128 + 32 * h + l].astype(np.int32) >> (2 * k)) & 3
    q = (low | (top << 4)) - 32
    sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8)[:, E256 // 16]
    return (d * fl(sc)) * fl(q)


def dq_q8_k(b):
    d = np.ascontiguousarray(b[:, 0:4]).view("<f4").astype(F32)
    q = np.ascontiguousarray(b[:, 4:260]).view(np.int8)
    return d * fl(q)


DEQUANT = {
    "Q4_0": dq_q4_0, "Q4_1": dq_q4_1, "Q5_0": dq_q5_0, "Q5_1": dq_q5_1,
    "Q8_0": dq_q8_0, "Q2_K": dq_q2_k, "Q3_K": dq_q3_k, "Q4_K": dq_q4_k,
    "Q5_K": dq_q5_k, "Q6_K": dq_q6_k, "Q8_K": dq_q8_k,
}

# byte offsets of the f16 scale fields of each block type (set to sane values so no
# block decodes to inf/NaN by accident), and for Q8_K the f32 d.
HALF_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}


def random_halves(rng, count):
    """Mostly ordinary scales, plus zero, negative, subnormal and large ones."""
    v = rng.normal(0.0, 0.05, size=count).astype(np.float16)
    special = np.array([0.0, -0.0, 6.0e-8, -3.0e-6, 60000.0, -1.0, 1.0, 2.0 ** -14],
                       dtype=np.float16)
    k = min(len(special), count // 4)
    v[:k] = special[:k]
    return v.view(np.uint16)


def random_blocks(rng, name, nb):
    _, _, bpb = TYPES[name]
    b = rng.integers(0, 256, size=(nb, bpb), dtype=np.uint8)
    for off in HALF_FIELDS.get(name, []):
        h = random_halves(rng, nb)
        b[:, off] = (h & 0xFF).astype(np.uint8)
        b[:, off + 1] = (h >> 8).astype(np.uint8)
    if name == "Q8_K":
        d = rng.normal(0.0, 0.01, size=nb).astype(F32)
        d[0] = 0.0
        b[:, 0:4] = d.view(np.uint8).reshape(nb, 4)
    return b


# ---------------------------------------------------------------- quantization

def round_half_away(v):
    a = np.floor(np.abs(v.astype(np.float64)) + 0.5)
    return np.where(v < 0, -a, a)


def q_q8_0(x):
    x = x.reshape(-1, 32).astype(F32)
    amax = np.max(np.abs(x), axis=1, keepdims=True)
    d = (amax / F32(127)).astype(F32)
    with np.errstate(divide="ignore"):
        id_ = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    q = round_half_away((x * id_).astype(F32)).astype(np.int8)
    out = np.empty((x.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:34] = q.view(np.uint8)
    return out.tobytes()


def q_q4_0(x):
    x = x.reshape(-1, 32).astype(F32)
    idx = np.argmax(np.abs(x), axis=1)            # first of equal magnitudes
    mx = x[np.arange(x.shape[0]), idx][:, None]
    d = (mx / F32(-8)).astype(F32)
    with np.errstate(divide="ignore"):
        id_ = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = ((x * id_).astype(F32) + F32(8.5)).astype(F32)
    q = np.minimum(15, np.trunc(v).astype(np.int32))
    out = np.empty((x.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:18] = (q[:, 0:16] | (q[:, 16:32] << 4)).astype(np.uint8)
    return out.tobytes()


def to_bf16_bits(x):
    """Round-to-nearest-even by comparing the dropped half-word with one half ulp."""
    u = x.astype(F32).view(np.uint32).astype(np.uint64)
    keep = u >> 16
    dropped = u & 0xFFFF
    up = (dropped > 0x8000) | ((dropped == 0x8000) & ((keep & 1) == 1))
    return (keep + up.astype(np.uint64)).astype(np.uint16)


def rounding_probe_floats(rng):
    """float32 values that probe f16/bf16 rounding: ties, subnormals, overflow edges."""
    vals = [0.0, -0.0, 1.0, -1.0, 65504.0, -65504.0, 65519.996, 65520.0, 65536.0,
            1e10, -1e10, float("inf"), float("-inf"), 2.0 ** -14, 2.0 ** -24, 2.0 ** -25,
            2.0 ** -25 * 1.0000001, 2.0 ** -26, 3 * 2.0 ** -25, 5 * 2.0 ** -25, 1e-30,
            1.401298464324817e-45, 2.0 ** -14 - 2.0 ** -25, 3.4028234663852886e38]
    # f16 ties between neighbours (exactly halfway), both even and odd low bits
    base = np.arange(1, 200, dtype=np.uint16) + np.uint16(0x3C00)
    lo = base.view(np.float16).astype(np.float64)
    hi = (base + np.uint16(1)).view(np.float16).astype(np.float64)
    vals += list((lo + hi) / 2)
    # f16 subnormal ties
    sub = np.arange(0, 64, dtype=np.float64) * 2.0 ** -24 + 2.0 ** -25
    vals += list(sub)
    # bf16 ties: exactly half an ulp above values with even and odd last bits
    for k in range(0, 32):
        vals.append(float(np.array([0x3F800000 + (k << 16) + 0x8000],
                                   dtype=np.uint32).view(F32)[0]))
    x = np.array(vals, dtype=F32)
    # random bit patterns over the whole finite float32 range
    bits = rng.integers(0, 2 ** 32, size=4000, dtype=np.uint64).astype(np.uint32)
    r = bits.view(F32)
    r = r[np.isfinite(r)]
    x = np.concatenate([x, r, rng.normal(0, 1, size=1000).astype(F32)])
    return x


# ---------------------------------------------------------------- output

class Writer:
    def __init__(self):
        self.parts = [b"SQV1"]

    def record(self, kind, name, dtype, n, inp, out):
        tid = TYPES[dtype][0]
        self.parts.append(struct.pack("<IIQ", kind, tid, n))
        self.parts.append(struct.pack("<Q", len(inp)) + inp)
        self.parts.append(struct.pack("<Q", len(out)) + out)
        nb = name.encode()
        self.parts.append(struct.pack("<I", len(nb)) + nb)

    def bytes(self):
        return b"".join(self.parts)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240607)
    w = Writer()

    # dequantization: random blocks of every block type
    for name, fn in DEQUANT.items():
        _, block, _ = TYPES[name]
        nb = 64 if block == 32 else 24
        b = random_blocks(rng, name, nb)
        y = fn(b).astype(F32)
        assert y.shape == (nb, block), (name, y.shape)
        w.record(0, f"dequant {name} random", name, nb * block, b.tobytes(), y.tobytes())

    # plain types: every f16 / bf16 bit pattern; doubles incl. out of float range
    allbits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    w.record(0, "dequant F16 all patterns", "F16", 65536, allbits.tobytes(),
             allbits.view(np.float16).astype(F32).tobytes())
    bf = (allbits.astype(np.uint32) << 16).view(F32)
    w.record(0, "dequant BF16 all patterns", "BF16", 65536, allbits.tobytes(), bf.tobytes())
    dd = np.concatenate([rng.normal(0, 1, 500), rng.normal(0, 1e-40, 50),
                         [1e300, -1e300, 1e-300, 3.4028235677973366e38, 0.5 ** 149,
                          1.0 + 2.0 ** -24, 1.0 + 3 * 2.0 ** -24]]).astype(np.float64)
    with np.errstate(over="ignore"):
        w.record(0, "dequant F64", "F64", len(dd), dd.tobytes(), dd.astype(F32).tobytes())
    ff = rng.normal(0, 1, 100).astype(F32)
    w.record(0, "dequant F32", "F32", 100, ff.tobytes(), ff.tobytes())

    # quantization
    x = rounding_probe_floats(rng)
    with np.errstate(over="ignore"):
        w.record(1, "quantize F16 rounding", "F16", len(x), x.tobytes(),
                 x.astype(np.float16).tobytes())
    w.record(1, "quantize BF16 rounding", "BF16", len(x), x.tobytes(), to_bf16_bits(x).tobytes())
    w.record(1, "quantize F32", "F32", 100, ff.tobytes(), ff.tobytes())
    blocks = [rng.normal(0, 1, (40, 32)), rng.normal(0, 0.02, (20, 32)),
              rng.uniform(-3, 3, (20, 32)), np.zeros((2, 32)),
              rng.integers(-8, 8, (8, 32)) * 0.25]     # values on the grid: many ties
    q = np.concatenate(blocks).astype(F32)
    q[3, 5] = 50.0                                      # outlier
    q[4, 7] = -50.0                                     # negative max
    q[5, :] = 1.0                                       # equal magnitudes
    q[6, 0], q[6, 1] = -2.0, 2.0                        # tie in magnitude: first wins
    q[7, :] = 1e-8                                      # subnormal f16 scale
    flat = q.reshape(-1)
    w.record(1, "quantize Q8_0", "Q8_0", flat.size, flat.tobytes(), q_q8_0(flat))
    w.record(1, "quantize Q4_0", "Q4_0", flat.size, flat.tobytes(), q_q4_0(flat))

    (outdir / "quant_vectors.bin").write_bytes(w.bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
