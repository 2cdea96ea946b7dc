// Tool-call format names and their detection from a chat template's text.
#include <array>
#include <utility>

#include "shardlm/toolcall/tool-parser.h"

namespace shardlm::toolcall {

namespace {

constexpr std::array<std::pair<ToolFormat, const char*>, 11> kNames{{
    {ToolFormat::none, "none"},
    {ToolFormat::hermes, "hermes"},
    {ToolFormat::llama3, "llama3"},
    {ToolFormat::mistral, "mistral"},
    {ToolFormat::deepseek_r1, "deepseek_r1"},
    {ToolFormat::functionary_v3_1, "functionary_v3_1"},
    {ToolFormat::functionary_v3_2, "functionary_v3_2"},
    {ToolFormat::command_r, "command_r"},
    {ToolFormat::command_r7b, "command_r7b"},
    {ToolFormat::firefunction_v2, "firefunction_v2"},
    {ToolFormat::json, "json"},
}};

bool has(std::string_view text, std::string_view what) { return text.find(what) != std::string_view::npos; }

}  // namespace

const char* tool_format_name(ToolFormat f) {
  for (const auto& [k, n] : kNames)
    if (k == f) return n;
  return "none";
}

std::optional<ToolFormat> tool_format_from_name(std::string_view name) {
  for (const auto& [k, n] : kNames)
    if (name == n) return k;
  return std::nullopt;
}

std::string tool_format_names() {
  std::string out;
  for (const auto& [k, n] : kNames) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// The most specific marker first: Command R7B also writes "Action:", the DeepSeek and
// Functionary templates are Llama 3 based.
ToolFormat detect_tool_format(std::string_view t) {
  if (has(t, "<|START_ACTION|>")) return ToolFormat::command_r7b;
  if (has(t, "tool\xe2\x96\x81" "calls\xe2\x96\x81" "begin")) return ToolFormat::deepseek_r1;  // tool▁calls▁begin
  if (has(t, "[TOOL_CALLS]")) return ToolFormat::mistral;
  if (has(t, "<tool_call>")) return ToolFormat::hermes;
  if (has(t, "<function=")) return ToolFormat::functionary_v3_1;
  if (has(t, ">>>") && has(t, "<|start_header_id|>")) return ToolFormat::functionary_v3_2;
  if (has(t, "functools")) return ToolFormat::firefunction_v2;
  if (has(t, "Action:") && has(t, "tool_name")) return ToolFormat::command_r;
  if (has(t, "<|python_tag|>") || (has(t, "\"parameters\"") && has(t, "<|start_header_id|>"))) return ToolFormat::llama3;
  return ToolFormat::none;
}

bool template_uses_think(std::string_view t) { return has(t, "<think>") && has(t, "</think>"); }

bool prompt_opens_think(std::string_view prompt) {
  const size_t open = prompt.rfind("<think>");
  if (open == std::string_view::npos) return false;
  const size_t close = prompt.rfind("</think>");
  return close == std::string_view::npos || close < open;
}

}  // namespace shardlm::toolcall
