// A Hugging Face model directory: config.json plus safetensors weights.
//
// Weights are found, in this order:
//   1. model.safetensors.index.json: {"weight_map": {"<tensor>": "<shard file>"}};
//      every shard it names must exist in the directory (plain relative names, no
//      "..", no absolute paths) and hold every tensor the index assigns to it.
//      (mlx-lm writes an index even for one file.)
//   2. model.safetensors.
//   3. every *.safetensors file in the directory (sorted by name).
// The tensors of all files form one namespace: a name found in two files is an error.
// Tensors present in a shard but absent from the index are kept (transformers loads
// them too). config.json must exist and be a JSON object; its meaning is the
// caller's business. Errors name the file and the problem.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/core/status.h"
#include "shardlm/model/safetensors.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

class HfCheckpoint {
 public:
  static Result<std::unique_ptr<HfCheckpoint>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const { return config_; }  // config.json (an object)
  const RawTensor* tensor(const std::string& name) const;   // nullptr if absent
  std::vector<std::string> names() const;                   // all tensor names, sorted
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // Drop the pages of the tensor named t.name from RSS once copied.
  void release(const RawTensor& t) const;

 private:
  HfCheckpoint() = default;
  std::string dir_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const RawTensor*, const SafetensorsFile*>> tensors_;
};

}  // namespace shardlm
