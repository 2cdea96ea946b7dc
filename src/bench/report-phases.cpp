// The report's "KV-tier phases" section (report.h): the phases of the sessions,
// eviction-replay, rehydrate-replay and local-copilot-burst runs.
#include <cmath>

#include <fmt/format.h>

#include "shardlm/bench/report.h"

namespace shardlm::bench {

namespace {

using nlohmann::json;

double num(const json& j, const char* a, const char* b = nullptr) {
  const json* p = &j;
  if (!p->is_object() || !p->contains(a)) return NAN;
  p = &(*p)[a];
  if (b) {
    if (!p->is_object() || !p->contains(b)) return NAN;
    p = &(*p)[b];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

std::string f(double v, int prec) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "—"; }

// The scenario's headline figures, one line.
std::string headline(const json& data) {
  if (data.contains("sessions")) {
    const json& s = data["sessions"];
    return fmt::format("median turn (turns 2..N) {} s without session_id, {} s with: {}% lower (target ≥ 60%); cached {}% vs {}%",
                       f(num(s, "without-session", "median_turn_s"), 3), f(num(s, "with-session", "median_turn_s"), 3),
                       f(100 * num(s, "reduction"), 0), f(100 * num(s, "without-session", "cached_fraction"), 0),
                       f(100 * num(s, "with-session", "cached_fraction"), 0));
  }
  for (const char* k : {"eviction-replay", "rehydrate-replay"})
    if (data.contains(k)) {
      const json& s = data[k];
      return fmt::format("{} ({}): TTFT populate {} s, replay {} s ({}×); replay cached {}%, {} blocks restored, {} tokens recomputed", k,
                         s.value("kv_tier", "?"), f(num(s, "populate_ttft_median_s"), 4), f(num(s, "replay_ttft_median_s"), 4),
                         f(num(s, "replay_speedup"), 2), f(100 * num(s, "replay_cached_fraction"), 0),
                         f(num(s, "replay_restored_blocks"), 0), f(num(s, "replay_recomputed_tokens"), 0));
    }
  if (data.contains("local-copilot-burst")) {
    const json& s = data["local-copilot-burst"];
    return fmt::format("local-copilot-burst: TTFT open {} s, bursts p50/p95/p99 {} / {} / {} s, latency p50/p95 {} / {} s; cached {}% "
                       "(median), prefix hits {}%",
                       f(num(s, "open_ttft_s"), 4), f(num(s, "ttft_s", "p50"), 4), f(num(s, "ttft_s", "p95"), 4),
                       f(num(s, "ttft_s", "p99"), 4), f(num(s, "latency_s", "p50"), 4), f(num(s, "latency_s", "p95"), 4),
                       f(100 * num(s, "cached_fraction_median"), 0), f(100 * num(s, "prefix_hit_fraction"), 0));
  }
  return "";
}

}  // namespace

std::string tier_phases_section(const std::vector<PhaseRunRef>& runs) {
  if (runs.empty()) return "";
  std::string md = "\n## KV-tier phases\n\n";
  md += "Per phase: tier counter deltas from `/metrics` and the rank processes' `/proc/<pid>/io` bytes (all ranks on the "
        "bench's host; rd/wr = read_bytes/write_bytes, the block layer; wchar = bytes written through write calls).\n";
  for (const auto& r : runs) {
    const json& s = *r.summary;
    md += fmt::format("\n### {} / {} ({})\n\n", r.label, r.id, s.value("scenario", "?"));
    const std::string h = headline(s.value("scenario_data", json::object()));
    if (!h.empty()) md += h + "\n\n";
    md += "| phase | n | TTFT p50 / p95 (s) | cached | prefix hit tok | offloaded blk | restored blk | disk hits | session hits | "
          "resp. cache hits | rd MiB | wr MiB | wchar MiB | wall (s) |\n";
    md += "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const auto& p : s["phases"]) {
      auto m = [&](const char* k) { return f(num(p, "metrics", k), 0); };
      auto mib = [&](const char* k) { return f(num(p, "disk_io_total", k) / 1048576.0, 2); };
      md += fmt::format("| {} | {} | {} / {} | {}% | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", p.value("name", "?"),
                        f(num(p, "requests"), 0), f(num(p, "ttft_s", "p50"), 4), f(num(p, "ttft_s", "p95"), 4),
                        f(100 * num(p, "cached_fraction"), 0), m("prefix_hit_tokens"), m("offloaded_blocks"), m("restored_blocks"),
                        m("disk_hits"), m("session_hits"), m("response_cache_hits"), mib("read_bytes"), mib("write_bytes"),
                        mib("wchar"), f(num(p, "wall_s"), 1));
    }
  }
  return md;
}

}  // namespace shardlm::bench
