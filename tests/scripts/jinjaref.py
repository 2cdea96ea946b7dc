"""The oracle for chat templates: Debian's python3-jinja2 set up as transformers'
apply_chat_template sets it up (chat_template_utils._compile_jinja_template).
Raises ImportError without jinja2."""
import copy
import datetime
import json

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def hf_environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def hf_render(env, source, case):
    """The variables as apply_chat_template passes them (see shardlm/jinja/chat.h):
    tools and documents None unless given, add_generation_prompt False unless given,
    every other key of `case` and of its chat_template_kwargs as a variable."""
    kw = {"tools": None, "documents": None, "add_generation_prompt": False}
    for k, v in case.items():
        if k != "chat_template_kwargs":
            kw[k] = v
    kw.update(case.get("chat_template_kwargs") or {})
    return env.from_string(source).render(**copy.deepcopy(kw))
