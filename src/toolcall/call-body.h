// The inside of one tool-call block, per family (see tool-parser.h for the shapes).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/toolcall/tool-parser.h"

namespace shardlm::toolcall::detail {

enum class BodyKind {
  name_arguments_object,  // {"name": N, "arguments"|"parameters": {...}} (hermes)
  json_objects,           // one or more such objects joined by ';' / ',' / whitespace (llama3)
  python_tag,             // llama3 after <|python_tag|>: json_objects or `tool.call(k=v, ...)`
  name_arguments_array,   // [{"name", "arguments", "id"?}, ...] (mistral, firefunction)
  deepseek_calls,         // <｜tool▁call▁begin｜>function<｜tool▁sep｜>N\n```json\n{...}\n```<｜tool▁call▁end｜>...
  name_gt_json,           // N>{...} (functionary v3.1 <function=)
  python_code,            // raw code -> python({"code": ...}) (functionary v3.1 <|python_tag|>)
  name_newline_json,      // N\n{...} (functionary v3.2 segment)
  cohere_array,           // ```json? [{"tool_name", "parameters", "tool_call_id"?}] ```? (command r, r7b)
};

// The calls of a block, or nullopt when it is malformed: not the shape, bad JSON, a
// name not in `names`, arguments that are not an object. Ids: the model's own for
// mistral (when it wrote one), else empty (the caller assigns one).
std::optional<std::vector<ToolCall>> parse_body(BodyKind kind, std::string_view body,
                                                const std::vector<std::string>& names);

// End of the JSON object or array starting at s[0] (one past it), or npos (strings and
// escapes respected; the value itself is not checked).
size_t json_value_end(std::string_view s);

// A fresh call id: "call_" + 24 alphanumerics; mistral: 9 alphanumerics (its template
// refuses other ids when the call comes back in the history).
std::string new_call_id(ToolFormat f);

}  // namespace shardlm::toolcall::detail
