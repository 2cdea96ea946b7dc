#include "shardlm/bench/phase-probe.h"

#include <unistd.h>

#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "shardlm/bench/result-dir.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

Result<ProcIo> parse_proc_io(std::string_view text) {
  std::map<std::string, uint64_t> fields;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string value(line.substr(colon + 1));
    char* end = nullptr;
    const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
    if (end == value.c_str()) return Status::errorf("io: '{}' is not a number", std::string(line));
    fields[std::string(line.substr(0, colon))] = v;
  }
  ProcIo io;
  struct Want {
    const char* key;
    uint64_t* into;
  };
  for (const Want& w : {Want{"rchar", &io.rchar}, Want{"wchar", &io.wchar}, Want{"read_bytes", &io.read_bytes},
                        Want{"write_bytes", &io.write_bytes}}) {
    auto it = fields.find(w.key);
    if (it == fields.end()) return Status::errorf("io: no '{}' field", w.key);
    *w.into = it->second;
  }
  return io;
}

Result<ProcIo> read_proc_io(int64_t pid) {
  const std::string path = fmt::format("/proc/{}/io", pid);
  auto text = read_file(path);
  if (!text) return Status::errorf("{}: {}", path, text.message());
  auto io = parse_proc_io(text.value());
  if (!io) return io.status().with_context(path);
  return io;
}

std::vector<RankProcess> rank_processes(const nlohmann::json& status) {
  std::vector<RankProcess> out;
  if (!status.is_object() || !status.contains("ranks") || !status["ranks"].is_array()) return out;
  char me[256] = {};
  gethostname(me, sizeof me - 1);
  for (const auto& r : status["ranks"]) {
    if (!r.is_object()) continue;
    RankProcess p;
    p.rank = r.value("rank", -1);
    p.pid = r.contains("pid") && r["pid"].is_number_integer() ? r["pid"].get<int64_t>() : 0;
    p.host = r.value("host", "");
    p.local = !p.host.empty() && p.host == me;
    out.push_back(p);
  }
  return out;
}

PhaseSnapshot take_snapshot(HttpClient& client, const std::vector<RankProcess>& procs) {
  PhaseSnapshot s;
  auto text = get_text(client, "/metrics", "");
  if (text) {
    auto parsed = parse_prom_text(text.value());
    if (parsed) {
      s.metrics = std::move(parsed.value());
      s.metrics_ok = true;
    } else {
      s.metrics_error = parsed.message();
    }
  } else {
    s.metrics_error = text.message();
  }
  for (const auto& p : procs) {
    RankIo r;
    r.proc = p;
    if (p.pid <= 0) {
      r.error = "no pid in /admin/status";
    } else if (!p.local) {
      r.error = fmt::format("rank on host {}, not this one", p.host);
    } else if (auto io = read_proc_io(p.pid)) {
      r.io = io.value();
      r.ok = true;
    } else {
      r.error = io.message();
    }
    s.io.push_back(r);
  }
  return s;
}

namespace {

double value_of(const PromSnapshot& s, const char* series) {
  auto it = s.values.find(series);
  return it == s.values.end() ? 0.0 : it->second;
}

}  // namespace

nlohmann::json phase_delta(const PhaseSnapshot& before, const PhaseSnapshot& after) {
  nlohmann::json metrics = nlohmann::json::object();
  if (before.metrics_ok && after.metrics_ok) {
    for (const auto& m : kTierMetrics) metrics[m.name] = value_of(after.metrics, m.series) - value_of(before.metrics, m.series);
  } else {
    metrics["error"] = before.metrics_ok ? after.metrics_error : before.metrics_error;
  }
  nlohmann::json io = nlohmann::json::array();
  uint64_t rb = 0, wb = 0, rc = 0, wc = 0;
  int ranks_read = 0;
  for (const auto& a : after.io) {
    nlohmann::json e{{"rank", a.proc.rank}, {"pid", a.proc.pid}, {"host", a.proc.host}};
    const RankIo* b = nullptr;
    for (const auto& x : before.io)
      if (x.proc.rank == a.proc.rank && x.proc.pid == a.proc.pid) b = &x;
    if (!a.ok || !b || !b->ok) {
      e["error"] = !a.ok ? a.error : !b ? "the rank's process changed during the phase" : b->error;
    } else {
      // Counters only grow within one process; clamp to 0 so a reader never sees wrap-around.
      auto d = [](uint64_t x, uint64_t y) { return x >= y ? x - y : 0; };
      e["read_bytes"] = d(a.io.read_bytes, b->io.read_bytes);
      e["write_bytes"] = d(a.io.write_bytes, b->io.write_bytes);
      e["rchar"] = d(a.io.rchar, b->io.rchar);
      e["wchar"] = d(a.io.wchar, b->io.wchar);
      rb += e["read_bytes"].get<uint64_t>();
      wb += e["write_bytes"].get<uint64_t>();
      rc += e["rchar"].get<uint64_t>();
      wc += e["wchar"].get<uint64_t>();
      ++ranks_read;
    }
    io.push_back(e);
  }
  return {{"metrics", metrics},
          {"disk_io", io},
          {"disk_io_total", {{"read_bytes", rb}, {"write_bytes", wb}, {"rchar", rc}, {"wchar", wc}, {"ranks_read", ranks_read}}}};
}

double phase_metric(const nlohmann::json& delta, const std::string& name) {
  if (!delta.contains("metrics") || !delta["metrics"].contains(name) || !delta["metrics"][name].is_number()) return 0.0;
  return delta["metrics"][name].get<double>();
}

}  // namespace shardlm::bench
