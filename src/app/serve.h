// `shardlm serve`: rank 0 runs the HTTP frontend (http/) and the engine (engine.h);
// the other ranks run the worker loop. What the route handlers share.
#pragma once
#include <memory>
#include <string>

#include "app/engine.h"
#include "shardlm/http/metrics.h"
#include "shardlm/http/openai-request.h"
#include "shardlm/http/server.h"

namespace shardlm {

struct ServeOptions {
  EngineConfig engine;
  http::HttpServerConfig http;   // --host (127.0.0.1), --port (8080), --api-key, --admin-key, --http-threads
  std::string chat_template;     // --chat-template: chatml|llama2|llama3|mistral|zephyr; "" = from the model
  std::string pid_file;          // --pid-file: rank 0 writes its pid here (stop_server.sh signals it)
  double idle_timeout_s = 0;     // reported in /admin/status (idle unload is not implemented yet: 0)
};

// Shared by the HTTP handlers (read-only after start, except through Engine's API).
struct ServeContext {
  Engine* engine = nullptr;
  ShardlmMetrics* metrics = nullptr;
  metrics::Registry* registry = nullptr;
  std::string chat_template;
  double idle_timeout_s = 0;
};

void handle_generate(ServeContext& ctx, http::ApiKind kind, const http::HttpRequest& req,
                     std::shared_ptr<http::ResponseSink> sink);
// /health, /admin/*, /metrics, /v1/models.
void add_ops_routes(http::HttpServer& server, ServeContext& ctx);

int cmd_serve(ServeOptions o);

}  // namespace shardlm
