"""The oracle for the grammar tests: python3-jsonschema + json, with the grammar's
stated language (src/grammar: compact JSON, strict objects, integers without fraction,
bounded digits, no duplicate keys). Formats are checked here with the standard library
(jsonschema's own checkers for date/uuid/ipv4 are loose or need packages Debian's
python3 lacks): date = datetime.date.fromisoformat on the RFC 3339 full-date shape,
time/date-time = RFC 3339 with an offset (fraction of at most 6 digits, no leap second),
uuid = uuid.UUID on the 8-4-4-4-12 shape, ipv4 = ipaddress, email = the documented subset
(1-4 dot-separated atoms of 1-24 letters, digits and _%+-, '@', 2-4 DNS labels of 1-32).

  grammar_oracle.py gen OUT.json        writes the corpus fixture (tests/fixtures/grammar-corpus.json)
  grammar_oracle.py check FILE.jsonl    each line {"schema":..., "hex": doc bytes}; exit 1 if any is invalid
"""
import datetime
import ipaddress
import json
import random
import re
import sys
import uuid

import jsonschema

INT_DIGITS, FRAC_DIGITS, EXP_DIGITS = 15, 15, 3


def _members_props(members, root):
    """Property names of allOf members (each resolved through one local $ref), or None."""
    names = set()
    for m in members:
        if isinstance(m, dict) and "$ref" in m:
            m = resolve(root, m["$ref"])
        if not isinstance(m, dict):
            return None
        names |= set(m.get("properties", {}))
    return names


def resolve(root, ref):
    node = root
    for part in ref.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~").replace("%25", "%")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def strict(schema, root=None, member=False):
    """additionalProperties false where properties are listed (the grammar's default); an
    allOf's members stay open and the allOf itself allows only their properties (the
    grammar merges them)."""
    root = schema if root is None else root
    if isinstance(schema, dict):
        s = {k: (strict(v, root, k == "allOf") if k != "properties" else v) for k, v in schema.items()}
        if "properties" in s and "additionalProperties" not in s and not member:
            s["additionalProperties"] = False
        if isinstance(s.get("properties"), dict):
            s["properties"] = {k: strict(v, root) for k, v in schema["properties"].items()}
        if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) > 1:
            names = _members_props(schema["allOf"], root)
            if names is not None and not any("additionalProperties" in m for m in schema["allOf"] if isinstance(m, dict)):
                s["propertyNames"] = {"enum": sorted(names)}
        return s
    if isinstance(schema, list):
        return [strict(x, root, member) for x in schema]
    return schema


FORMATS = jsonschema.FormatChecker(formats=())
TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(\.\d{1,6})?(Z|[+-](\d\d):(\d\d))\Z")


@FORMATS.checks("date")
def _date(s):
    if not isinstance(s, str):
        return True
    if len(s) != 10 or s[4] != "-" or s[7] != "-" or not s.isascii():
        return False
    try:
        datetime.date.fromisoformat(s)
        return True
    except ValueError:
        return False


@FORMATS.checks("time")
def _time(s):
    if not isinstance(s, str):
        return True
    m = TIME.match(s)
    if not m:
        return False
    h, mi, sec = int(m[1]), int(m[2]), int(m[3])
    if m[6] and (int(m[6]) > 23 or int(m[7]) > 59):
        return False
    return h < 24 and mi < 60 and sec < 60


@FORMATS.checks("date-time")
def _date_time(s):
    return not isinstance(s, str) or (len(s) > 11 and s[10] == "T" and _date(s[:10]) and _time(s[11:]))


@FORMATS.checks("uuid")
def _uuid(s):
    if not isinstance(s, str):
        return True
    if len(s) != 36 or any(s[i] != "-" for i in (8, 13, 18, 23)):
        return False
    try:
        uuid.UUID(s)
        return True
    except ValueError:
        return False


@FORMATS.checks("ipv4")
def _ipv4(s):
    if not isinstance(s, str):
        return True
    try:
        ipaddress.IPv4Address(s)
        return True
    except ValueError:
        return False


ATOM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_%+-")
LABEL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@FORMATS.checks("email")
def _email(s):
    if not isinstance(s, str):
        return True
    if s.count("@") != 1:
        return False
    local, domain = s.split("@")
    atoms, labels = local.split("."), domain.split(".")
    if not (len(atoms) <= 4 and all(0 < len(a) <= 24 and set(a) <= ATOM for a in atoms)):
        return False
    return 2 <= len(labels) <= 4 and all(0 < len(x) <= 32 and set(x) <= LABEL and x[0] != "-" and x[-1] != "-"
                                         for x in labels)


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


def declared_names(schema, out=None):
    """Every property name any "properties" of the schema declares."""
    out = set() if out is None else out
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            out |= set(schema["properties"])
        for v in schema.values():
            declared_names(v, out)
    elif isinstance(schema, list):
        for v in schema:
            declared_names(v, out)
    return out


def verdict(schema, data, extra_repeats=False):
    """True / False, or None when the document is outside what the corpus covers.
    extra_repeats: a key that no "properties" declares may repeat (the grammar does not
    track the keys of additionalProperties; the last value counts, as in Python's json)."""
    declared = declared_names(schema)

    def no_dupes(pairs):
        keys = [k for k, _ in pairs]
        repeated = {k for k in keys if keys.count(k) > 1}
        if repeated and (not extra_repeats or repeated & declared):
            raise ValueError("duplicate key")
        return dict(pairs)

    try:
        text = data.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=no_dupes)
    except ValueError as e:
        return None if "duplicate key" in str(e) else False
    if not lexically_ok(text):
        return False
    if schema == {"type": "json_object"}:
        return isinstance(doc, dict)
    return Validator(strict(schema), format_checker=FORMATS).is_valid(doc)


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
    # The keywords of real tool schemas ($ref, allOf, oneOf, lengths, bounds, pattern, format,
    # additionalProperties as a schema).
    {"$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer", "minimum": -5, "maximum": 5},
                                                       "y": {"type": "integer"}}, "required": ["x"]}},
     "type": "array", "items": {"$ref": "#/$defs/pt"}, "maxItems": 3},
    {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#"},
                                                                         "maxItems": 2}}, "required": ["v"]},
    {"type": "object", "properties": {"u": {"allOf": [{"$ref": "#/definitions/U"}], "description": "d"}},
     "required": ["u"], "definitions": {"U": {"type": "object", "properties": {"n": {"type": "string"}},
                                              "required": ["n"]}}},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"properties": {"b": {"type": "boolean"}}}]},
    {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "string", "maxLength": 2}]},
    {"type": "string", "minLength": 2, "maxLength": 4},
    {"type": "integer", "minimum": -12, "maximum": 105},
    {"type": "integer", "exclusiveMinimum": -3, "exclusiveMaximum": 40},
    {"type": "string", "pattern": "^[a-z]{1,3}-[0-9]+$"},
    {"type": "string", "pattern": "ab"},
    {"type": "object", "properties": {f: {"type": "string", "format": f}
                                      for f in ("date", "time", "date-time", "uuid", "email", "ipv4")}},
    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"],
     "additionalProperties": {"type": "integer", "minimum": 0}},
]

FORMAT_SAMPLES = {
    "date": ["2024-02-29", "2023-02-29", "1900-02-28", "2000-02-29", "2023-13-01", "0000-01-01", "2023-04-31",
             "2023-4-01", "20230401", "9999-12-31"],
    "time": ["23:59:59Z", "00:00:00.123456+05:30", "24:00:00Z", "12:60:00Z", "12:00:00", "12:00:00.1234567Z",
             "09:30:00-01:00"],
    "date-time": ["2024-01-31T10:20:30Z", "2024-01-31T10:20:30.5+01:00", "2024-01-31 10:20:30Z",
                  "2024-02-30T10:20:30Z", "2024-01-31T10:20:30"],
    "uuid": ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
             "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"],
    "email": ["a.b+c@example.com", "x_y@sub.example-1.org", "a@b", "a..b@example.com", "@x.org", "a@-x.com"],
    "ipv4": ["0.0.0.0", "255.255.255.255", "192.168.1.10", "256.1.1.1", "01.2.3.4", "1.2.3"],
}
PATTERN_SAMPLES = {
    "^[a-z]{1,3}-[0-9]+$": ["ab-12", "z-0", "abcd-1", "ab-", "-1", "AB-1", "ab-1x", "é-1"],
    "ab": ["ab", "xxabyy", "a", "ba", "", "aab"],
}


def gen_value(s, rnd, depth=0, root=None):
    root = s if root is None else root
    if s is True or s == {}:
        s = {"type": rnd.choice(["integer", "string", "null"])}
    if s == {"type": "json_object"}:
        s = {"type": "object"}
    if "$ref" in s:
        return gen_value(resolve(root, s["$ref"]), rnd, depth, root) if depth < 4 else None
    if "allOf" in s:
        merged = {"type": "object", "properties": {}, "required": []}
        for m in s["allOf"]:
            m = resolve(root, m["$ref"]) if "$ref" in m else m
            merged["properties"].update(m.get("properties", {}))
            merged["required"] += m.get("required", [])
        return gen_value(merged, rnd, depth, root)
    if "const" in s:
        return s["const"]
    if "enum" in s:
        return rnd.choice(s["enum"])
    if "anyOf" in s or "oneOf" in s:
        return gen_value(rnd.choice(s.get("anyOf") or s["oneOf"]), rnd, depth, root)
    t = s.get("type")
    if isinstance(t, list):
        return gen_value(dict(s, type=rnd.choice(t)), rnd, depth, root)
    if t == "string":
        if "format" in s:
            return rnd.choice(FORMAT_SAMPLES[s["format"]])
        if "pattern" in s:
            return rnd.choice(PATTERN_SAMPLES[s["pattern"]])
        if "minLength" in s or "maxLength" in s:
            n = max(0, rnd.choice([s.get("minLength", 0) - 1, s.get("minLength", 0), s.get("maxLength", 3),
                                   s.get("maxLength", 3) + 1, 2]))
            return "".join(rnd.choice(["a", "é", "\n", "€", "𝄞", "\"", "z"]) for _ in range(n))
        return rnd.choice(["", "hi", "a\"b", "tab\there", "ünï", "€x", "line\nnew", "\\", "日本", "𝄞"])
    if t == "integer":
        lo = s.get("minimum", s["exclusiveMinimum"] + 1 if "exclusiveMinimum" in s else -50)
        hi = s.get("maximum", s["exclusiveMaximum"] - 1 if "exclusiveMaximum" in s else 50)
        if "minimum" in s or "maximum" in s or "exclusiveMinimum" in s or "exclusiveMaximum" in s:
            return rnd.choice([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, 0, (lo + hi) // 2, lo * 10, hi * 10])
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
        if depth > 3:
            hi = lo
        return [gen_value(item, rnd, depth + 1, root) for _ in range(rnd.randint(lo, hi))]
    if t == "object" or "properties" in s:
        props = s.get("properties")
        if props is None:
            if depth > 2:
                return {}
            return {k: gen_value({"type": rnd.choice(["string", "integer", "object", "array", "null"])}, rnd, depth + 1)
                    for k in rnd.sample(["a", "b", "k é", "x\"y"], rnd.randint(0, 3))}
        keys = [k for k in props if k in s.get("required", []) or rnd.random() < 0.5]
        rnd.shuffle(keys)
        out = {k: gen_value(props[k], rnd, depth + 1, root) for k in keys}
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            for k in rnd.sample(["k", "zz", "q"], rnd.randint(0, 2)):
                out[k] = gen_value(extra, rnd, depth + 1, root)
        return out
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
        if verdict(rec["schema"], bytes.fromhex(rec["hex"]), extra_repeats=True) is not True:
            bad += 1
            print("INVALID:", json.dumps(rec["schema"]), bytes.fromhex(rec["hex"])[:300])
    print(f"{n} documents checked, {bad} invalid")
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        generate(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
