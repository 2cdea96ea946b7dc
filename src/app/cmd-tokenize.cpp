// `shardlm tokenize`, `shardlm detokenize`, `shardlm inspect`: single-process tools.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/app.h"
#include "shardlm/core/log.h"
#include "shardlm/model/gguf.h"
#include "shardlm/model/model-source.h"
#include "shardlm/tokenizer/tokenizer.h"

namespace shardlm {

int cmd_tokenize(const std::string& model, const std::string& text, bool add_bos, bool parse_special) {
  auto tok = load_tokenizer(model);
  if (!tok) {
    LOG_ERROR("{}", tok.message());
    return 1;
  }
  const Tokenizer& T = *tok.value();
  auto ids = T.encode(text, add_bos && T.add_bos_default(), parse_special);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int cmd_detokenize(const std::string& model, const std::string& ids_json) {
  auto j = nlohmann::json::parse(ids_json, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    LOG_ERROR("--ids must be a JSON array of integers");
    return 2;
  }
  auto tok = load_tokenizer(model);
  if (!tok) {
    LOG_ERROR("{}", tok.message());
    return 1;
  }
  const Tokenizer& T = *tok.value();
  std::vector<int32_t> ids;
  for (const auto& e : j) {
    if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() >= T.n_vocab()) {
      LOG_ERROR("--ids: {} is not a token id of this vocabulary (0..{})", e.dump(), T.n_vocab() - 1);
      return 2;
    }
    ids.push_back(e.get<int32_t>());
  }
  std::string s = T.decode(ids);
  s += "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  return 0;
}

int cmd_inspect(const std::string& model) {
  auto src = ModelSource::open(model);
  if (!src) {
    LOG_ERROR("{}", src.message());
    return 1;
  }
  const HParams& h = src.value()->hparams();
  std::printf("format: %s\n%s\n", src.value()->format(), h.summary().c_str());
  std::printf("weights: %.1f MiB\n", src.value()->total_bytes() / 1048576.0);
  if (std::string(src.value()->format()) == "gguf") {
    auto g = GgufFile::open(model);
    if (g) {
      std::printf("GGUF v%u, alignment %lu, %zu metadata keys, %zu tensors\n", g.value()->version(),
                  static_cast<unsigned long>(g.value()->alignment()), g.value()->metadata().size(),
                  g.value()->tensors().size());
      for (const auto& [k, v] : g.value()->metadata()) std::printf("  %s = %s\n", k.c_str(), v.to_string().c_str());
      for (const auto& t : g.value()->tensors()) {
        std::string shape;
        for (auto d : t.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
        std::printf("  %-32s %-5s [%s]\n", t.name.c_str(), dtype_name(t.type), shape.c_str());
      }
    }
  }
  return 0;
}

}  // namespace shardlm
