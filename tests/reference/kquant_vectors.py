#!/usr/bin/python3
"""Independent checks of shardlm's quantizers (tests/test-kernels-quant-k.cpp).

The C++ test quantizes rows with quantize_row() and writes inputs and outputs to a
file; this script reads the blocks back with its own per-element reading of the GGML
formats (which byte, which bits, which scale: written from the format facts, not
from the C++ loops) and checks them. Exit status 0 when every record passes.

Usage: kquant_vectors.py check FILE

File format (little-endian):
    magic b"SKQ1"
    records until end of file:
        u32 dtype     GGML type id
        u64 n         number of elements
        f32 x[n]      the input
        u64 nbytes, nbytes bytes: quantize_row's output
        u32 name_len, name (UTF-8); names starting "gauss" are N(0, 1) rows

Checks:
  Q4_0 Q4_1 Q5_0 Q5_1 Q8_0: the bytes equal GGML's reference rounding computed here
      (float32, no fused multiply-add): Q4_1/Q5_1 d = (max-min)/nmax, m = min,
      q = min(nmax, trunc((x-min)*(1/d) + 0.5)); Q5_0 d = max/-16 (max = signed value
      of the largest magnitude, first on ties), q = min(31, trunc(x*(1/d) + 16.5)).
  Q4_K Q5_K Q6_K (the encoder's search is not reproduced): for every element, its
      code is the nearest point of its sub-block's grid, clamped to the code range;
      the sub-block scales use the 6-bit (Q6_K: 8-bit) range fully (largest stored
      scale 63 / |127|, within one unit) when d is a normal f16; the values decoded
      here equal quant_vectors.py's decoders; "gauss" rows meet the relative RMS
      bounds documented in include/shardlm/kernels/quant.h.
"""

import os
import struct
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quant_vectors as qv  # noqa: E402

F32 = np.float32
ID_TO_NAME = {v[0]: k for k, v in qv.TYPES.items()}

# relative RMS error bounds on N(0, 1) rows (quant.h)
RMS_BOUND = {"Q8_0": 0.01, "Q6_K": 0.025, "Q5_K": 0.045, "Q5_0": 0.06, "Q5_1": 0.06,
             "Q4_K": 0.09, "Q4_0": 0.12, "Q4_1": 0.12}


# ---------------------------------------------------------------- legacy encoders

def _pack_d(d):
    return d.astype(np.float16).view(np.uint8).reshape(-1, 2)


def _trunc_codes(v, nmax):
    return np.minimum(nmax, np.trunc(v.astype(F32)).astype(np.int32))


def _min_max_codes(x, nmax):
    lo = x.min(axis=1, keepdims=True).astype(F32)
    hi = x.max(axis=1, keepdims=True).astype(F32)
    d = ((hi - lo) / F32(nmax)).astype(F32)
    with np.errstate(divide="ignore"):
        id_ = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = (((x - lo).astype(F32) * id_).astype(F32) + F32(0.5)).astype(F32)
    return d, lo, _trunc_codes(v, nmax)


def _qh_bytes(q):
    bits = ((q >> 4) & 1).astype(np.uint64)                      # (nb, 32)
    qh = (bits << np.arange(32, dtype=np.uint64)).sum(axis=1)    # element e -> bit e
    return qh.astype("<u4").view(np.uint8).reshape(-1, 4)


def _nibbles(q):
    return ((q[:, 0:16] & 0xF) | ((q[:, 16:32] & 0xF) << 4)).astype(np.uint8)


def q_q4_1(x):
    x = x.reshape(-1, 32).astype(F32)
    d, lo, q = _min_max_codes(x, 15)
    return np.concatenate([_pack_d(d), _pack_d(lo), _nibbles(q)], axis=1).tobytes()


def q_q5_1(x):
    x = x.reshape(-1, 32).astype(F32)
    d, lo, q = _min_max_codes(x, 31)
    return np.concatenate([_pack_d(d), _pack_d(lo), _qh_bytes(q), _nibbles(q)], axis=1).tobytes()


def q_q5_0(x):
    x = x.reshape(-1, 32).astype(F32)
    idx = np.argmax(np.abs(x), axis=1)
    mx = x[np.arange(x.shape[0]), idx][:, None]
    d = (mx / F32(-16)).astype(F32)
    with np.errstate(divide="ignore"):
        id_ = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = ((x * id_).astype(F32) + F32(16.5)).astype(F32)
    q = _trunc_codes(v, 31)
    return np.concatenate([_pack_d(d), _qh_bytes(q), _nibbles(q)], axis=1).tobytes()


LEGACY = {"Q8_0": qv.q_q8_0, "Q4_0": qv.q_q4_0, "Q4_1": q_q4_1, "Q5_0": q_q5_0, "Q5_1": q_q5_1}


# ---------------------------------------------------------------- K-quant fields
# Each returns per element (nb, 256) arrays: step, offset, code, code range, and per
# block the stored scale fields, read element by element from the format facts.

E = np.arange(256)


def half(b, off):
    return np.ascontiguousarray(b[:, off:off + 2]).view("<f2").astype(F32)  # (nb, 1)


def fields_q45_k(b, bits):
    d, dmin = half(b, 0), half(b, 2)
    sub, l = E // 32, E % 32
    sc, mn = qv.k4_scale_min(b, sub)                          # (nb, 256) six-bit values
    qs_off = 16 if bits == 4 else 48
    byte = b[:, qs_off + 32 * (sub // 2) + l].astype(np.int32)
    code = np.where(sub % 2 == 1, byte >> 4, byte & 0xF)
    if bits == 5:
        code = code | (((b[:, 16 + l].astype(np.int32) >> sub) & 1) << 4)
    step = (d * sc.astype(F32)).astype(F32)
    offset = (dmin * mn.astype(F32)).astype(F32)
    y = (step * code.astype(F32)).astype(F32) - offset
    sub_sc = sc[:, ::32]
    sub_mn = mn[:, ::32]
    return dict(step=step, offset=offset, code=code, lo=0, hi=(1 << bits) - 1, y=y.astype(F32),
                d=d[:, 0], dmin=dmin[:, 0], sc=sub_sc, mn=sub_mn)


def fields_q6_k(b):
    d = half(b, 208)
    h, r = E // 128, E % 128
    k, l = r // 32, r % 32
    low_byte = b[:, 64 * h + 32 * (k % 2) + l].astype(np.int32)
    low = np.where(k >= 2, low_byte >> 4, low_byte & 0xF)
    top = (b[:, 128 + 32 * h + l].astype(np.int32) >> (2 * k)) & 3
    code = (low | (top << 4)) - 32
    sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).astype(np.int32)  # (nb, 16)
    step = (d * sc[:, E // 16].astype(F32)).astype(F32)
    y = (step * code.astype(F32)).astype(F32)
    return dict(step=step, offset=np.zeros_like(step), code=code, lo=-32, hi=31, y=y,
                d=d[:, 0], sc=sc)


KQUANT = {"Q4_K": lambda b: fields_q45_k(b, 4), "Q5_K": lambda b: fields_q45_k(b, 5),
          "Q6_K": fields_q6_k}


def check_kquant(name, x, raw, fail):
    _, block, bpb = qv.TYPES[name]
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, bpb)
    x = x.reshape(-1, block).astype(F32)
    f = KQUANT[name](b)
    # two decoders agree
    y_ref = qv.DEQUANT[name](b).astype(F32)
    if not np.array_equal(f["y"], y_ref):
        fail("decoded values differ from quant_vectors.py's decoder")
    # nearest code, clamped to the range
    step, code = f["step"].astype(np.float64), f["code"]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (x.astype(np.float64) + f["offset"]) / step
    tol = 1e-3
    live = step != 0
    inner = live & (code > f["lo"]) & (code < f["hi"])
    bad = inner & (np.abs(t - code) > 0.5 + tol)
    bad |= live & (code == f["lo"]) & (t > f["lo"] + 0.5 + tol)
    bad |= live & (code == f["hi"]) & (t < f["hi"] - 0.5 - tol)
    if bad.any():
        i = np.argwhere(bad)[0]
        fail("element %d of block %d: code %d but the nearest grid point is %.4f"
             % (i[1], i[0], code[i[0], i[1]], t[i[0], i[1]]))
    # full use of the stored scale range
    normal = np.abs(f["d"]) >= 2.0 ** -14
    if name == "Q6_K":
        top = np.abs(f["sc"]).max(axis=1)
        if (normal & (top < 126)).any():
            fail("Q6_K: largest |scale| below 126 in a block with a normal d")
    else:
        if (normal & (f["sc"].max(axis=1) < 62)).any():
            fail("%s: largest 6-bit scale below 62 in a block with a normal d" % name)
        normal_m = np.abs(f["dmin"]) >= 2.0 ** -14
        if (normal_m & (f["mn"].max(axis=1) < 62)).any():
            fail("%s: largest 6-bit min below 62 in a block with a normal dmin" % name)
    return f["y"]


def rel_rms(x, y):
    x = x.astype(np.float64).ravel()
    y = y.astype(np.float64).ravel()
    return float(np.sqrt(np.sum((x - y) ** 2) / max(np.sum(x ** 2), 1e-300)))


def read_records(path):
    data = open(path, "rb").read()
    if data[:4] != b"SKQ1":
        raise SystemExit("%s: bad magic" % path)
    p = 4
    recs = []
    while p < len(data):
        tid, n = struct.unpack_from("<IQ", data, p)
        p += 12
        x = np.frombuffer(data, dtype="<f4", count=n, offset=p).astype(F32)
        p += 4 * n
        (nbytes,) = struct.unpack_from("<Q", data, p)
        p += 8
        raw = data[p:p + nbytes]
        p += nbytes
        (nl,) = struct.unpack_from("<I", data, p)
        p += 4
        name = data[p:p + nl].decode()
        p += nl
        recs.append((ID_TO_NAME[tid], n, x, raw, name))
    return recs


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        print(__doc__)
        return 2
    failures = []
    recs = read_records(sys.argv[2])
    for tname, n, x, raw, name in recs:
        def fail(msg, _n=name, _t=tname):
            failures.append("%s [%s]: %s" % (_n, _t, msg))
        _, block, bpb = qv.TYPES[tname]
        if len(raw) != n // block * bpb:
            fail("%d bytes, expected %d" % (len(raw), n // block * bpb))
            continue
        if tname in LEGACY:
            want = LEGACY[tname](x)
            if want != raw:
                got = np.frombuffer(raw, np.uint8).reshape(-1, bpb)
                exp = np.frombuffer(want, np.uint8).reshape(-1, bpb)
                blk = int(np.argwhere((got != exp).any(axis=1))[0][0])
                fail("block %d differs from the reference rounding" % blk)
            y = qv.DEQUANT[tname](np.frombuffer(raw, np.uint8).reshape(-1, bpb))
        elif tname in KQUANT:
            y = check_kquant(tname, x, raw, fail)
        else:
            fail("no check for this type")
            continue
        if name.startswith("gauss"):
            r = rel_rms(x, y)
            if r > RMS_BOUND[tname]:
                fail("relative RMS error %.4f above %.4f" % (r, RMS_BOUND[tname]))
            print("%-5s %-24s rel rms %.4f" % (tname, name, r))
    for f in failures:
        print("FAIL", f)
    print("%d records, %d failures" % (len(recs), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
