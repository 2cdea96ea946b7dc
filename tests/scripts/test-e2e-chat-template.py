# label: e2e
"""The server's chat path with a Jinja template: `serve --chat-template-file` with a
real template (../shared/templates/), POST /apply-template against python3-jinja2's
rendering (the oracle, set up as transformers does), a template error as a 400, and a
chat completion over the rendered prompt."""
import os

from serverlib import Server
from testlib import SHARED, Checks, need_shared, skip

try:
    from jinjaref import hf_environment, hf_render
except ImportError:
    skip("python3-jinja2 is not installed (apt-get install python3-jinja2)")

gguf = need_shared("stories260K", "stories260K.gguf")
tpl = os.path.join(SHARED, "templates", "Qwen-Qwen3-0.6B.jinja")
if not os.path.exists(tpl):
    skip(f"{tpl} not found")
source = open(tpl, encoding="utf-8").read()
env = hf_environment()
c = Checks()

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather \"now\" ☀",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Weather in"}, {"type": "text", "text": "Paris?"}]},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 2}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
]

srv = Server(gguf, ranks=1, args=["--chat-template-file", tpl])
try:
    for think in (None, False, True):
        body = {"messages": MESSAGES, "tools": TOOLS}
        if think is not None:
            body["chat_template_kwargs"] = {"enable_thinking": think}
        st, _, got = srv.request("POST", "/apply-template", body)
        # What the server documents it passes (app/chat-prompt.h): parts joined with "\n"
        # (this template does not iterate content), string arguments parsed, bos/eos
        # of the vocabulary, add_generation_prompt true.
        msgs = [dict(m) for m in MESSAGES]
        msgs[1]["content"] = "Weather in\nParis?"
        msgs[2] = dict(msgs[2], tool_calls=[{"id": "c1", "type": "function",
                                             "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}])
        case = {"messages": msgs, "tools": TOOLS, "add_generation_prompt": True, "bos_token": "<s>", "eos_token": "</s>"}
        if think is not None:
            case["chat_template_kwargs"] = {"enable_thinking": think}
        want = hf_render(env, source, case)
        c.check(st == 200 and isinstance(got, dict) and got.get("prompt") == want,
                f"/apply-template equals python3-jinja2 (enable_thinking={think}): {st} {str(got)[:200]!r}")

    st, _, got = srv.request("POST", "/v1/chat/completions",
                             {"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 8, "temperature": 0})
    c.check(st == 200 and got["choices"][0]["message"]["role"] == "assistant"
            and got["usage"]["prompt_tokens"] > 5, f"chat completion over the Jinja prompt ({st})")
    c.check("Jinja chat template" in srv.log(), "the server logs that it renders the Jinja template")
finally:
    srv.stop()

# A template that raises (Gemma 2 refuses a system message): Jinja2 raises, the server
# answers 400 with the template's message, on /apply-template and on chat completions.
gemma = os.path.join(SHARED, "templates", "google-gemma-2-2b-it.jinja")
bad = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}
try:
    hf_render(env, open(gemma, encoding="utf-8").read(), dict(bad, add_generation_prompt=True, bos_token="<s>"))
    c.check(False, "Jinja2 raises for a system message with Gemma 2's template")
except Exception as e:  # noqa: BLE001 - the oracle's error, whatever its class
    want_msg = str(e)
srv = Server(gguf, ranks=1, args=["--chat-template-file", gemma])
try:
    for path in ("/apply-template", "/v1/chat/completions"):
        st, _, got = srv.request("POST", path, dict(bad, max_tokens=4))
        c.check(st == 400 and want_msg in got["error"]["message"], f"{path}: a template error is a 400 ({st} {got})")
    st, _, got = srv.request("POST", "/apply-template", {"messages": [{"role": "user", "content": "U"}]})
    want = hf_render(env, open(gemma, encoding="utf-8").read(),
                     {"messages": [{"role": "user", "content": "U"}], "add_generation_prompt": True,
                      "bos_token": "<s>", "eos_token": "</s>"})
    c.check(st == 200 and got["prompt"] == want, f"Gemma 2 without a system message renders ({st} {got})")
finally:
    srv.stop()
c.finish()
