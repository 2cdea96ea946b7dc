// shardlm-bench: benchmark and soak harness for a running shardlm server.
//
//   shardlm-bench single     --url http://127.0.0.1:8080 --label baseline --out results/
//   shardlm-bench batch | concurrent | cache | memory | load | stress ...
//   shardlm-bench report --results results/ --output results/comparison_report.md
//   shardlm-bench soak --model M --ranks 2 --port 18080 --cycles 3 --scenarios single,concurrent
//   shardlm-bench faults [--reduced] [--faults kill9,cut] [--targets worker] [--phases decode]
//   shardlm-bench list
//
// Each scenario writes OUT/LABEL/SCENARIO-TIME/ (config.json, requests.jsonl,
// summary.json, metrics_before.txt, metrics_after.txt, metrics_delta.json).
// Exit codes: 0 ok, 1 a check failed, 2 could not run, 4 the scenario needs a server
// feature that does not exist yet. A benchmark program, not a test; see docs/runbook.md.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "shardlm/bench/faults.h"
#include "shardlm/bench/report.h"
#include "shardlm/bench/scenario.h"
#include "shardlm/bench/soak.h"

using namespace shardlm::bench;

namespace {

void add_common(CLI::App* c, BenchOptions& o) {
  c->add_option("--url", o.url, "server URL")->capture_default_str();
  c->add_option("--label", o.label, "phase label (baseline, kv-fp8, ...)")->capture_default_str();
  c->add_option("--out", o.out, "results root: OUT/LABEL/SCENARIO-TIME/")->capture_default_str();
  c->add_option("--seed", o.seed, "prompt-set seed")->capture_default_str();
  c->add_option("--warmup", o.warmup, "unrecorded warm-up requests")->capture_default_str();
  c->add_option("--concurrency", o.concurrency, "parallel requests (0 = scenario default)")->capture_default_str();
  c->add_option("--requests", o.requests, "requests per case (0 = scenario default; keeps runs short)")->capture_default_str();
  c->add_option("--max-tokens", o.max_tokens, "generated tokens per request (ignore_eos)")->capture_default_str();
  c->add_option("--temperature", o.temperature, "sampling temperature of the requests (0 = greedy; > 0 sends --seed)")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  c->add_flag("--stream,!--no-stream", o.stream, "stream (needed for TTFT; default on)");
  c->add_option("--endpoint", o.endpoint, "completions or chat")->check(CLI::IsMember({"completions", "chat"}))->capture_default_str();
  c->add_option("--prompts", o.prompts, "prompt set: short, long, mixed, shared-prefix, repetitive (default: per scenario)");
  c->add_option("--api-key", o.api_key, "Bearer key for /v1");
  c->add_option("--admin-key", o.admin_key, "Bearer key for /admin (default: the API key)");
  c->add_option("--timeout-s", o.timeout_s, "per-request timeout")->capture_default_str();
  c->add_option("--levels", o.levels, "concurrent: concurrency levels, e.g. 1,2,4,8")->delimiter(',');
  c->add_option("--batch-sizes", o.batch_sizes, "batch: k values (default 1..8)")->delimiter(',');
  c->add_option("--rate", o.rate, "load: requests per second")->capture_default_str();
  c->add_option("--duration", o.duration_s, "load: seconds")->capture_default_str();
  c->add_option("--window-s", o.window_s, "load: timeline window")->capture_default_str();
  c->add_option("--spike", o.spike, "stress: burst size (default 64)");
  c->add_option("--turns", o.turns, "sessions: turns per conversation")->check(CLI::Range(2, 1000))->capture_default_str();
  c->add_option("--turn-tokens", o.turn_tokens, "sessions: new user tokens per turn")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  c->add_option("--prompt-tokens", o.prompt_tokens,
                "eviction-replay, rehydrate-replay: tokens per prompt; local-copilot-burst: the file prefix (0 = scenario default)")
      ->check(CLI::Range(0, 1 << 24));
  c->add_option("--evict-tokens", o.evict_tokens,
                "other traffic's prompt tokens that evict the memory tier (0 = the pool's capacity, -1 = none)")
      ->check(CLI::Range(-1L, 1L << 40));
  c->add_option("--restart-cmd", o.restart_cmd, "rehydrate-replay: shell command that restarts the server at --url");
  c->add_option("--restart-timeout-s", o.restart_timeout_s, "rehydrate-replay: wait this long for /health after the restart")
      ->check(CLI::PositiveNumber)->capture_default_str();
  c->add_flag("!--no-progress", o.progress, "no progress bar");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shardlm-bench: benchmarks and soak test for a running shardlm server"};
  app.require_subcommand(1);
  BenchOptions opt;
  for (int i = 0; i < argc; ++i) opt.argv.push_back(argv[i]);
  std::string chosen;
  for (const auto& s : scenario_registry()) {
    std::string desc = s.summary;
    if (!s.needs_feature.empty()) desc += " [needs " + s.needs_feature + "]";
    CLI::App* c = app.add_subcommand(s.name, desc);
    add_common(c, opt);
    c->callback([&chosen, name = s.name] { chosen = name; });
  }

  ReportConfig rep;
  rep.results = "results";
  CLI::App* rc = app.add_subcommand("report", "markdown comparison of the phases under a results directory");
  rc->add_option("--results", rep.results, "results root")->capture_default_str();
  rc->add_option("--output", rep.output, "markdown file (default RESULTS/comparison_report.md)");
  rc->add_option("--baseline", rep.baseline, "baseline label (default: baseline, else the first)");
  rc->add_option("--scenarios", rep.scenarios, "scenarios averaged per phase")->delimiter(',');
  rc->add_flag("!--no-charts", rep.charts, "do not run gnuplot");

  SoakConfig soak;
  CLI::App* sc = app.add_subcommand("soak", "launch the server, run scenarios over load/unload cycles, check memory and exits");
  add_common(sc, soak.bench);
  sc->add_option("--model", soak.model, "model path (default: the launch script's)");
  sc->add_option("--ranks", soak.ranks, "ranks")->capture_default_str();
  sc->add_option("--port", soak.port, "port")->capture_default_str();
  sc->add_option("--run-dir", soak.run_dir, "RUN_DIR of the launch (default: inside the soak result directory)");
  sc->add_option("--log-level", soak.log_level, "server log level")->capture_default_str();
  sc->add_option("--cycles", soak.cycles, "load/unload cycles")->capture_default_str();
  sc->add_option("--scenarios", soak.scenarios, "scenarios run in each cycle")->delimiter(',');
  sc->add_option("--tolerance", soak.tolerance, "allowed anon RSS growth after unload (fraction)")->capture_default_str();
  sc->add_option("--floor-mib", soak.floor_mib, "growth always allowed, MiB (tiny models: 0.5-1)")->capture_default_str();
  sc->add_option("--launch-dir", soak.launch_dir, "directory of launch_baseline.sh and stop_server.sh");
  sc->add_option("--serve-arg", soak.serve_args, "extra `shardlm serve` argument (repeatable)")->allow_extra_args(false);

  FaultsConfig faults;
  CLI::App* fc = app.add_subcommand("faults", "the fault matrix: kill -9, SIGSTOP, link cuts, slow link x rank x phase (root)");
  fc->add_option("--out", faults.out, "results root: OUT/LABEL/faults-TIME/")->capture_default_str();
  fc->add_option("--label", faults.label, "label")->capture_default_str();
  fc->add_option("--model", faults.model, "model (default: stories260K)");
  fc->add_option("--tools-dir", faults.tools_dir, "directory of fault-matrix.py (default: tools/ beside the build)");
  fc->add_flag("--reduced", faults.reduced, "the short matrix of the ctest label faults");
  fc->add_option("--faults", faults.faults, "kill9,sigstop,cut,cut_restore,slow (default all)")->delimiter(',');
  fc->add_option("--targets", faults.targets, "rank0,worker (default both)")->delimiter(',');
  fc->add_option("--phases", faults.phases, "idle,loading,prefill,decode,draining (default all)")->delimiter(',');
  fc->add_option("--cut-s", faults.cut_s, "cut_restore / slow: how long the fault lasts")->capture_default_str();

  app.add_subcommand("list", "list the scenarios");
  CLI11_PARSE(app, argc, argv);

  const std::string sub = app.get_subcommands().front()->get_name();
  if (sub == "list") {
    for (const auto& s : scenario_registry())
      std::printf("%-16s %s%s\n", s.name.c_str(), s.summary.c_str(),
                  s.needs_feature.empty() ? "" : (" [needs " + s.needs_feature + "]").c_str());
    return 0;
  }
  if (sub == "report") return write_report(rep);
  if (sub == "faults") return run_faults(faults);
  if (sub == "soak") {
    soak.bench.argv = opt.argv;
    return run_soak(soak);
  }
  return run_scenario(chosen.empty() ? sub : chosen, opt);
}
