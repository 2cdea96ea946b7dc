// `shardlm-bench report`: reads every run under a results directory (LABEL/RUN/
// summary.json) and writes a markdown comparison:
// - phases: the five metrics per phase (label). A phase's value is the mean over the
//   comparison scenarios (default single, batch, concurrent, cache) of each scenario's
//   mean over its valid requests (all runs of that scenario in the phase pooled);
// - delta vs the baseline phase in percent, (phase - baseline) / baseline * 100, with
//   "better"/"worse": for times negative is better, for tok/s positive is better;
// - per-benchmark detail: one row per run and case (success, TTFT/ITL p50/p95/p99,
//   the five means, aggregate throughput);
// - PNG charts through gnuplot when it is on PATH (throughput vs concurrency, TTFT and
//   ITL percentiles per phase); otherwise the report says why charts were skipped.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shardlm::bench {

struct ReportConfig {
  std::string results;        // results root (default "results")
  std::string output;         // markdown file (default RESULTS/comparison_report.md)
  std::string baseline;       // baseline label (default "baseline" if present, else the first phase)
  std::vector<std::string> scenarios = {"single", "batch", "concurrent", "cache"};  // phase averages
  bool charts = true;         // try gnuplot (default true)
};

// One run with phases (the KV-tier scenarios' summary["phases"]).
struct PhaseRunRef {
  std::string label, id;           // phase label and run directory name
  const nlohmann::json* summary;   // its summary.json
};
// "## KV-tier phases": per run a table of its phases (requests, TTFT p50/p95, cached
// fraction, the tier counter deltas, the ranks' disk bytes) and the scenario's headline
// (sessions' reduction, a replay's TTFT ratio, a burst's hit fraction). "" when no run
// has phases. report-phases.cpp.
std::string tier_phases_section(const std::vector<PhaseRunRef>& runs);

// Writes the report; 0 ok, 2 when nothing could be read or written.
int write_report(const ReportConfig& cfg);

// (value - base) / base * 100; NaN when base is 0 or either is not finite.
double delta_percent(double value, double base);
// "+12.3% (better)" / "-4.0% (worse)" / "0.0%" / "n/a" for a metric's delta.
std::string format_delta(const std::string& metric, double value, double base);

}  // namespace shardlm::bench
