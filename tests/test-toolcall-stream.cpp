// StreamParser: what streaming may and may not send (byte-by-byte feeds), hand-checked.
// The families' real shapes are checked against their templates in
// tests/scripts/test-toolcall-families.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shardlm/toolcall/tool-parser.h"

using namespace shardlm::toolcall;

namespace {

ParserConfig config(ToolFormat f) {
  ParserConfig c;
  c.format = f;
  c.tool_names = {"get_weather", "get_time"};
  return c;
}

struct Fed {
  std::vector<std::string> contents;  // content of each feed's delta, in order
  ParsedOutput joined;
};

// Feeds one byte at a time and joins the deltas.
Fed feed_bytes(const ParserConfig& cfg, const std::string& text) {
  StreamParser p(cfg);
  Fed f;
  auto add = [&](Delta&& d) {
    f.contents.push_back(d.content);
    f.joined.content += d.content;
    f.joined.reasoning += d.reasoning;
    for (auto& c : d.calls) {
      if (c.first) {
        EXPECT_EQ(c.index, static_cast<int32_t>(f.joined.calls.size()));
        EXPECT_FALSE(c.id.empty());
        EXPECT_FALSE(c.name.empty());
        EXPECT_TRUE(c.arguments.empty());
        f.joined.calls.push_back({c.id, c.name, ""});
      } else {
        ASSERT_LT(static_cast<size_t>(c.index), f.joined.calls.size());
        f.joined.calls[static_cast<size_t>(c.index)].arguments += c.arguments;
      }
    }
  };
  for (char ch : text) add(p.feed(std::string(1, ch)));
  add(p.finish());
  f.joined.malformed = p.malformed();
  return f;
}

TEST(ToolcallStream, NoPartOfACallIsEverContent) {
  const std::string text =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"<tool_call>\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>";
  Fed f = feed_bytes(config(ToolFormat::hermes), text);
  for (const auto& c : f.contents) EXPECT_EQ(c, "");
  ASSERT_EQ(f.joined.calls.size(), 2u);
  EXPECT_EQ(f.joined.calls[0].name, "get_weather");
  EXPECT_EQ(f.joined.calls[0].arguments, R"({"city":"<tool_call>"})");
  EXPECT_EQ(f.joined.calls[1].name, "get_time");
  EXPECT_EQ(f.joined.calls[1].arguments, "{}");
  EXPECT_NE(f.joined.calls[0].id, f.joined.calls[1].id);
  EXPECT_FALSE(f.joined.malformed);
}

TEST(ToolcallStream, ContentBeforeACallIsSentBeforeTheMarkerCompletes) {
  Fed f = feed_bytes(config(ToolFormat::hermes), "Let me look. <tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>");
  // "Let me look." is out once the '.' arrived and the next byte cannot start a word of it.
  std::string sent;
  size_t feeds_until_text = 0;
  for (const auto& c : f.contents) {
    sent += c;
    if (sent.empty()) ++feeds_until_text;
  }
  EXPECT_EQ(f.joined.content, "Let me look.");
  EXPECT_LE(feeds_until_text, std::string("Let me look.").size());
  ASSERT_EQ(f.joined.calls.size(), 1u);
}

TEST(ToolcallStream, AMarkerPrefixThatIsNotAMarkerIsGivenBack) {
  for (const std::string text : {"a <tool b", "x <tool_cal", "<", "1 < 2 <tool_call"}) {
    SCOPED_TRACE(text);
    Fed f = feed_bytes(config(ToolFormat::hermes), text);
    ParsedOutput whole = parse_output(config(ToolFormat::hermes), text);
    EXPECT_EQ(f.joined.content, whole.content);
    EXPECT_EQ(whole.content, text);
  }
  // An unfinished block at the end: parsed as far as it goes, else content verbatim.
  ParsedOutput cut = parse_output(config(ToolFormat::hermes), "<tool_call>{\"name\": \"get_time\", \"argu");
  EXPECT_TRUE(cut.calls.empty());
  EXPECT_TRUE(cut.malformed);
  EXPECT_EQ(cut.content, "<tool_call>{\"name\": \"get_time\", \"argu");
  ParsedOutput unclosed = parse_output(config(ToolFormat::hermes), "<tool_call>{\"name\": \"get_time\", \"arguments\": {}}");
  ASSERT_EQ(unclosed.calls.size(), 1u);  // the model stopped before </tool_call>
}

TEST(ToolcallStream, ReasoningAndMistralIds) {
  ParserConfig cfg = config(ToolFormat::hermes);
  cfg.reasoning = true;
  cfg.start_in_reasoning = true;  // the prompt ended with "<think>\n"
  Fed f = feed_bytes(cfg, "hmm</think>\n\nIt is <b>.");
  EXPECT_EQ(f.joined.reasoning, "hmm");
  EXPECT_EQ(f.joined.content, "It is <b>.");

  ParsedOutput m = parse_output(config(ToolFormat::mistral),
                                R"([TOOL_CALLS][{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "x"}, "id": "Ab3dE6gH9"}])");
  ASSERT_EQ(m.calls.size(), 2u);
  EXPECT_EQ(m.calls[0].id.size(), 9u);  // generated in Mistral's own id shape
  EXPECT_EQ(m.calls[1].id, "Ab3dE6gH9");
  EXPECT_TRUE(parse_output(config(ToolFormat::hermes), "x").calls.empty());
}

TEST(ToolcallStream, DetectsFamiliesFromTemplateMarkers) {
  EXPECT_EQ(detect_tool_format("{{ '<tool_call>' }}"), ToolFormat::hermes);
  EXPECT_EQ(detect_tool_format("[TOOL_CALLS]"), ToolFormat::mistral);
  EXPECT_EQ(detect_tool_format("<|START_ACTION|> Action: tool_name"), ToolFormat::command_r7b);
  EXPECT_EQ(detect_tool_format("{{ bos_token }}"), ToolFormat::none);
  EXPECT_EQ(tool_format_from_name("llama3"), ToolFormat::llama3);
  EXPECT_FALSE(tool_format_from_name("gpt").has_value());
  EXPECT_TRUE(prompt_opens_think("<|Assistant|><think>\n"));
  EXPECT_FALSE(prompt_opens_think("<think>\n\n</think>\n\n"));
}

}  // namespace

// The json family (a forced call array under a grammar): each call is sent when its
// object closes, before the array ends; a cut array keeps the whole calls and gives the
// rest back as content.
TEST(ToolcallStream, JsonArrayCallsAreSentAsTheirObjectsClose) {
  const std::string one = R"({"name":"get_weather","arguments":{"city":"a}]\"b"}})";
  const std::string two = R"({"arguments":{},"name":"get_time"})";
  const std::string text = "[" + one + "," + two + "]";
  StreamParser p(config(ToolFormat::json));
  size_t first_at = 0, second_at = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    Delta d = p.feed(text.substr(i, 1));
    EXPECT_EQ(d.content, "") << i;
    for (const auto& c : d.calls)
      if (c.first) (c.index == 0 ? first_at : second_at) = i;
  }
  EXPECT_EQ(first_at, one.size()) << "the first call goes out with its closing brace";
  EXPECT_EQ(second_at, one.size() + 1 + two.size());
  Delta end = p.finish();
  EXPECT_TRUE(end.empty());
  EXPECT_FALSE(p.malformed());
  const ParsedOutput whole = parse_output(config(ToolFormat::json), text);
  ASSERT_EQ(whole.calls.size(), 2u);
  EXPECT_EQ(whole.calls[0].name, "get_weather");
  EXPECT_EQ(whole.calls[0].arguments, R"({"city":"a}]\"b"})");
  EXPECT_EQ(whole.calls[1].name, "get_time");
  EXPECT_EQ(whole.calls[1].arguments, "{}");
  EXPECT_EQ(whole.content, "");
  Fed f = feed_bytes(config(ToolFormat::json), text);
  ASSERT_EQ(f.joined.calls.size(), 2u);
  EXPECT_EQ(f.joined.calls[0].arguments, whole.calls[0].arguments);
  EXPECT_EQ(f.joined.calls[1].arguments, whole.calls[1].arguments);

  const std::string cut = "[" + one + R"(,{"name":"get_ti)";
  const ParsedOutput c = parse_output(config(ToolFormat::json), cut);
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_TRUE(c.malformed);
  EXPECT_EQ(c.content, R"(,{"name":"get_ti)");
  const ParsedOutput none = parse_output(config(ToolFormat::json), R"([{"name":"get_w)");
  EXPECT_TRUE(none.calls.empty());
  EXPECT_EQ(none.content, R"([{"name":"get_w)");
}
