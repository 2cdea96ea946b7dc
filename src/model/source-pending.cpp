// Temporary until the HF and llama2.c readers land.
#include "model/source-hf.h"
#include "model/source-llama2c.h"
namespace shardlm {
Result<std::unique_ptr<ModelSource>> open_hf_source(const std::string& dir) {
  return Status::errorf("{}: Hugging Face directories are not supported yet", dir);
}
Result<std::unique_ptr<ModelSource>> open_llama2c_source(const std::string& path, const std::string&) {
  return Status::errorf("{}: llama2.c checkpoints are not supported yet", path);
}
}  // namespace shardlm
