// `shardlm serve`: the OpenAI-compatible server (rank 0) over all ranks.
#include <fstream>
#include <iterator>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/app.h"
#include "app/model-dir.h"
#include "app/serve.h"
#include "shardlm/core/log.h"
#include "shardlm/core/regular-file.h"
#include "shardlm/cluster/channel.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/worker-loop.h"
#include "shardlm/tokenizer/chat-template.h"

namespace shardlm {

int cmd_serve(ServeOptions o) {
  if (Comm::rank() != 0) {
    // A worker stops when rank 0 says SHUTDOWN. On a signal of its own (mpirun forwards
    // SIGTERM to every rank) it gives rank 0 time to drain and send SHUTDOWN first.
    const double grace = o.engine.drain_timeout_s + 10;
    set_graceful_stop([grace](int sig) {
      std::thread([grace, sig] {
        std::this_thread::sleep_for(std::chrono::duration<double>(grace));
        exit_audit(sig == SIGINT ? "signal_SIGINT" : "signal_SIGTERM", "rank 0 did not shut down in time");
        _exit(128 + sig);
      }).detach();
    });
    WorkerLoopConfig wc;
    wc.idle_timeout_s = o.engine.heartbeat_timeout_s;  // rank 0 pings every --ping-interval-s
    wc.silence_cause = "peer_lost";
    return worker_loop(wc);
  }
  auto fail = [&](const std::string& msg) {
    LOG_ERROR("{}", msg);
    if (Comm::size() > 1) {
      channel_send(MsgKind::SHUTDOWN, {}, 30);
      (void)shutdown_gather_rss(30);
    }
    exit_audit("error", msg);
    return 1;
  };
  if (!o.chat_template.empty()) {
    auto f = chat_format_from_name(o.chat_template);
    if (!f) return fail("--chat-template: " + f.message());
  }
  metrics::Registry registry;
  ShardlmMetrics metrics(registry);
  Engine engine(o.engine, &metrics);
  ServeContext ctx;
  ctx.engine = &engine;
  ctx.metrics = &metrics;
  ctx.registry = &registry;
  ctx.chat_template = o.chat_template;
  if (!o.chat_template_file.empty()) {
    auto text = read_regular_file(o.chat_template_file);
    if (!text) {
      LOG_ERROR("--chat-template-file {}: {}", o.chat_template_file, text.message());
      return 2;
    }
    ctx.chat_template_text = std::move(text.value());
    if (auto t = jinja::Template::parse(ctx.chat_template_text); !t) {
      LOG_ERROR("--chat-template-file {}: {}", o.chat_template_file, t.message());
      return 2;
    }
  }
  if (o.tool_call_parser != "auto") {
    ctx.tool_format = toolcall::tool_format_from_name(o.tool_call_parser);
    if (!ctx.tool_format) return fail("--tool-call-parser " + o.tool_call_parser + ": not one of auto, " + toolcall::tool_format_names());
  }
  ctx.idle_timeout_s = o.engine.idle_timeout_s;
  ctx.spec = o.engine.spec;
  ResponseCache response_cache(o.response_cache, &registry);
  ctx.response_cache = &response_cache;
  if (response_cache.enabled())
    LOG_INFO("response cache: {} MiB, answers kept {} s", o.response_cache.max_mb, o.response_cache.ttl_s);
  ctx.model_dir = resolve_model_dir(o.model_dir, o.engine.rt.model_path);
  if (!o.model_dir.empty() && ctx.model_dir.empty()) return fail("--model-dir " + o.model_dir + ": not found");
  if (ctx.model_dir.empty()) LOG_WARN("no --model-dir and no --model: /admin/load accepts no path");
  else LOG_INFO("/admin/load may load from {}", ctx.model_dir);
  ctx.stall_report_s = o.engine.ping_interval_s;
  http::HttpServer server;
  add_ops_routes(server, ctx);
  Status st = server.start(o.http);
  if (!st) return fail("HTTP server: " + st.message());
  LOG_INFO("listening on http://{}:{} ({} ranks)", o.http.host, server.bound_port(), Comm::size());
  if (!o.pid_file.empty()) {
    if (FILE* f = std::fopen(o.pid_file.c_str(), "w")) {
      std::fprintf(f, "%d\n", static_cast<int>(getpid()));
      std::fclose(f);
    } else {
      LOG_WARN("cannot write --pid-file {}", o.pid_file);
    }
  }
  set_graceful_stop([&engine](int) { engine.stop(); });
  // A lost rank or a missed deadline (on the engine thread): answer every request with
  // an error first, then the EXIT AUDIT and MPI_Abort.
  Comm::set_fatal_handler([&engine](const std::string& cause, const std::string& detail) {
    engine.fail_now("the server lost a rank or timed out (" + cause + "): " + detail);
    exit_audit(cause, detail);
  });
  const int rc = engine.run();
  server.stop();
  if (!o.pid_file.empty()) std::filesystem::remove(o.pid_file);
  return rc;  // main() writes the EXIT AUDIT (server_shutdown)
}

}  // namespace shardlm
