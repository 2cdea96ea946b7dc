// Which paths `POST /admin/load` may load: regular files and directories under the
// model directory (--model-dir; default: the directory of --model). Paths are checked
// on rank 0 before the engine sees them. Nothing that could block is done (lstat,
// realpath and stat only; no open).
#pragma once
#include <string>

#include "shardlm/core/status.h"

namespace shardlm {

// The one error text for every refused path: it does not say whether the path exists.
extern const char* const kModelPathRefused;

// The canonical model directory: flag when set, else the directory holding model_path
// (the --model file or Hugging Face directory); "" when neither is given.
std::string resolve_model_dir(const std::string& flag, const std::string& model_path);

// The canonical path to load for requested (absolute, or relative to root). Refused
// (kModelPathRefused): root empty, requested empty or holding NUL, a ".." component, a
// path that does not exist, resolves (through symlinks) outside root or to root itself,
// or is neither a regular file nor a directory (FIFO, device, socket).
Result<std::string> admit_model_path(const std::string& root, const std::string& requested);

}  // namespace shardlm
