#!/usr/bin/python3
"""Test vectors for shardlm's quantized KV cache rows (tests/test-kv-quant.cpp).

An independent NumPy model of the two one-byte KV formats of kernels/kv-quant.h:
  fp8 e4m3fn (OCP / NVIDIA): value table built from the definition (bias 7, 3 mantissa
      bits, subnormals m * 2^-9, S.1111.111 = NaN, largest 448); encoding picks the
      nearest table value, ties to the even code, saturating at 448 — a table search,
      not the bit manipulation the C++ code uses.
  int8 symmetric: code = rint(x / scale) (ties to even), clipped to [-127, 127].
Scale of a row (one KV head at one position): amax / qmax (qmax 448 or 127) in float32,
rounded UP to float16 (so no code overflows), 0 for an all-zero row. Values read back
are float32(decode(code)) * float32(scale).

Usage: kv_quant_vectors.py OUTDIR   -> writes OUTDIR/kv_quant_vectors.bin

File format (little-endian): magic b"SKV1", then records until end of file:
    u32 dtype (1002 = F8_E4M3, 24 = I8), u32 n,
    f32[n] input row, u16 scale (float16 bits), u8[n] codes, f32[n] dequantized row
"""

import struct
import sys
from pathlib import Path

import numpy as np

F32 = np.float32
F8_E4M3, I8 = 1002, 24


def e4m3_value(code):
    """The real value of an e4m3fn code (NaN for S.1111.111), from the definition."""
    code = np.asarray(code, dtype=np.int64)
    e, m = (code >> 3) & 15, code & 7
    mag = np.where(e == 0, m * 2.0 ** -9, (1 + m / 8.0) * 2.0 ** (e.astype(np.float64) - 7))
    mag = np.where((code & 0x7F) == 0x7F, np.nan, mag)
    return np.where(code & 0x80, -mag, mag)


POS = e4m3_value(np.arange(127))  # codes 0..126: the non-negative finite values, increasing


def e4m3_encode(v):
    """float32 array -> codes: nearest finite value, ties to the even code, saturating."""
    a = np.abs(v.astype(np.float64))
    hi = np.clip(np.searchsorted(POS, a), 0, 126)  # first value >= a
    lo = np.clip(hi - 1, 0, 126)
    dlo, dhi = a - POS[lo], POS[hi] - a
    pick = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    pick = np.where(a >= 448.0, 126, pick)
    return (pick | np.where(np.signbit(v), 0x80, 0)).astype(np.uint8)


def row_scale(x, qmax):
    amax = F32(np.max(np.abs(x))) if x.size else F32(0)
    if amax == 0:
        return np.float16(0)
    r = F32(amax) / F32(qmax)
    if r > F32(65504):
        return np.float16(65504)
    h = np.float16(r)
    if F32(h) < r:
        h = np.nextafter(h, np.float16(np.inf))
    return h


def quantize(dtype, x):
    x = x.astype(F32)
    h = row_scale(x, 448.0 if dtype == F8_E4M3 else 127.0)
    s = F32(h)
    if s == 0:
        codes = np.zeros(x.size, np.uint8)
    else:
        v = (x / s).astype(F32)
        if dtype == F8_E4M3:
            codes = e4m3_encode(v)
        else:
            codes = np.clip(np.rint(v), -127, 127).astype(np.int8).view(np.uint8)
    if dtype == F8_E4M3:
        deq = (F32(1) * e4m3_value(codes).astype(F32) * s).astype(F32)
    else:
        deq = (codes.view(np.int8).astype(F32) * s).astype(F32)
    return h, codes, deq


def rows():
    rng = np.random.default_rng(20261206)
    for n in (8, 20, 64, 128):
        for mag in (1e-6, 1e-3, 0.5, 1.0, 7.0, 300.0, 1e5):
            yield rng.standard_normal(n).astype(F32) * F32(mag)
    # heavy-tailed rows (an outlier channel, as real K has)
    for n in (64, 128):
        for _ in range(6):
            x = rng.standard_normal(n).astype(F32)
            x[rng.integers(n)] *= F32(40)
            yield x
    yield np.zeros(64, F32)
    yield np.array([0.0] * 63 + [-3.0], F32)
    yield np.array([-0.0, 0.0, 1e-30, -1e-30] * 16, F32)
    # amax 448 -> scale 1: e4m3 ties between neighbours (mantissa, exponent, subnormal)
    ties = [448.0, 1.0625, 1.1875, -1.0625, 3.25 + 0.125, 1.5 * 2 ** -9, 2.5 * 2 ** -9, 0.5 * 2 ** -9,
            7.5 * 2 ** -9, 15.5 * 2 ** -10 * 2, 240.0 + 8.0, 416.0 + 16.0, 0.0, -0.0, 2 ** -6, 2 ** -7]
    yield np.array(ties, F32)
    # amax 127 -> scale 1: int8 ties to even
    yield np.array([127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.49, 3.51, 0.0], F32)


def main():
    out = Path(sys.argv[1]) / "kv_quant_vectors.bin"
    with open(out, "wb") as f:
        f.write(b"SKV1")
        for x in rows():
            for dtype in (F8_E4M3, I8):
                h, codes, deq = quantize(dtype, x)
                f.write(struct.pack("<II", dtype, x.size))
                f.write(x.astype("<f4").tobytes())
                f.write(np.array([h], "<f2").tobytes())
                f.write(codes.tobytes())
                f.write(deq.astype("<f4").tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
