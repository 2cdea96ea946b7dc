// libFuzzer entry point for the tokenizer loaders (tokenizer/tokenizer.h, load_tokenizer):
// a Hugging Face tokenizer.json, a SentencePiece tokenizer.model, a llama2.c tokenizer
// .bin and a vocabulary-only GGUF. The first input byte picks the format; the rest is
// written to a file of that kind (the loaders read files) and loaded. A tokenizer that
// loads must then encode and decode text without crashing: encode's ids lie in the
// vocabulary. Seeds: fuzz/make-seeds.py, folder tokenizer/.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "shardlm/tokenizer/tokenizer.h"

using namespace shardlm;

namespace {
std::string dir() {
  static const std::string d = [] {
    std::string t = "/tmp/shardlm-fuzz-tok-" + std::to_string(::getpid());
    std::remove((t + "/x").c_str());
    ::mkdir(t.c_str(), 0700);
    return t;
  }();
  return d;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kNames[4] = {"tokenizer.json", "tokenizer.model", "tokenizer.bin", "vocab.gguf"};
  const std::string path = dir() + "/" + kNames[data[0] % 4];
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size > 1 && std::fwrite(data + 1, 1, size - 1, f) != size - 1) std::abort();
  std::fclose(f);
  auto tok = load_tokenizer(path);
  std::remove(path.c_str());
  if (!tok) return 0;
  const Tokenizer& t = *tok.value();
  for (const char* text : {"Once upon a time, <s> there was 42 \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80!", "", " \n\t  x"}) {
    std::vector<int32_t> ids = t.encode(text, true, true);
    for (int32_t id : ids)
      if (id < 0 || id >= t.n_vocab()) std::abort();
    (void)t.decode(ids);
    StreamDecoder sd(t);
    for (int32_t id : ids) (void)sd.push(id);
    (void)sd.flush();
  }
  return 0;
}
