// `shardlm parse-tool-calls`: a model's output text -> content, reasoning and tool calls
// as the server answers them (for debugging a model's output, and for the family tests).
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "app/app.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/toolcall/tool-parser.h"

namespace shardlm {

namespace {

using ojson = nlohmann::ordered_json;

int fail(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  return 1;
}

ojson calls_json(const std::vector<toolcall::ToolCall>& calls) {
  ojson a = ojson::array();
  for (const auto& c : calls)
    a.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return a;
}

// The deltas of a chunked feed joined as a client joins them; "" when a delta breaks
// the OpenAI shape (a call's first delta without its name, arguments before it).
ojson streamed(const toolcall::ParserConfig& cfg, const std::string& text, size_t chunk, std::string& shape_error) {
  toolcall::StreamParser p(cfg);
  std::string content, reasoning;
  std::vector<toolcall::ToolCall> calls;
  auto add = [&](toolcall::Delta&& d) {
    content += d.content;
    reasoning += d.reasoning;
    for (auto& c : d.calls) {
      if (c.first) {
        if (c.index != static_cast<int32_t>(calls.size()) || c.id.empty() || c.name.empty())
          shape_error = "a call's first delta lacks its id/name or skips an index";
        calls.push_back({c.id, c.name, c.arguments});
      } else if (c.index < 0 || static_cast<size_t>(c.index) >= calls.size()) {
        shape_error = "arguments for a call that has not started";
      } else {
        calls[static_cast<size_t>(c.index)].arguments += c.arguments;
      }
    }
  };
  for (size_t i = 0; i < text.size(); i += chunk) add(p.feed(std::string_view(text).substr(i, chunk)));
  add(p.finish());
  return {{"content", content}, {"reasoning_content", reasoning}, {"tool_calls", calls_json(calls)}, {"malformed", p.malformed()}};
}

}  // namespace

int cmd_parse_tool_calls(const ParseToolCallsOptions& o) {
  std::string input_text = o.input;
  if (input_text.empty() || input_text.front() != '{') {
    auto t = o.input == "-" ? Result<std::string>(std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>()))
                            : read_regular_file(o.input);
    if (!t) return fail(t.message());
    input_text = std::move(*t);
  }
  auto in = ojson::parse(input_text, nullptr, false);
  if (in.is_discarded() || !in.is_object() || !in.contains("output") || !in["output"].is_string())
    return fail("--input: a JSON object with \"output\" (text) and optional \"tools\", \"prompt\"");
  std::string source;
  if (!o.template_file.empty()) {
    auto t = read_regular_file(o.template_file);
    if (!t) return fail(t.message());
    source = std::move(*t);
  }
  toolcall::ParserConfig cfg;
  cfg.format = toolcall::detect_tool_format(source);
  if (!o.format.empty()) {
    auto f = toolcall::tool_format_from_name(o.format);
    if (!f) return fail("--format: unknown '" + o.format + "' (one of " + toolcall::tool_format_names() + ")");
    cfg.format = *f;
  }
  if (in.contains("tools") && in["tools"].is_array())
    for (const auto& t : in["tools"])
      if (t.contains("function") && t["function"].contains("name") && t["function"]["name"].is_string())
        cfg.tool_names.push_back(t["function"]["name"].get<std::string>());
  cfg.reasoning = toolcall::template_uses_think(source);
  if (in.contains("prompt") && in["prompt"].is_string())
    cfg.start_in_reasoning = toolcall::prompt_opens_think(in["prompt"].get<std::string>());
  const std::string text = in["output"].get<std::string>();
  auto whole = toolcall::parse_output(cfg, text);
  ojson out = {{"format", toolcall::tool_format_name(cfg.format)},
               {"content", whole.content},
               {"reasoning_content", whole.reasoning},
               {"tool_calls", calls_json(whole.calls)},
               {"malformed", whole.malformed}};
  ojson chunks = ojson::array();
  std::string shape_error;
  for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, text.size() + 1}) chunks.push_back(streamed(cfg, text, n, shape_error));
  out["streamed"] = std::move(chunks);
  out["delta_shape_error"] = shape_error;
  std::string s = out.dump(-1, ' ', false, ojson::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace shardlm
