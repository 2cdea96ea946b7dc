// load_tokenizer: pick the reader by what the path is: a directory (tokenizer.json, else
// tokenizer.model), a file starting with "GGUF", *.json, *.model (SentencePiece), else a
// llama2.c tokenizer .bin.
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "shardlm/core/regular-file.h"
#include "shardlm/model/gguf.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::errorf("{}: no such file or directory", path);

  Result<VocabSpec> spec = Status::error("unreachable");
  auto ends_with = [&](const char* suffix) {
    const size_t n = std::strlen(suffix);
    return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
  };
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (!fs::exists(dir / "tokenizer.json", ec) && fs::exists(dir / "tokenizer.model", ec))
      spec = vocab_from_spm_model((dir / "tokenizer.model").string());
    else
      spec = vocab_from_hf(path);
  } else {
    char magic[4] = {0, 0, 0, 0};
    {
      size_t size = 0;
      auto fd = open_regular_file(path, &size);  // a FIFO or device is refused, never read
      if (!fd) return fd.status();
      if (size >= 4 && ::read(fd.value(), magic, 4) != 4) std::memset(magic, 0, 4);
      ::close(fd.value());
    }
    if (std::memcmp(magic, "GGUF", 4) == 0) {
      auto g = GgufFile::open(path);
      if (!g) return g.status();
      spec = vocab_from_gguf(*g.value());
    } else if (ends_with(".json")) {
      spec = vocab_from_hf(path);
    } else if (ends_with(".model")) {
      spec = vocab_from_spm_model(path);
    } else {
      spec = vocab_from_llama2c(path);
    }
  }
  if (!spec) return spec.status();
  return Tokenizer::create(std::move(spec.value()));
}

}  // namespace shardlm
