#include "shardlm/bench/report.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shardlm/bench/request-record.h"
#include "shardlm/bench/result-dir.h"
#include "shardlm/bench/scenario.h"

namespace shardlm::bench {

namespace fs = std::filesystem;
using nlohmann::json;

double delta_percent(double value, double base) {
  if (!std::isfinite(value) || !std::isfinite(base) || base == 0) return std::numeric_limits<double>::quiet_NaN();
  return (value - base) / base * 100.0;
}

std::string format_delta(const std::string& metric, double value, double base) {
  const double d = delta_percent(value, base);
  if (!std::isfinite(d)) return "n/a";
  if (std::fabs(d) < 0.05) return "0.0%";
  const bool better = metric_lower_is_better(metric) ? d < 0 : d > 0;
  return fmt::format("{:+.1f}% ({})", d, better ? "better" : "worse");
}

namespace {

struct Run {
  std::string label, id, scenario, started;
  json summary, config;
};

double jnum(const json& j, const char* a, const char* b = nullptr) {
  const json* p = &j;
  if (!p->is_object() || !p->contains(a)) return NAN;
  p = &(*p)[a];
  if (b) {
    if (!p->is_object() || !p->contains(b)) return NAN;
    p = &(*p)[b];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

std::string fmtv(double v, int prec = 3) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, prec) : "—"; }

std::string find_on_path(const std::string& prog) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const std::string p = (dir.empty() ? "." : dir) + "/" + prog;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

std::string gp_quote(std::string s) {
  std::replace(s.begin(), s.end(), '"', '\'');
  return "\"" + s + "\"";
}

std::vector<Run> load_runs(const std::string& root, std::vector<std::string>& warnings) {
  std::vector<Run> runs;
  std::error_code ec;
  for (const auto& ld : fs::directory_iterator(root, ec)) {
    if (!ld.is_directory()) continue;
    std::error_code ec2;
    for (const auto& rd : fs::directory_iterator(ld.path(), ec2)) {
      const fs::path sp = rd.path() / "summary.json";
      if (!rd.is_directory() || !fs::exists(sp)) continue;
      Run r;
      r.label = ld.path().filename().string();
      r.id = rd.path().filename().string();
      auto s = read_file(sp.string());
      auto c = read_file((rd.path() / "config.json").string());
      try {
        r.summary = json::parse(s ? s.value() : "{}");
        r.config = c ? json::parse(c.value()) : json::object();
      } catch (const std::exception& e) {
        warnings.push_back(fmt::format("{}: unreadable ({})", rd.path().string(), e.what()));
        continue;
      }
      r.scenario = r.summary.value("scenario", r.config.value("scenario", std::string("?")));
      r.started = r.config.value("started_at", r.id);
      runs.push_back(std::move(r));
    }
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return std::tie(a.started, a.id) < std::tie(b.started, b.id); });
  return runs;
}

// Pooled mean of one metric over runs (request-weighted).
double pooled_mean(const std::vector<const Run*>& rs, const std::string& metric) {
  double sum = 0, n = 0;
  for (const Run* r : rs) {
    const json& m = r->summary.value("metrics", json::object());
    const double mean = jnum(m, metric.c_str(), "mean"), cnt = jnum(m, metric.c_str(), "n");
    if (std::isfinite(mean) && std::isfinite(cnt) && cnt > 0) {
      sum += mean * cnt;
      n += cnt;
    }
  }
  return n > 0 ? sum / n : NAN;
}

struct Chart {
  std::string file, title;
  std::string error;  // "" = made
};

// Writes data + script into dir and runs gnuplot; returns the charts made or failed.
std::vector<Chart> make_charts(const std::string& gnuplot, const fs::path& dir, const std::vector<std::string>& phases,
                               const std::map<std::string, std::map<std::string, const Run*>>& latest) {
  std::vector<Chart> charts;
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto run_gp = [&](const std::string& name, const std::string& title, const std::string& script) {
    Chart c{name + ".png", title, ""};
    const fs::path gp = dir / (name + ".gp");
    std::ofstream(gp) << script;
    const std::string cmd = fmt::format("cd '{}' && '{}' '{}' > '{}.log' 2>&1", dir.string(), gnuplot, gp.filename().string(), name);
    const int rc = std::system(cmd.c_str());
    if (rc != 0 || !fs::exists(dir / c.file)) {
      auto log = read_file((dir / (name + ".log")).string());
      c.error = fmt::format("gnuplot exit {}: {}", rc, log ? log.value().substr(0, 300) : "");
    }
    charts.push_back(c);
  };
  const std::string term = "set terminal pngcairo size 900,540 noenhanced\n";
  // 1. Aggregate throughput vs concurrency (concurrent levels and batch sizes).
  {
    std::string plots;
    int idx = 0;
    for (const auto& ph : phases) {
      for (const char* sc : {"concurrent", "batch"}) {
        auto it = latest.find(ph);
        if (it == latest.end() || !it->second.count(sc)) continue;
        const json& cases = it->second.at(sc)->summary.value("cases", json::object());
        std::vector<std::pair<int, double>> pts;
        for (const auto& [name, c] : cases.items()) pts.emplace_back(c.value("concurrency", 0), jnum(c, "aggregate_throughput_tok_s"));
        std::sort(pts.begin(), pts.end());
        const std::string dat = fmt::format("throughput-{}.dat", idx++);
        std::ofstream f(dir / dat);
        for (const auto& [x, y] : pts) f << x << " " << (std::isfinite(y) ? y : 0.0) << "\n";
        plots += fmt::format("{}{} using 1:2 with linespoints lw 2 title {}", plots.empty() ? "" : ", ", gp_quote(dat),
                             gp_quote(ph + " (" + sc + ")"));
      }
    }
    if (!plots.empty())
      run_gp("throughput_vs_concurrency", "Aggregate throughput vs concurrency",
             term + "set output 'throughput_vs_concurrency.png'\nset title 'Aggregate throughput vs concurrency'\n"
                    "set xlabel 'parallel requests'\nset ylabel 'generated tok/s'\nset grid\nset key top left\n"
                    "set logscale x 2\nset format x '%g'\n"
                    "set yrange [0:*]\nplot " + plots + "\n");
  }
  // 2, 3. TTFT and ITL percentiles per phase (concurrent, else single).
  for (const auto& [key, title, scale, unit] : {std::tuple<std::string, std::string, double, std::string>{"ttft_s", "Time to first token", 1.0, "s"},
                                                {"itl_s", "Inter-token latency", 1000.0, "ms"}}) {
    const std::string dat = key + "-percentiles.dat";
    std::ofstream f(dir / dat);
    int rows = 0;
    for (const auto& ph : phases) {
      auto it = latest.find(ph);
      if (it == latest.end()) continue;
      const Run* r = it->second.count("concurrent") ? it->second.at("concurrent")
                     : it->second.count("single")   ? it->second.at("single")
                                                    : nullptr;
      if (!r) continue;
      const json& s = r->summary;
      f << gp_quote(ph) << " " << jnum(s, key.c_str(), "p50") * scale << " " << jnum(s, key.c_str(), "p95") * scale << " "
        << jnum(s, key.c_str(), "p99") * scale << "\n";
      ++rows;
    }
    f.close();
    if (rows == 0) continue;
    const std::string name = key == "ttft_s" ? "ttft_percentiles" : "itl_percentiles";
    run_gp(name, title + " percentiles",
           term + fmt::format("set output '{}.png'\nset title '{} (p50 / p95 / p99)'\nset ylabel '{}'\nset style data histogram\n"
                              "set style histogram clustered gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
                              "set grid ytics\nset yrange [0:*]\nset key top left\n"
                              "plot '{}' using 2:xtic(1) title 'p50', '' using 3 title 'p95', '' using 4 title 'p99'\n",
                              name, title, unit, dat));
  }
  return charts;
}

}  // namespace

int write_report(const ReportConfig& cfg) {
  std::vector<std::string> warnings;
  if (!fs::is_directory(cfg.results)) {
    std::fprintf(stderr, "shardlm-bench report: %s is not a directory\n", cfg.results.c_str());
    return kExitError;
  }
  const std::vector<Run> runs = load_runs(cfg.results, warnings);
  std::vector<const Run*> bench_runs, other_runs;
  for (const auto& r : runs) (r.summary.contains("metrics") ? bench_runs : other_runs).push_back(&r);
  if (runs.empty()) {
    std::fprintf(stderr, "shardlm-bench report: no runs (LABEL/RUN/summary.json) under %s\n", cfg.results.c_str());
    return kExitError;
  }
  // Phases in the order of their first run; the baseline first.
  std::vector<std::string> phases;
  for (const Run* r : bench_runs)
    if (std::find(phases.begin(), phases.end(), r->label) == phases.end()) phases.push_back(r->label);
  std::string base = cfg.baseline;
  if (base.empty()) base = std::find(phases.begin(), phases.end(), "baseline") != phases.end() ? "baseline" : (phases.empty() ? "" : phases.front());
  if (auto it = std::find(phases.begin(), phases.end(), base); it != phases.end()) std::rotate(phases.begin(), it, it + 1);
  else if (!cfg.baseline.empty()) warnings.push_back(fmt::format("baseline '{}' has no runs; deltas are n/a", cfg.baseline));

  std::map<std::string, std::map<std::string, std::vector<const Run*>>> by;  // phase → scenario → runs
  std::map<std::string, std::map<std::string, const Run*>> latest;
  for (const Run* r : bench_runs) {
    by[r->label][r->scenario].push_back(r);
    latest[r->label][r->scenario] = r;  // runs are in time order
  }
  // Phase values: mean over the comparison scenarios of each one's pooled mean.
  std::map<std::string, std::map<std::string, double>> value;
  std::map<std::string, std::vector<std::string>> used;
  for (const auto& ph : phases) {
    for (const char* m : kFiveMetrics) {
      double sum = 0;
      int n = 0;
      for (const auto& sc : cfg.scenarios) {
        auto it = by[ph].find(sc);
        if (it == by[ph].end()) continue;
        const double v = pooled_mean(it->second, m);
        if (std::isfinite(v)) {
          sum += v;
          ++n;
        }
      }
      value[ph][m] = n ? sum / n : NAN;
    }
    for (const auto& sc : cfg.scenarios)
      if (by[ph].count(sc)) used[ph].push_back(sc);
  }

  std::string md;
  md += "# shardlm benchmark comparison\n\n";
  md += fmt::format("Generated {} by `shardlm-bench report` from `{}` ({} runs).\n\n", utc_now_iso(), cfg.results, runs.size());
  md += "Definitions (docs/runbook.md): prefill_time_s = time to first token; prefill_tok_s = prompt tokens / "
        "prefill time; decode_time_s = first to last token; decode_tok_s = (completion tokens - 1) / decode time; "
        "throughput_tok_s = completion tokens / (send to last token), per request.\n\n";
  std::string scen;
  for (const auto& s : cfg.scenarios) scen += (scen.empty() ? "" : ", ") + s;
  md += "## Phases\n\n";
  md += fmt::format("Each value: the mean over the scenarios {} of each scenario's mean over its valid requests.\n\n", scen);
  md += "| phase | scenarios | runs | requests | success | prefill_time_s | prefill_tok_s | decode_time_s | decode_tok_s | throughput_tok_s |\n";
  md += "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& ph : phases) {
    size_t nruns = 0;
    double req = 0, ok = 0;
    for (const auto& sc : used[ph])
      for (const Run* r : by[ph][sc]) {
        ++nruns;
        req += jnum(r->summary, "requests");
        ok += jnum(r->summary, "succeeded");
      }
    std::string sl;
    for (const auto& s : used[ph]) sl += (sl.empty() ? "" : ", ") + s;
    md += fmt::format("| {} | {} | {} | {:.0f} | {} | {} | {} | {} | {} | {} |\n", ph, sl.empty() ? "—" : sl, nruns, req,
                      req > 0 ? fmt::format("{:.1f}%", 100 * ok / req) : "—", fmtv(value[ph]["prefill_time_s"], 4),
                      fmtv(value[ph]["prefill_tok_s"], 1), fmtv(value[ph]["decode_time_s"], 4), fmtv(value[ph]["decode_tok_s"], 1),
                      fmtv(value[ph]["throughput_tok_s"], 1));
  }
  md += fmt::format("\n## Delta vs baseline (`{}`)\n\n", base);
  md += "(phase - baseline) / baseline in percent. Times (`_time_s`): negative is better; tok/s: positive is better.\n\n";
  md += "| phase | Δ prefill_time_s | Δ prefill_tok_s | Δ decode_time_s | Δ decode_tok_s | Δ throughput_tok_s |\n";
  md += "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& ph : phases) {
    md += "| " + ph;
    for (const char* m : kFiveMetrics)
      md += " | " + (ph == base ? std::string("(baseline)") : (value.count(base) ? format_delta(m, value[ph][m], value[base][m]) : "n/a"));
    md += " |\n";
    if (ph != base && used[ph] != used[base])
      warnings.push_back(fmt::format("phase '{}' ran other comparison scenarios than the baseline; its deltas mix scenarios", ph));
  }

  // Charts.
  const fs::path out = cfg.output.empty() ? fs::path(cfg.results) / "comparison_report.md" : fs::path(cfg.output);
  const fs::path out_dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  md += "\n## Charts\n\n";
  if (!cfg.charts) {
    md += "Charts skipped: `--no-charts`.\n";
  } else if (const std::string gp = find_on_path("gnuplot"); gp.empty()) {
    md += "Charts skipped: `gnuplot` is not on PATH (Debian: `apt-get install gnuplot-nox`).\n";
  } else {
    const auto charts = make_charts(gp, out_dir / "charts", phases, latest);
    if (charts.empty()) md += "No chart data (no concurrent, batch or single runs).\n";
    for (const auto& c : charts) {
      if (c.error.empty())
        md += fmt::format("![{}](charts/{})\n\n", c.title, c.file);
      else
        md += fmt::format("Chart `{}` failed: {}\n\n", c.file, c.error);
    }
  }

  // Per-benchmark detail.
  md += "\n## Per-benchmark detail\n";
  std::set<std::string> seen;
  std::vector<std::string> order;
  for (const auto& s : scenario_registry()) order.push_back(s.name);
  for (const Run* r : bench_runs)
    if (std::find(order.begin(), order.end(), r->scenario) == order.end()) order.push_back(r->scenario);
  for (const auto& sc : order) {
    std::vector<const Run*> rs;
    for (const Run* r : bench_runs)
      if (r->scenario == sc) rs.push_back(r);
    if (rs.empty()) continue;
    md += fmt::format("\n### {}\n\n", sc);
    md += "| phase | run | case | conc | n | success | TTFT p50 / p95 / p99 (s) | ITL p50 / p95 / p99 (ms) | prefill tok/s | "
          "decode tok/s | throughput tok/s | aggregate tok/s | statuses |\n";
    md += "| --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- |\n";
    std::string notes;
    for (const Run* r : rs) {
      const json& cases = r->summary.value("cases", json::object());
      for (const auto& cn : r->summary.value("case_order", json::array())) {
        const std::string name = cn.get<std::string>();
        const json& c = cases.value(name, json::object());
        std::string st;
        const json statuses = c.value("http_status_counts", json::object());
        for (const auto& [code, n] : statuses.items()) st += (st.empty() ? "" : ", ") + fmt::format("{}×{}", code, n.get<long>());
        md += fmt::format("| {} | {} | {} | {} | {:.0f} | {} | {} / {} / {} | {} / {} / {} | {} | {} | {} | {} | {} |\n", r->label, r->id, name,
                          c.value("concurrency", 0), jnum(c, "requests"), fmtv(100 * jnum(c, "success_rate"), 1) + "%",
                          fmtv(jnum(c, "ttft_s", "p50"), 4), fmtv(jnum(c, "ttft_s", "p95"), 4), fmtv(jnum(c, "ttft_s", "p99"), 4),
                          fmtv(1000 * jnum(c, "itl_s", "p50"), 2), fmtv(1000 * jnum(c, "itl_s", "p95"), 2),
                          fmtv(1000 * jnum(c, "itl_s", "p99"), 2), fmtv(jnum(c["metrics"], "prefill_tok_s", "mean"), 1),
                          fmtv(jnum(c["metrics"], "decode_tok_s", "mean"), 1), fmtv(jnum(c["metrics"], "throughput_tok_s", "mean"), 1),
                          fmtv(jnum(c, "aggregate_throughput_tok_s"), 1), st);
      }
      for (const auto& ch : r->summary.value("checks", json::array()))
        if (!ch.value("ok", true))
          notes += fmt::format("- {} / {}: check failed: {} ({})\n", r->label, r->id, ch.value("name", ""), ch.value("detail", ""));
      const json& data = r->summary.value("scenario_data", json::object());
      if (data.contains("cache"))
        for (const char* k : {"identical", "shared-prefix"})
          if (data["cache"].contains(k))
            notes += fmt::format("- {} / {}: {}: cached fraction {:.2f}, TTFT speedup vs cold {:.2f}x\n", r->label, r->id, k,
                                 jnum(data["cache"][k], "cached_fraction"), jnum(data["cache"][k], "ttft_speedup_vs_cold"));
      if (data.contains("memory") && data["memory"].contains("after_unload"))
        for (const auto& m : data["memory"]["after_unload"])
          notes += fmt::format("- {} / {}: rank {} anon RSS after unload {:.1f} MiB ({:+.2f}% vs unloaded)\n", r->label, r->id,
                               m.value("rank", -1), jnum(m, "resident_anon_bytes") / 1048576.0, 100 * jnum(m, "growth_vs_unloaded"));
      if (data.contains("recovery_s"))
        notes += fmt::format("- {} / {}: idle again {:.2f} s after the spike\n", r->label, r->id, jnum(data, "recovery_s"));
    }
    if (!notes.empty()) md += "\n" + notes;
  }
  std::vector<PhaseRunRef> with_phases;
  for (const Run* r : bench_runs)
    if (r->summary.contains("phases")) with_phases.push_back({r->label, r->id, &r->summary});
  md += tier_phases_section(with_phases);
  if (!other_runs.empty()) {
    md += "\n## Other runs\n\n| phase | run | verdict | checks failed |\n| --- | --- | --- | --- |\n";
    for (const Run* r : other_runs) {
      std::string failed;
      for (const auto& ch : r->summary.value("checks", json::array()))
        if (!ch.value("ok", true)) failed += (failed.empty() ? "" : "; ") + ch.value("name", std::string());
      md += fmt::format("| {} | {} | {} | {} |\n", r->label, r->id, r->summary.value("valid", false) ? "pass" : "FAIL",
                        failed.empty() ? "—" : failed);
    }
  }
  if (!warnings.empty()) {
    md += "\n## Warnings\n\n";
    for (const auto& w : warnings) md += "- " + w + "\n";
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  std::ofstream f(out);
  f << md;
  f.close();
  if (!f) {
    std::fprintf(stderr, "shardlm-bench report: cannot write %s\n", out.string().c_str());
    return kExitError;
  }
  std::fprintf(stderr, "shardlm-bench report: %zu phases, %zu runs → %s\n", phases.size(), runs.size(), out.string().c_str());
  return kExitOk;
}

}  // namespace shardlm::bench
