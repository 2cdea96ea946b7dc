# label: e2e
"""Chat tools on a 2-rank server (stories260K, Qwen2.5's real template from
../shared/templates/, which renders tools in Hermes style): tools reach the template as
transformers passes them (POST /apply-template against python3-jinja2), a tool round
trip (assistant call -> tool result -> answer) renders and answers; bad tool fields are
400s naming the param; a template that cannot render tools is a 400, never a silent
drop; an answer the parser cannot read as a call stays content with finish_reason stop,
streamed and not, and the streamed deltas join to the non-streamed answer."""
import json
import os

from serverlib import Server
from testlib import SHARED, Checks, need_shared, skip

try:
    from jinjaref import hf_environment, hf_render
except ImportError:
    skip("python3-jinja2 is not installed (apt-get install python3-jinja2)")

gguf = need_shared("stories260K", "stories260K.gguf")
qwen = os.path.join(SHARED, "templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
gemma = os.path.join(SHARED, "templates", "google-gemma-2-2b-it.jinja")
for t in (qwen, gemma):
    if not os.path.exists(t):
        skip(f"{t} not found")
env = hf_environment()
c = Checks()

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
ROUND_TRIP = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
]


def joined(chunks):
    """A client's reassembly of streamed chat chunks."""
    content, reasoning, calls, finish = "", "", [], None
    for ch in chunks:
        for choice in ch.get("choices", []):
            d = choice.get("delta", {})
            content += d.get("content") or ""
            reasoning += d.get("reasoning_content") or ""
            for t in d.get("tool_calls") or []:
                if "id" in t:
                    calls.append({"name": t["function"]["name"], "arguments": t["function"].get("arguments", "")})
                else:
                    calls[t["index"]]["arguments"] += t["function"]["arguments"]
            finish = choice.get("finish_reason") or finish
    return content, reasoning, calls, finish


srv = Server(gguf, ranks=2, args=["--chat-template-file", qwen])
try:
    # The round trip renders exactly as transformers renders it (string arguments
    # parsed into an object, as the server documents).
    st, _, got = srv.request("POST", "/apply-template", {"messages": ROUND_TRIP, "tools": TOOLS})
    msgs = json.loads(json.dumps(ROUND_TRIP))
    msgs[1]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    want = hf_render(env, open(qwen, encoding="utf-8").read(),
                     {"messages": msgs, "tools": TOOLS, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"})
    c.check(st == 200 and got.get("prompt") == want, f"tool round trip renders as python3-jinja2 does ({st})")
    c.check("<tool_response>\nsunny, 21 C\n</tool_response>" in want and "get_time" in want,
            "the rendering holds the tool result and the tool list")

    base = {"messages": ROUND_TRIP, "tools": TOOLS, "max_tokens": 24, "temperature": 0}
    st, _, whole = srv.request("POST", "/v1/chat/completions", base)
    ok = st == 200 and whole["choices"][0]["message"]["role"] == "assistant"
    c.check(ok, f"answer after the tool result ({st} {str(whole)[:200]})")
    if ok:
        m = whole["choices"][0]
        c.check(m["finish_reason"] in ("stop", "length") and "tool_calls" not in m["message"]
                and isinstance(m["message"]["content"], str), f"a story is content, not a call: {m}")
        st, chunks, done = srv.stream("/v1/chat/completions", base)
        content, reasoning, calls, finish = joined(chunks)
        c.check(st == 200 and done and content == m["message"]["content"] and calls == [] and finish == m["finish_reason"],
                f"streamed answer joins to the non-streamed one ({content!r} vs {m['message']['content']!r})")

    # Bad tool fields: 400 with param.
    bad = [({"tools": {"type": "function"}}, "tools"),
           ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "dict"}}}]},
            "tools[0].function.parameters.type"),
           ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
           ({"tool_choice": "required"}, "tool_choice")]
    for extra, param in bad:
        st, _, got = srv.request("POST", "/v1/chat/completions", dict({"messages": ROUND_TRIP[:1], "max_tokens": 4}, **extra))
        c.check(st == 400 and got["error"]["param"] == param, f"400 param {param}: {st} {got}")
finally:
    srv.stop()

# A parser that reads every answer as a call block (Functionary v3.2: the answer is
# "name\n{json}"): the story is not a call, so it is content, finish_reason stop, the
# same streamed and not, and the same text as the request without tools.
srv = Server(gguf, ranks=2, args=["--chat-template-file", qwen, "--tool-call-parser", "functionary_v3_2"])
try:
    base = {"messages": [{"role": "user", "content": "Once upon a time"}], "tools": TOOLS, "max_tokens": 16,
            "temperature": 0, "ignore_eos": True}
    st, _, whole = srv.request("POST", "/v1/chat/completions", base)
    c.check(st == 200, f"malformed call: 200 ({st} {str(whole)[:200]})")
    if st == 200:
        m = whole["choices"][0]
        c.check(m["finish_reason"] == "length" and "tool_calls" not in m["message"] and len(m["message"]["content"]) > 0,
                f"the unparsable call is content: {m}")
        st, chunks, done = srv.stream("/v1/chat/completions", base)
        content, _, calls, finish = joined(chunks)
        c.check(st == 200 and content == m["message"]["content"] and calls == [] and finish == "length",
                f"streamed: held back, then given back whole ({content!r})")
        st, _, plain = srv.request("POST", "/v1/chat/completions", dict(base, tool_choice="none"))
        c.check(st == 200 and plain["choices"][0]["message"]["content"] == m["message"]["content"],
                "tool_choice none: the same text, not parsed")
finally:
    srv.stop()

# Templates that cannot render tools: Gemma 2's ignores them, the built-in formats have none.
for args in (["--chat-template-file", gemma], ["--chat-template", "chatml"]):
    srv = Server(gguf, ranks=1, args=args)
    try:
        st, _, got = srv.request("POST", "/v1/chat/completions",
                                 {"messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, "max_tokens": 4})
        c.check(st == 400 and got["error"]["param"] == "tools" and "cannot render tools" in got["error"]["message"],
                f"{args}: tools the template cannot render are a 400 ({st} {got})")
        st, _, got = srv.request("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        c.check(st == 200, f"{args}: without tools it answers ({st})")
    finally:
        srv.stop()
c.finish()
