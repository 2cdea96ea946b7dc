# label: unit
"""Tool-call parsers against the families' own output shapes: python3-jinja2 (the
oracle, set up as transformers does) renders an assistant message with tool calls
through each real template in ../shared/templates/; the rendered assistant turn is the
text the model writes. `shardlm parse-tool-calls` must give back the same calls (names,
arguments as JSON equal to the originals), the content and reasoning around them, and
the same answer when the text arrives in chunks of 1, 2, 3, 7 bytes (the streamed
deltas joined). Malformed calls come back as content, verbatim."""
import json
import os
import subprocess
import sys

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
    {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                      "parameters": {"type": "object", "properties": {
                                          "city": {"type": "string", "description": "the city"},
                                          "days": {"type": "integer", "description": "days ahead"}},
                                          "required": ["city"]}}},
    {"type": "function", "function": {"name": "python", "description": "Run code",
                                      "parameters": {"type": "object", "properties": {
                                          "code": {"type": "string", "description": "the code"}}}}},
]
ARGS = [{"city": "Paris", "days": 2}, {"city": "Zürich \"centre\""}]
END_MARKERS = ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "</s>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
               "<|END_OF_TURN_TOKEN|>", "<|START_OF_TURN_TOKEN|>"]

# (template, family, calls the template renders at once, arguments as a JSON string,
#  assistant content, text the model writes before the rendered turn, expected reasoning)
CASES = [
    ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "hermes", 2, False, "", "", ""),
    ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "hermes", 2, False, "Let me check.", "", ""),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "hermes", 2, False, "Let me check.", "", ""),
    ("Qwen-Qwen3-0.6B.jinja", "hermes", 2, False, "", "", ""),
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3", 1, False, "", "", ""),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3", 1, False, "", "", ""),
    ("meta-llama-Llama-3.3-70B-Instruct.jinja", "llama3", 1, False, "", "", ""),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral", 2, False, "", "", ""),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek_r1", 2, True, None, "Let me think.</think>\n\n",
     "Let me think."),
    ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "deepseek_r1", 2, True, None, "Hmm.</think>", "Hmm."),
    ("meetkai-functionary-medium-v3.1.jinja", "functionary_v3_1", 2, True, "", "", ""),
    ("meetkai-functionary-medium-v3.2.jinja", "functionary_v3_2", 2, True, "", "", ""),
    ("CohereForAI-c4ai-command-r-plus-tool_use.jinja", "command_r", 2, False, "", "", ""),
    ("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "command_r7b", 2, False, "", "", ""),
]

c = testlib.Checks()


def parse(template=None, fmt=None, output="", prompt=None, tools=TOOLS):
    args = [testlib.BIN, "parse-tool-calls", "--input", "-"]
    if template:
        args += ["--template", template]
    if fmt:
        args += ["--format", fmt]
    body = {"output": output, "tools": tools}
    if prompt is not None:
        body["prompt"] = prompt
    r = subprocess.run(args, input=json.dumps(body).encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"parse-tool-calls failed: {r.stderr.decode()}")
    return json.loads(r.stdout)


def no_ids(obj):
    return [{"name": t["function"]["name"], "arguments": t["function"]["arguments"]} for t in obj["tool_calls"]]


def check_streams(got, what):
    c.check(got["delta_shape_error"] == "", f"{what}: streamed deltas keep the OpenAI shape ({got['delta_shape_error']})")
    for s in got["streamed"]:
        same = (s["content"] == got["content"] and s["reasoning_content"] == got["reasoning_content"]
                and no_ids(s) == no_ids(got) and s["malformed"] == got["malformed"])
        c.check(same, f"{what}: streamed deltas join to the whole answer" + ("" if same else f": {s} vs {got}"))


env = hf_environment()
for name, family, n, str_args, content, before, reasoning in CASES:
    path = os.path.join(TEMPLATES, name)
    source = open(path, encoding="utf-8").read()
    ids = ["abc123def", "xyz789ghi"]
    calls = [{"id": ids[i], "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps(ARGS[i]) if str_args else ARGS[i]}}
             for i in range(n)]
    user = [{"role": "user", "content": "Weather?"}]
    base = {"tools": TOOLS, "bos_token": "<s>", "eos_token": "</s>"}
    prompt = hf_render(env, source, dict(base, messages=user, add_generation_prompt=True))
    full = hf_render(env, source, dict(base, messages=user + [{"role": "assistant", "content": content,
                                                               "tool_calls": calls}]))
    k = 0
    while k < min(len(prompt), len(full)) and prompt[k] == full[k]:
        k += 1
    while k < len(prompt) and k > 0 and full[k - 1] not in ">\n":  # back to a marker boundary ("<" may be shared)
        k -= 1
    turn = full[k:]
    if turn.startswith("<|CHATBOT_TOKEN|>"):  # Command R's generation prompt
        turn = turn[len("<|CHATBOT_TOKEN|>"):]
    cut = min([turn.find(m) for m in END_MARKERS if m in turn] + [len(turn)])
    output = before + turn[:cut]
    got = parse(template=path, output=output, prompt=prompt)
    what = f"{name} ({output[:60]!r}...)"
    c.check(got["format"] == family, f"{name}: detected family {got['format']} (want {family})")
    want = [{"name": "get_weather", "arguments": ARGS[i]} for i in range(n)]
    have = [{"name": t["function"]["name"], "arguments": json.loads(t["function"]["arguments"])} for t in got["tool_calls"]]
    c.check(have == want, f"{what}: calls round-trip: {have} vs {want}")
    c.check(all(t["id"] for t in got["tool_calls"]) and len({t["id"] for t in got["tool_calls"]}) == n,
            f"{what}: each call has its own id")
    if family == "mistral":
        c.check([t["id"] for t in got["tool_calls"]] == ids[:n], f"{what}: mistral keeps the model's call ids")
    want_content = content if content and content in turn else ""  # some templates drop content beside calls
    c.check(got["content"] == want_content, f"{what}: content {got['content']!r} (want {want_content!r})")
    c.check(got["reasoning_content"].strip() == reasoning, f"{what}: reasoning {got['reasoning_content']!r}")
    c.check(not got["malformed"], f"{what}: not malformed")
    check_streams(got, what)

# Malformed calls: given back as content, verbatim; the answer is not a tool call.
MALFORMED = [
    ("hermes", "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>"),
    ("hermes", "<tool_call>\n{\"name\": \"delete_all\", \"arguments\": {}}\n</tool_call>"),
    ("hermes", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [1]}\n</tool_call>"),
    ("llama3", "{\"name\": \"nope\", \"parameters\": {\"city\": \"Paris\"}}"),
    ("llama3", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par"),
    ("mistral", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}"),
    ("functionary_v3_1", "<function=get_weather>{\"city\": 3</function>"),
    ("command_r7b", "<|START_ACTION|>[{\"tool_name\": \"x\", \"parameters\": {}}]<|END_ACTION|>"),
    ("functionary_v3_2", "Once upon a time"),  # the prompt's ">>>" is not given back
]
for fmt, text in MALFORMED:
    got = parse(fmt=fmt, output=text)
    c.check(got["tool_calls"] == [] and got["malformed"] and got["content"].strip() == text.strip(),
            f"{fmt} malformed {text[:50]!r}: content {got['content']!r}, calls {got['tool_calls']}")
    check_streams(got, f"{fmt} malformed")

# A good call, then a malformed one: the first is a call, the second content.
got = parse(fmt="functionary_v3_2", output="get_weather\n{\"city\": \"Oslo\"}>>>get_weather\n{oops")
c.check(no_ids(got) == [{"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}] and got["malformed"]
        and got["content"] == ">>>get_weather\n{oops", f"functionary_v3_2 good + malformed: {got['content']!r}")
check_streams(got, "functionary_v3_2 good + malformed")

# Plain answers stay content, including text that looks like the start of a marker.
for fmt, text in [("hermes", "a < b and <tool is not a call"), ("llama3", "Paris is {sunny}."),
                  ("mistral", "[TOOL] no"), ("deepseek_r1", "plain")]:
    got = parse(fmt=fmt, output=text)
    c.check(got["content"] == text and got["tool_calls"] == [], f"{fmt}: plain answer {text!r} -> {got['content']!r}")
    check_streams(got, f"{fmt} plain")

# Reasoning: Qwen3 with thinking writes <think>..</think> before the calls.
qwen3 = os.path.join(TEMPLATES, "Qwen-Qwen3-0.6B.jinja")
text = "<think>\nThe user wants weather.\n</think>\n\nChecking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"
got = parse(template=qwen3, output=text)
c.check(got["reasoning_content"].strip() == "The user wants weather." and got["content"] == "Checking."
        and no_ids(got) == [{"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}],
        f"qwen3 reasoning + call: {got['content']!r} {got['reasoning_content']!r} {got['tool_calls']}")
check_streams(got, "qwen3 reasoning")
c.finish()
