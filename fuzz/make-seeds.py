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
    # http/: raw requests behind fuzz-http's byte (how many bytes arrive at a time).
    hdir = os.path.join(out, "http")
    os.makedirs(hdir, exist_ok=True)
    body = b'{"prompt": "Once", "max_tokens": 4}'
    hfiles = {
        "get.http": b"\x05GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "post.http": b"\x00POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-api\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        "chunked.http": b"\x03POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n0\r\n\r\n",
        "pipelined.http": b"\x3fGET /v1/models HTTP/1.1\r\nHost: a\r\n\r\nGET /admin/status HTTP/1.1\r\nHost: a\r\n"
                          b"authorization: bearer sk-admin\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n",
        "absolute.http": b"\x01OPTIONS http://h:1/x?y=1 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    }
    for name, b in hfiles.items():
        with open(os.path.join(hdir, name), "wb") as f:
            f.write(b)
    # openai/: request bodies behind fuzz-openai's byte (0 completions, 1 chat).
    odir = os.path.join(out, "openai")
    os.makedirs(odir, exist_ok=True)
    tool = {"type": "function", "function": {"name": "get_w", "description": "d", "parameters": {
        "type": "object", "properties": {"c": {"type": "string", "enum": ["a", "b"]}, "n": {"type": ["integer", "null"]},
                                         "l": {"type": "array", "items": {"anyOf": [{"type": "number"}]}}},
        "required": ["c"], "additionalProperties": False}}}
    ofiles = {
        "completion.json": (0, {"prompt": "Once upon", "max_tokens": 16, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
                                "min_p": 0.05, "stop": ["\n", "end"], "seed": 7, "logprobs": 2, "stream": True,
                                "stream_options": {"include_usage": True}, "presence_penalty": 0.5,
                                "frequency_penalty": -0.5, "repetition_penalty": 1.1, "stop_token_ids": [2],
                                "ignore_eos": False, "user": "u", "session_id": "s", "return_token_ids": True}),
        "tokens.json": (0, {"prompt": [[1, 2, 3], [4]], "max_completion_tokens": 2.0, "echo": True, "n": 1,
                            "best_of": 1, "logit_bias": {}, "suffix": None, "response_format": {"type": "text"}}),
        "chat.json": (1, {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                                      {"role": "assistant", "content": None, "tool_calls": [
                                                          {"id": "c1", "type": "function",
                                                           "function": {"name": "get_w", "arguments": "{\"c\":\"a\"}"}}]},
                                                      {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
                          "tools": [tool], "tool_choice": "auto", "parallel_tool_calls": False, "logprobs": True,
                          "top_logprobs": 3, "max_tokens": 8}),
    }
    for name, (sel, b) in ofiles.items():
        with open(os.path.join(odir, name), "wb") as f:
            f.write(bytes([sel]) + json.dumps(b).encode())
    # tokenizer/: tiny vocabularies behind fuzz-tokenizer's byte (0 tokenizer.json,
    # 1 SentencePiece .model, 2 llama2.c .bin, 3 GGUF).
    tdir = os.path.join(out, "tokenizer")
    os.makedirs(tdir, exist_ok=True)
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)] + ["\u2581", "\u2581a", "on", "ce", "\u2581Once"]
    bpe = {"version": "1.0", "added_tokens": [{"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}],
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                              {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
           "pre_tokenizer": None, "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
           "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                       {"Sequence": {"id": "A", "type_id": 0}}]},
           "model": {"type": "BPE", "byte_fallback": True, "unk_token": "<unk>", "vocab": {p: i for i, p in enumerate(pieces)},
                     "merges": ["\u2581 a", "o n", "c e", "\u2581 Once"]}}
    glevel = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4}, "merges": [["a", "b"], ["\u0120", "a"]]},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{N}"},
                                                                       "behavior": "Isolated"},
                                                                      {"type": "ByteLevel", "add_prefix_space": False}]},
              "added_tokens": [{"id": 5, "content": "<|end|>", "special": True}]}

    def varint(v):
        b = b""
        while True:
            x = v & 0x7F
            v >>= 7
            b += bytes([x | (0x80 if v else 0)])
            if not v:
                return b

    def spm_piece(p, score, typ):
        pb = p.encode()
        body = b"\x0a" + varint(len(pb)) + pb + b"\x15" + struct.pack("<f", score) + b"\x18" + varint(typ)
        return b"\x0a" + varint(len(body)) + body
    spm = b"".join(spm_piece(p, -float(i), 2 if i == 0 else 3 if i < 3 else 6 if p.startswith("<0x") else 1)
                   for i, p in enumerate(pieces))
    trainer = b"\x18" + varint(2)  # trainer_spec.model_type (field 3) = BPE
    spm += b"\x12" + varint(len(trainer)) + trainer
    l2c = struct.pack("<I", 8) + b"".join(struct.pack("<fi", -float(i), len(p.encode())) + p.encode()
                                          for i, p in enumerate(["<unk>", "\n<s>\n", "\n</s>\n", " a", "on", "ce", " Once", "a"]))
    gv = gguf([("general.architecture", STRING, "llama"), ("tokenizer.ggml.model", STRING, "llama"),
               ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
               ("tokenizer.ggml.scores", ARRAY, (F32, [-float(i) for i in range(len(pieces))])),
               ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3] + [6] * 256 + [1] * 5)),
               ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2)], [])
    g2 = gguf([("tokenizer.ggml.model", STRING, "gpt2"), ("tokenizer.ggml.pre", STRING, "llama-bpe"),
               ("tokenizer.ggml.tokens", ARRAY, (STRING, ["a", "b", "ab", "\u0120"])),
               ("tokenizer.ggml.merges", ARRAY, (STRING, ["a b"]))], [])
    tfiles = {"bpe.json": b"\x00" + json.dumps(bpe).encode(), "bytelevel.json": b"\x00" + json.dumps(glevel).encode(),
              "spm.model": b"\x01" + spm, "llama2c.bin": b"\x02" + l2c, "spm.gguf": b"\x03" + gv, "gpt2.gguf": b"\x03" + g2}
    for name, b in tfiles.items():
        with open(os.path.join(tdir, name), "wb") as f:
            f.write(b)
    print(f"seeds: {len(files)} gguf, {len(sfiles)} safetensors, {len(wfiles)} wire in {out}")


if __name__ == "__main__":
    main()
