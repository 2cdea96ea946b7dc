#include "shardlm/bench/result-dir.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace shardlm::bench {

namespace fs = std::filesystem;

namespace {

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return out;
  std::array<char, 256> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), f)) out += buf.data();
  pclose(f);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

}  // namespace

Result<ResultDir> ResultDir::create(const std::string& out, const std::string& label, const std::string& scenario) {
  if (label.empty() || label.find('/') != std::string::npos || label == "." || label == "..")
    return Status::errorf("bad label '{}' (a directory name is needed)", label);
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::error_code ec;
  const fs::path base = fs::path(out) / label;
  fs::create_directories(base, ec);
  if (ec) return Status::errorf("cannot create {}: {}", base.string(), ec.message());
  for (int n = 1; n < 1000; ++n) {
    const std::string id = scenario + "-" + stamp + (n > 1 ? "-" + std::to_string(n) : "");
    const fs::path p = base / id;
    if (fs::create_directory(p, ec)) {
      ResultDir d;
      d.path_ = p.string();
      d.run_id_ = id;
      return d;
    }
    if (ec) return Status::errorf("cannot create {}: {}", p.string(), ec.message());
  }
  return Status::errorf("cannot find a free run directory under {}", base.string());
}

Status ResultDir::write_text(const std::string& name, const std::string& text) const {
  const std::string p = (fs::path(path_) / name).string();
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();
  if (!f) return Status::errorf("cannot write {}", p);
  return Status::ok();
}

Status ResultDir::write_json(const std::string& name, const nlohmann::json& j) const {
  return write_text(name, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

Status ResultDir::write_jsonl(const std::string& name, const std::vector<nlohmann::json>& lines) const {
  std::string s;
  for (const auto& j : lines) s += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return write_text(name, s);
}

nlohmann::json host_info() {
  nlohmann::json j;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  j["hostname"] = host;
  utsname u{};
  if (uname(&u) == 0) j["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  j["cpus"] = std::thread::hardware_concurrency();
  std::ifstream mi("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  while (mi >> key >> kb) {
    if (key == "MemTotal:") {
      j["mem_total_bytes"] = kb * 1024;
      break;
    }
    mi.ignore(256, '\n');
  }
  return j;
}

std::string exe_dir() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

std::string git_commit() {
  // The checkout holding this build (build dirs live inside it), else the current one.
  for (const std::string& dir : {exe_dir(), std::string(".")}) {
    const std::string q = shell_quote(dir);
    const std::string head = run_command("git -C " + q + " rev-parse --short=12 HEAD 2>/dev/null");
    if (head.empty()) continue;
    const std::string dirty = run_command("git -C " + q + " status --porcelain --untracked-files=no 2>/dev/null");
    return head + (dirty.empty() ? "" : "-dirty");
  }
  return "unknown";
}

std::string utc_now_iso() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::errorf("cannot read {}", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace shardlm::bench
