// `shardlm serve`: rank 0 runs the HTTP frontend (http/) and the engine (engine/);
// the other ranks run the worker loop. What the route handlers share.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "shardlm/engine/engine.h"
#include "shardlm/engine/response-cache.h"
#include "shardlm/metrics/shardlm-metrics.h"
#include "shardlm/http/openai-request.h"
#include "shardlm/http/server.h"
#include "shardlm/jinja/template.h"
#include "shardlm/tokenizer/chat-template.h"
#include "shardlm/toolcall/tool-parser.h"

namespace shardlm {

struct ServeOptions {
  EngineOptions engine;
  http::HttpServerConfig http;   // --host (127.0.0.1), --port (8080), --api-key, --admin-key, --http-threads
  std::string chat_template;     // --chat-template: chatml|llama2|llama3|mistral|zephyr|phi3; "" = from the model
  std::string chat_template_file;  // --chat-template-file: a Jinja template used instead of the model's; "" = none
  // --tool-call-parser: the family whose tool-call shape answers are parsed in
  // (toolcall::tool_format_names), "auto" = the one the chat template renders.
  std::string tool_call_parser = "auto";
  std::string pid_file;          // --pid-file: rank 0 writes its pid here (stop_server.sh signals it)
  std::string model_dir;         // --model-dir: where /admin/load may load from; "" = the directory of --model
  ResponseCacheOptions response_cache;  // --response-cache-mb, --response-cache-ttl-s
};

// Shared by the HTTP handlers (read-only after start, except through Engine's API).
struct ServeContext {
  Engine* engine = nullptr;
  ShardlmMetrics* metrics = nullptr;
  metrics::Registry* registry = nullptr;
  std::string chat_template;       // --chat-template NAME: a built-in format, never the Jinja template
  std::string chat_template_text;  // --chat-template-file's text ("" = the model's own template)
  std::optional<toolcall::ToolFormat> tool_format;  // --tool-call-parser NAME; nullopt = auto
  double idle_timeout_s = 0;
  SpecOptions spec;  // for GET /v1/spec_decode/metrics
  ResponseCache* response_cache = nullptr;  // whole answers of deterministic requests (may be disabled)
  // The canonical directory /admin/load may load from (model-dir.h); "" = none.
  std::string model_dir;
  // /health reports "degraded" (503) while rank 0 has waited longer than this for the
  // other ranks (--ping-interval-s): a peer may be lost, the heartbeat decides.
  double stall_report_s = 5;
  // The chat format chosen for the loaded tokenizer, decided once per tokenizer.
  std::mutex chat_mu;
  std::shared_ptr<const Tokenizer> chat_tok;
  ChatFormat chat_format = ChatFormat::chatml;
  std::string chat_default_system;
  // The Jinja template for the loaded tokenizer (null: the built-in format is used).
  std::shared_ptr<const jinja::Template> chat_jinja;
  toolcall::ToolFormat chat_tool_format = toolcall::ToolFormat::none;  // detected from the template
  bool chat_reasoning = false;  // the template writes <think> blocks
};

void handle_generate(ServeContext& ctx, http::ApiKind kind, const http::HttpRequest& req,
                     std::shared_ptr<http::ResponseSink> sink);
// POST /apply-template: a chat completions body rendered to {"prompt": TEXT}.
void handle_apply_template(ServeContext& ctx, const http::HttpRequest& req, std::shared_ptr<http::ResponseSink> sink);
// /health, /admin/*, /metrics, /v1/models.
void add_ops_routes(http::HttpServer& server, ServeContext& ctx);

int cmd_serve(ServeOptions o);

}  // namespace shardlm
