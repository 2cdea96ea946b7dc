// main(): parse flags → config → MPI init → role (ARCHITECTURE §10).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "app/app.h"
#include "app/serve.h"
#include "shardlm/core/cpu-features.h"
#include "shardlm/core/log.h"
#include "shardlm/toolcall/tool-parser.h"
#include "shardlm/cluster/comm.h"
#include "shardlm/cluster/exit-audit.h"
#include "shardlm/cluster/tcp-backoff.h"
#include "shardlm/kernels/matmul.h"
#include "shardlm/model/model-maker.h"
#include "shardlm/model/model-quantize.h"
#include "shardlm/router/router-options.h"

using namespace shardlm;

namespace {

int env_int(std::initializer_list<const char*> keys, int def) {
  for (const char* k : keys)
    if (const char* v = std::getenv(k)) return std::atoi(v);
  return def;
}
int env_rank() { return env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}, 0); }
// Known before MPI_Init: the signal mask must be set before MPI starts its threads.
int env_world_size() { return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}, 1); }

void add_runtime_flags(CLI::App* c, RuntimeConfig& rt, bool model_required = true) {
  auto* m = c->add_option("-m,--model", rt.model_path, "model: .gguf file, Hugging Face directory, or llama2.c .bin");
  if (model_required) m->required();
  c->add_option("--tokenizer", rt.tokenizer_path, "llama2.c tokenizer .bin (default: beside the model)");
  c->add_option("-t,--threads", rt.threads, "compute threads per rank (default: cores of the node / ranks on it)");
  c->add_option("-c,--ctx-size", rt.n_ctx, "context length (default: min(trained, 4096))");
  c->add_option("--kv-blocks", rt.kv_blocks, "KV blocks per rank (default: enough for the context)");
  c->add_option("--block-size", rt.block_size, "tokens per KV block")->check(CLI::Range(1, 1024));
  c->add_option("--kv-cache-dtype", rt.kv_cache_dtype,
                 "KV cache element type: f32, f16 (default), bf16, fp8_e4m3 or int8 (one byte, with a scale per position and KV head)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "fp8_e4m3", "int8"}));
  c->add_option("--weight-dtype", rt.weight_dtype, "quantize F32/F16/BF16 weights at load: q8_0, q4_0, q4_k, q6_k, ...");
  c->add_flag("!--no-pack-weights", rt.pack_weights,
              "keep matrices in their file layout instead of the panels of the integer kernels (Q8_0/Q4_0/Q4_K/Q6_K) and of the AVX2 F16 kernel");
  c->add_flag("!--no-batch-invariant", rt.batch_invariant,
              "let steps of several tokens use the integer/BF16 GEMMs and sgemm: faster prompts, but a token's logits "
              "(and greedy text) then depend on what else shares its step");
  c->add_option("--collective-timeout-s", rt.collective_timeout_s,
                 "a fixed deadline for every step collective (default: derived from the measured step time; "
                 "this long until enough steps are measured)")
      ->check(CLI::PositiveNumber)
      ->each([&rt](const std::string&) { rt.collective_timeout_k = 0; });
  c->add_option("--collective-timeout-k", rt.collective_timeout_k,
                "derived collective deadline: this many times the p99 step time per token, times the step's tokens")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--collective-timeout-floor-s", rt.collective_timeout_floor_s,
                "derived collective deadline: never below this many seconds")
      ->check(CLI::PositiveNumber);
  c->add_option("--load-timeout-floor-s", rt.load_timeout_floor_s,
                "a load check-in after the first layer waits max(collective-timeout-k x the slowest layer so far, "
                "this many seconds), at most SHARDLM_EVAL_TIMEOUT")
      ->check(CLI::PositiveNumber);
  c->add_option("--tcp-rto-max-ms", rt.tcp_backoff.rto_max_ms,
                "cap of the TCP retransmission backoff on each rank's sockets (MPI's included; Linux >= 6.15, "
                "1000..120000; default 0 = the kernel's backoff): after a healed link cut, the next retransmission "
                "comes at most this long after the link is back")
      ->check(CLI::Range(0, 120000));
  c->add_option("--sample-candidates", rt.sample_candidates, "per-rank candidates for filtered sampling")
      ->check(CLI::Range(1, 4096));
  c->add_option("--dump-logits", rt.dump_logits_prefix, "test aid: write the first sampled row's logits per rank");
  c->add_option("--test-load-delay-ms", rt.load_delay_ms, "test aid: pause after each loaded layer")->group("");
  c->add_option("--test-prefill-delay-ms", rt.prefill_delay_ms, "test aid: pause after each step with prompt tokens")
      ->group("");
  c->add_option("--test-decode-delay-ms", rt.decode_delay_ms, "test aid: pause after each step without prompt tokens")
      ->group("");
}

// Speculative decoding (serve and generate).
void add_spec_flags(CLI::App* c, SpecOptions& so) {
  c->add_option("--spec-decode", so.mode, "speculative decoding: off, ngram or draft (greedy and sampled requests)")
      ->check(CLI::IsMember({"off", "ngram", "draft"}));
  c->add_option("--draft-model", so.draft_model, "the draft model for --spec-decode draft (the target's vocabulary)");
  c->add_option("--draft-context-len", so.draft_context_len, "positions the draft keeps per sequence (0: its trained context, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--draft-threads", so.draft_threads, "compute threads of the draft model on rank 0")->check(CLI::Range(1, 256));
  c->add_option("--ngram-min", so.ngram_min, "shortest suffix the n-gram proposer looks up")->check(CLI::Range(1, 64));
  c->add_option("--ngram-max", so.ngram_max, "longest suffix the n-gram proposer looks up")->check(CLI::Range(1, 64));
  c->add_option("--num-speculative-tokens", so.num_speculative_tokens, "most tokens proposed per step")
      ->check(CLI::Range(1, 32));
  c->add_option("--spec-max-seqs", so.max_seqs, "propose only while at most this many sequences decode")
      ->check(CLI::Range(1, 4096));
  c->add_option("--spec-probe-steps", so.probe_steps,
                "a sequence whose drafts are accepted too rarely to pay for their rows proposes every N steps only")
      ->check(CLI::Range(1, 1000000));
}

// `generate`: the request and the engine's runtime flags.
CLI::App* add_generate_command(CLI::App& app, GenerateOptions& gen) {
  auto* g = app.add_subcommand("generate", "generate text from a prompt (run under mpirun for tensor parallelism)");
  add_runtime_flags(g, gen.engine.rt);
  g->add_option("-p,--prompt", gen.prompt, "prompt text")->required();
  g->add_option("-n,--n-predict", gen.n_predict, "tokens to generate")->check(CLI::NonNegativeNumber);
  g->add_option("--temp,--temperature", gen.sampling.temperature, "sampling temperature (0 = greedy)");
  g->add_option("--top-k", gen.sampling.top_k, "top-k (0 = off)");
  g->add_option("--top-p", gen.sampling.top_p, "nucleus sampling (1 = off)");
  g->add_option("--min-p", gen.sampling.min_p, "min-p (0 = off)");
  g->add_option("-s,--seed", gen.sampling.seed, "sampling seed");
  g->add_option("-b,--batch-size", gen.engine.sched.max_batch_tokens, "prefill chunk size in tokens")->check(CLI::Range(1, 65536));
  g->add_option("--stop", gen.stop, "stop before this text (repeatable; not printed)");
  g->add_flag("!--no-echo", gen.echo, "do not print the prompt before the continuation");
  g->add_flag("!--no-bos", gen.add_bos, "do not prepend BOS");
  g->add_flag("--ignore-eos", gen.ignore_eos, "keep generating after EOS");
  add_spec_flags(g, gen.engine.spec);
  return g;
}

// The HTTP server's flags (serve and router).
void add_http_flags(CLI::App* c, http::HttpServerConfig& h) {
  c->add_option("--host", h.host, "address to bind")->capture_default_str();
  c->add_option("--port", h.port, "port to listen on (0 = any free port)")->capture_default_str();
  c->add_option("--http-threads", h.threads, "HTTP io threads")->check(CLI::Range(1, 64));
  c->add_option("--api-key", h.api_key, "require 'Authorization: Bearer KEY' on the API");
  c->add_option("--admin-key", h.admin_key, "key for /admin/* (default: the API key)");
  c->add_option("--body-limit", h.body_limit, "largest request body in bytes (413 past it)");
  c->add_option("--header-timeout-s", h.header_timeout_s, "deadline for a request's line and headers (0 = idle timeout only)")->check(CLI::NonNegativeNumber);
  c->add_option("--http-idle-timeout-s", h.idle_timeout_s, "close a keep-alive connection idle this long")->check(CLI::PositiveNumber);
  c->add_option("--max-connections", h.max_connections, "open client connections (503 past it)")->check(CLI::Range(2, 1 << 20));
  c->add_option("--max-connections-per-client", h.max_connections_per_client, "open connections per client address (503 past it)")->check(CLI::Range(1, 1 << 20));
  c->add_option("--reserved-connections", h.reserved_connections, "of --max-connections, the last ones serve only /health and /metrics")->check(CLI::Range(0, 1 << 20));
}

// `router`: replicas behind one endpoint (no MPI).
CLI::App* add_router_command(CLI::App& app, router::RouterOptions& ro) {
  auto* r = app.add_subcommand("router", "one endpoint in front of several `shardlm serve` replicas (no MPI)");
  add_http_flags(r, ro.http);
  r->add_option("--backend", ro.backends, "a replica's base URL, http://HOST:PORT (repeatable)");
  r->add_option("--backends", ro.backends_file, "file with one replica URL a line (reread on SIGHUP and POST /admin/backends)");
  r->add_option("--backend-api-key", ro.backend_api_key, "Bearer key the router sends to the replicas");
  r->add_option("--backend-admin-key", ro.backend_admin_key, "key for the replicas' /admin/status (default: --backend-api-key)");
  r->add_option("--request-timeout-s", ro.request_timeout_s, "whole deadline of one upstream call (0 = none)")->check(CLI::NonNegativeNumber);
  r->add_option("--first-token-timeout-s", ro.first_token_timeout_s, "a replica's response header (first token) deadline; later → another replica")->check(CLI::PositiveNumber);
  r->add_option("--health-interval-s", ro.health_interval_s, "active health checks of each replica")->check(CLI::Range(0.05, 3600.0));
  r->add_option("--health-timeout-s", ro.health_timeout_s, "deadline of one health check")->check(CLI::Range(0.05, 600.0));
  r->add_option("--breaker-failures", ro.breaker.consecutive_failures, "failures in a row that open a replica's breaker (0 = off)")->check(CLI::Range(0, 1000));
  r->add_option("--breaker-error-rate", ro.breaker.error_rate, "failure share over the window that opens it (0 = off)")->check(CLI::Range(0.0, 1.0));
  r->add_option("--breaker-window-s", ro.breaker.window_s, "the error-rate window")->check(CLI::PositiveNumber);
  r->add_option("--breaker-cooldown-s", ro.breaker.cooldown_s, "open this long before a half-open probe")->check(CLI::NonNegativeNumber);
  r->add_option("--retry-budget", ro.retry.max_retries, "further replicas one request may try before any byte reached the client")->check(CLI::Range(0, 16));
  r->add_option("--retry-backoff-s", ro.retry.backoff_base_s, "first retry wait (doubles, jittered)")->check(CLI::NonNegativeNumber);
  r->add_option("--session-ttl-s", ro.session_ttl_s, "a sticky session lives this long after its last use")->check(CLI::PositiveNumber);
  r->add_option("--max-sessions", ro.max_sessions, "sticky sessions kept (least recently used go first)")->check(CLI::Range(1, 1 << 26));
  r->add_option("--prefix-block-bytes", ro.prefix_block_bytes, "prompt bytes per prefix block (0 = no prefix routing)")->check(CLI::Range(0, 1 << 20));
  r->add_option("--prefix-blocks", ro.prefix_blocks, "prefix blocks hashed")->check(CLI::Range(1, 1024));
  r->add_option("--prefix-load-factor", ro.prefix_load_factor, "a prefix's replica takes it while its load is under this × the mean")->check(CLI::Range(1.0, 100.0));
  r->add_option("--migration-limit", ro.migration_limit, "replicas a stream may move to after it began (0 = no failover mid-stream)")->check(CLI::Range(0, 16));
  r->add_flag("!--no-prewarm", ro.prewarm, "give a (re)appearing replica traffic without a warm-up generation");
  r->add_option("--max-inflight", ro.max_inflight, "requests proxied at once (429 past it)")->check(CLI::Range(1, 1 << 20));
  r->add_option("--drain-timeout-s", ro.drain_timeout_s, "on SIGTERM, how long requests in flight may finish (new ones: 503)")->check(CLI::NonNegativeNumber);
  r->add_option("--pid-file", ro.pid_file, "write the router's pid here");
  return r;
}

// `serve`: HTTP, batching policy, deadlines, heartbeats and lifecycle flags.
CLI::App* add_serve_command(CLI::App& app, ServeOptions& srv) {
  auto* sv = app.add_subcommand("serve", "OpenAI-compatible server on rank 0 over all ranks (run under mpirun)");
  add_runtime_flags(sv, srv.engine.rt, false);
  add_http_flags(sv, srv.http);
  sv->add_option("--chat-template", srv.chat_template, "built-in chat format instead of the model's Jinja template: chatml, llama2, llama3, mistral, zephyr, phi3");
  sv->add_option("--chat-template-file", srv.chat_template_file, "Jinja chat template to use instead of the model's own");
  sv->add_option("--tool-call-parser", srv.tool_call_parser, "tool-call family of the model's answers: auto (from the chat template), " + toolcall::tool_format_names());
  sv->add_option("--max-num-seqs", srv.engine.sched.max_num_seqs, "sequences in the running batch")->check(CLI::Range(1, 4096));
  sv->add_option("--max-batch-tokens", srv.engine.sched.max_batch_tokens, "token budget per step")->check(CLI::Range(1, 1 << 20));
  sv->add_option("--max-queue", srv.engine.sched.max_queue, "waiting requests before HTTP 429")->check(CLI::Range(1, 1 << 20));
  sv->add_option("--request-timeout-s", srv.engine.request_timeout_s, "total deadline per request (0 = none)")->check(CLI::NonNegativeNumber);
  sv->add_option("--first-token-timeout-s", srv.engine.first_token_timeout_s, "deadline for the first token (0 = none)")->check(CLI::NonNegativeNumber);
  sv->add_option("--drain-timeout-s", srv.engine.drain_timeout_s, "on SIGTERM, how long running requests may finish")->check(CLI::NonNegativeNumber);
  sv->add_flag("!--no-prefix-cache", srv.engine.sched.prefix_cache, "do not share KV blocks of identical prompt prefixes");
  RuntimeConfig& rt = srv.engine.rt;
  sv->add_option("--kv-tier", rt.kv_tier, "KV reuse across requests: off, cpu (prefix cache, default), cpu_disk (evicted blocks to --kv-disk-dir)")
      ->check(CLI::IsMember({"off", "cpu", "cpu_disk"}));
  sv->add_option("--kv-disk-dir", rt.kv_disk_dir, "disk tier directory on every rank (default ~/.cache/shardlm/kv)");
  sv->add_option("--kv-disk-gb", rt.kv_disk_gb, "disk tier budget per rank, GiB (LRU past it)")->check(CLI::NonNegativeNumber);
  sv->add_option("--kv-disk-queue", rt.kv_disk_queue_blocks, "blocks waiting for a rank's disk writer before offloads are dropped")->check(CLI::Range(1, 1 << 20));
  sv->add_option("--kv-disk-min-tokens", srv.engine.sched.kv_disk_min_tokens, "read back runs of at least this many tokens from disk; recompute shorter ones")->check(CLI::Range(1, 1 << 24));
  sv->add_option("--session-ttl-s", srv.engine.sched.session_ttl_s, "a session's pinned KV is released after this long unused")->check(CLI::NonNegativeNumber);
  sv->add_option("--max-pinned-gb", srv.engine.sched.max_pinned_gb, "KV (all ranks, GiB) that sessions may pin together")->check(CLI::NonNegativeNumber);
  sv->add_option("--pid-file", srv.pid_file, "rank 0 writes its pid here");
  sv->add_option("--model-dir", srv.model_dir, "directory /admin/load may load from (default: the directory of --model)");
  sv->add_option("--ping-interval-s", srv.engine.ping_interval_s, "heartbeat to the ranks while idle")->check(CLI::Range(0.1, 3600.0));
  sv->add_option("--heartbeat-timeout-s", srv.engine.heartbeat_timeout_s, "a rank silent this long counts as lost")->check(CLI::Range(1.0, 86400.0));
  sv->add_flag("--lazy-load", srv.engine.lazy_load, "load the model on the first request");
  sv->add_option("--idle-timeout-s", srv.engine.idle_timeout_s, "unload after this long without requests; reload on demand (0 = never)")->check(CLI::NonNegativeNumber);
  sv->add_flag("--prewarm", srv.engine.prewarm, "run one forward after loading");
  sv->add_option("--response-cache-mb", srv.response_cache.max_mb, "answer identical deterministic requests from a cache of this many MiB (0 = off)")->check(CLI::NonNegativeNumber);
  sv->add_option("--response-cache-ttl-s", srv.response_cache.ttl_s, "how long a cached answer is served")->check(CLI::PositiveNumber);
  add_spec_flags(sv, srv.engine.spec);
  return sv;
}

}  // namespace

int main(int argc, char** argv) {
  // A write to a closed pipe fails with EPIPE instead of ending the process: a rank's
  // stdout and stderr are pipes to mpirun or its daemon, and once that reader is gone
  // (kill -9 of mpirun, a daemon lost with its host) the next log line would otherwise
  // end the rank silently, with no EXIT AUDIT. The log file keeps every line.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"shardlm: serve large language models from several machines as if they were one"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
  std::string log_file;
  app.add_option("--log-file", log_file, "also write each rank's log here ({rank} becomes the rank number)");

  GenerateOptions gen;
  add_generate_command(app, gen);
  ServeOptions srv;
  CLI::App* sv = add_serve_command(app, srv);
  router::RouterOptions rto_router;
  CLI::App* rtr = add_router_command(app, rto_router);

  std::string tk_model, tk_text, tk_ids;
  bool tk_no_bos = false, tk_special = false;
  auto* tz = app.add_subcommand("tokenize", "print the token ids of a text as a JSON array");
  tz->add_option("-m,--model", tk_model, "GGUF (vocab-only is fine), HF directory or tokenizer.json, llama2.c tokenizer .bin")->required();
  tz->add_option("--text", tk_text, "text to tokenize")->required();
  tz->add_flag("--no-bos", tk_no_bos, "do not prepend BOS");
  tz->add_flag("--special", tk_special, "parse special tokens in the text");
  auto* dz = app.add_subcommand("detokenize", "print the text of a JSON array of token ids");
  dz->add_option("-m,--model", tk_model, "tokenizer source, as for tokenize")->required();
  dz->add_option("--ids", tk_ids, "JSON array of token ids")->required();

  RenderTemplateOptions rto;
  auto* rtc = app.add_subcommand("render-template", "print a chat template rendered on a conversation (JSON input)");
  auto* rt_t = rtc->add_option("--template", rto.template_file, "Jinja template file");
  auto* rt_m = rtc->add_option("-m,--model", rto.model, "use this model's chat template (GGUF or HF directory)");
  rt_t->excludes(rt_m);
  rtc->add_option("--input", rto.input, "JSON: {messages, tools, add_generation_prompt, bos_token, eos_token, ...} (file, - or text)")
      ->required();

  ParseToolCallsOptions pto;
  auto* ptc = app.add_subcommand("parse-tool-calls", "parse a model's output into content, reasoning and tool calls (JSON)");
  ptc->add_option("--template", pto.template_file, "chat template whose tool-call family is parsed");
  ptc->add_option("--format", pto.format, "tool-call family instead of the template's");
  ptc->add_option("--input", pto.input, "JSON: {output, tools, prompt} (file, - or text)")->required();

  std::string insp_model;
  auto* ins = app.add_subcommand("inspect", "print a model's hyperparameters and tensors");
  ins->add_option("-m,--model", insp_model, "model path")->required();

  MakeModelConfig mk;
  std::string mk_dtype = "f32";
  auto* mm = app.add_subcommand("make-model", "write a model with deterministic random weights in a named shape");
  mm->add_option("--preset", mk.preset, "shape preset (tiny-llama, tiny-qwen2, tinyllama-1.1b, ...)")->required();
  mm->add_option("--dtype", mk_dtype, "f32, f16, bf16, q8_0, q4_0");
  mm->add_option("--format", mk.format, "gguf or hf");
  mm->add_option("--out", mk.out, "output file (gguf) or directory (hf)")->required();
  mm->add_option("--vocab-from", mk.vocab_from, "tokenizer to copy: GGUF, HF tokenizer.json/dir, llama2.c tokenizer .bin");
  mm->add_option("--seed", mk.seed, "weights seed");

  QuantizeConfig qz;
  auto* qc = app.add_subcommand("quantize", "re-encode a model's weights into a GGUF file that llama.cpp reads too");
  qc->add_option("in", qz.in, "input: .gguf, Hugging Face directory (MLX quantized too), llama2.c .bin")->required();
  qc->add_option("out", qz.out, "output .gguf")->required();
  qc->add_option("--type", qz.type, "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K")->required();
  qc->add_option("--tokenizer", qz.tokenizer, "llama2.c tokenizer .bin (default: beside the model)");
  qc->add_option("-t,--threads", qz.threads, "conversion threads (default: all cores)")->check(CLI::NonNegativeNumber);
  qc->add_flag("--pure", qz.pure, "every 2-D weight in the base type (no _S/_M mixture)");

  CLI11_PARSE(app, argc, argv);
  if (srv.tool_call_parser != "auto" && !toolcall::tool_format_from_name(srv.tool_call_parser)) {
    std::fprintf(stderr, "--tool-call-parser '%s' is not one of auto, %s\n", srv.tool_call_parser.c_str(),
                 toolcall::tool_format_names().c_str());
    return 2;
  }
  for (const SpecOptions* so : {&gen.engine.spec, &srv.engine.spec})
    if (so->ngram_min > so->ngram_max) {
      std::fprintf(stderr, "--ngram-min (%d) must not be larger than --ngram-max (%d)\n", so->ngram_min, so->ngram_max);
      return 2;
    } else if ((so->mode == "draft") != !so->draft_model.empty()) {
      std::fprintf(stderr, "--spec-decode draft and --draft-model go together\n");
      return 2;
    }

  const int rank0 = env_rank();
  log_init(rank0, log_level, log_file);
  kernels_init();
  // SHARDLM_ISA (or SHARDLM_CPU): use at most these vector paths (tests, comparing paths
  // on one machine); logs the level once.
  if (Status st = apply_cpu_env(); !st) {
    LOG_ERROR("{}", st.message());
    return 2;
  }
  LOG_DEBUG("CPU: {}", describe(cpu_features()));

  if (*tz) return cmd_tokenize(tk_model, tk_text, !tk_no_bos, tk_special);
  if (*dz) return cmd_detokenize(tk_model, tk_ids);
  if (*ins) return cmd_inspect(insp_model);
  if (*rtc) {
    if (rto.template_file.empty() && rto.model.empty()) {
      LOG_ERROR("render-template: give --template FILE or --model PATH");
      return 2;
    }
    return cmd_render_template(rto);
  }
  if (*ptc) return cmd_parse_tool_calls(pto);
  if (*qc) return cmd_quantize(qz);
  if (*rtr) {
    install_signal_handlers(SignalOptions{});
    return cmd_router(rto_router);
  }
  if (*mm) {
    auto dt = dtype_from_name(mk_dtype);
    if (!dt) {
      LOG_ERROR("unknown --dtype '{}'", mk_dtype);
      return 2;
    }
    mk.dtype = *dt;
    Status st = make_model(mk);
    if (!st) {
      LOG_ERROR("{}", st.message());
      return 1;
    }
    return 0;
  }

  // Distributed commands.
  RuntimeConfig& rt = *sv ? srv.engine.rt : gen.engine.rt;
  rt.log_level = log_level;
  apply_env(rt);
  if (rt.kv_tier == "off") srv.engine.sched.prefix_cache = false;
  if (!srv.engine.sched.prefix_cache && rt.kv_tier == "cpu_disk") {
    LOG_ERROR("--kv-tier cpu_disk needs the prefix cache (drop --no-prefix-cache)");
    return 2;
  }
  if (rt.kv_disk_dir.empty()) {
    const char* home = std::getenv("HOME");
    rt.kv_disk_dir = std::string(home && *home ? home : "/tmp") + "/.cache/shardlm/kv";
  }
  // Signals before MPI_Init, so that no window is left where SIGTERM kills silently.
  SignalOptions sig;
  sig.world_size = env_world_size();
  sig.under_mpirun = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  if (const char* v = std::getenv("OMPI_MCA_odls_base_sigkill_timeout")) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    if (end && *end == '\0' && t >= 0) sig.mpirun_sigkill_timeout_s = t;
  }
  install_signal_handlers(sig);
  Status st = Comm::init(&argc, &argv);
  if (!st) {
    LOG_ERROR("{}", st.message());
    return 1;
  }
  audit_start(Comm::rank());
  if (Comm::size() > 1) start_tcp_backoff_cap(rt.tcp_backoff);
  Comm::set_fatal_handler([](const std::string& cause, const std::string& detail) { exit_audit(cause, detail); });
  int rc = 1;
  try {
    rc = *sv ? cmd_serve(srv) : cmd_generate(gen);
  } catch (const std::exception& e) {
    exit_audit("exception", e.what());
    Comm::fatal("exception", e.what());
  }
  if (!exit_audit_done()) exit_audit(rc == 0 ? (*sv ? "server_shutdown" : "generate_done") : "error");
  Comm::finalize();
  return rc;
}
