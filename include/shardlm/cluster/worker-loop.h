// The loop every rank but 0 runs: receive a message → act → reply (ARCHITECTURE §1).
// Workers hold no tokenizer and no sampler state.
#pragma once

namespace shardlm {

struct WorkerLoopConfig {
  double idle_timeout_s = 300;  // longest wait for rank 0's next message (heartbeats arrive sooner)
  // EXIT AUDIT cause when rank 0 is silent for idle_timeout_s: the server sends
  // heartbeats, so silence there means rank 0 is gone ("peer_lost").
  const char* silence_cause = "collective_timeout";
};

// Returns the process exit code; logs EXIT AUDIT (cause=worker_loop_exit on SHUTDOWN).
int worker_loop(const WorkerLoopConfig& cfg);

}  // namespace shardlm
