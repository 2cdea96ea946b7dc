// Tool calls and reasoning in a model's output text, per model family.
//
// The model writes its calls in its family's own shape (the one its chat template
// renders assistant tool calls in); this module turns the output text back into
// OpenAI's {content, reasoning_content, tool_calls}:
//   hermes          <tool_call>{"name": N, "arguments": {...}}</tool_call>  (Hermes 2/3, Qwen2.5, Qwen3)
//   llama3          {"name": N, "parameters": {...}} as the whole answer (several joined by ';'),
//                   or <|python_tag|> followed by that JSON or `tool.call(k="v", ...)`
//   mistral         [TOOL_CALLS][{"name": N, "arguments": {...}, "id": I}, ...]
//   deepseek_r1     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   functionary_v3_1 <function=N>{...}</function>; <|python_tag|>code -> python({"code": ...})
//   functionary_v3_2 (the prompt ends with ">>>") N\n{...} segments joined by ">>>"; "all\n" is content
//   command_r       Action: ```json [{"tool_name": N, "parameters": {...}}] ```   (Command R+)
//   command_r7b     <|START_ACTION|>[{"tool_call_id", "tool_name", "parameters"}]<|END_ACTION|>,
//                   <|START_THINKING|>..<|END_THINKING|> as reasoning, <|START_RESPONSE|> markers dropped
//   firefunction_v2  functools[{"name": N, "arguments": {...}}]
//   json            [{"name": N, "arguments": {...}}, ...] as the whole answer: what a forced
//                   tool call (tool_choice required / named) is decoded as, under a grammar
// Reasoning: <think>..</think> becomes reasoning_content when the template uses it
// (the output starts inside it when the rendered prompt ends in an open <think>).
//
// Streaming (StreamParser) and whole-text parsing (parse_output) are the same code, so
// the streamed deltas concatenate exactly to the whole-text result. A call is emitted
// when it is complete and valid (its block ended, its JSON parsed, its name is one of
// the request's tools, its arguments an object): the first delta of a call carries its
// index, id and name with arguments "", the next one its whole arguments. Text that may
// still become a call marker is held back, so no half-parsed call is ever content. A
// block that does not parse (bad JSON, unknown tool, arguments not an object) is given
// back as content, verbatim, and marks the output malformed.
// Thread safety: a StreamParser belongs to one request (one thread at a time).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardlm::toolcall {

enum class ToolFormat {
  none,
  hermes,
  llama3,
  mistral,
  deepseek_r1,
  functionary_v3_1,
  functionary_v3_2,
  command_r,
  command_r7b,
  firefunction_v2,
  json,
};

const char* tool_format_name(ToolFormat f);
// "hermes", "llama3", ... and "none"; nullopt for an unknown name.
std::optional<ToolFormat> tool_format_from_name(std::string_view name);
// The names accepted by tool_format_from_name, comma-separated (for --help and errors).
std::string tool_format_names();
// The family whose call markers the template renders; none when it shows no known one.
ToolFormat detect_tool_format(std::string_view template_text);
// Whether the template writes <think> blocks (its reasoning is split off).
bool template_uses_think(std::string_view template_text);
// Whether a prompt rendered by such a template leaves the answer inside an open
// <think> (the last "<think>" comes after the last "</think>").
bool prompt_opens_think(std::string_view prompt);

struct ToolCall {
  std::string id;         // "call_" + 24 characters unique in the process, or the model's own (mistral)
  std::string name;       // one of ParserConfig::tool_names
  std::string arguments;  // a JSON object, compact, keys in the model's order
};

struct ParserConfig {
  ToolFormat format = ToolFormat::none;  // none: no tool calls are parsed
  std::vector<std::string> tool_names;   // the request's tools; a call naming another is malformed
  bool reasoning = false;                // split <think> blocks into reasoning
  bool start_in_reasoning = false;       // the prompt left a <think> open
};

// One call's part in a streamed delta.
struct CallDelta {
  int32_t index = 0;      // position of the call in the answer, from 0
  bool first = false;     // the call's first delta: id, type and name are set
  std::string id, name;   // set when first
  std::string arguments;  // appended to the call's arguments
};

struct Delta {
  std::string content;
  std::string reasoning;
  std::vector<CallDelta> calls;
  bool empty() const { return content.empty() && reasoning.empty() && calls.empty(); }
};

class StreamParser {
 public:
  explicit StreamParser(ParserConfig config);
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // The next piece of output text; what can be said about it now.
  Delta feed(std::string_view text);
  // The end of the output: everything held back (an unfinished block is parsed as far
  // as the text goes, or given back as content).
  Delta finish();

  int32_t n_calls() const;
  bool malformed() const;  // some block was given back as content

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ParsedOutput {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> calls;
  bool malformed = false;
};

// The whole output at once (feed + finish, the deltas joined).
ParsedOutput parse_output(const ParserConfig& config, std::string_view text);

}  // namespace shardlm::toolcall
