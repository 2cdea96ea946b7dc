// Chat template variables as transformers passes them.
#include "shardlm/jinja/chat.h"

namespace shardlm::jinja {

Result<nlohmann::ordered_json> chat_template_vars(const nlohmann::ordered_json& input) {
  if (!input.is_object()) return Status::error("the input must be a JSON object");
  if (!input.contains("messages") || !input["messages"].is_array()) return Status::error("'messages' must be an array");
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  vars["tools"] = nullptr;
  vars["documents"] = nullptr;
  vars["add_generation_prompt"] = false;
  for (const auto& [k, v] : input.items()) {
    if (k == "chat_template_kwargs") continue;
    vars[k] = v;
  }
  if (input.contains("chat_template_kwargs")) {
    const auto& kw = input["chat_template_kwargs"];
    if (!kw.is_object() && !kw.is_null()) return Status::error("'chat_template_kwargs' must be an object");
    if (kw.is_object())
      for (const auto& [k, v] : kw.items()) vars[k] = v;
  }
  return vars;
}

Result<std::string> render_chat_template(const Template& t, const nlohmann::ordered_json& input) {
  auto vars = chat_template_vars(input);
  if (!vars) return vars.status();
  return t.render(*vars);
}

}  // namespace shardlm::jinja
