// Rank 0's engine (ARCHITECTURE §1, §2, §6, §12): the only thread that calls MPI.
//
// Threads: run() executes on the thread that initialised MPI (MPI_THREAD_FUNNELED) and
// owns the model host (model-host.h: model slice, scheduler, prefix cache) and every
// live request (request-state.h). Other threads call submit()/cancel()/load()/
// unload()/stop()/snapshot()/tokenizer(): these only post to the engine's inbox (a
// mutex + condition variable) or copy a snapshot; they never block on the model.
// Results go back as neutral RequestEvents through each request's ResultQueue; the
// engine thread never formats a response.
//
// Clients: `shardlm serve` (app/serve-routes.cpp: HTTP threads) and `shardlm generate`
// (app/cmd-generate.cpp: one request from a thread of its own). Both run the same loop.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "shardlm/cluster/channel.h"
#include "shardlm/engine/engine-options.h"
#include "shardlm/engine/grammar-host.h"
#include "shardlm/engine/kv-tier-stats.h"
#include "shardlm/engine/result-queue.h"
#include "shardlm/sampling/sampling-params.h"
#include "shardlm/spec/step-cost.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

struct ShardlmMetrics;
class ModelHost;
class DraftModel;
struct LiveRequest;
struct SampledRow;
struct StepPlan;
struct ScheduledSeq;

enum class ModelState { unloaded, loading, ready, unloading };
const char* model_state_name(ModelState s);

// One request as the engine takes it (tokenized; parameters validated by the caller).
struct EngineRequest {
  std::vector<int32_t> prompt;         // i32 [n_prompt], already tokenized (BOS included if wanted)
  int max_tokens = 16;                 // generated tokens allowed (0: compute the prompt only)
  SamplingParams sampling;             // validated; seed already chosen
  std::vector<std::string> stop;       // stop strings (not part of the output)
  std::vector<int32_t> stop_token_ids; // end the generation like EOS
  bool ignore_eos = false;
  bool speculate = true;               // false: no speculative proposals for this request (when the server makes them)
  int n_top = 0;                       // top logprobs per token (0..20)
  bool logprobs = false;               // report each token's logprob
  bool render_special = false;         // control tokens in the text as their text (chat tool-call markers such as [TOOL_CALLS], <|python_tag|>)
  std::string session_id;              // sticky session ("" = none): the conversation's KV stays pinned (sched/sessions.h)
  // Constrained output (null: none): every sampled token is one the grammar allows, the
  // request ends (stop) when the grammar is finished; such a request never speculates and
  // ignores ignore_eos. grammar_key: its canonical source (equal keys share mask caches).
  std::shared_ptr<const grammar::Grammar> grammar;
  std::string grammar_key;
  std::shared_ptr<ResultQueue> results;  // required: where every event of this request goes
};

// A copy of the engine's state for /health, /admin/status, /metrics and `generate`.
struct EngineSnapshot {
  ModelState state = ModelState::unloaded;
  // model_path: the model loading, loaded, or else the last good one (what
  // `/admin/load {}` loads); last_error: the last failed load, kept after later loads.
  std::string model_path, model_name, last_error;
  bool loads_on_demand = false;  // --lazy-load / --idle-timeout-s: a request loads the model
  bool load_attempted = false;   // a load has finished (ready, or failed with last_error)
  // +1 whenever a load starts and when the model is unloaded: what the model answers
  // with may have changed (the response cache empties when it moves).
  uint64_t model_generation = 0;
  int n_ctx = 0, n_vocab = 0, kv_blocks = 0, kv_blocks_used = 0, block_size = 0;
  // The longest sequence the engine takes: min(n_ctx, KV blocks × block size). The one
  // limit for prompt + max_tokens, used by the HTTP side and by the engine.
  int max_context = 0;
  // The KV cache's element type (--kv-cache-dtype) and rank 0's bytes per token position
  // (K and V of its KV heads, every layer, scales included); 0 while no model is loaded.
  std::string kv_cache_dtype;
  uint64_t kv_bytes_per_token = 0;
  int running = 0, waiting = 0;
  uint64_t requests_total = 0, steps = 0, preemptions = 0;
  // Speculative decoding (GET /v1/spec_decode/metrics): steps that carried proposals for
  // a sequence, tokens proposed, tokens accepted, accepted count by draft position.
  uint64_t spec_drafts = 0, spec_draft_tokens = 0, spec_accepted_tokens = 0;
  std::vector<uint64_t> spec_accepted_by_position;
  double spec_proposer_s = 0;
  // The measured cost of a decode step (spec/step-cost.h) and the sequence-steps that
  // did not propose because their acceptance was below what a draft row costs.
  double spec_step_fixed_s = 0, spec_step_per_row_s = 0;
  uint64_t spec_paused = 0;
  uint64_t prefix_query_tokens = 0, prefix_hit_tokens = 0;
  double collective_s_total = 0, step_s_total = 0, load_s = 0;
  // The step collectives' deadline for a one-token step now, and its rule (cluster/step-deadline.h).
  double collective_timeout_s = 0;
  std::string collective_deadline_rule;
  double last_activity_unix = 0, started_unix = 0;
  std::vector<RankStats> ranks;
  std::vector<double> shutdown_rss;  // resident bytes per rank at shutdown (after run() returned)
  KvTierStats kv;                    // KV tiers and sessions (/admin/kv, /admin/sessions)
  GrammarStats grammar;              // constrained decoding: masks and their times (/admin/status)
};

// How an admin load ended (Engine::load).
struct LoadReply {
  enum Outcome {
    loaded,    // the new model is ready
    refused,   // the pre-flight check failed: nothing was unloaded, the model serving still serves
    failed,    // the load failed after the unload (memory guard, a rank's error)
  } outcome = failed;
  bool previous_restored = false;  // failed: the last good model was loaded again
  std::string message;             // the reason ("loaded" when loaded)
};

class Engine {
 public:
  explicit Engine(EngineOptions opts, ShardlmMetrics* metrics = nullptr);
  ~Engine();

  // Engine thread: loads the configured model (when rt.model_path is set), then serves
  // until stop(); then shuts every rank down. Returns 0. The caller writes the EXIT AUDIT.
  int run();

  // Any thread. Returns the request id; every answer, a refusal included, arrives
  // through r.results.
  uint64_t submit(EngineRequest r);
  void cancel(uint64_t id);
  // Admin: asynchronous; done is called on the engine thread. A load first checks the
  // new model on rank 0 (ModelHost::check) and refuses it before unloading anything;
  // a load that fails later loads the last good model again.
  void load(const std::string& model_path, std::function<void(LoadReply)> done);
  void unload(std::function<void(bool, std::string)> done);
  // Drops a sticky session's pins; done(found) is called on the engine thread.
  void drop_session(const std::string& id, std::function<void(bool)> done);
  void stop();  // drain, then shut down (SIGTERM)
  bool stopping() const;
  // Engine thread, from the fatal handler (a lost rank): every live request gets an
  // error now and new ones are refused; the caller then exits.
  void fail_now(const std::string& why);

  EngineSnapshot snapshot() const;
  ModelState model_state() const;  // snapshot().state without the copy
  // Blocks until the first load at start has finished (or timeout_s passed); returns
  // the snapshot then. For clients that start with the engine (`generate`).
  EngineSnapshot wait_loaded(double timeout_s) const;
  // The tokenizer of the loaded model (null when unloaded); shared with HTTP threads.
  std::shared_ptr<const Tokenizer> tokenizer() const;

 private:
  // What other threads post to the engine thread.
  struct Command {
    enum Kind { submit, cancel, load, unload, drop_session } kind = submit;
    uint64_t id = 0;                              // submit, cancel: the request
    std::shared_ptr<LiveRequest> req;             // submit
    std::string path;                             // load; drop_session: the session id
    std::function<void(bool, std::string)> done;  // unload: called on the engine thread
    std::function<void(LoadReply)> load_done;     // load: called on the engine thread
  };
  void post(Command c);
  void handle(Command& c);
  void admit(std::shared_ptr<LiveRequest> r);
  Status load_or_reset(const std::string& path);
  Status load_draft();
  LoadReply replace_model(const std::string& path);
  void unload_now();
  void step();
  void add_masks(StepPlan& p, const std::unordered_map<uint64_t, LiveRequest*>& by_wire);
  void propose();
  // The rows of one sequence in a step (its last known token, then each draft token):
  // delivers the accepted drafts and one more token. A draft without q (greedy, or an
  // n-gram proposal) is accepted while it equals the row's ordinary token (argmax or
  // sample); a draft model's sampled draft by rejection sampling against its q
  // (sampling/spec-verify.h), the token after a rejection drawn from the residual.
  void verify(LiveRequest& r, const ScheduledSeq& x, std::vector<SampledRow*>& rows);
  void deliver(LiveRequest& r, int32_t tok, float logprob, std::vector<std::pair<int32_t, float>> top);
  void end(LiveRequest& r, FinishReason why, RequestError error = {});
  void abort_all(ErrorKind kind, const std::string& why);
  void check_deadlines();
  void drop_finished();
  void ping();
  void publish();
  void set_loaded_view();
  void start_lifecycle();
  void load_on_demand();
  void maybe_idle_unload();
  void serve_loop();
  void shutdown_ranks();
  bool reload_on_demand() const { return opts_.lazy_load || opts_.idle_timeout_s > 0; }

  EngineOptions opts_;
  ShardlmMetrics* metrics_;
  mutable std::mutex mu_;               // guards inbox_, snap_, tok_
  mutable std::condition_variable cv_;  // inbox_ (engine thread) and load_attempted (wait_loaded)
  std::deque<Command> inbox_;
  EngineSnapshot snap_;
  std::shared_ptr<const Tokenizer> tok_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_id_{1};

  // Engine thread only.
  std::unique_ptr<ModelHost> host_;
  std::unique_ptr<GrammarHost> grammar_;  // constrained requests' states and mask computers
  std::unique_ptr<DraftModel> draft_;  // --spec-decode draft: on rank 0, loaded with each target
  std::vector<std::shared_ptr<LiveRequest>> reqs_;  // live requests
  // The last good model: the configured one, then the last loaded. What loads on demand,
  // what a failed load falls back to, and what snap_.model_path shows when not loading.
  std::string model_path_;
  uint64_t requests_total_ = 0;
  std::chrono::steady_clock::time_point last_msg_, last_request_;
  double last_activity_unix_ = 0;
  double step_s_ = 0;  // time in step(), plan to delivered tokens
  uint64_t spec_drafts_ = 0, spec_draft_tokens_ = 0, spec_accepted_ = 0;
  std::vector<uint64_t> spec_by_pos_;
  double spec_s_ = 0;
  uint64_t spec_paused_ = 0;
  double spec_rate_all_ = 1.0;  // share of draft tokens accepted, over every sequence's recent drafts
  StepCost step_cost_;  // fixed and per-row seconds of recent decode steps: whether a draft row pays
  std::vector<RankStats> ranks_;
  KvTierStats published_kv_;  // the tier counters already in the metrics
  uint64_t published_queries_ = 0, published_hits_ = 0;  // prefix cache totals already in the metrics
};

}  // namespace shardlm
