// `shardlm render-template`: renders a chat template on a conversation and prints
// exactly the text (for debugging a template, and for the oracle tests).
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "app/app.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/jinja/chat.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

namespace {

Result<std::string> read_text(const std::string& path) {
  if (path == "-") return std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  return read_regular_file(path);  // type checked before the open: a FIFO never blocks
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  return 1;
}

}  // namespace

int cmd_render_template(const RenderTemplateOptions& o) {
  std::string source;
  nlohmann::ordered_json defaults = nlohmann::ordered_json::object();
  if (!o.template_file.empty()) {
    auto t = read_text(o.template_file);
    if (!t) return fail(t.message());
    source = std::move(*t);
  } else {
    auto tok = load_tokenizer(o.model);
    if (!tok) return fail(tok.message());
    const Tokenizer& T = *tok.value();
    source = T.chat_template();
    if (source.empty()) return fail(o.model + ": the model has no chat template (tokenizer.chat_template)");
    if (T.bos_id() >= 0) defaults["bos_token"] = T.token_text(T.bos_id());
    if (!T.eos_ids().empty()) defaults["eos_token"] = T.token_text(T.eos_ids().front());
  }
  std::string input_text = o.input;
  if (input_text.empty() || (input_text.front() != '{' && input_text.front() != ' ' && input_text.front() != '\n')) {
    auto t = read_text(o.input);
    if (!t) return fail(t.message());
    input_text = std::move(*t);
  }
  auto input = nlohmann::ordered_json::parse(input_text, nullptr, false);
  if (input.is_discarded() || !input.is_object()) return fail("--input: not a JSON object");
  for (const auto& [k, v] : defaults.items())
    if (!input.contains(k)) input[k] = v;
  auto tpl = jinja::Template::parse(source);
  if (!tpl) return fail(tpl.message());
  auto text = jinja::render_chat_template(*tpl, input);
  if (!text) return fail(text.message());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace shardlm
