// The OpenAI routes: HTTP request → native request (parse, chat template, tokenize) →
// engine; engine events → JSON response or SSE chunks. Everything here runs on HTTP
// threads: the handler, and the drains of the request's ResultQueue, which the engine
// thread's notification posts onto the connection's strand (so one request's events
// are formatted in order, never on the engine thread).
#include <random>

#include <nlohmann/json.hpp>

#include "app/chat-prompt.h"
#include "app/response-cache-key.h"
#include "app/serve.h"
#include "shardlm/core/log.h"
#include "shardlm/http/openai-request.h"
#include "shardlm/http/openai-response.h"
#include "shardlm/tokenizer/chat-template.h"

namespace shardlm {

using namespace shardlm::http;

namespace {

uint64_t random_u64() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Per-request response state; touched only by drains on the connection's strand.
struct Reply {
  std::shared_ptr<ResponseSink> sink;
  std::shared_ptr<ResultQueue> queue;
  std::shared_ptr<const Tokenizer> tok;
  ShardlmMetrics* metrics = nullptr;
  ApiKind kind = ApiKind::completion;
  ResponseMeta meta;
  bool stream = false, include_usage = false, logprobs = false;
  bool token_ids = false;               // return_token_ids (extension)
  std::vector<int32_t> prompt_ids;      // for the first choice/chunk's prompt_token_ids
  bool started = false;
  std::string prefix;  // echo: the prompt text, sent first
  http::HttpHeaders headers;  // extra response fields (X-Response-Cache)
  ChoiceResult all;    // non-streaming: accumulated
  size_t offset = 0;   // text offset for completion logprobs
  // Chat: tool calls and reasoning parsed out of the text (null: the text is content).
  std::unique_ptr<toolcall::StreamParser> parser;
  bool parallel_calls = true;  // false: calls after the first are dropped

  // A parser delta into a choice part: content, reasoning, call parts (appended to the
  // calls already there when `merge`, for the whole answer).
  void absorb(toolcall::Delta&& d, ChoiceResult& c, bool merge) const {
    c.text += d.content;
    c.reasoning += d.reasoning;
    for (auto& t : d.calls) {
      if (!parallel_calls && t.index > 0) continue;
      if (merge && !t.first && static_cast<size_t>(t.index) < c.tool_calls.size()) {
        c.tool_calls[static_cast<size_t>(t.index)].arguments += t.arguments;
        continue;
      }
      c.tool_calls.push_back({t.index, t.first, std::move(t.id), std::move(t.name), std::move(t.arguments)});
    }
  }

  std::string finish_reason(FinishReason f) const {
    if (parser && parser->n_calls() > 0) return "tool_calls";
    return f == FinishReason::length ? "length" : "stop";
  }

  std::vector<TokenLogprob> convert(const std::vector<TokenOut>& toks) const {
    std::vector<TokenLogprob> out;
    for (const auto& t : toks) {
      TokenLogprob l;
      l.token = tok->token_piece(t.id);
      l.logprob = t.logprob;
      for (const auto& [id, lp] : t.top) l.top.emplace_back(tok->token_piece(id), lp);
      out.push_back(std::move(l));
    }
    return out;
  }

  static ApiError api_error(const RequestError& e, bool retry_hint) {
    switch (e.kind) {
      case ErrorKind::invalid_request: return bad_request(e.message);
      case ErrorKind::rate_limited: return too_many_requests(1, e.message);
      case ErrorKind::unavailable:
      case ErrorKind::timeout: return service_unavailable(e.message, retry_hint ? 1 : 0);
      default: return internal_error(e.message);
    }
  }

  void fail(const RequestError& err) {
    ApiError e = api_error(err, true);
    if (metrics) metrics->http_responses(e.status).inc();
    sink->send_error(e);
  }

  std::string chunk(const ChoiceResult& c, bool first) const {
    return kind == ApiKind::chat ? chat_chunk_json(meta, c, first, include_usage)
                                 : completion_chunk_json(meta, c, include_usage);
  }

  void on_event(RequestEvent&& e) {
    if (e.error && !started) return fail(e.error);
    if (!stream) {
      if (parser) absorb(parser->feed(e.text), all, true);
      else all.text += e.text;
      if (token_ids)
        for (const auto& t : e.tokens) all.token_ids.push_back(t.id);
      if (logprobs) {
        auto l = convert(e.tokens);
        all.logprobs.insert(all.logprobs.end(), l.begin(), l.end());
      }
      if (!e.done) return;
      if (e.error) return fail(e.error);
      if (parser) absorb(parser->finish(), all, true);
      all.text = prefix + all.text;
      all.finish_reason = finish_reason(e.finish);
      all.has_logprobs = logprobs;
      all.has_token_ids = token_ids;
      if (token_ids) all.prompt_token_ids = prompt_ids;
      http::Usage u{e.usage.prompt_tokens, e.usage.completion_tokens, e.usage.cached_tokens};
      std::vector<ChoiceResult> choices{all};
      if (metrics) metrics->http_responses(200).inc();
      sink->send_json(200, kind == ApiKind::chat ? chat_response_json(meta, choices, u) : completion_response_json(meta, choices, u),
                      headers);
      return;
    }
    bool first = false;
    if (!started) {
      started = true;
      first = true;
      if (metrics) metrics->http_responses(200).inc();
      http::HttpHeaders h{{"Cache-Control", "no-cache"}};
      h.insert(h.end(), headers.begin(), headers.end());
      sink->start_stream(200, "text/event-stream", h);
    }
    if (first || !e.text.empty() || !e.tokens.empty() || (e.done && parser)) {
      ChoiceResult c;
      if (parser) {
        absorb(parser->feed(e.text), c, false);
        if (e.done && !e.error) absorb(parser->finish(), c, false);
        if (first) c.text = prefix + c.text;
      } else {
        c.text = first ? prefix + e.text : e.text;
      }
      c.has_logprobs = logprobs;
      if (logprobs) c.logprobs = convert(e.tokens);
      c.has_token_ids = token_ids;
      if (token_ids) {
        for (const auto& t : e.tokens) c.token_ids.push_back(t.id);
        if (first) c.prompt_token_ids = prompt_ids;
      }
      c.text_offset = offset;
      offset += c.text.size();
      if (!c.text.empty() || first || !c.logprobs.empty() || !c.reasoning.empty() || !c.tool_calls.empty() ||
          !c.token_ids.empty())
        sink->write(sse_event(chunk(c, first)));
    }
    if (!e.done) return;
    if (e.error) {
      ApiError err = api_error(e.error, false);
      sink->write(sse_event(std::string("{\"error\":") + nlohmann_error_body(err) + "}"));
    } else {
      ChoiceResult c;
      c.finish_reason = finish_reason(e.finish);
      c.has_logprobs = false;
      sink->write(sse_event(chunk(c, false)));
      if (include_usage)
        sink->write(sse_event(usage_chunk_json(kind, meta, http::Usage{e.usage.prompt_tokens, e.usage.completion_tokens, e.usage.cached_tokens})));
    }
    sink->write(sse_done());
    sink->end();
  }

  // The "error" member of an ApiError's JSON.
  static std::string nlohmann_error_body(const ApiError& e) {
    std::string j = e.to_json();  // {"error":{...}}
    auto a = j.find('{', 1);
    return a == std::string::npos ? j : j.substr(a, j.size() - a - 1);
  }
};

using PromptTokens = std::variant<std::vector<int32_t>, ApiError>;

// The chat messages rendered with the model's chat format, tokenized; `parser` gets
// what the answer is parsed with (tool calls unless tool_choice is none, reasoning).
PromptTokens chat_prompt(ServeContext& ctx, const std::shared_ptr<const Tokenizer>& tokp, const ApiRequest& req,
                         std::string_view body, toolcall::ParserConfig& parser) {
  auto r = chat_prompt_text(ctx, tokp, req, body);
  if (auto* e = std::get_if<ChatPromptError>(&r)) return bad_request(e->message, e->param);
  const ChatPromptText& p = std::get<ChatPromptText>(r);
  if (req.tool_choice.mode != ToolChoiceMode::none) {
    parser.format = p.tool_format;
    for (const auto& t : req.tools) parser.tool_names.push_back(t.name);
  }
  parser.reasoning = p.reasoning;
  parser.start_in_reasoning = p.reasoning && toolcall::prompt_opens_think(p.text);
  // Constrained output is the grammar's JSON from its first byte: a forced call is the
  // call array (toolcall's json format), a response_format document is content.
  if (req.constraint != ApiRequest::Constraint::none) {
    parser.format = req.constraint == ApiRequest::Constraint::tool_calls ? toolcall::ToolFormat::json
                                                                          : toolcall::ToolFormat::none;
    parser.reasoning = parser.start_in_reasoning = false;
  }
  return tokp->encode(p.text, false, true);
}

// The completion prompt: token ids as given (checked against the vocabulary) or text
// tokenized. echo_text: the prompt as text when the request echoes it.
PromptTokens completion_prompt(const Tokenizer& tok, const ApiRequest& req, std::string& echo_text) {
  const PromptInput& in = req.prompts.front();
  if (!in.is_tokens) {
    if (req.echo) echo_text = in.text;
    return tok.encode(in.text, tok.add_bos_default(), false);
  }
  for (auto t : in.tokens)
    if (t < 0 || t >= tok.n_vocab())
      return bad_request("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(tok.n_vocab()),
                         "prompt");
  if (req.echo) echo_text = tok.decode(in.tokens);
  return in.tokens;
}

// Engine thread → this connection's strand; the queue lets go of the reply after done.
// Events already queued (a response-cache replay) are drained by one first post.
void attach(const std::shared_ptr<Reply>& reply) {
  reply->queue->set_notify([reply] {
    reply->sink->post([reply] { reply->queue->drain([&](RequestEvent&& e) { reply->on_event(std::move(e)); }); });
  });
  reply->sink->post([reply] { reply->queue->drain([&](RequestEvent&& e) { reply->on_event(std::move(e)); }); });
}

// The chat template in use, as the response cache's key names it.
std::string template_id(ServeContext& ctx, const Tokenizer& tok, ApiKind kind) {
  if (kind != ApiKind::chat) return {};
  return ctx.chat_template + '\n' + (ctx.chat_template_text.empty() ? tok.chat_template() : ctx.chat_template_text);
}

// A request through the response cache: answered from it, joined to an identical
// request in flight, or computed (and stored when it completes).
void submit_cached(ServeContext& ctx, ApiKind kind, const HttpRequest& hreq, const ApiRequest& req, EngineRequest er,
                   const std::shared_ptr<Reply>& reply, uint64_t generation) {
  ResponseCache* cache = ctx.response_cache;
  const ResponseCacheUse use = response_cache_use(kind, req, hreq.body, hreq.header("Cache-Control"), er.prompt,
                                                  er.max_tokens, template_id(ctx, *reply->tok, kind));
  Engine* eng = ctx.engine;
  if (!use.use) {
    cache->note_bypass();
    reply->headers = {{"X-Response-Cache", "bypass"}};
    attach(reply);
    const uint64_t id = eng->submit(std::move(er));
    reply->sink->on_close([eng, id] { eng->cancel(id); });
    return;
  }
  auto t = cache->open(use.key, generation, reply->queue, use.read);
  static constexpr const char* kNames[] = {"hit", "coalesced", "miss"};
  reply->headers = {{"X-Response-Cache", kNames[static_cast<int>(t.outcome)]}};
  attach(reply);
  const uint64_t flight = t.flight;
  const ResultQueue* q = reply->queue.get();
  if (t.outcome == ResponseCache::Outcome::miss) {
    er.results = t.upstream;
    const uint64_t id = eng->submit(std::move(er));
    cache->started(flight, id, [eng](uint64_t rid) { eng->cancel(rid); });
  }
  if (t.outcome != ResponseCache::Outcome::hit) reply->sink->on_close([cache, flight, q] { cache->leave(flight, q); });
}

}  // namespace

void handle_generate(ServeContext& ctx, ApiKind kind, const HttpRequest& hreq, std::shared_ptr<ResponseSink> sink) {
  auto error = [&](const ApiError& e) {
    if (ctx.metrics) ctx.metrics->http_responses(e.status).inc();
    sink->send_error(e);
  };
  if (ctx.metrics) ctx.metrics->requests(kind == ApiKind::chat ? "chat_completions" : "completions").inc();
  ParseResult parsed = kind == ApiKind::chat ? parse_chat_request(hreq.body) : parse_completion_request(hreq.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
  ApiRequest& req = std::get<ApiRequest>(parsed);
  if (req.prompts.size() > 1) return error(bad_request("only one prompt per request is supported", "prompt"));
  // Sticky session: the body's session_id, else the X-Session-ID header.
  if (req.session_id.empty()) req.session_id = std::string(hreq.header("x-session-id"));
  if (req.session_id.size() > 256)
    return error(bad_request("session_id must be at most 256 bytes", "session_id"));
  auto tok = ctx.engine->tokenizer();
  EngineSnapshot snap = ctx.engine->snapshot();
  // Without a tokenizer there is nothing to tokenize with; whether a model is ready is
  // the engine's to say (it may load one on demand).
  if (!tok) return error(service_unavailable(std::string("no model is ready (state: ") + model_state_name(snap.state) + ")", 1));

  std::string prompt_text;  // echo: the prompt as text
  toolcall::ParserConfig parser;
  auto tokens = kind == ApiKind::chat ? chat_prompt(ctx, tok, req, hreq.body, parser) : completion_prompt(*tok, req, prompt_text);
  if (auto* e = std::get_if<ApiError>(&tokens)) return error(*e);
  std::vector<int32_t> prompt = std::move(std::get<std::vector<int32_t>>(tokens));
  if (prompt.empty()) return error(bad_request("the prompt is empty", kind == ApiKind::chat ? "messages" : "prompt"));
  auto mt = resolve_max_tokens(req, prompt.size(), static_cast<size_t>(snap.max_context));
  if (auto* e = std::get_if<ApiError>(&mt)) return error(*e);

  auto reply = std::make_shared<Reply>();
  reply->sink = sink;
  reply->tok = tok;
  reply->metrics = ctx.metrics;
  reply->kind = kind;
  reply->meta = ResponseMeta{make_response_id(kind, random_u64()), unix_seconds(), req.model.empty() ? snap.model_name : req.model};
  reply->stream = req.stream;
  reply->include_usage = req.include_usage;
  reply->logprobs = req.logprobs >= 0;
  reply->prefix = prompt_text;
  const toolcall::ToolFormat parser_format = parser.format;
  if (parser.format != toolcall::ToolFormat::none || parser.reasoning)
    reply->parser = std::make_unique<toolcall::StreamParser>(std::move(parser));
  reply->parallel_calls = req.parallel_tool_calls;
  reply->token_ids = req.return_token_ids;
  if (req.return_token_ids) reply->prompt_ids = prompt;

  EngineRequest er;
  er.prompt = std::move(prompt);
  er.max_tokens = std::get<int32_t>(mt);
  er.sampling = req.sampling;
  er.sampling.seed = req.seed ? *req.seed : random_u64();
  er.stop = req.stop;
  er.stop_token_ids = req.stop_token_ids;
  er.ignore_eos = req.ignore_eos;
  er.speculate = req.spec_decode;
  er.logprobs = req.logprobs >= 0 || req.return_token_ids;  // the tokens come with the logprobs
  er.n_top = std::max(0, req.logprobs);
  er.session_id = req.session_id;
  er.grammar = req.grammar;
  er.grammar_key = req.grammar_key;
  // Some families' call markers are control tokens ([TOOL_CALLS], <|python_tag|>,
  // <|START_ACTION|>): the parser must see them.
  er.render_special = reply->parser && parser_format != toolcall::ToolFormat::none;
  er.results = std::make_shared<ResultQueue>();
  reply->queue = er.results;
  if (ctx.response_cache && ctx.response_cache->enabled())
    return submit_cached(ctx, kind, hreq, req, std::move(er), reply, snap.model_generation);
  attach(reply);
  const uint64_t id = ctx.engine->submit(std::move(er));
  Engine* eng = ctx.engine;
  sink->on_close([eng, id] { eng->cancel(id); });
}

void handle_apply_template(ServeContext& ctx, const HttpRequest& hreq, std::shared_ptr<ResponseSink> sink) {
  auto error = [&](const ApiError& e) {
    if (ctx.metrics) ctx.metrics->http_responses(e.status).inc();
    sink->send_error(e);
  };
  ParseResult parsed = parse_chat_request(hreq.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return error(*e);
  auto tok = ctx.engine->tokenizer();
  if (!tok) {
    EngineSnapshot snap = ctx.engine->snapshot();
    return error(service_unavailable(std::string("no model is ready (state: ") + model_state_name(snap.state) + ")", 1));
  }
  auto text = chat_prompt_text(ctx, tok, std::get<ApiRequest>(parsed), hreq.body);
  if (auto* e = std::get_if<ChatPromptError>(&text)) return error(bad_request(e->message, e->param));
  nlohmann::json j;
  j["prompt"] = std::get<ChatPromptText>(text).text;
  if (ctx.metrics) ctx.metrics->http_responses(200).inc();
  sink->send_json(200, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace shardlm
