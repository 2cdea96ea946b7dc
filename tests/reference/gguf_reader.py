"""GGUF (v2, v3, little-endian) reader for shardlm's NumPy reference forward.

    g = GGUF("model.gguf")
    g.meta["llama.block_count"]          # metadata: int/float/bool/str/list
    g.infos["blk.0.attn_q.weight"]       # TensorInfo(name, ne, type, offset)
    g.tensor("blk.0.attn_q.weight")      # float32 array, shape reversed(ne)

A weight with ne = [n_in, n_out] comes back as (n_out, n_in), the PyTorch
nn.Linear convention. The file is read through a read-only memory map.
Standard library + NumPy only.
"""
import mmap
import struct
from collections import namedtuple

import numpy as np

TensorInfo = namedtuple("TensorInfo", "name ne type offset")

# metadata value type id -> struct format (scalars); 8 = string, 9 = array
_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
               7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STR, _ARR = 8, 9

# ggml type id -> (name, elements per block, bytes per block)
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
         6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34),
         12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
         30: ("BF16", 1, 2)}


class _Cursor:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0                       # buf: mmap (slices are bytes)

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("GGUF: truncated file")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, fmt):
        n = struct.calcsize(fmt)
        if self.pos + n > len(self.buf):
            raise ValueError("GGUF: truncated file")
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return v

    def string(self):
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")

    def value(self, vtype):
        if vtype in _SCALAR_FMT:
            return self.scalar(_SCALAR_FMT[vtype])
        if vtype == _STR:
            return self.string()
        if vtype == _ARR:
            etype, count = self.scalar("<I"), self.scalar("<Q")
            if etype in _SCALAR_FMT and etype != 7:
                # numeric arrays in one go (token scores, types, ...)
                dt = np.dtype(_SCALAR_FMT[etype])
                return np.frombuffer(self.take(dt.itemsize * count), dtype=dt).tolist()
            return [self.value(etype) for _ in range(count)]   # strings, bools, nested
        raise ValueError("GGUF: unknown metadata value type %d" % vtype)


class GGUF:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.data = np.frombuffer(mm, dtype=np.uint8)       # whole file, read-only
        c = _Cursor(mm)
        if c.take(4) != b"GGUF":
            raise ValueError("%s: not a GGUF file" % path)
        self.version = c.scalar("<I")
        if self.version not in (2, 3):
            raise ValueError("GGUF version %d not supported" % self.version)
        n_tensors, n_kv = c.scalar("<Q"), c.scalar("<Q")
        self.meta = {}
        for _ in range(n_kv):
            key = c.string()
            self.meta[key] = c.value(c.scalar("<I"))
        self.infos = {}
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.scalar("<I")
            ne = [c.scalar("<Q") for _ in range(n_dims)]
            ttype, off = c.scalar("<I"), c.scalar("<Q")
            self.infos[name] = TensorInfo(name, ne, ttype, off)
        align = int(self.meta.get("general.alignment", 32))
        self.data_start = (c.pos + align - 1) // align * align

    def tensor(self, name):
        """float32 array, shape reversed(ne)."""
        info = self.infos[name]
        if info.type not in TYPES:
            raise NotImplementedError("%s: ggml type %d" % (name, info.type))
        tname, blk, nbytes = TYPES[info.type]
        n = int(np.prod(info.ne, dtype=np.int64))
        if info.ne and info.ne[0] % blk:
            raise ValueError("%s: row of %d not a multiple of block %d" % (name, info.ne[0], blk))
        size = n // blk * nbytes
        start = self.data_start + info.offset
        if start + size > len(self.data):
            raise ValueError("%s: data past end of file" % name)
        raw = np.asarray(self.data[start:start + size])
        return dequantize(tname, raw, n).reshape(tuple(reversed(info.ne)))


# ---------------------------------------------------------------- dequantization
# Every function takes raw bytes (uint8, n_blocks * block_bytes) and returns
# float32 (n_blocks, block_elems); arithmetic in float32 in ggml's order.

def _f16(b):
    """(nb, 2) uint8 -> (nb, 1) float32 from IEEE half."""
    return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def _blocks(raw, nbytes):
    return raw.reshape(-1, nbytes)                          # (nb, nbytes)


def _nibbles(qs):
    """(nb, 16) bytes -> (nb, 32): low nibbles are elements 0..15, high 16..31."""
    return np.concatenate([qs & 15, qs >> 4], axis=1)


def _bits32(u8x4, count=32):
    """(nb, 4) uint8 little-endian u32 -> (nb, count) bits, bit e at column e."""
    u = np.ascontiguousarray(u8x4).view("<u4")              # (nb, 1)
    return ((u >> np.arange(count, dtype=np.uint32)) & 1).astype(np.uint8)


def _q4_0(b):
    d = _f16(b[:, 0:2])
    return (_nibbles(b[:, 2:18]).astype(np.float32) - 8) * d


def _q4_1(b):
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    return _nibbles(b[:, 4:20]).astype(np.float32) * d + m


def _q5_0(b):
    d = _f16(b[:, 0:2])
    q = _nibbles(b[:, 6:22]) | (_bits32(b[:, 2:6]) << 4)
    return (q.astype(np.float32) - 16) * d


def _q5_1(b):
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = _nibbles(b[:, 8:24]) | (_bits32(b[:, 4:8]) << 4)
    return q.astype(np.float32) * d + m


def _q8_0(b):
    d = _f16(b[:, 0:2])
    return b[:, 2:34].view(np.int8).astype(np.float32) * d


def _kscales(s):
    """(nb, 12) packed 6-bit scales/mins of Q4_K/Q5_K -> two (nb, 8) float32."""
    s = s.astype(np.uint8)
    sc = np.empty((s.shape[0], 8), np.uint8)
    mn = np.empty_like(sc)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc.astype(np.float32), mn.astype(np.float32)


def _k4(qs):
    """(nb, 128) bytes -> (nb, 8, 32): sub-block 2c = low nibbles of
    qs[32c:32c+32], sub-block 2c+1 = their high nibbles."""
    q = qs.reshape(-1, 4, 1, 32)
    return np.concatenate([q & 15, q >> 4], axis=2).reshape(-1, 8, 32)


def _q4_k(b):
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])              # (nb, 1)
    sc, mn = _kscales(b[:, 4:16])                           # (nb, 8)
    q = _k4(b[:, 16:144]).astype(np.float32)                # (nb, 8, 32)
    x = (d * sc)[:, :, None] * q - (dmin * mn)[:, :, None]
    return x.reshape(-1, 256)


def _q5_k(b):
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _kscales(b[:, 4:16])
    qh = b[:, 16:48]                                        # (nb, 32): bit s -> sub-block s
    hi = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1   # (nb, 8, 32)
    q = (_k4(b[:, 48:176]) | (hi << 4)).astype(np.float32)
    x = (d * sc)[:, :, None] * q - (dmin * mn)[:, :, None]
    return x.reshape(-1, 256)


def _q6_k(b):
    ql, qh = b[:, 0:128], b[:, 128:192]
    sc = b[:, 192:208].view(np.int8).astype(np.float32)     # (nb, 16), one per 16 elements
    d = _f16(b[:, 208:210])
    halves = []
    for h in range(2):
        L = ql[:, 64 * h:64 * h + 64]                       # (nb, 64)
        H = qh[:, 32 * h:32 * h + 32]                       # (nb, 32)
        halves += [(L[:, :32] & 15) | ((H & 3) << 4),        # elements   0..31 of the half
                   (L[:, 32:] & 15) | (((H >> 2) & 3) << 4),  # 32..63
                   (L[:, :32] >> 4) | (((H >> 4) & 3) << 4),  # 64..95
                   (L[:, 32:] >> 4) | (((H >> 6) & 3) << 4)]  # 96..127
    q = np.concatenate(halves, axis=1).astype(np.float32) - 32   # (nb, 256)
    scale = np.repeat(d * sc, 16, axis=1)                   # (nb, 256)
    return scale * q


_DEQ = {"Q4_0": (_q4_0, 18), "Q4_1": (_q4_1, 20), "Q5_0": (_q5_0, 22), "Q5_1": (_q5_1, 24),
        "Q8_0": (_q8_0, 34), "Q4_K": (_q4_k, 144), "Q5_K": (_q5_k, 176), "Q6_K": (_q6_k, 210)}


def dequantize(tname, raw, n):
    """raw uint8 bytes of n elements of type tname -> float32 (n,)."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8)
    if tname == "F32":
        return raw.view("<f4").astype(np.float32)
    if tname == "F16":
        return raw.view("<f2").astype(np.float32)
    if tname == "BF16":
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    fn, nbytes = _DEQ[tname]
    return fn(_blocks(raw, nbytes)).reshape(n).astype(np.float32)
