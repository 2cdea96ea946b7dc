// Options of rank 0's engine: the scheduling policy, request deadlines, heartbeats and
// the model lifecycle. Each default is written here once; `shardlm serve` and
// `shardlm generate` fill the struct from their flags (app/main.cpp).
#pragma once
#include "shardlm/cluster/runtime-config.h"
#include "shardlm/sched/scheduler.h"
#include "shardlm/spec/spec-options.h"

namespace shardlm {

struct EngineOptions {
  RuntimeConfig rt;                  // model and runtime (broadcast in LOAD)
  SchedulerOptions sched;            // batching policy: --max-num-seqs, --max-batch-tokens, --max-queue, --no-prefix-cache
  SpecOptions spec;                  // speculative decoding: --spec-decode, --ngram-min/max, --num-speculative-tokens
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

}  // namespace shardlm
