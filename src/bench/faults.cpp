#include "shardlm/bench/faults.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "shardlm/bench/result-dir.h"

namespace shardlm::bench {

namespace fs = std::filesystem;

namespace {
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}
}  // namespace

int run_faults(const FaultsConfig& cfg) {
  std::string tools = cfg.tools_dir;
  if (tools.empty())
    for (const std::string& d : {exe_dir() + "/../tools", std::string("tools")})
      if (fs::exists(d + "/fault-matrix.py")) {
        tools = fs::weakly_canonical(d).string();
        break;
      }
  if (tools.empty() || !fs::exists(tools + "/fault-matrix.py")) {
    std::fprintf(stderr, "shardlm-bench faults: tools/fault-matrix.py not found (--tools-dir)\n");
    return 2;
  }
  auto dir = ResultDir::create(cfg.out, cfg.label, "faults");
  if (!dir) {
    std::fprintf(stderr, "shardlm-bench faults: %s\n", dir.message().c_str());
    return 2;
  }
  std::vector<std::string> args = {cfg.python, tools + "/fault-matrix.py", "--out", dir.value().path(),
                                   "--cut-s", std::to_string(cfg.cut_s)};
  if (fs::exists(exe_dir() + "/shardlm")) args.insert(args.end(), {"--bin", exe_dir() + "/shardlm"});
  if (!cfg.model.empty()) args.insert(args.end(), {"--model", cfg.model});
  if (cfg.reduced) args.emplace_back("--reduced");
  if (!cfg.faults.empty()) args.insert(args.end(), {"--faults", join(cfg.faults)});
  if (!cfg.targets.empty()) args.insert(args.end(), {"--targets", join(cfg.targets)});
  if (!cfg.phases.empty()) args.insert(args.end(), {"--phases", join(cfg.phases)});
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("shardlm-bench faults: fork");
    return 2;
  }
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::perror(("shardlm-bench faults: " + cfg.python).c_str());
    _exit(2);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

}  // namespace shardlm::bench
