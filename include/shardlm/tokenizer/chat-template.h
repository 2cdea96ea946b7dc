// Built-in chat formats: OpenAI-style messages -> the prompt text a chat model was trained on.
//
// The fallback of the chat path: the server renders a model's own Jinja template with
// jinja/ (app/chat-prompt.h); these formats serve models that ship none, and
// --chat-template NAME. A stored template is only inspected here for distinctive
// markers to pick one of the built-in formats below, which are rendered natively. Each format reproduces,
// byte for byte, what the Hugging Face reference template named beside it renders
// (transformers' Jinja settings: trim_blocks, lstrip_blocks):
//
//   chatml   generic ChatML / Qwen2:  <|im_start|>ROLE\nCONTENT<|im_end|>\n ...
//            generation prompt "<|im_start|>assistant\n". Roles are written as given
//            (tool -> "tool"). No BOS. Qwen2/2.5's default system message is not built
//            in: chat_template_default_system() extracts it from the stored template.
//   llama2   Llama-2-chat: BOS "[INST] " + content.strip() + " [/INST]" per user turn,
//            " " + answer.strip() + " " EOS per assistant turn; a system message (first
//            only) is folded into the first user turn as "<<SYS>>\nS\n<</SYS>>\n\n"
//            before stripping. Roles must alternate user/assistant.
//   llama3   Meta-Llama-3-Instruct: BOS once, then per message
//            <|start_header_id|>ROLE<|end_header_id|>\n\n + content|trim + <|eot_id|>;
//            generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n".
//            tool messages use the role "ipython" (Llama 3.1's tool role). Llama 3.1's
//            "Cutting Knowledge Date" system preamble is not added.
//   mistral  Mistral-7B-Instruct v0.1/v0.2 and Mixtral-8x7B-Instruct (their current
//            template): BOS, then " [INST] " + content + " [/INST]" per user turn and
//            " " + answer + EOS per assistant turn; a system message (first only) is
//            prepended to the FIRST user message as "S\n\n" (v0.3+ templates put it before
//            the last user message instead; that variant is not built in). No stripping.
//            Roles must alternate user/assistant.
//   zephyr   Zephyr / TinyLlama-1.1B-Chat: <|ROLE|>\nCONTENT EOS \n per message,
//            generation prompt "<|assistant|>\n". No BOS.
//   phi3     Phi-3 / Phi-3.5 mini instruct: <|ROLE|>\nCONTENT<|end|>\n per message (an
//            empty system message is left out, as Phi-3.5 does); generation prompt
//            "<|assistant|>\n", else EOS. No BOS.
//
// For llama2 and mistral the reference templates ignore add_generation_prompt (the
// prompt ends in "[/INST]" after a user turn anyway); so does render_chat().
// The tool role: chatml writes it as a message of role "tool", llama3 as "ipython"; the
// other formats have none and reject it (their reference templates drop or refuse it).
//
// BOS: rendered text holds the BOS text exactly where the reference template writes
// bos_token (llama2, llama3, mistral). The caller tokenizes with add_bos = false and
// parse_special = true. ChatRenderOptions::force_bos gives llama.cpp's behaviour for
// the other formats (a BOS whenever the vocabulary adds one by default).
// Note: content is not escaped; special-token text inside a message ("<|im_end|>")
// becomes that token when tokenized with parse_special, as in HF, vLLM and llama.cpp.
//
// Thread safety: every function here is pure (no shared state) and may be called from
// any thread; select_chat_format() logs through spdlog, which is thread safe.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "shardlm/core/status.h"

namespace shardlm {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant" or "tool"
  std::string content;  // plain text (any multi-part content already joined by the caller)
};

enum class ChatFormat { chatml, llama2, llama3, mistral, zephyr, phi3 };

// "chatml", "llama2", "llama3", "mistral", "zephyr", "phi3".
std::string_view chat_format_name(ChatFormat f);
// Inverse of chat_format_name (exact, lower case), for --chat-template; the error
// lists the valid names.
Result<ChatFormat> chat_format_from_name(std::string_view name);

// Which built-in format a stored Jinja template is, from markers in its text:
//   <|start_header_id|> + <|end_header_id|>     -> llama3
//   <|im_start|> (without Phi-4's <|im_sep|>)   -> chatml
//   [INST] with <<SYS>>                         -> llama2
//   [INST] without <<SYS>>                      -> mistral
//   <|user|> + <|assistant|> with <|end|>       -> phi3
//   <|user|> + <|assistant|> with eos_token or </s> (or <|endoftext|>) -> zephyr
// Anything else (also an empty text) is not recognized: returns chatml and sets
// *recognized = false.
ChatFormat detect_chat_format(std::string_view jinja_template_text, bool* recognized = nullptr);

// The format to use: the override (--chat-template NAME) when non-empty, else detected
// from the stored template. Logs the choice; a warning when it falls back to ChatML.
// Error only for an unknown override name.
Result<ChatFormat> select_chat_format(std::string_view override_name, std::string_view jinja_template_text);

// The default system message a ChatML template writes when the conversation has none
// (Qwen2: "You are a helpful assistant."; Qwen2.5: "You are Qwen, created by Alibaba
// Cloud. You are a helpful assistant."): the first literal
// '<|im_start|>system\n...<|im_end|>' with no Jinja expression inside, unescaped.
// Empty when the template has none. Pass it as ChatRenderOptions::default_system.
std::string chat_template_default_system(std::string_view jinja_template_text);

struct ChatRenderOptions {
  std::string bos_text;                // default "": the vocabulary's BOS text ("<s>", "<|begin_of_text|>")
  std::string eos_text;                // default "": the vocabulary's EOS text ("</s>")
  bool add_generation_prompt = true;   // default true: end with the assistant's turn header
  std::string default_system;          // default "": when non-empty and the first message is
                                       // not a system message, one with this text is put first
  bool force_bos = false;              // default false: also start chatml/zephyr/phi3 prompts
                                       // with bos_text (their reference templates write none)
};

// Renders messages into the prompt TEXT (see the formats above).
// Errors: no messages; an unknown role; a tool message where the format has no tool
// role; for llama2/mistral also a system message that is not first, roles not
// alternating user/assistant after the optional system message, or no user message;
// an empty eos_text where the format writes EOS
// after a message (llama2/mistral/zephyr assistant turns, zephyr every turn, phi3 without
// generation prompt) or an empty bos_text where it writes BOS (llama2/llama3/mistral).
Result<std::string> render_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                                const ChatRenderOptions& opts);

}  // namespace shardlm
