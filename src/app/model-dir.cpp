#include "app/model-dir.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

namespace shardlm {

const char* const kModelPathRefused =
    "model: not a loadable path (a model file or directory under the server's model directory, --model-dir)";

namespace {

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return {};
  return buf;
}

bool has_dotdot(const std::string& p) {
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string resolve_model_dir(const std::string& flag, const std::string& model_path) {
  if (!flag.empty()) return real_path(flag);
  if (model_path.empty()) return {};
  const std::string model = real_path(model_path);
  if (model.empty()) return {};
  return std::filesystem::path(model).parent_path().string();
}

Result<std::string> admit_model_path(const std::string& root, const std::string& requested) {
  const Status refused = Status::error(kModelPathRefused);
  if (root.empty() || requested.empty() || requested.find('\0') != std::string::npos || has_dotdot(requested))
    return refused;
  const std::string candidate = requested[0] == '/' ? requested : root + "/" + requested;
  const std::string resolved = real_path(candidate);
  const std::string prefix = root == "/" ? root : root + "/";
  if (resolved.empty() || resolved.size() <= prefix.size() || resolved.compare(0, prefix.size(), prefix) != 0)
    return refused;
  struct stat st {};
  if (::stat(resolved.c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return refused;
  return resolved;
}

}  // namespace shardlm
