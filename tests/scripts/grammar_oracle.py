"""The oracle for the grammar tests: python3-jsonschema + json, with the grammar's
stated language (src/grammar: compact JSON, strict objects, integers without fraction,
bounded digits, no duplicate keys).

  grammar_oracle.py gen OUT.json        writes the corpus fixture (tests/fixtures/grammar-corpus.json)
  grammar_oracle.py check FILE.jsonl    each line {"schema":..., "hex": doc bytes}; exit 1 if any is invalid
"""
import copy
import json
import random
import re
import sys

import jsonschema

INT_DIGITS, FRAC_DIGITS, EXP_DIGITS = 15, 15, 3


def strict(schema):
    """additionalProperties false where properties are listed (the grammar's default)."""
    if isinstance(schema, dict):
        s = {k: strict(v) for k, v in schema.items()}
        if "properties" in s and "additionalProperties" not in s:
            s["additionalProperties"] = False
        if isinstance(s.get("properties"), dict):
            s["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        return s
    if isinstance(schema, list):
        return [strict(x) for x in schema]
    return schema


def _is_int(checker, inst):
    return isinstance(inst, int) and not isinstance(inst, bool)


Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int))

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def lexically_ok(text):
    """No whitespace outside strings; number lexemes within the digit bounds."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c in " \t\r\n":
            return False
        m = NUMBER.match(text, i) if (c == "-" or c.isdigit()) else None
        if m:
            if len(m.group(1)) > INT_DIGITS or len(m.group(2) or ".")-1 > FRAC_DIGITS or \
               len((m.group(3) or "e").lstrip("eE+-")) > EXP_DIGITS:
                return False
            i = m.end()
            continue
        i += 1
    return True


def _no_dupes(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def verdict(schema, data):
    """True / False, or None when the document is outside what the corpus covers."""
    try:
        text = data.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_dupes)
    except ValueError as e:
        return None if "duplicate key" in str(e) else False
    if not lexically_ok(text):
        return False
    if schema == {"type": "json_object"}:
        return isinstance(doc, dict)
    return Validator(strict(schema)).is_valid(doc)


SCHEMAS = [
    {"type": "json_object"},
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["string", "null"]},
    {"enum": ["red", "green", "blue", 1, 12, None]},
    {"const": {"a": [1, 2]}},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
    {"type": "array", "items": {"type": "string", "enum": ["x", "xy"]}},
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
     "required": ["name"]},
    {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "boolean"}},
                                            "required": ["b"]},
                                      "ab": {"type": "array", "items": {"type": "number"}, "maxItems": 2}},
     "required": ["a", "ab"]},
    {"anyOf": [{"type": "integer"}, {"type": "object", "properties": {"k": {"type": "null"}}, "required": ["k"]},
               {"type": "array", "items": {"type": "boolean"}, "minItems": 2}]},
    {"type": "object", "properties": {"weather": {"type": "object", "properties": {
        "city": {"type": "string"}, "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
        "required": ["city", "unit"]}, "extra": {"type": "object"}}, "required": ["weather"]},
    {"type": "object", "properties": {}},
    {"type": "array"},
    {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"], "title": "t"},
]


def gen_value(s, rnd, depth=0):
    if s == {"type": "json_object"}:
        s = {"type": "object"}
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return rnd.choice(s["enum"])
    if "anyOf" in s:
        return gen_value(rnd.choice(s["anyOf"]), rnd, depth)
    t = s.get("type")
    if isinstance(t, list):
        return gen_value(dict(s, type=rnd.choice(t)), rnd, depth)
    if t == "string":
        return rnd.choice(["", "hi", "a\"b", "tab\there", "ünï", "€x", "line\nnew", "\\", "日本", "𝄞"])
    if t == "integer":
        return rnd.choice([0, -1, 7, 12, 123456789, -42])
    if t == "number":
        return rnd.choice([0, 1.5, -3.25, 1.5e-3, 7, 2.5e+20])
    if t == "boolean":
        return rnd.choice([True, False])
    if t == "null":
        return None
    if t == "array":
        lo, hi = s.get("minItems", 0), s.get("maxItems", 4)
        item = s.get("items", {"type": rnd.choice(["integer", "string", "null"])})
        return [gen_value(item, rnd, depth + 1) for _ in range(rnd.randint(lo, hi))]
    if t == "object":
        props = s.get("properties")
        if props is None:
            if depth > 2:
                return {}
            return {k: gen_value({"type": rnd.choice(["string", "integer", "object", "array", "null"])}, rnd, depth + 1)
                    for k in rnd.sample(["a", "b", "k é", "x\"y"], rnd.randint(0, 3))}
        keys = [k for k in props if k in s.get("required", []) or rnd.random() < 0.5]
        rnd.shuffle(keys)
        return {k: gen_value(props[k], rnd, depth + 1) for k in keys}
    return None


def mutations(data, rnd):
    out = []
    for _ in range(6):
        b = bytearray(data)
        op = rnd.randrange(5)
        i = rnd.randrange(len(b) + 1)
        if op == 0 and b:
            del b[min(i, len(b) - 1)]
        elif op == 1:
            b[i:i] = bytes([rnd.choice(b'{}[],:"0-.eE tnfa\\\x01\xc3\xff')])
        elif op == 2 and b:
            b[min(i, len(b) - 1)] = rnd.choice(b'{}[],:"01x ')
        elif op == 3:
            b = b[:i]
        else:
            b += rnd.choice([b",", b"}", b"0", b" ", b'"x":1'])
        out.append(bytes(b))
    return out


def structural(schema, doc):
    """Schema-aware wrong documents: a required key dropped, an extra key, a wrong type."""
    out = []
    if isinstance(doc, dict):
        for k in list(doc):
            d = dict(doc); del d[k]; out.append(d)
        out.append(dict(doc, zz=1))
        for k in list(doc):
            out.append(dict(doc, **{k: [doc[k]]}))
    elif isinstance(doc, list):
        out += [doc + doc[:1], doc[:-1], doc + ["s"]]
    else:
        out += [[doc], {"v": doc}, "s", 1.5, True]
    return out


def generate(path):
    rnd = random.Random(16)
    cases = []
    for schema in SCHEMAS:
        docs = {}
        for _ in range(25):
            doc = gen_value(schema, rnd)
            data = json.dumps(doc, separators=(",", ":"), ensure_ascii=rnd.random() < 0.3).encode()
            for d in [data] + mutations(data, rnd) + [json.dumps(x, separators=(",", ":"), ensure_ascii=False).encode()
                                                      for x in structural(schema, doc)]:
                v = verdict(schema, d)
                if v is not None:
                    docs[d.hex()] = v
        cases.append({"schema": schema, "docs": [{"hex": h, "valid": v} for h, v in sorted(docs.items())]})
    with open(path, "w") as f:
        json.dump({"generated_by": "tests/scripts/grammar_oracle.py gen", "cases": cases}, f, indent=0)
    total = sum(len(c["docs"]) for c in cases)
    valid = sum(d["valid"] for c in cases for d in c["docs"])
    print(f"{len(cases)} schemas, {total} documents, {valid} valid")


def check(path):
    bad = 0
    n = 0
    for line in open(path):
        rec = json.loads(line)
        n += 1
        if verdict(rec["schema"], bytes.fromhex(rec["hex"])) is not True:
            bad += 1
            print("INVALID:", json.dumps(rec["schema"]), bytes.fromhex(rec["hex"])[:300])
    print(f"{n} documents checked, {bad} invalid")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        generate(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
