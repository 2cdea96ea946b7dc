// The prompt text of a chat request (runs on HTTP threads).
//
// Which template: --chat-template NAME picks a built-in format (tokenizer/chat-template.h);
// otherwise --chat-template-file, else the model's own Jinja template (GGUF
// tokenizer.chat_template, HF chat_template.jinja / tokenizer_config.json), rendered
// by jinja/ as transformers' apply_chat_template does; a model that ships none (or
// whose template does not parse: a warning) falls back to the built-in format detected
// from it. The choice is made once per loaded tokenizer.
//
// What the Jinja template sees (jinja/chat.h): the request's "messages" as sent, except
// that an assistant tool call's "arguments" given as a JSON string is parsed into an
// object (as vLLM does), and content given as a list of parts is joined into a string
// (parts joined with "\n", as the built-in formats see it) unless the template
// iterates over message content itself; "tools" when given; add_generation_prompt
// (the request's "add_generation_prompt", default true); bos_token and eos_token from
// the vocabulary; the request's "chat_template_kwargs" (e.g. enable_thinking).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "app/serve.h"

namespace shardlm {

// Tools: a request with "tools" needs a template that renders them. The built-in
// formats render none, and a Jinja template that renders the same text with and
// without the tools ignores them: both are errors ("cannot render tools"), never a
// silent drop.
struct ChatPromptText {
  std::string text;
  toolcall::ToolFormat tool_format = toolcall::ToolFormat::none;  // --tool-call-parser, else the template's
  bool reasoning = false;  // the template writes <think> blocks: split them off the answer
};

// Errors are the template's (raise_exception, UndefinedError, ...) or the built-in
// format's: the caller answers 400 (param "tools" for a template that cannot render
// tools, else "messages").
struct ChatPromptError {
  std::string message;
  std::string param;
};
std::variant<ChatPromptText, ChatPromptError> chat_prompt_text(ServeContext& ctx, const std::shared_ptr<const Tokenizer>& tok,
                                                               const http::ApiRequest& req, std::string_view body);

}  // namespace shardlm
