// Rank 0's engine (ARCHITECTURE §1, §2, §6, §12): the only thread that calls MPI.
//
// Threads: run() executes on the thread that initialised MPI (MPI_THREAD_FUNNELED) and
// owns the scheduler, the model slice, the prefix cache and every Sequence. HTTP
// threads call submit()/cancel()/load()/unload()/stop()/status(): these only post to
// the engine's inbox (a mutex + condition variable) or copy a snapshot; they never
// block on the model. Results go back through each request's EventFn, which the engine
// thread calls and which must not block (the HTTP layer queues the write).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shardlm/dist/channel.h"
#include "shardlm/dist/runtime-config.h"
#include "shardlm/sched/scheduler.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

class RankModel;
class StepExecutor;
struct ShardlmMetrics;

struct EngineConfig {
  RuntimeConfig rt;                  // model and runtime (broadcast in LOAD)
  int max_num_seqs = 16;             // --max-num-seqs: sequences holding KV at once
  int max_batch_tokens = 512;        // --max-batch-tokens: token budget per step
  int max_queue = 256;               // --max-queue: waiting requests; past it HTTP 429
  bool prefix_cache = true;          // --no-prefix-cache turns it off
  double request_timeout_s = 600;    // --request-timeout-s: total deadline per request (0 = none)
  double first_token_timeout_s = 0;  // --first-token-timeout-s: deadline for the first token (0 = none)
  double ping_interval_s = 5;        // --ping-interval-s: heartbeat and rank statistics while idle
  double heartbeat_timeout_s = 60;   // --heartbeat-timeout-s: a rank silent this long is lost (peer_lost)
  double drain_timeout_s = 30;       // --drain-timeout-s: on stop(), how long running requests may finish
  bool lazy_load = false;            // --lazy-load: load on the first request instead of at start
  double idle_timeout_s = 0;         // --idle-timeout-s: unload after this long without requests (0 = never);
                                     //   the next request loads the model again
  bool prewarm = false;              // --prewarm: run one forward after each load
};

enum class ModelState { unloaded, loading, ready, unloading };
const char* model_state_name(ModelState s);

// One generated token, for logprobs.
struct TokenOut {
  int32_t id = -1;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

// What the engine tells a request's owner. Several events per request; the last has done.
struct EngineEvent {
  std::string text;                // new text (complete UTF-8, stop strings removed)
  std::vector<TokenOut> tokens;    // the tokens this event covers
  bool done = false;
  FinishReason finish = FinishReason::none;
  int error_status = 0;            // != 0: the request failed (HTTP status), error holds why
  std::string error;
  int prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;  // set when done
};
using EventFn = std::function<void(EngineEvent&&)>;

struct EngineRequest {
  std::vector<int32_t> prompt;         // i32 [n_prompt], already tokenized (BOS included if wanted)
  int max_tokens = 16;                 // generated tokens allowed (the caller checks the context)
  SamplingParams sampling;             // validated; seed already chosen
  std::vector<std::string> stop;       // stop strings (not part of the output)
  std::vector<int32_t> stop_token_ids; // end the generation like EOS
  bool ignore_eos = false;
  int n_top = 0;                       // top logprobs per token (0..20)
  bool logprobs = false;               // report each token's logprob
  EventFn on_event;
};

// A copy of the engine's state for /health, /admin/status and /metrics.
struct EngineSnapshot {
  ModelState state = ModelState::unloaded;
  std::string model_path, model_name, last_error;
  bool loads_on_demand = false;  // --lazy-load / --idle-timeout-s: a request loads the model
  int n_ctx = 0, n_vocab = 0, kv_blocks = 0, kv_blocks_used = 0, block_size = 0;
  int running = 0, waiting = 0;
  uint64_t requests_total = 0, steps = 0, preemptions = 0;
  uint64_t prefix_query_tokens = 0, prefix_hit_tokens = 0;
  double collective_s_total = 0, step_s_total = 0;
  double last_activity_unix = 0, started_unix = 0;
  std::vector<RankStats> ranks;
};

class Engine {
 public:
  explicit Engine(EngineConfig cfg, ShardlmMetrics* metrics = nullptr);
  ~Engine();

  // Engine thread: loads the configured model (when rt.model_path is set), then serves
  // until stop(); then shuts every rank down. Returns the process exit code.
  int run();

  // Any thread. Returns the request id, or 0 with *http_status / *error set when the
  // engine cannot take it now (503 not loaded).
  uint64_t submit(EngineRequest r, int* http_status, std::string* error);
  void cancel(uint64_t id);
  // Admin: asynchronous; done(ok, message) is called on the engine thread.
  void load(const std::string& model_path, std::function<void(bool, std::string)> done);
  void unload(std::function<void(bool, std::string)> done);
  void stop();  // drain, then shut down (SIGTERM)
  bool stopping() const;
  // Engine thread, from the fatal handler (a lost rank): every live request gets an
  // error now and new ones are refused; the caller then exits.
  void fail_now(const std::string& why);

  EngineSnapshot snapshot() const;
  // The tokenizer of the loaded model (null when unloaded); shared with HTTP threads.
  std::shared_ptr<const Tokenizer> tokenizer() const;

 private:
  struct Req;
  struct Command;
  void post(Command c);
  void handle(Command& c);
  Status do_load(const std::string& path);
  Status load_or_reset(const std::string& path);  // do_load; on failure back to unloaded with last_error
  Result<std::shared_ptr<const Tokenizer>> load_model_tokenizer(const RuntimeConfig& rt);
  void do_unload();
  void step();
  void check_deadlines();
  void on_token(Req& r, int32_t tok, float logprob, std::vector<std::pair<int32_t, float>> top);
  void end(Req& r, FinishReason why, int error_status = 0, const std::string& error = "");
  void abort_all(int status, const std::string& why);
  void ping();
  void publish();
  void prewarm();
  bool reload_on_demand() const { return cfg_.lazy_load || cfg_.idle_timeout_s > 0; }

  EngineConfig cfg_;
  ShardlmMetrics* metrics_;
  mutable std::mutex mu_;               // guards inbox_, snap_, tok_
  std::condition_variable cv_;
  std::deque<Command> inbox_;
  EngineSnapshot snap_;
  std::shared_ptr<const Tokenizer> tok_;
  std::string tok_model_;  // the model path tok_ belongs to
  std::atomic<ModelState> state_{ModelState::unloaded};
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> stopping_{false};

  // Engine thread only.
  std::unique_ptr<RankModel> model_;
  std::unique_ptr<StepExecutor> exec_;  // runs the steps on *model_; reset before it
  std::unique_ptr<Scheduler> sched_;
  std::vector<std::shared_ptr<Req>> reqs_;  // live requests
  std::vector<int32_t> eos_;
  uint64_t steps_ = 0, requests_total_ = 0;
  double coll_s_ = 0, step_s_ = 0;
  std::vector<RankStats> ranks_;
  std::chrono::steady_clock::time_point last_msg_;
  double last_activity_unix_ = 0;
  std::string last_error_;
  std::string model_path_;  // the model to (re)load on demand
  uint64_t published_queries_ = 0, published_hits_ = 0;  // prefix cache totals already in the metrics
  std::chrono::steady_clock::time_point last_request_;
};

}  // namespace shardlm
