// A model on disk, whatever its format: hparams plus tensors under canonical
// (GGUF) names. GGUF files, Hugging Face directories and llama2.c checkpoints.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "shardlm/core/status.h"
#include "shardlm/model/hparams.h"
#include "shardlm/model/tensor-source.h"

namespace shardlm {

class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // path: a .gguf file, a Hugging Face directory, or a llama2.c .bin (tokenizer_path
  // overrides where its tokenizer.bin is looked for).
  static Result<std::unique_ptr<ModelSource>> open(const std::string& path, const std::string& tokenizer_path = "");

  virtual const char* format() const = 0;   // "gguf", "hf", "llama2c"
  const HParams& hparams() const { return hp_; }
  const std::string& path() const { return path_; }
  // Where the tokenizer lives (a file or directory load_tokenizer() accepts).
  const std::string& tokenizer_path() const { return tokenizer_path_; }
  // Tensor by canonical name; nullptr if absent.
  virtual const RawTensor* tensor(const std::string& canonical) const = 0;
  // Total bytes of all weight tensors (for memory estimates).
  virtual uint64_t total_bytes() const = 0;
  // Drop already-copied pages from the page cache / RSS.
  virtual void release(const RawTensor& t) const = 0;

  // Checks every tensor the arch needs is present with the right shape. Called by open().
  Status validate() const;

 protected:
  HParams hp_;
  std::string path_;
  std::string tokenizer_path_;
};

}  // namespace shardlm
