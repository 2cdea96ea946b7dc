// The prompt text of a chat request: the Jinja template or the built-in format.
#include "app/chat-prompt.h"

#include <regex>

#include <nlohmann/json.hpp>

#include "shardlm/core/log.h"
#include "shardlm/jinja/chat.h"

namespace shardlm {

namespace {

struct ChatChoice {
  std::shared_ptr<const jinja::Template> jinja;
  bool iterates_content = false;
  toolcall::ToolFormat tool_format = toolcall::ToolFormat::none;
  bool reasoning = false;
  ChatFormat format = ChatFormat::chatml;
  std::string default_system;
};

// Whether the template loops over a message's content (then it takes lists of parts).
bool template_iterates_content(const std::string& text) {
  static const std::regex re(R"(for\s+\w+\s+in\s+\w+(\.content|\[\s*['"]content['"]\s*\]))");
  return std::regex_search(text, re);
}

Result<ChatChoice> choose(ServeContext& ctx, const std::shared_ptr<const Tokenizer>& tokp) {
  std::lock_guard<std::mutex> lk(ctx.chat_mu);
  if (ctx.chat_tok != tokp) {
    const Tokenizer& tok = *tokp;
    ctx.chat_jinja.reset();
    const std::string& text = ctx.chat_template_text.empty() ? tok.chat_template() : ctx.chat_template_text;
    if (ctx.chat_template.empty() && !text.empty()) {
      auto t = jinja::Template::parse(text);
      if (t) {
        ctx.chat_jinja = std::make_shared<const jinja::Template>(std::move(*t));
        ctx.chat_tool_format = toolcall::detect_tool_format(text);
        ctx.chat_reasoning = toolcall::template_uses_think(text);
        LOG_INFO("chat: tool calls parsed as {}{}", toolcall::tool_format_name(ctx.tool_format.value_or(ctx.chat_tool_format)),
                 ctx.chat_reasoning ? ", <think> as reasoning" : "");
        LOG_INFO("chat: rendering the {} Jinja chat template", ctx.chat_template_text.empty() ? "model's" : "--chat-template-file");
      } else {
        LOG_WARN("chat: the model's chat template does not parse ({}); using a built-in format", t.message());
      }
    }
    if (!ctx.chat_jinja) {
      auto f = select_chat_format(ctx.chat_template, tok.chat_template());
      if (!f) return f.status();
      ctx.chat_format = *f;
      ctx.chat_default_system = chat_template_default_system(tok.chat_template());
    }
    ctx.chat_tok = tokp;
  }
  ChatChoice c;
  c.jinja = ctx.chat_jinja;
  c.format = ctx.chat_format;
  c.default_system = ctx.chat_default_system;
  c.tool_format = c.jinja ? ctx.tool_format.value_or(ctx.chat_tool_format) : toolcall::ToolFormat::none;
  c.reasoning = c.jinja && ctx.chat_reasoning;
  if (c.jinja)
    c.iterates_content = template_iterates_content(ctx.chat_template_text.empty() ? tokp->chat_template() : ctx.chat_template_text);
  return c;
}

Result<std::string> render_builtin(const ChatChoice& c, const Tokenizer& tok, const http::ApiRequest& req) {
  std::vector<ChatMessage> msgs;
  for (const auto& m : req.messages) msgs.push_back({m.role == "developer" ? "system" : m.role, m.content});
  ChatRenderOptions ro;
  if (tok.bos_id() >= 0) ro.bos_text = tok.token_text(tok.bos_id());
  auto eos = tok.eos_ids();
  if (!eos.empty()) ro.eos_text = tok.token_text(eos.front());
  ro.default_system = c.default_system;
  return render_chat(c.format, msgs, ro);
}

// The variables of jinja::render_chat_template from the request body (see the header).
Result<nlohmann::ordered_json> jinja_input(const ChatChoice& c, const Tokenizer& tok, const http::ApiRequest& req,
                                           std::string_view body) {
  auto j = nlohmann::ordered_json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("messages") || !j["messages"].is_array())
    return Status::error("'messages' must be an array");
  nlohmann::ordered_json msgs = j["messages"];
  for (size_t i = 0; i < msgs.size(); ++i) {
    auto& m = msgs[i];
    if (!m.is_object()) continue;
    if (m.contains("content") && m["content"].is_array() && !c.iterates_content && i < req.messages.size())
      m["content"] = req.messages[i].content;
    if (m.contains("tool_calls") && m["tool_calls"].is_array())
      for (auto& tc : m["tool_calls"])
        if (tc.is_object() && tc.contains("function") && tc["function"].is_object() && tc["function"].contains("arguments") &&
            tc["function"]["arguments"].is_string()) {
          auto a = nlohmann::ordered_json::parse(tc["function"]["arguments"].get<std::string>(), nullptr, false);
          if (!a.is_discarded() && a.is_object()) tc["function"]["arguments"] = std::move(a);
        }
  }
  nlohmann::ordered_json in = nlohmann::ordered_json::object();
  in["messages"] = std::move(msgs);
  if (j.contains("tools") && !j["tools"].is_null()) in["tools"] = j["tools"];
  in["add_generation_prompt"] = j.contains("add_generation_prompt") && j["add_generation_prompt"].is_boolean()
                                    ? j["add_generation_prompt"].get<bool>() : true;
  if (tok.bos_id() >= 0) in["bos_token"] = tok.token_text(tok.bos_id());
  if (!tok.eos_ids().empty()) in["eos_token"] = tok.token_text(tok.eos_ids().front());
  if (j.contains("chat_template_kwargs")) in["chat_template_kwargs"] = j["chat_template_kwargs"];
  return in;
}

}  // namespace

std::variant<ChatPromptText, ChatPromptError> chat_prompt_text(ServeContext& ctx, const std::shared_ptr<const Tokenizer>& tok,
                                                               const http::ApiRequest& req, std::string_view body) {
  auto c = choose(ctx, tok);
  if (!c) return ChatPromptError{c.message(), "messages"};
  ChatPromptText out;
  if (!c->jinja) {
    if (!req.tools.empty())
      return ChatPromptError{"the chat format in use (a built-in one: the model has no Jinja chat template, or "
                             "--chat-template names one) cannot render tools",
                             "tools"};
    auto text = render_builtin(*c, *tok, req);
    if (!text) return ChatPromptError{text.message(), "messages"};
    out.text = std::move(*text);
    return out;
  }
  auto in = jinja_input(*c, *tok, req, body);
  if (!in) return ChatPromptError{in.message(), "messages"};
  auto text = jinja::render_chat_template(*c->jinja, *in);
  if (!text) return ChatPromptError{text.message(), "messages"};
  if (!req.tools.empty()) {
    nlohmann::ordered_json bare = *in;
    bare.erase("tools");
    auto without = jinja::render_chat_template(*c->jinja, bare);
    if (without && *without == *text)
      return ChatPromptError{"the model's chat template cannot render tools (it renders the same prompt without them); "
                             "give a template that does with --chat-template-file",
                             "tools"};
  }
  out.text = std::move(*text);
  out.tool_format = c->tool_format;
  out.reasoning = c->reasoning;
  return out;
}

}  // namespace shardlm
