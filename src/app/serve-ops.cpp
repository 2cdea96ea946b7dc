// Operations routes (ARCHITECTURE §7, §9): health, admin status/load/unload, metrics,
// model list. Handlers run on HTTP threads and read the engine's snapshot.
#include <nlohmann/json.hpp>

#include "app/model-dir.h"
#include "app/serve.h"
#include "shardlm/core/log.h"
#include "shardlm/core/memory.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/http/openai-response.h"

namespace shardlm {

using namespace shardlm::http;
using nlohmann::json;

namespace {

// The engine thread's current wait on the other ranks, when it has lasted a while.
json waiting_json() {
  const auto w = Comm::current_wait();
  if (!w || w->waited_s <= 0) return nullptr;
  return {{"seconds", w->waited_s}, {"operation", w->what}};
}

// The response cache's counters; the snapshot's model generation empties it first when
// the model changed since the last request (a load or unload clears it).
json response_cache_json(const ServeContext& ctx, const EngineSnapshot& s) {
  if (!ctx.response_cache || !ctx.response_cache->enabled()) return {{"enabled", false}};
  ctx.response_cache->sync_generation(s.model_generation);
  const ResponseCacheStats r = ctx.response_cache->stats();
  return {{"enabled", true},     {"hits", r.hits},       {"coalesced", r.coalesced}, {"misses", r.misses},
          {"bypassed", r.bypassed}, {"entries", r.entries}, {"bytes", r.bytes},         {"in_flight", r.in_flight},
          {"stores", r.stores},   {"evictions", r.evictions}, {"expired", r.expired}};
}
json kv_json(const ServeContext& ctx);

json status_json(const ServeContext& ctx) {
  EngineSnapshot s = ctx.engine->snapshot();
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  json ranks = json::array();
  json memory = json::array();
  for (size_t r = 0; r < s.ranks.size(); ++r) {
    const RankStats& k = s.ranks[r];
    ranks.push_back({{"rank", r}, {"host", std::string(k.host)}, {"pid", static_cast<int64_t>(k.pid)}});
    memory.push_back({{"rank", r},
                      {"host", std::string(k.host)},
                      {"resident_bytes", k.rss_bytes},
                      {"resident_anon_bytes", k.anon_bytes},
                      {"available_bytes", k.available_bytes},
                      {"model_bytes", k.model_bytes},
                      {"kv_bytes", k.kv_bytes},
                      {"model_loaded", k.model_bytes > 0}});
  }
  return {{"status", model_state_name(s.state)},
          {"model", s.model_path.empty() ? json(nullptr) : json(s.model_path)},
          {"model_loaded", s.state == ModelState::ready},
          {"last_error", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
          {"n_ctx", s.n_ctx},
          {"memory", memory},
          {"requests",
           {{"total", s.requests_total},
            {"active", s.running},
            {"waiting", s.waiting},
            {"uptime_seconds", now - s.started_unix},
            {"last_activity", s.last_activity_unix > 0 ? json(s.last_activity_unix) : json(nullptr)}}},
          {"kv_cache",
           {{"blocks_total", s.kv_blocks},
            {"blocks_used", s.kv_blocks_used},
            {"block_size", s.block_size},
            {"dtype", s.kv_cache_dtype.empty() ? json(nullptr) : json(s.kv_cache_dtype)},
            {"bytes_per_token", s.kv_bytes_per_token},  // rank 0's heads, all layers, K+V with scales
            {"capacity_tokens", static_cast<int64_t>(s.kv_blocks) * s.block_size},
            {"capacity_sequences", s.n_ctx > 0 ? static_cast<int64_t>(s.kv_blocks) * s.block_size / s.n_ctx : 0},
            {"prefix_query_tokens", s.prefix_query_tokens},
            {"prefix_hit_tokens", s.prefix_hit_tokens},
            {"preemptions", s.preemptions}}},
          {"kv_tiers", kv_json(ctx)},
          {"steps", {{"total", s.steps}, {"collective_seconds_per_step", s.steps ? s.collective_s_total / s.steps : 0.0},
                     {"seconds_per_step", s.steps ? s.step_s_total / s.steps : 0.0},
                     {"collective_timeout_seconds", s.collective_timeout_s},
                     {"collective_timeout_rule", s.collective_deadline_rule}}},
          {"response_cache", response_cache_json(ctx, s)},
          {"grammar",  // constrained output: masks rank 0 computed for constrained rows, and their times
           {{"requests", s.grammar.requests},
            {"masks", s.grammar.masks},
            {"mask_cache_hits", s.grammar.cache_hits},
            {"mask_cache_misses", s.grammar.cache_misses},
            {"mask_p50_ms", s.grammar.mask_p50_ms},
            {"mask_p99_ms", s.grammar.mask_p99_ms},
            {"mask_max_ms", s.grammar.mask_max_ms}}},
          {"idle_timeout_seconds", ctx.idle_timeout_s},
          {"waiting_for_ranks", waiting_json()},
          {"loads_on_demand", s.loads_on_demand},
          {"ranks", ranks}};
}

// Speculative decoding counters (vLLM's names where it has them). A sequence-step with
// proposals yields 1 + accepted tokens where a plain step yields 1, so the mean accepted
// length is also the estimated speedup in steps (a step with proposals costs about one
// plain step while decoding is bound by reading the weights).
json spec_json(const ServeContext& ctx) {
  EngineSnapshot s = ctx.engine->snapshot();
  const double drafts = static_cast<double>(s.spec_drafts);
  const double mean_len = drafts > 0 ? 1.0 + s.spec_accepted_tokens / drafts : 1.0;
  return {{"mode", ctx.spec.mode},
          {"num_speculative_tokens", ctx.spec.num_speculative_tokens},
          {"num_drafts", s.spec_drafts},
          {"num_draft_tokens", s.spec_draft_tokens},
          {"num_accepted_tokens", s.spec_accepted_tokens},
          {"acceptance_rate", s.spec_draft_tokens ? static_cast<double>(s.spec_accepted_tokens) / s.spec_draft_tokens : 0.0},
          {"mean_accepted_length", mean_len},
          {"accepted_by_position", s.spec_accepted_by_position},
          {"estimated_speedup", mean_len},
          {"proposer_seconds", s.spec_proposer_s},
          // shardlm's own: why proposals pause (the acceptance a draft row needs is
          // per_row × seqs / (fixed + per_row × seqs) of the measured decode step)
          {"step_fixed_seconds", s.spec_step_fixed_s},
          {"step_seconds_per_row", s.spec_step_per_row_s},
          {"num_paused", s.spec_paused}};
}

// /admin/kv: bytes and blocks per tier, and the tier counters.
json kv_json(const ServeContext& ctx) {
  const KvTierStats k = ctx.engine->snapshot().kv;
  const int ranks = std::max(1, Comm::size());
  json disk = nullptr;
  if (k.tier == "cpu_disk")
    disk = {{"dir", k.disk_dir},
            {"usable", k.disk.usable},
            {"blocks", k.disk.blocks},
            {"bytes", k.disk.bytes},
            {"bytes_all_ranks_estimate", k.disk.bytes * static_cast<uint64_t>(ranks)},
            {"index_blocks", k.disk_index_blocks},
            {"scanned_files", k.disk.scanned_files},
            {"offloaded_blocks", k.disk.offloaded_blocks},
            {"offloaded_bytes", k.disk.offloaded_bytes},
            {"restored_bytes", k.disk.restored_bytes},
            {"write_drops", k.disk.write_drops},
            {"write_errors", k.disk.write_errors},
            {"read_errors", k.disk.read_errors},
            {"bad_files", k.disk.bad_files},
            {"evicted_files", k.disk.evicted_files}};
  return {{"tier", k.tier.empty() ? json(nullptr) : json(k.tier)},
          {"block_bytes_per_rank", k.block_bytes},
          {"memory",
           {{"blocks", k.memory_blocks},
            {"used_blocks", k.memory_used_blocks},
            {"cached_blocks", k.memory_cached_blocks},
            {"bytes_per_rank", k.memory_bytes}}},
          {"disk", disk},
          {"scheduler",
           {{"offload_ops", k.sched.offload_ops},
            {"disk_restores", k.sched.disk_restores},
            {"restored_blocks", k.sched.disk_hit_blocks},
            {"restore_failed_blocks", k.sched.disk_failed_blocks},
            {"disk_misses", k.sched.disk_misses}}},
          {"sessions",
           {{"count", k.session_list.size()},
            {"pinned_blocks", k.sessions.pinned_blocks},
            {"pinned_bytes", k.sessions.pinned_bytes},
            {"hits", k.sessions.hits},
            {"hit_tokens", k.sessions.hit_tokens},
            {"expired", k.sessions.expired},
            {"demoted", k.sessions.demoted}}}};
}

json sessions_json(const ServeContext& ctx) {
  const KvTierStats k = ctx.engine->snapshot().kv;
  json list = json::array();
  for (const SessionInfo& si : k.session_list)
    list.push_back({{"id", si.id},
                    {"tokens", si.tokens},
                    {"blocks", si.blocks},
                    {"bytes", si.bytes},
                    {"turns", si.turns},
                    {"hits", si.hits},
                    {"last_use", si.last_use_unix}});
  return {{"object", "list"}, {"data", list}};
}

// Body: none or {} (load the last good model again), or {"model": PATH} under the
// model directory. A refused path gets one text whatever the reason (model-dir.h).
void handle_admin_load(ServeContext& ctx, const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
  std::string path;
  if (!req.body.empty()) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return (void)sink->send_error(bad_request("the body must be a JSON object"));
    if (j.contains("model")) {
      if (!j["model"].is_string()) return (void)sink->send_error(bad_request("model must be a string (a path)", "model"));
      auto admitted = admit_model_path(ctx.model_dir, j["model"].get<std::string>());
      if (!admitted) {
        LOG_WARN("admin load from {}: path refused", req.remote);
        return (void)sink->send_error(bad_request(admitted.message(), "model", "model_path_refused"));
      }
      path = admitted.value();
    }
  }
  if (path.empty()) path = ctx.engine->snapshot().model_path;  // the last good one
  if (path.empty()) return (void)sink->send_error(bad_request("no model path given and none loaded before", "model"));
  ctx.engine->load(path, [sink](LoadReply r) {
    switch (r.outcome) {
      case LoadReply::loaded:
        sink->send_json(200, json{{"status", "ready"}, {"message", r.message}}.dump());
        return;
      case LoadReply::refused:
        sink->send_error(bad_request("model: the file does not load (" + r.message + "); the serving model was kept",
                                     "model", "model_invalid"));
        return;
      case LoadReply::failed:
        sink->send_error(internal_error("load failed: " + r.message +
                                        (r.previous_restored ? "; the previous model was loaded again" : "")));
        return;
    }
  });
}

}  // namespace

void add_ops_routes(HttpServer& server, ServeContext& ctx) {
  ServeContext* c = &ctx;
  server.route("GET", "/health", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    EngineSnapshot s = c->engine->snapshot();
    // Unloaded but loading on demand (--lazy-load, --idle-timeout-s) still serves.
    const bool idle = s.state == ModelState::unloaded && s.loads_on_demand;
    const bool stopping = c->engine->stopping();
    // Rank 0 stuck on the other ranks (a lost host, a frozen rank) is not healthy even
    // before the heartbeat timeout ends the job.
    const auto wait = Comm::current_wait();
    const double wait_s = wait ? wait->waited_s : 0;
    const bool stalled = wait_s > c->stall_report_s && s.state == ModelState::ready;
    const bool ok = (s.state == ModelState::ready || idle) && !stopping && !stalled;
    json body{{"status", stopping  ? "stopping"
                         : stalled ? "degraded"
                         : s.state == ModelState::ready ? "ok"
                         : idle    ? "idle"
                                   : model_state_name(s.state)},
              {"model_loaded", s.state == ModelState::ready},
              {"response_cache", response_cache_json(*c, s)}};
    if (stalled)
      body["reason"] = fmt::format("rank 0 has waited {:.0f} s for the other ranks ({})", wait_s, wait ? wait->what : "");
    sink->send_json(ok ? 200 : 503, body.dump(), ok ? HttpHeaders{} : HttpHeaders{{"Retry-After", "1"}});
  });
  server.route("GET", "/admin/health", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    EngineSnapshot s = c->engine->snapshot();
    sink->send_json(200, json{{"status", model_state_name(s.state)},
                              {"model_loaded", s.state == ModelState::ready},
                              {"ranks", s.ranks.size()},
                              {"running", s.running},
                              {"waiting", s.waiting}}
                             .dump());
  }, true);
  server.route("GET", "/admin/status", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, status_json(*c).dump());
  }, true);
  server.route("GET", "/admin/kv", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, kv_json(*c).dump());
  }, true);
  server.route("GET", "/admin/sessions", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, sessions_json(*c).dump());
  }, true);
  server.route("DELETE", "/admin/sessions/*", [c](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
    const std::string id = req.target.substr(std::string("/admin/sessions/").size());
    c->engine->drop_session(id, [sink, id](bool found) {
      if (found) sink->send_json(200, json{{"id", id}, {"deleted", true}}.dump());
      else sink->send_error(not_found("no session " + id, "session_not_found"));
    });
  }, true);
  server.route("POST", "/admin/load", [c](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
    handle_admin_load(*c, req, std::move(sink));
  }, true);
  server.route("POST", "/admin/unload", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    c->engine->unload([sink](bool, std::string) { sink->send_json(200, json{{"status", "unloaded"}}.dump()); });
  }, true);
  server.route("GET", "/v1/spec_decode/metrics", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send_json(200, spec_json(*c).dump());
  });
  server.route("GET", "/metrics", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    sink->send(200, metrics::kContentType, c->registry->render());
  });
  server.route("GET", "/v1/models", [c](const HttpRequest&, std::shared_ptr<ResponseSink> sink) {
    EngineSnapshot s = c->engine->snapshot();
    std::vector<ModelInfo> models;
    if (s.state == ModelState::ready) models.push_back({s.model_name, static_cast<int64_t>(s.started_unix), "shardlm", s.n_ctx});
    sink->send_json(200, models_json(models));
  });
  auto gen = [c](ApiKind k) {
    return [c, k](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) { handle_generate(*c, k, req, sink); };
  };
  server.route("POST", "/v1/completions", gen(ApiKind::completion));
  server.route("POST", "/v1/chat/completions", gen(ApiKind::chat));
  server.route("POST", "/apply-template", [c](const HttpRequest& req, std::shared_ptr<ResponseSink> sink) {
    handle_apply_template(*c, req, sink);
  });
}

}  // namespace shardlm
