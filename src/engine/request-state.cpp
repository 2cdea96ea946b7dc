#include "shardlm/engine/request-state.h"

#include <algorithm>

#include "shardlm/core/log.h"
#include "shardlm/sampling/penalties.h"

namespace shardlm {

namespace {
double secs(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

void reject_request(const EngineRequest& r, ErrorKind kind, std::string why) {
  RequestEvent e;
  e.done = true;
  e.finish = kind == ErrorKind::timeout ? FinishReason::timeout : FinishReason::error;
  e.error = {kind, std::move(why)};
  e.usage.prompt_tokens = static_cast<int>(r.prompt.size());
  if (r.results) r.results->push(std::move(e));
}

void LiveRequest::start(const Tokenizer& tok) {
  seq = std::make_shared<Sequence>();
  seq->id = id;
  seq->tokens = in.prompt;
  seq->n_prompt = static_cast<int>(in.prompt.size());
  seq->max_tokens = in.max_tokens;
  seq->sampling = in.sampling;
  seq->n_top = in.n_top;
  seq->logprobs = in.logprobs;
  seq->need_history = penalties_active(in.sampling);
  seq->session = in.session_id;
  text = std::make_unique<TextStream>(tok, in.stop, DecodeOptions{in.render_special, false});
}

void LiveRequest::send(RequestEvent e) {
  if (!cancelled) in.results->push(std::move(e));
}

FinishReason LiveRequest::take_token(const TokenOut& t, const std::vector<int32_t>& eos_ids) {
  Sequence& s = *seq;
  if (s.max_tokens <= 0) return FinishReason::length;  // the prompt only: the sampled token is not taken
  RequestEvent e;
  if (in.logprobs) e.tokens.push_back(t);
  // ignore_eos skips only the vocabulary's end-of-generation ids; stop_token_ids always stop.
  const bool is_eos = (!in.ignore_eos && std::binary_search(eos_ids.begin(), eos_ids.end(), t.id)) ||
                      std::find(in.stop_token_ids.begin(), in.stop_token_ids.end(), t.id) != in.stop_token_ids.end();
  s.tokens.push_back(t.id);  // an end-of-generation token counts as generated (as OpenAI and vLLM do), not shown
  if (is_eos) {
    e.text = text->flush();
    stop_token_ = t.id;
    if (!e.text.empty() || !e.tokens.empty()) send(std::move(e));
    return FinishReason::stop;
  }
  TextStream::Delta d = text->push(t.id);
  e.text = std::move(d.text);
  if (!e.text.empty() || !e.tokens.empty()) send(std::move(e));
  if (d.stopped) {
    stop_string_ = d.stop;
    return FinishReason::stop;
  }
  return s.n_generated() >= s.max_tokens ? FinishReason::length : FinishReason::none;
}

void LiveRequest::send_final(FinishReason why, RequestError error) {
  RequestEvent e;
  e.done = true;
  e.finish = why;
  e.error = std::move(error);
  if (why == FinishReason::length && text) e.text = text->flush();
  if (seq) {
    e.usage = {seq->n_prompt, seq->n_generated(), seq->n_cached};
  } else {
    e.usage.prompt_tokens = static_cast<int>(in.prompt.size());
  }
  e.stop_token = stop_token_;
  e.stop_string = stop_string_;
  in.results->push(std::move(e));  // even when cancelled: the consumer lets go of its state on done
}

std::optional<RequestError> LiveRequest::deadline_passed(Clock::time_point now, const EngineOptions& o) const {
  const double age = secs(now - arrived);
  if (o.request_timeout_s > 0 && age > o.request_timeout_s)
    return RequestError{ErrorKind::timeout,
                        fmt::format("request deadline of {} s exceeded (--request-timeout-s)", o.request_timeout_s)};
  if (!got_first && o.first_token_timeout_s > 0 && age > o.first_token_timeout_s)
    return RequestError{ErrorKind::timeout,
                        fmt::format("no first token within {} s (--first-token-timeout-s)", o.first_token_timeout_s)};
  return std::nullopt;
}

}  // namespace shardlm
