#include "shardlm/model/hf-checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "shardlm/core/mmap.h"

namespace shardlm {

namespace {

using json = nlohmann::json;

bool is_regular(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Reads a whole JSON file; errors name the file.
Result<json> read_json(const std::string& path) {
  auto mf = MappedFile::open(path);
  if (!mf) return mf.status();
  const auto* b = reinterpret_cast<const char*>((*mf)->data());
  json j = (*mf)->size() == 0 ? json(json::value_t::discarded) : json::parse(b, b + (*mf)->size(), nullptr, false);
  if (j.is_discarded()) return Status::errorf("{}: not valid JSON", path);
  return j;
}

// A shard name from the index must stay inside the directory.
bool safe_relative(const std::string& s) {
  if (s.empty() || s[0] == '/') return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string::npos) end = s.size();
    std::string part = s.substr(start, end - start);
    if (part == ".." || part.empty()) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<HfCheckpoint>> HfCheckpoint::open(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (!is_directory(dir)) return Status::errorf("{}: not a directory", dir);
  std::unique_ptr<HfCheckpoint> ck(new HfCheckpoint());
  ck->dir_ = dir;
  const std::string cfg_path = dir + "/config.json";
  if (!is_regular(cfg_path)) return Status::errorf("{}: missing config.json", dir);
  auto cfg = read_json(cfg_path);
  if (!cfg) return cfg.status();
  if (!cfg->is_object()) return Status::errorf("{}: not a JSON object", cfg_path);
  ck->config_ = std::move(cfg.value());

  // Which files, and (with an index) which tensor lives where.
  std::vector<std::string> shards;
  std::map<std::string, std::string> weight_map;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const bool have_index = is_regular(index_path);
  if (have_index) {
    auto idx = read_json(index_path);
    if (!idx) return idx.status();
    if (!idx->is_object() || !idx->contains("weight_map") || !(*idx)["weight_map"].is_object())
      return Status::errorf("{}: no \"weight_map\" object", index_path);
    std::set<std::string> seen;
    for (auto it = (*idx)["weight_map"].begin(); it != (*idx)["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        return Status::errorf("{}: weight_map entry '{}' is not a file name", index_path, it.key());
      const std::string shard = it.value().get<std::string>();
      if (!safe_relative(shard))
        return Status::errorf("{}: weight_map entry '{}' names shard '{}' outside the directory", index_path, it.key(), shard);
      if (seen.insert(shard).second) shards.push_back(shard);
      weight_map[it.key()] = shard;
    }
    if (shards.empty()) return Status::errorf("{}: weight_map is empty", index_path);
    std::sort(shards.begin(), shards.end());
    for (const auto& s : shards)
      if (!is_regular(dir + "/" + s))
        return Status::errorf("{}: missing shard '{}' (referenced by {})", dir + "/" + s, s, index_path);
  } else if (is_regular(dir + "/model.safetensors")) {
    shards.push_back("model.safetensors");
  } else {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string fn = it->path().filename().string();
      if (fn.size() > 12 && fn.compare(fn.size() - 12, 12, ".safetensors") == 0 && is_regular(dir + "/" + fn))
        shards.push_back(fn);
    }
    if (ec) return Status::errorf("{}: cannot list directory: {}", dir, ec.message());
    if (shards.empty())
      return Status::errorf("{}: no weights (no model.safetensors.index.json, model.safetensors or *.safetensors)", dir);
    std::sort(shards.begin(), shards.end());
  }

  std::map<std::string, const SafetensorsFile*> by_shard;
  for (const auto& s : shards) {
    auto f = SafetensorsFile::open(dir + "/" + s);
    if (!f) return f.status();
    const SafetensorsFile* fp = f.value().get();
    ck->files_.push_back(std::move(f.value()));
    by_shard[s] = fp;
    for (const auto& t : fp->tensors()) {
      auto [it, fresh] = ck->tensors_.emplace(t.name, std::make_pair(&t, fp));
      if (!fresh)
        return Status::errorf("{}: tensor '{}' is also in {}", fp->path(), t.name, it->second.second->path());
    }
  }
  for (const auto& [name, shard] : weight_map) {
    const SafetensorsFile* f = by_shard.at(shard);
    if (!f->tensor(name))
      return Status::errorf("{}: missing tensor '{}' (listed in {})", f->path(), name, index_path);
  }
  return ck;
}

const RawTensor* HfCheckpoint::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second.first;
}

std::vector<std::string> HfCheckpoint::names() const {
  std::vector<std::string> r;
  r.reserve(tensors_.size());
  for (const auto& kv : tensors_) r.push_back(kv.first);
  return r;
}

void HfCheckpoint::release(const RawTensor& t) const {
  auto it = tensors_.find(t.name);
  if (it == tensors_.end()) return;
  const RawTensor& own = *it->second.first;
  const MappedFile* mf = it->second.second->file();
  if (!mf || !own.data) return;
  mf->release(static_cast<size_t>(own.data - mf->data()), own.nbytes);
}

}  // namespace shardlm
