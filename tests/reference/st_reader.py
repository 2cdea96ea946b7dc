"""safetensors reader for shardlm's NumPy reference forward.

    st = SafeTensors("dir/")          # model.safetensors, the sharded
                                      # model.safetensors.index.json, or *.safetensors
    st.names()                        # tensor names
    st.tensor("model.norm.weight")    # float32 array in the stored shape

File layout: u64 little-endian header size N | N bytes JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
| data; offsets are relative to the first byte after the header.
Standard library + NumPy only.
"""
import glob
import json
import os
import struct

import numpy as np

_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


class _File:
    def __init__(self, path):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            self.header = json.loads(f.read(n))
        self.header.pop("__metadata__", None)
        self.base = 8 + n
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        self.path = path

    def tensor(self, name):
        h = self.header[name]
        b, e = h["data_offsets"]
        raw = np.asarray(self.data[self.base + b:self.base + e])
        shape = tuple(h["shape"])
        dt = h["dtype"]
        if dt == "BF16":
            a = (np.ascontiguousarray(raw).view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt in _DTYPES:
            a = np.ascontiguousarray(raw).view(_DTYPES[dt]).astype(np.float32)
        else:
            raise NotImplementedError("%s: safetensors dtype %s" % (name, dt))
        if a.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: %d bytes do not match shape %s" % (name, raw.size, shape))
        return a.reshape(shape)


class SafeTensors:
    def __init__(self, path):
        if os.path.isdir(path):
            idx = os.path.join(path, "model.safetensors.index.json")
            single = os.path.join(path, "model.safetensors")
            if os.path.exists(idx):
                with open(idx) as f:
                    wmap = json.load(f)["weight_map"]
                files = sorted(set(wmap.values()))
                paths = [os.path.join(path, x) for x in files]
            elif os.path.exists(single):
                paths = [single]
            else:
                paths = sorted(glob.glob(os.path.join(path, "*.safetensors")))
        else:
            paths = [path]
        if not paths:
            raise FileNotFoundError("%s: no safetensors files" % path)
        self.where = {}                                # tensor name -> _File
        for p in paths:
            fl = _File(p)
            for name in fl.header:
                self.where[name] = fl

    def names(self):
        return list(self.where)

    def has(self, name):
        return name in self.where

    def tensor(self, name):
        return self.where[name].tensor(name)
