// Chat templates: each built-in format against hand-written expected prompts (written
// from the reference Jinja templates' text, character by character), the error cases,
// detection over template fragments shaped like the real ones, and every template that
// the shared test models carry.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "shardlm/tokenizer/chat-template.h"

namespace fs = std::filesystem;
using namespace shardlm;

namespace {

using Msgs = std::vector<ChatMessage>;

const Msgs kUser = {{"user", "Hello"}};
const Msgs kSysUser = {{"system", "You are terse."}, {"user", "Hello"}};
const Msgs kMulti = {{"user", "Hi"}, {"assistant", "Hello there."}, {"user", "How are you?"}};
const Msgs kSysMulti = {{"system", "You are terse."}, {"user", "Hi"}, {"assistant", "Hello there."}, {"user", "How are you?"}};
const Msgs kEndsAssistant = {{"user", "Hi"}, {"assistant", "Hello there."}};
// Whitespace at the ends, ASCII and Unicode (U+00A0, U+3000): llama2 strips the whole
// first-turn text (system block included), llama3 trims every message, others keep it.
const Msgs kSpaces = {{"system", "  S  "}, {"user", " \u00a0Hello \n\u3000"}};

// The vocabulary texts each format is used with.
ChatRenderOptions opts_for(ChatFormat f, bool gen = true) {
  ChatRenderOptions o;
  o.add_generation_prompt = gen;
  switch (f) {
    case ChatFormat::llama3: o.bos_text = "<|begin_of_text|>"; o.eos_text = "<|end_of_text|>"; break;
    case ChatFormat::phi3: o.bos_text = "<s>"; o.eos_text = "<|endoftext|>"; break;
    case ChatFormat::chatml: o.bos_text = ""; o.eos_text = "<|im_end|>"; break;
    default: o.bos_text = "<s>"; o.eos_text = "</s>"; break;
  }
  return o;
}

struct RenderCase {
  ChatFormat format;
  const char* what;
  const Msgs* messages;
  bool gen;
  std::string expected;
};

// Expected prompts. Conventions of each reference template, in brief:
//   chatml  <|im_start|>ROLE\n CONTENT <|im_end|>\n ; gen "<|im_start|>assistant\n"
//   llama2  BOS "[INST] " strip(content) " [/INST]" ; " " strip(answer) " " EOS
//   llama3  BOS once ; <|start_header_id|>ROLE<|end_header_id|>\n\n trim(content) <|eot_id|>
//   mistral BOS once ; " [INST] " content " [/INST]" ; " " answer EOS
//   zephyr  <|ROLE|>\n CONTENT EOS \n ; gen "<|assistant|>\n"
//   phi3    <|ROLE|>\n CONTENT <|end|>\n ; gen "<|assistant|>\n" else EOS
const std::vector<RenderCase>& render_cases() {
  static const std::vector<RenderCase> cases = {
      // ChatML
      {ChatFormat::chatml, "user", &kUser, true, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
      {ChatFormat::chatml, "system+user", &kSysUser, true,
       "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
      {ChatFormat::chatml, "multi-turn", &kMulti, true,
       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello there.<|im_end|>\n"
       "<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"},
      {ChatFormat::chatml, "no generation prompt", &kUser, false, "<|im_start|>user\nHello<|im_end|>\n"},
      {ChatFormat::chatml, "spaces kept", &kSpaces, true,
       "<|im_start|>system\n  S  <|im_end|>\n<|im_start|>user\n \u00a0Hello \n\u3000<|im_end|>\n<|im_start|>assistant\n"},

      // Llama 2
      {ChatFormat::llama2, "user", &kUser, true, "<s>[INST] Hello [/INST]"},
      {ChatFormat::llama2, "system+user", &kSysUser, true,
       "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello [/INST]"},
      {ChatFormat::llama2, "multi-turn", &kMulti, true,
       "<s>[INST] Hi [/INST] Hello there. </s><s>[INST] How are you? [/INST]"},
      {ChatFormat::llama2, "system+multi-turn", &kSysMulti, true,
       "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello there. </s><s>[INST] How are you? [/INST]"},
      {ChatFormat::llama2, "no generation prompt (ignored)", &kMulti, false,
       "<s>[INST] Hi [/INST] Hello there. </s><s>[INST] How are you? [/INST]"},
      {ChatFormat::llama2, "ends with assistant", &kEndsAssistant, true, "<s>[INST] Hi [/INST] Hello there. </s>"},
      {ChatFormat::llama2, "strip whole first turn", &kSpaces, true,
       "<s>[INST] <<SYS>>\n  S  \n<</SYS>>\n\n \u00a0Hello [/INST]"},

      // Llama 3
      {ChatFormat::llama3, "user", &kUser, true,
       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
       "<|start_header_id|>assistant<|end_header_id|>\n\n"},
      {ChatFormat::llama3, "system+user", &kSysUser, true,
       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
       "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
      {ChatFormat::llama3, "multi-turn", &kMulti, true,
       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
       "<|start_header_id|>assistant<|end_header_id|>\n\nHello there.<|eot_id|>"
       "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
       "<|start_header_id|>assistant<|end_header_id|>\n\n"},
      {ChatFormat::llama3, "no generation prompt", &kUser, false,
       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},
      {ChatFormat::llama3, "trim", &kSpaces, false,
       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
       "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},

      // Mistral (v0.1/v0.2 Instruct, system folded into the first user turn)
      {ChatFormat::mistral, "user", &kUser, true, "<s> [INST] Hello [/INST]"},
      {ChatFormat::mistral, "system+user", &kSysUser, true, "<s> [INST] You are terse.\n\nHello [/INST]"},
      {ChatFormat::mistral, "multi-turn", &kMulti, true, "<s> [INST] Hi [/INST] Hello there.</s> [INST] How are you? [/INST]"},
      {ChatFormat::mistral, "system goes to the first user turn", &kSysMulti, true,
       "<s> [INST] You are terse.\n\nHi [/INST] Hello there.</s> [INST] How are you? [/INST]"},
      {ChatFormat::mistral, "no generation prompt (ignored)", &kUser, false, "<s> [INST] Hello [/INST]"},
      {ChatFormat::mistral, "no stripping", &kSpaces, true, "<s> [INST]   S  \n\n \u00a0Hello \n\u3000 [/INST]"},

      // Zephyr / TinyLlama
      {ChatFormat::zephyr, "user", &kUser, true, "<|user|>\nHello</s>\n<|assistant|>\n"},
      {ChatFormat::zephyr, "system+user", &kSysUser, true, "<|system|>\nYou are terse.</s>\n<|user|>\nHello</s>\n<|assistant|>\n"},
      {ChatFormat::zephyr, "multi-turn", &kMulti, true,
       "<|user|>\nHi</s>\n<|assistant|>\nHello there.</s>\n<|user|>\nHow are you?</s>\n<|assistant|>\n"},
      {ChatFormat::zephyr, "no generation prompt", &kMulti, false,
       "<|user|>\nHi</s>\n<|assistant|>\nHello there.</s>\n<|user|>\nHow are you?</s>\n"},

      // Phi-3
      {ChatFormat::phi3, "user", &kUser, true, "<|user|>\nHello<|end|>\n<|assistant|>\n"},
      {ChatFormat::phi3, "system+user", &kSysUser, true, "<|system|>\nYou are terse.<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n"},
      {ChatFormat::phi3, "multi-turn", &kMulti, true,
       "<|user|>\nHi<|end|>\n<|assistant|>\nHello there.<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n"},
      {ChatFormat::phi3, "no generation prompt: EOS", &kUser, false, "<|user|>\nHello<|end|>\n<|endoftext|>"},
  };
  return cases;
}

TEST(ChatTemplate, RendersEachFormat) {
  for (const RenderCase& c : render_cases()) {
    SCOPED_TRACE(std::string(chat_format_name(c.format)) + ": " + c.what);
    auto r = render_chat(c.format, *c.messages, opts_for(c.format, c.gen));
    ASSERT_TRUE(r.is_ok()) << r.message();
    EXPECT_EQ(*r, c.expected);
  }
}

TEST(ChatTemplate, DefaultSystemMessage) {
  ChatRenderOptions o = opts_for(ChatFormat::chatml);
  o.default_system = "You are a helpful assistant.";
  // Added when the first message is not a system message (what Qwen2's template does) ...
  auto r = render_chat(ChatFormat::chatml, kUser, o);
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                "<|im_start|>assistant\n");
  // ... and not when it is.
  r = render_chat(ChatFormat::chatml, kSysUser, o);
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  // Other formats place it as their own system message.
  ChatRenderOptions l2 = opts_for(ChatFormat::llama2);
  l2.default_system = "Be kind.";
  r = render_chat(ChatFormat::llama2, kUser, l2);
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHello [/INST]");
}

TEST(ChatTemplate, ToolMessages) {
  const Msgs m = {{"user", "2+2?"}, {"assistant", "calling calc"}, {"tool", "4"}};
  auto r = render_chat(ChatFormat::chatml, m, opts_for(ChatFormat::chatml));
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\ncalling calc<|im_end|>\n"
                "<|im_start|>tool\n4<|im_end|>\n<|im_start|>assistant\n");
  r = render_chat(ChatFormat::llama3, m, opts_for(ChatFormat::llama3, false));
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\ncalling calc<|eot_id|>"
                "<|start_header_id|>ipython<|end_header_id|>\n\n4<|eot_id|>");
  for (ChatFormat f : {ChatFormat::llama2, ChatFormat::mistral, ChatFormat::zephyr, ChatFormat::phi3}) {
    auto e = render_chat(f, m, opts_for(f));
    ASSERT_FALSE(e.is_ok()) << chat_format_name(f);
    EXPECT_NE(e.message().find("messages[2]"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("no tool role"), std::string::npos) << e.message();
  }
}

TEST(ChatTemplate, ForceBosAndEmptySystem) {
  ChatRenderOptions o = opts_for(ChatFormat::zephyr);
  o.force_bos = true;
  auto r = render_chat(ChatFormat::zephyr, kUser, o);
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<s><|user|>\nHello</s>\n<|assistant|>\n");
  // Formats that write BOS themselves do not get a second one.
  ChatRenderOptions l3 = opts_for(ChatFormat::llama3, false);
  l3.force_bos = true;
  r = render_chat(ChatFormat::llama3, kUser, l3);
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
  // Phi-3.5 leaves an empty system message out.
  r = render_chat(ChatFormat::phi3, {{"system", ""}, {"user", "Hello"}}, opts_for(ChatFormat::phi3));
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(*r, "<|user|>\nHello<|end|>\n<|assistant|>\n");
}

struct ErrorCase {
  ChatFormat format;
  Msgs messages;
  std::string expect_in_message;
  ChatRenderOptions opts;
};

TEST(ChatTemplate, Errors) {
  ChatRenderOptions no_bos = opts_for(ChatFormat::llama2);
  no_bos.bos_text.clear();
  ChatRenderOptions no_eos = opts_for(ChatFormat::zephyr);
  no_eos.eos_text.clear();
  ChatRenderOptions phi_no_eos = opts_for(ChatFormat::phi3, false);
  phi_no_eos.eos_text.clear();
  const std::vector<ErrorCase> cases = {
      {ChatFormat::chatml, {}, "at least one message", opts_for(ChatFormat::chatml)},
      {ChatFormat::llama3, {}, "at least one message", opts_for(ChatFormat::llama3)},
      {ChatFormat::chatml, {{"user", "a"}, {"robot", "b"}}, "messages[1]: unknown role 'robot'", opts_for(ChatFormat::chatml)},
      {ChatFormat::zephyr, {{"User", "a"}}, "unknown role 'User'", opts_for(ChatFormat::zephyr)},
      {ChatFormat::llama2, {{"user", "a"}, {"system", "s"}}, "messages[1]: the llama2 chat format allows a system message only first",
       opts_for(ChatFormat::llama2)},
      {ChatFormat::mistral, {{"user", "a"}, {"assistant", "b"}, {"system", "s"}}, "messages[2]: the mistral chat format allows a system",
       opts_for(ChatFormat::mistral)},
      {ChatFormat::llama2, {{"assistant", "a"}}, "messages[0]: the llama2 chat format needs roles alternating", opts_for(ChatFormat::llama2)},
      {ChatFormat::llama2, {{"user", "a"}, {"user", "b"}}, "messages[1]: the llama2 chat format needs roles alternating user/assistant",
       opts_for(ChatFormat::llama2)},
      {ChatFormat::mistral, {{"system", "s"}, {"assistant", "a"}}, "messages[1]: the mistral chat format needs roles alternating",
       opts_for(ChatFormat::mistral)},
      {ChatFormat::mistral, {{"user", "a"}, {"assistant", "b"}, {"assistant", "c"}}, "messages[2]", opts_for(ChatFormat::mistral)},
      {ChatFormat::llama2, {{"system", "s"}}, "at least one user message", opts_for(ChatFormat::llama2)},
      {ChatFormat::mistral, {{"system", "s"}}, "at least one user message", opts_for(ChatFormat::mistral)},
      {ChatFormat::llama2, {{"user", "a"}}, "BOS", no_bos},
      {ChatFormat::zephyr, {{"user", "a"}}, "EOS", no_eos},
      {ChatFormat::phi3, {{"user", "a"}}, "EOS", phi_no_eos},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(std::string(chat_format_name(c.format)) + ": expecting " + c.expect_in_message);
    auto r = render_chat(c.format, c.messages, c.opts);
    ASSERT_FALSE(r.is_ok()) << "rendered: " << *r;
    EXPECT_NE(r.message().find(c.expect_in_message), std::string::npos) << r.message();
  }
  // Formats that need no EOS after a turn accept an empty eos_text.
  ChatRenderOptions l2_no_eos = opts_for(ChatFormat::llama2);
  l2_no_eos.eos_text.clear();
  EXPECT_TRUE(render_chat(ChatFormat::llama2, kUser, l2_no_eos).is_ok());
  EXPECT_FALSE(render_chat(ChatFormat::llama2, kMulti, l2_no_eos).is_ok());
}

TEST(ChatTemplate, Names) {
  for (ChatFormat f : {ChatFormat::chatml, ChatFormat::llama2, ChatFormat::llama3, ChatFormat::mistral, ChatFormat::zephyr,
                       ChatFormat::phi3}) {
    auto back = chat_format_from_name(chat_format_name(f));
    ASSERT_TRUE(back.is_ok()) << back.message();
    EXPECT_EQ(*back, f);
  }
  EXPECT_EQ(chat_format_name(ChatFormat::llama3), "llama3");
  EXPECT_EQ(chat_format_name(ChatFormat::zephyr), "zephyr");
  for (const char* bad : {"", "ChatML", "llama-3", "vicuna"}) {
    auto r = chat_format_from_name(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_NE(r.message().find("chatml, llama2, llama3, mistral, zephyr, phi3"), std::string::npos) << r.message();
  }
}

// Fragments in the shape of real templates (as stored: JSON already decoded, so a
// Jinja string's newline is still the two characters backslash-n).
struct DetectCase {
  const char* what;
  std::string text;
  ChatFormat format;
  bool recognized;
};

TEST(ChatTemplate, Detection) {
  const std::vector<DetectCase> cases = {
      {"empty", "", ChatFormat::chatml, false},
      {"not a chat template", "{{ messages }}", ChatFormat::chatml, false},
      {"generic ChatML",
       R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %})",
       ChatFormat::chatml, true},
      {"Qwen2.5-like", R"({%- if tools %}{{- '<|im_start|>system\n' }}{%- else %}{{- '<|im_start|>system\nYou are Qwen.<|im_end|>\n' }})",
       ChatFormat::chatml, true},
      {"Phi-4 (<|im_sep|>)", R"({{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}})", ChatFormat::chatml, false},
      {"Llama 3",
       R"({% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %})",
       ChatFormat::llama3, true},
      {"Llama 3.1 (ipython)", R"({{- '<|start_header_id|>ipython<|end_header_id|>\n\n' }}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }})",
       ChatFormat::llama3, true},
      {"Llama 2",
       R"({% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }})",
       ChatFormat::llama2, true},
      {"Mistral v0.1", R"({{ bos_token }}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endif %})",
       ChatFormat::mistral, true},
      {"Mistral v0.2 with system", R"({{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }})",
       ChatFormat::mistral, true},
      {"Mistral v0.3 tools", R"({{- '[AVAILABLE_TOOLS] [' }}{{- '[INST] ' + message['content'] + '[/INST]' }})", ChatFormat::mistral, true},
      {"Zephyr / TinyLlama",
       "{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
       "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}",
       ChatFormat::zephyr, true},
      {"Zephyr with literal </s>", R"({{ '<|user|>\n' + message['content'] + '</s>' }}{{ '<|assistant|>' }})", ChatFormat::zephyr, true},
      {"Phi-3", R"({{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %})",
       ChatFormat::phi3, true},
      {"<|user|> with no end marker", R"({{ '<|user|>' + message['content'] }}{{ '<|assistant|>' }})", ChatFormat::chatml, false},
      {"Gemma", R"({{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }})", ChatFormat::chatml, false},
  };
  for (const DetectCase& c : cases) {
    SCOPED_TRACE(c.what);
    bool recognized = !c.recognized;
    EXPECT_EQ(detect_chat_format(c.text, &recognized), c.format);
    EXPECT_EQ(recognized, c.recognized);
    EXPECT_EQ(detect_chat_format(c.text), c.format);  // null out-parameter
  }
}

TEST(ChatTemplate, Select) {
  const std::string l2 = R"({{ bos_token + '[INST] <<SYS>>' }})";
  auto r = select_chat_format("", l2);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, ChatFormat::llama2);
  r = select_chat_format("zephyr", l2);  // the override wins
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, ChatFormat::zephyr);
  r = select_chat_format("", "");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, ChatFormat::chatml);
  r = select_chat_format("jinja", l2);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.message().find("unknown chat template 'jinja'"), std::string::npos) << r.message();
}

TEST(ChatTemplate, DefaultSystemFromTemplate) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      // Qwen2 shape: a literal system block written when messages[0] is not system.
      {R"({% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %})",
       "You are a helpful assistant."},
      // Qwen2.5 shape: a non-literal system block first (tools), the literal one later.
      {R"({{- '<|im_start|>system\n' }}{{- messages[0]['content'] }}{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }})",
       "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."},
      // Qwen3 shape: the system block only ever holds the caller's message.
      {R"({{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n\n' }})", ""},
      {R"({{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}})", ""},
      {R"({{ '<|im_start|>system\nIt\'s line one.\nLine two.<|im_end|>\n' }})", "It's line one.\nLine two."},
      {"{% raw %}<|im_start|>system\nRaw block.<|im_end|>{% endraw %}", "Raw block."},
      {"", ""},
  };
  for (const auto& [text, expected] : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(chat_template_default_system(text), expected);
  }
}

// ---- templates carried by the shared test models ----

fs::path shared_models() {
  const char* e = std::getenv("SHARDLM_SHARED");
  return fs::path(e && *e ? e : std::string(SHARDLM_SOURCE_DIR) + "/../shared") / "models";
}

// tokenizer.chat_template from a GGUF's metadata (v2/v3, little-endian), or nullopt.
// A minimal reader: this test links only the tokenizer module.
std::optional<std::string> gguf_chat_template(const fs::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  auto rd = [&](void* p, size_t n) { return static_cast<bool>(in.read(static_cast<char*>(p), static_cast<std::streamsize>(n))); };
  auto u32 = [&](uint32_t& v) { return rd(&v, 4); };
  auto u64 = [&](uint64_t& v) { return rd(&v, 8); };
  auto str = [&](std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > (1u << 28)) return false;
    s.resize(n);
    return rd(s.data(), n);
  };
  const auto scalar_size = [](uint32_t t) -> int {  // GGUF value types 0..12 except 8 (string), 9 (array)
    static const int sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8};
    return t < 13 ? sizes[t] : -1;
  };
  char magic[4];
  uint32_t version = 0;
  uint64_t n_tensors = 0, n_kv = 0;
  if (!rd(magic, 4) || std::string(magic, 4) != "GGUF" || !u32(version) || version < 2 || !u64(n_tensors) || !u64(n_kv)) {
    error = "not a GGUF v2/v3 file";
    return std::nullopt;
  }
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key, s;
    uint32_t type = 0;
    if (!str(key) || !u32(type)) break;
    if (type == 8) {
      if (!str(s)) break;
      if (key == "tokenizer.chat_template") return s;
    } else if (type == 9) {
      uint32_t et = 0;
      uint64_t count = 0;
      if (!u32(et) || !u64(count)) break;
      if (et == 8) {
        for (uint64_t k = 0; k < count && in; ++k) str(s);
      } else if (scalar_size(et) > 0) {
        in.seekg(static_cast<std::streamoff>(count * static_cast<uint64_t>(scalar_size(et))), std::ios::cur);
      } else {
        error = "unsupported array element type";
        return std::nullopt;
      }
    } else if (scalar_size(type) > 0) {
      in.seekg(scalar_size(type), std::ios::cur);
    } else {
      error = "bad value type";
      return std::nullopt;
    }
    if (!in) break;
  }
  if (!in) error = "truncated metadata";
  return std::nullopt;
}

// tokenizer_config.json "chat_template": a string, or a list of {name, template} (the
// "default" one).
std::optional<std::string> hf_chat_template(const fs::path& path, std::string& error) {
  std::ifstream in(path);
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "invalid JSON";
    return std::nullopt;
  }
  if (!j.contains("chat_template")) return std::nullopt;
  const auto& ct = j["chat_template"];
  if (ct.is_string()) return ct.get<std::string>();
  if (ct.is_array())
    for (const auto& e : ct)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
        return e["template"].get<std::string>();
  return std::nullopt;
}

TEST(ChatTemplate, SharedModelTemplatesAreRecognized) {
  const fs::path root = shared_models();
  if (!fs::is_directory(root)) GTEST_SKIP() << "no shared models at " << root << " (set SHARDLM_SHARED to the shared/ folder)";
  // Every file under models/ that stores a chat template, with its format.
  const std::map<std::string, ChatFormat> expected = {
      {"vocab/ggml-vocab-phi-3.gguf", ChatFormat::phi3},
  };
  std::map<std::string, std::string> found;  // relative path -> template text
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const fs::path& p = entry.path();
    std::string error;
    std::optional<std::string> t;
    if (p.extension() == ".gguf") t = gguf_chat_template(p, error);
    else if (p.filename() == "tokenizer_config.json") t = hf_chat_template(p, error);
    else continue;
    const std::string rel = fs::relative(p, root).generic_string();
    EXPECT_TRUE(error.empty()) << rel << ": " << error;
    if (t && !t->empty()) found[rel] = *t;
  }
  for (const auto& [rel, text] : found) {
    SCOPED_TRACE(rel);
    auto it = expected.find(rel);
    ASSERT_NE(it, expected.end()) << "a template this test does not know yet; add it to `expected`:\n" << text;
    bool recognized = false;
    EXPECT_EQ(detect_chat_format(text, &recognized), it->second);
    EXPECT_TRUE(recognized);
  }
  for (const auto& [rel, format] : expected) {
    if (fs::exists(root / rel)) {
      EXPECT_TRUE(found.count(rel)) << rel << " should store a chat template";
    }
  }

  // The Phi-3 vocabulary's template (an early Phi-3 one) writes BOS first and a
  // generation prompt after every user turn; with force_bos the built-in phi3 format
  // gives the same text for a conversation ending in a user turn.
  if (found.count("vocab/ggml-vocab-phi-3.gguf")) {
    ChatRenderOptions o = opts_for(ChatFormat::phi3);
    o.force_bos = true;
    auto r = render_chat(ChatFormat::phi3, kMulti, o);
    ASSERT_TRUE(r.is_ok()) << r.message();
    EXPECT_EQ(*r, "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello there.<|end|>\n<|user|>\nHow are you?<|end|>\n<|assistant|>\n");
  }
}

}  // namespace
