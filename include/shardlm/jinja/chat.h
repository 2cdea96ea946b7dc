// Rendering a chat template the way transformers' apply_chat_template does.
//
// `input` is a JSON object: "messages" (required, an array, passed as given), and
// optionally "tools", "add_generation_prompt", "bos_token", "eos_token",
// "chat_template_kwargs" (an object whose keys become variables, e.g.
// enable_thinking) and any other key (also a variable). As transformers does, the
// template always sees `tools` and `documents` (None unless given) and
// `add_generation_prompt` (false unless given).
// Thread safety: pure; see Template.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "shardlm/jinja/template.h"

namespace shardlm::jinja {

// The variables the template sees (see above). Error when messages is missing or not
// an array, or chat_template_kwargs is not an object.
Result<nlohmann::ordered_json> chat_template_vars(const nlohmann::ordered_json& input);

Result<std::string> render_chat_template(const Template& t, const nlohmann::ordered_json& input);

}  // namespace shardlm::jinja
