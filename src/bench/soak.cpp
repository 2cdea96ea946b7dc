#include "shardlm/bench/soak.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "shardlm/bench/result-dir.h"
#include "shardlm/bench/server-api.h"

namespace shardlm::bench {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<AuditLine> parse_exit_audits(const std::string& log_text) {
  std::vector<AuditLine> out;
  static const std::regex re(R"(EXIT AUDIT: rank=(\d+), cause=([A-Za-z0-9_]+))");
  std::istringstream ss(log_text);
  std::string line;
  while (std::getline(ss, line)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out.push_back({std::stoi(m[1].str()), m[2].str(), line});
  }
  return out;
}

std::vector<int> processes_with(const std::string& marker) {
  std::vector<int> out;
  std::error_code ec;
  const int self = static_cast<int>(getpid());
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    const int pid = std::stoi(name);
    if (pid != self && cmd.find(marker) != std::string::npos) out.push_back(pid);
  }
  return out;
}

namespace {

std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

double anon(const json& m) { return m.is_object() && m.contains("resident_anon_bytes") && m["resident_anon_bytes"].is_number() ? m["resident_anon_bytes"].get<double>() : NAN; }

}  // namespace

int run_soak(const SoakConfig& cfg) {
  BenchOptions opt = cfg.bench;
  opt.url = fmt::format("http://127.0.0.1:{}", cfg.port);
  auto dir_r = ResultDir::create(opt.out, opt.label, "soak");
  if (!dir_r) {
    std::fprintf(stderr, "shardlm-bench soak: %s\n", dir_r.message().c_str());
    return kExitError;
  }
  const ResultDir dir = dir_r.value();
  std::string launch_dir = cfg.launch_dir;
  if (launch_dir.empty())
    for (const std::string& d : {exe_dir() + "/../launch", std::string("launch")})
      if (fs::exists(d + "/launch_baseline.sh")) {
        launch_dir = fs::weakly_canonical(d).string();
        break;
      }
  if (launch_dir.empty() || !fs::exists(launch_dir + "/launch_baseline.sh")) {
    std::fprintf(stderr, "shardlm-bench soak: launch_baseline.sh not found (--launch-dir)\n");
    return kExitError;
  }
  const std::string run_dir = fs::absolute(cfg.run_dir.empty() ? dir.path() + "/server" : cfg.run_dir).string();
  // Environment of the launch and stop scripts (inherited: MPI_ARGS, HOSTFILE, ...).
  std::string env = fmt::format("RANKS={} PORT={} RUN_DIR={} LOG_LEVEL={} ", cfg.ranks, cfg.port, quote(run_dir), quote(cfg.log_level));
  if (!cfg.model.empty()) env += "MODEL=" + quote(cfg.model) + " ";
  if (!std::getenv("SHARDLM_BIN") && fs::exists(exe_dir() + "/shardlm")) env += "SHARDLM_BIN=" + quote(exe_dir() + "/shardlm") + " ";
  std::string args;
  for (const auto& a : cfg.serve_args) args += " " + quote(a);

  json checks = json::array();
  bool all_ok = true;
  auto check = [&](const std::string& name, bool ok, const std::string& detail) {
    checks.push_back({{"name", name}, {"ok", ok}, {"detail", detail}});
    all_ok = all_ok && ok;
    std::fprintf(stderr, "shardlm-bench soak: check %s: %s%s%s\n", ok ? "ok" : "FAILED", name.c_str(), detail.empty() ? "" : " — ",
                 detail.c_str());
  };
  json summary = {{"scenario", "soak"}, {"label", opt.label}, {"run_id", dir.run_id()}, {"run_dir", run_dir}};
  (void)dir.write_json("config.json", {{"tool", "shardlm-bench"},
                                       {"scenario", "soak"},
                                       {"label", opt.label},
                                       {"started_at", utc_now_iso()},
                                       {"options", opt.to_json()},
                                       {"soak", {{"model", cfg.model}, {"ranks", cfg.ranks}, {"port", cfg.port}, {"run_dir", run_dir},
                                                 {"cycles", cfg.cycles}, {"scenarios", cfg.scenarios}, {"tolerance", cfg.tolerance}, {"floor_mib", cfg.floor_mib},
                                                 {"serve_args", cfg.serve_args}, {"launch_dir", launch_dir}}},
                                       {"git_commit", git_commit()},
                                       {"host", host_info()}});
  const std::string launch = env + "bash " + quote(launch_dir + "/launch_baseline.sh") + args + " > " + quote(dir.path() + "/launch.log") + " 2>&1";
  std::fprintf(stderr, "shardlm-bench soak: launching (%s)\n", run_dir.c_str());
  const int lrc = std::system(launch.c_str());
  bool launched = lrc == 0;
  check("the server started", launched, launched ? "" : fmt::format("launch_baseline.sh failed; see {}/launch.log", dir.path()));

  json cycles = json::array();
  if (launched) {
    auto url = parse_url(opt.url);
    HttpClient admin(HttpClientConfig{url.value(), opt.timeout_s});
    const std::string& key = opt.admin_bearer();
    auto status = [&]() { auto s = get_json(admin, "/admin/status", key); return s ? s.value() : json{{"error", s.message()}}; };
    // Warm-up cycle (not checked): the scenarios once on the model loaded at start, so
    // that one-time allocations (HTTP threads' arenas, lazily made metrics, caches)
    // happen before the baseline; then the baseline is the state after an unload.
    Status st = Status::ok();
    json warm = json::object();
    for (const auto& sc : cfg.scenarios) {
      std::fprintf(stderr, "shardlm-bench soak: warm-up cycle: %s\n", sc.c_str());
      warm[sc] = run_scenario(sc, opt);
    }
    summary["warmup_exit_codes"] = warm;
    st = admin_post(admin, "/admin/unload", key);
    const json base = status();
    check("baseline after the warm-up cycle and an unload", st.is_ok() && base.contains("memory"), st.message());
    summary["baseline_memory"] = base.value("memory", json::array());
    for (int c = 1; c <= cfg.cycles && st.is_ok(); ++c) {
      json cy = {{"cycle", c}};
      st = admin_post(admin, "/admin/load", key, "{}");
      if (!st) {
        check(fmt::format("cycle {}: load", c), false, st.message());
        break;
      }
      json rcs = json::object();
      for (const auto& sc : cfg.scenarios) {
        std::fprintf(stderr, "shardlm-bench soak: cycle %d/%d: %s\n", c, cfg.cycles, sc.c_str());
        rcs[sc] = run_scenario(sc, opt);
        if (rcs[sc] != 0) check(fmt::format("cycle {}: scenario {}", c, sc), false, fmt::format("exit code {}", rcs[sc].get<int>()));
      }
      cy["scenario_exit_codes"] = rcs;
      cy["loaded_memory"] = status().value("memory", json::array());
      st = admin_post(admin, "/admin/unload", key);
      if (!st) {
        check(fmt::format("cycle {}: unload", c), false, st.message());
        break;
      }
      const json after = status();
      json growth = json::array();
      bool ok = after.contains("memory") && after["memory"].size() == summary["baseline_memory"].size();
      std::string detail;
      for (size_t r = 0; after.contains("memory") && r < after["memory"].size() && r < summary["baseline_memory"].size(); ++r) {
        const double b = anon(summary["baseline_memory"][r]), a = anon(after["memory"][r]);
        const double g = b > 0 ? a / b - 1 : NAN;
        growth.push_back(g);
        ok = ok && std::isfinite(g) && a - b <= std::max(cfg.tolerance * b, cfg.floor_mib * 1048576.0);
        detail += fmt::format("{}rank {}: {:.1f} → {:.1f} MiB ({:+.2f}%)", detail.empty() ? "" : ", ", r, b / 1048576, a / 1048576, 100 * g);
      }
      cy["unloaded_memory"] = after.value("memory", json::array());
      cy["anon_growth"] = growth;
      check(fmt::format("cycle {}: anon RSS within {:.0f}%{} of baseline after unload", c, 100 * cfg.tolerance,
                        cfg.floor_mib > 0 ? fmt::format(" (or {} MiB)", cfg.floor_mib) : std::string()),
            ok, detail);
      cycles.push_back(cy);
    }
  }
  summary["cycles"] = cycles;

  // Stop, then the EXIT AUDIT lines and leftover processes.
  const std::string stop = env + "bash " + quote(launch_dir + "/stop_server.sh") + " > " + quote(dir.path() + "/stop.log") + " 2>&1";
  const int src = std::system(stop.c_str());
  check("stop_server.sh succeeded", src == 0, fmt::format("exit {}; see {}/stop.log", src, dir.path()));
  std::string logs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("rank", 0) == 0 && e.path().extension() == ".log")
      if (auto t = read_file(e.path().string())) logs += t.value();
  }
  const auto audits = parse_exit_audits(logs);
  json aj = json::array();
  for (const auto& a : audits) aj.push_back({{"rank", a.rank}, {"cause", a.cause}, {"line", a.line}});
  summary["exit_audits"] = aj;
  if (launched) {
    for (int r = 0; r < cfg.ranks; ++r) {
      const std::string want = r == 0 ? "server_shutdown" : "worker_loop_exit";
      std::string got;
      int count = 0;
      for (const auto& a : audits)
        if (a.rank == r) {
          got += (got.empty() ? "" : ",") + a.cause;
          ++count;
        }
      check(fmt::format("rank {} logged EXIT AUDIT cause={}", r, want), count == 1 && got == want,
            got.empty() ? "no EXIT AUDIT line" : "cause=" + got);
    }
  }
  std::vector<int> left;
  for (int i = 0; i < 40; ++i) {
    left = processes_with(run_dir + "/rank");
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::string pids;
  for (int p : left) pids += (pids.empty() ? "" : " ") + std::to_string(p);
  check("no server process left", left.empty(), pids.empty() ? "" : "pids " + pids);
  summary["checks"] = checks;
  summary["valid"] = all_ok;
  summary["finished_at"] = utc_now_iso();
  (void)dir.write_json("summary.json", summary);
  std::printf("soak %s: %s (%zu cycles) → %s\n", opt.label.c_str(), all_ok ? "PASS" : "FAIL", cycles.size(), dir.path().c_str());
  if (!launched) return kExitError;
  return all_ok ? kExitOk : kExitCheckFailed;
}

}  // namespace shardlm::bench
