# label: unit
"""Chat templates against the oracle: Debian's python3-jinja2, set up exactly as
transformers' apply_chat_template sets it up, renders the real templates in
../shared/templates/ on a corpus of conversations; `shardlm render-template` must
print byte-identical text wherever Jinja2 renders, and fail wherever Jinja2 raises."""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import testlib  # noqa: E402

try:
    from jinjaref import hf_environment, hf_render
except ImportError:
    testlib.skip("python3-jinja2 is not installed (apt-get install python3-jinja2)")

TEMPLATES = os.path.join(testlib.SHARED, "templates")
if not os.path.isdir(TEMPLATES):
    testlib.skip(f"{TEMPLATES} not found (../shared is absent)")
if not os.path.exists(testlib.BIN):
    testlib.skip(f"{testlib.BIN} not built")


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather for a city. Says \"sunny\" or 'rainy' \\ ünïcödé ☀",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
            "days": {"type": "integer", "description": "How many days", "default": 1},
        }, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the web",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string"},
            "filters": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number", "description": "minimum score, e.g. 0.5"},
        }, "required": ["query", "filters"]}}},
]
SYS = {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."}
U1 = {"role": "user", "content": "What is the weather in Paris?"}
A1 = {"role": "assistant", "content": "It is sunny in Paris."}
U2 = {"role": "user", "content": "  And in Berlin, \"tomorrow\"?  "}
CALL = {"role": "assistant", "content": None, "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
CALL_STR = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
CALL2 = {"role": "assistant", "content": "Let me check both.", "tool_calls": [
    {"id": "callAAAAA", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    {"id": "callBBBBB", "type": "function", "function": {"name": "search", "arguments": {"query": "Berlin weather", "filters": ["news"]}}}]}
RES = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"}
RES_A = {"role": "tool", "tool_call_id": "callAAAAA", "name": "get_weather", "content": "21 C"}
RES_B = {"role": "tool", "tool_call_id": "callBBBBB", "name": "search", "content": "Rain expected"}
PARTS = {"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "text", "text": " a cat."}]}
THINK = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello there!"}

CASES = {
    "user": {"messages": [U1], "add_generation_prompt": True},
    "system+user": {"messages": [SYS, U1], "add_generation_prompt": True},
    "multi-turn": {"messages": [SYS, U1, A1, U2], "add_generation_prompt": True},
    "multi-turn-nosys": {"messages": [U1, A1, U2], "add_generation_prompt": True},
    "ends-assistant": {"messages": [U1, A1], "add_generation_prompt": False},
    "no-gen-prompt": {"messages": [SYS, U1]},
    "tools": {"messages": [U1], "tools": TOOLS, "add_generation_prompt": True},
    "tools+system": {"messages": [SYS, U1], "tools": TOOLS, "add_generation_prompt": True},
    "tool-call": {"messages": [U1, CALL], "tools": TOOLS},
    "tool-result": {"messages": [SYS, U1, CALL, RES], "tools": TOOLS, "add_generation_prompt": True},
    "tool-result-notools": {"messages": [U1, CALL, RES], "add_generation_prompt": True},
    "tool-call-strargs": {"messages": [U1, CALL_STR, RES], "tools": TOOLS, "add_generation_prompt": True},
    "parallel-calls": {"messages": [U1, CALL2, RES_A, RES_B, {"role": "assistant", "content": "Paris 21 C, Berlin rain."}, U2],
                       "tools": TOOLS, "add_generation_prompt": True},
    "content-parts": {"messages": [PARTS], "add_generation_prompt": True},
    "think-history": {"messages": [{"role": "user", "content": "Hi"}, THINK, {"role": "user", "content": "Again"}],
                      "add_generation_prompt": True},
    "thinking-off": {"messages": [U1], "add_generation_prompt": True, "chat_template_kwargs": {"enable_thinking": False}},
    "thinking-on": {"messages": [SYS, U1], "add_generation_prompt": True, "chat_template_kwargs": {"enable_thinking": True}},
    "unicode": {"messages": [{"role": "user", "content": "Grüße, 你好 👋 — \\n \t tab"}], "add_generation_prompt": True},
    "empty-system": {"messages": [{"role": "system", "content": ""}, U1], "add_generation_prompt": True},
    "builtin-tools": {"messages": [U1], "tools": TOOLS, "builtin_tools": ["wolfram_alpha", "code_interpreter"],
                      "add_generation_prompt": True},
    "two-systems": {"messages": [SYS, SYS, U1], "add_generation_prompt": True},
    "no-alternation": {"messages": [U1, U2], "add_generation_prompt": True},
    # Tools as bare function objects (Command R's and older templates' shape).
    "flat-tools": {"messages": [SYS, U1], "tools": [dict(t["function"], parameter_definitions={
        "city": {"type": "str", "description": "The city", "required": True}}) for t in TOOLS],
                   "add_generation_prompt": True},
    # FireFunction v2 takes its tools as a `functions` JSON string and a `datetime` kwarg.
    "functions-kwarg": {"messages": [SYS, U1, A1, U2], "add_generation_prompt": True,
                        "chat_template_kwargs": {"functions": json.dumps([t["function"] for t in TOOLS]),
                                                 "datetime": "Jul 26 2024"}},
    "functions-call": {"messages": [U1, {"role": "assistant", "content": "", "tool_calls": CALL2["tool_calls"]},
                                    {"role": "tool", "content": "ok"}],
                       "add_generation_prompt": True,
                       "chat_template_kwargs": {"functions": json.dumps(TOOLS), "datetime": "Jul 26 2024"}},
}


def main():
    env = hf_environment()
    templates = sorted(glob.glob(os.path.join(TEMPLATES, "*.jinja")))
    if not templates:
        testlib.skip(f"no templates in {TEMPLATES}")
    tmp = tempfile.mkdtemp(prefix="jinja-corpus-")
    failures = []
    rows = []
    for path in templates:
        name = os.path.basename(path)[:-6]
        source = open(path, encoding="utf-8").read()
        rendered = equal = raised = raised_ok = 0
        for cname, case in CASES.items():
            case = dict(case, bos_token="<s>", eos_token="</s>")
            try:
                want, err = hf_render(env, source, case), None
            except Exception as e:  # Jinja2 raised: shardlm must fail too
                want, err = None, f"{type(e).__name__}: {e}"
            inp = os.path.join(tmp, f"{name}.{cname}.json")
            with open(inp, "w", encoding="utf-8") as f:
                json.dump(case, f, ensure_ascii=False)
            r = subprocess.run([testlib.BIN, "render-template", "--template", path, "--input", inp],
                               capture_output=True, timeout=60)
            if err is None:
                rendered += 1
                got = r.stdout.decode("utf-8", "replace")
                if r.returncode == 0 and got == want:
                    equal += 1
                else:
                    failures.append((name, cname, want, got if r.returncode == 0 else "EXIT %d: %s" % (r.returncode, r.stderr.decode())))
            else:
                raised += 1
                if r.returncode != 0:
                    raised_ok += 1
                else:
                    failures.append((name, cname, "Jinja2 raised " + err, r.stdout.decode("utf-8", "replace")))
        rows.append((name, rendered, equal, raised, raised_ok))
    w = max(len(r[0]) for r in rows)
    print(f"{'template':<{w}}  rendered  equal  raised  failed-too")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>8}  {r[2]:>5}  {r[3]:>6}  {r[4]:>10}")
    tot = [sum(r[i] for r in rows) for i in range(1, 5)]
    print(f"{'total':<{w}}  {tot[0]:>8}  {tot[1]:>5}  {tot[2]:>6}  {tot[3]:>10}  ({len(CASES)} cases x {len(rows)} templates)")
    for name, cname, want, got in failures[:int(os.environ.get("JINJA_CORPUS_SHOW", "6"))]:
        i = next((k for k in range(min(len(want), len(got))) if want[k] != got[k]), min(len(want), len(got)))
        print(f"\n--- MISMATCH {name} / {cname} at char {i} (lengths {len(want)} / {len(got)})")
        print(f"--- want: {want[max(0, i - 80):i + 160]!r}\n--- got:  {got[max(0, i - 80):i + 160]!r}")
    if failures:
        raise SystemExit(f"FAIL: {len(failures)} case(s) differ from python3-jinja2")
    print("PASS")


if __name__ == "__main__":
    main()
