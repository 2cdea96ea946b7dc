// One live request on the engine thread: the request as submitted, its Sequence in the
// scheduler, its text stream (detokenization and stop strings), its deadlines, and the
// events it has produced. Owned by the engine thread; the client sees only the events
// in its ResultQueue.
#pragma once
#include <chrono>
#include <memory>
#include <optional>

#include "shardlm/engine/engine-options.h"
#include "shardlm/engine/engine.h"
#include "shardlm/engine/text-stream.h"
#include "shardlm/sched/sequence.h"

namespace shardlm {

struct LiveRequest {
  using Clock = std::chrono::steady_clock;
  uint64_t id = 0;
  EngineRequest in;
  std::shared_ptr<Sequence> seq;     // made by start(); the scheduler holds it too
  std::unique_ptr<TextStream> text;  // made by start()
  Clock::time_point arrived, last_token;
  bool got_first = false;
  bool cancelled = false;  // the client is gone: no more events
  std::unique_ptr<RequestGrammar> grammar;  // constrained output: the state after the tokens so far (admit makes it)
  int spec_k = 0;          // draft tokens to ask for next (adapts to the acceptance; 0 = start at K)
  double spec_rate = 1.0;  // recent share of draft tokens accepted (moving average; optimistic start)
  int spec_wait = 0;       // steps to skip before the next probing proposal

  // Makes the sequence and the text stream (the request is being admitted).
  void start(const Tokenizer& tok);
  bool finished() const { return !seq || seq->state == SeqState::finished; }

  // A sampled token: appended to the sequence, its text (and logprobs) sent as an
  // event. Returns why the generation ends with it, or FinishReason::none.
  // eos_ids: the vocabulary's end-of-generation ids, sorted.
  FinishReason take_token(const TokenOut& t, const std::vector<int32_t>& eos_ids);
  // The final event (the scheduler has already finished the sequence).
  void send_final(FinishReason why, RequestError error);
  // A deadline that has passed now, if any.
  std::optional<RequestError> deadline_passed(Clock::time_point now, const EngineOptions& o) const;

 private:
  void send(RequestEvent e);
  int32_t stop_token_ = -1;
  std::string stop_string_;
};

// The request ends before it started: one final event with the error.
void reject_request(const EngineRequest& r, ErrorKind kind, std::string why);

}  // namespace shardlm
