#!/usr/bin/env python3
"""Writes small valid seed files for the fuzzers: make-seeds.py OUT_DIR.

OUT_DIR/gguf/*.gguf and OUT_DIR/safetensors/*.safetensors: a few tiny files that
exercise every GGUF value type, arrays (nested too), alignment, several tensor
types, and safetensors headers with metadata, odd offsets, every dtype and empty
tensors. Standard library only.
"""
import json
import os
import struct
import sys

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        for it in items:
            out += gval(et, it)
        return out
    return struct.pack(SCALAR[t], v)


# ggml type id -> (block elements, block bytes)
GGML = {0: (1, 4), 1: (1, 2), 8: (32, 34), 2: (32, 18), 12: (256, 144), 30: (1, 2), 24: (1, 1)}


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne list, ggml type)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset = 0
    blobs = []
    for name, ne, ty in tensors:
        n = 1
        for d in ne:
            n *= d
        blk, nb = GGML[ty]
        size = n // blk * nb
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", ty, offset)
        blobs.append((offset, size))
        offset = (offset + size + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    data = bytearray(offset)
    for i, (off, size) in enumerate(blobs):
        data[off:off + size] = bytes((i * 7 + j) & 0xFF for j in range(size))
    return out + bytes(data)


def safetensors(entries, metadata=None, pad=0, order=None):
    """entries: [(name, dtype, shape, nbytes_per_elem)], packed in `order` (default: as given)."""
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    off = 0
    data = b""
    for i in (order or range(len(entries))):
        name, dt, shape, es = entries[i]
        n = es
        for d in shape:
            n *= d
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes((i * 13 + j) & 0xFF for j in range(n))
        off += n
    h = json.dumps(hdr, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + data


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz-seeds"
    gdir, sdir = os.path.join(out, "gguf"), os.path.join(out, "safetensors")
    os.makedirs(gdir, exist_ok=True)
    os.makedirs(sdir, exist_ok=True)

    all_types = [("general.architecture", STRING, "llama"), ("general.alignment", U32, 32),
                 ("t.u8", U8, 7), ("t.i8", I8, -7), ("t.u16", U16, 700), ("t.i16", I16, -700),
                 ("t.u32", U32, 70000), ("t.i32", I32, -70000), ("t.f32", F32, 1.5), ("t.bool", BOOL, True),
                 ("t.u64", U64, 1 << 40), ("t.i64", I64, -(1 << 40)), ("t.f64", F64, 2.25),
                 ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "a", "b"])),
                 ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, -1.0, -2.0, -3.0])),
                 ("t.nested", ARRAY, (ARRAY, [(I32, [1, 2]), (I32, [])]))]
    files = {
        "empty-v3.gguf": gguf([], []),
        "kv-only-v2.gguf": gguf(all_types, [], version=2),
        "tensors.gguf": gguf(all_types, [("token_embd.weight", [4, 8], 0), ("blk.0.attn_q.weight", [32, 2], 8),
                                         ("blk.0.ffn_up.weight", [3], 1), ("x.q4", [64], 2), ("x.bf16", [5], 30)]),
        "align64.gguf": gguf([("general.alignment", U32, 64)], [("a", [16], 0), ("b", [1, 1, 1, 3], 24)],
                             alignment=64),
        "qk.gguf": gguf([("llama.block_count", U32, 1)], [("q4k", [256, 1], 12), ("zero", [0, 4], 0)]),
    }
    for name, b in files.items():
        with open(os.path.join(gdir, name), "wb") as f:
            f.write(b)

    all_dtypes = [("f32", "F32", [2, 3], 4), ("f16", "F16", [4], 2), ("bf16", "BF16", [1, 2], 2),
                  ("f64", "F64", [1], 8), ("i8", "I8", [3], 1), ("i16", "I16", [2], 2), ("i32", "I32", [2], 4),
                  ("i64", "I64", [1], 8), ("u8", "U8", [5], 1), ("u32", "U32", [2, 2], 4),
                  ("bool", "BOOL", [3], 1), ("empty", "F32", [0, 7], 4), ("scalar", "F32", [], 4)]
    sfiles = {
        "empty.safetensors": safetensors([]),
        "meta.safetensors": safetensors([("w", "F32", [2], 4)], {"format": "pt"}),
        "dtypes.safetensors": safetensors(all_dtypes, {"format": "mlx", "k": "v"}, pad=5,
                                          order=list(reversed(range(len(all_dtypes))))),
        "mlx-like.safetensors": safetensors([("model.embed_tokens.weight", "U32", [4, 2], 4),
                                             ("model.embed_tokens.scales", "F16", [4, 1], 2),
                                             ("model.embed_tokens.biases", "F16", [4, 1], 2),
                                             ("model.norm.weight", "BF16", [3], 2)], {"format": "mlx"}, order=[3, 1, 0, 2]),
    }
    for name, b in sfiles.items():
        with open(os.path.join(sdir, name), "wb") as f:
            f.write(b)
    # Step protocol payloads (grammar: include/shardlm/protocol/step-msg.h, version 5),
    # each behind fuzz-wire's selector byte (0 STEP, 1 LOAD, 2 PROBE, 4 header).
    wdir = os.path.join(out, "wire")
    os.makedirs(wdir, exist_ok=True)
    ints = lambda v: struct.pack("<I", len(v)) + b"".join(struct.pack("<i", x) for x in v)
    # Sampling := f32 temperature, i32 top_k, f32 top_p, f32 min_p, u64 seed, f32 x3 penalties (36 bytes)
    sampling = struct.pack("<fiffQfff", 0.8, 40, 0.9, 0.0, 7, 1.1, 0.0, 0.5)
    new_seq = struct.pack("<QII", 7, 16, 20) + ints([1, 2, 3, 4]) + ints([5, 6]) + ints([]) + b"\x03" + sampling
    running = struct.pack("<QI", 8, 21) + ints([11]) + ints([12])
    rows = struct.pack("<I", 3) + b"".join(struct.pack("<QI", s, p) for s, p in [(7, 17), (7, 19), (8, 30)])
    step = (struct.pack("<Q", 42) + struct.pack("<I", 1) + new_seq + struct.pack("<I", 1) + running + rows +
            struct.pack("<I", 2) + struct.pack("<QQ", 3, 4) + struct.pack("<I", 0))
    string = lambda b: struct.pack("<I", len(b)) + b
    wfiles = {
        "step": b"\x00" + step,
        "step-empty": b"\x00" + struct.pack("<Q", 1) + struct.pack("<I", 0) * 5,
        "load": b"\x01" + string(b"/m/model.gguf") + string(b'{"threads":2}'),
        "probe": b"\x02" + struct.pack("<QI", 1 << 20, 2),
        "header": b"\x04" + struct.pack("<IHHQ", 0x574D4C53, 5, 1, len(step)),
    }
    for name, b in wfiles.items():
        with open(os.path.join(wdir, name), "wb") as f:
            f.write(b)
    print(f"seeds: {len(files)} gguf, {len(sfiles)} safetensors, {len(wfiles)} wire in {out}")


if __name__ == "__main__":
    main()
