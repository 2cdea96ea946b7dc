// Subcommands of the shardlm binary, and what main() shares with them.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "shardlm/cluster/runtime-config.h"
#include "shardlm/engine/engine-options.h"
#include "shardlm/sampling/sampling-params.h"

namespace shardlm {

// `shardlm generate`: one request through the same engine as `serve` (no HTTP).
struct GenerateOptions {
  EngineOptions engine;        // -b/--batch-size sets engine.sched.max_batch_tokens (the prefill chunk)
  std::string prompt;
  int n_predict = 64;          // tokens to generate
  bool echo = true;            // print the prompt before the continuation (as llama.cpp and llama2.c do)
  bool add_bos = true;         // prepend BOS when the tokenizer asks for it
  bool ignore_eos = false;     // keep generating past EOS
  std::vector<std::string> stop;  // --stop: end the generation before this text (not printed)
  SamplingParams sampling;
};

int cmd_generate(const GenerateOptions& o);
int cmd_tokenize(const std::string& model, const std::string& text, bool add_bos, bool parse_special);
int cmd_detokenize(const std::string& model, const std::string& ids_json);
int cmd_inspect(const std::string& model);
// `shardlm render-template`: a chat template (a file, or the model's) rendered on the
// conversation in `input` (see shardlm/jinja/chat.h); prints exactly the text. Exit 1
// with the template error on stderr.
struct RenderTemplateOptions {
  std::string template_file;  // --template: a Jinja file ("" = the model's template)
  std::string model;          // --model: GGUF / HF directory whose template (and bos/eos) is used
  std::string input;          // --input: a JSON file, "-" for stdin, or the JSON text itself
};
int cmd_render_template(const RenderTemplateOptions& o);
// `shardlm parse-tool-calls`: a model's output (input {"output", "tools"?, "prompt"?})
// parsed as the server parses it (toolcall/tool-parser.h), the family from --template
// or --format; prints JSON {format, content, reasoning_content, tool_calls, malformed,
// streamed: the same from deltas fed in 1, 2, 3, 7 and all bytes, delta_shape_error}.
struct ParseToolCallsOptions {
  std::string template_file;  // --template: the chat template whose family is parsed
  std::string format;         // --format: a family name instead (toolcall::tool_format_names)
  std::string input;          // --input: a JSON file, "-" for stdin, or the JSON text itself
};
int cmd_parse_tool_calls(const ParseToolCallsOptions& o);
struct QuantizeConfig;  // shardlm/model/model-quantize.h
int cmd_quantize(const QuantizeConfig& cfg);
namespace router { struct RouterOptions; }
int cmd_router(const router::RouterOptions& o);  // `shardlm router` (cmd-router.cpp)

// Reads SHARDLM_* environment variables into the config (main() only: house rule 6).
void apply_env(RuntimeConfig& rt);
// How signals are handled (install_signal_handlers); main() fills it from the environment.
struct SignalOptions {
  int world_size = 1;             // SIGHUP is ignored on more than one rank
  bool under_mpirun = false;      // started by mpirun (OMPI_COMM_WORLD_SIZE set): a SIGCONT
                                  // from the parent starts Open MPI's teardown of the job
  double mpirun_sigkill_timeout_s = 1;  // odls_base_sigkill_timeout (Open MPI's default 1):
                                        // SIGCONT, this long, SIGTERM, this long, SIGKILL
};
// Installs signal handling: SIGTERM/SIGINT log the EXIT AUDIT and exit (or stop
// gracefully, set_graceful_stop); SIGHUP is ignored when running on more than one rank;
// under mpirun, its teardown (SIGCONT or SIGTERM/SIGINT from the parent daemon) starts
// the graceful stop and the EXIT AUDIT is written before its SIGKILL is due. Call before
// starting any thread.
void install_signal_handlers(const SignalOptions& opts);
// With a function set, SIGHUP calls it (on the signal thread) instead of exiting (the
// router rereads its backends); nullptr restores the default.
void set_reload_handler(std::function<void()> fn);
// With a function set, the first SIGTERM/SIGINT calls it (on the signal thread) instead
// of exiting; a second one exits at once (under mpirun, copies within 1 s of the first
// are the same request: a terminal's Ctrl-C may reach mpirun and every rank).
void set_graceful_stop(std::function<void(int)> fn);

}  // namespace shardlm
