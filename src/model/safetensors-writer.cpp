#include "shardlm/model/safetensors-writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace shardlm {

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::I16: return "I16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::U32: return "U32";
    default: return nullptr;
  }
}

SafetensorsWriter::SafetensorsWriter(SafetensorsOptions opt) : opt_(std::move(opt)) {}

SafetensorsWriter::~SafetensorsWriter() { abort_files(); }

void SafetensorsWriter::abort_files() {
  if (f_) {
    std::fclose(f_);
    f_ = nullptr;
  }
  if (begun_) {
    for (const auto& f : files_) std::remove((dir_ + "/" + f + ".partial").c_str());
    begun_ = false;
  }
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

Status SafetensorsWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape) {
  if (begun_) return Status::errorf("safetensors writer: tensor '{}' declared after begin()", name);
  if (name.empty() || name == "__metadata__") return Status::errorf("safetensors writer: bad tensor name '{}'", name);
  for (const auto& t : tensors_)
    if (t.name == name) return Status::errorf("safetensors writer: duplicate tensor '{}'", name);
  if (!safetensors_dtype_name(type))
    return Status::errorf("safetensors writer: tensor '{}': type {} cannot be stored in safetensors", name,
                          dtype_name(type));
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::errorf("safetensors writer: tensor '{}' has a dimension {}", name, d);
    numel *= static_cast<uint64_t>(d);
  }
  TensorInfo t;
  t.name = name;
  t.type = type;
  t.shape = shape;
  t.nbytes = numel * dtype_info(type)->bytes;
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status SafetensorsWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                                     const void* data, size_t nbytes) {
  SHARDLM_TRY(add_tensor(name, type, shape));
  TensorInfo& t = tensors_.back();
  if (t.nbytes != nbytes) {
    const uint64_t want = t.nbytes;
    tensors_.pop_back();
    return Status::errorf("safetensors writer: tensor '{}' needs {} bytes, got {}", name, want, nbytes);
  }
  const auto* b = static_cast<const uint8_t*>(data);
  t.data.assign(b, b + nbytes);
  t.has_data = true;
  return Status::ok();
}

uint64_t SafetensorsWriter::total_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.nbytes;
  return n;
}

Status SafetensorsWriter::begin(const std::string& dir) {
  if (begun_) return Status::errorf("{}: safetensors writer already started", dir);
  dir_ = dir;
  // Assign shards greedily in declaration order.
  size_t shard = 0;
  uint64_t used = 0;
  for (auto& t : tensors_) {
    if (opt_.max_shard_bytes > 0 && t.nbytes > 0 && used > 0 && used + t.nbytes > opt_.max_shard_bytes) {
      ++shard;
      used = 0;
    }
    t.shard = shard;
    t.offset = used;
    used += t.nbytes;
  }
  const size_t n_shards = shard + 1;
  files_.clear();
  if (n_shards == 1) {
    files_.push_back(opt_.basename + ".safetensors");
  } else {
    for (size_t s = 0; s < n_shards; ++s)
      files_.push_back(fmt::format("{}-{:05d}-of-{:05d}.safetensors", opt_.basename, s + 1, n_shards));
  }
  begun_ = true;
  failed_ = false;
  cur_ = 0;
  cur_done_ = 0;
  shard_ = 0;
  SHARDLM_TRY(open_shard(0));
  return Status::ok();
}

Status SafetensorsWriter::open_shard(size_t s) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata_.empty()) {
    nlohmann::json m = nlohmann::json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = m;
  }
  for (const auto& t : tensors_) {
    if (t.shard != s) continue;
    h[t.name] = {{"dtype", safetensors_dtype_name(t.type)}, {"shape", t.shape},
                 {"data_offsets", {t.offset, t.offset + t.nbytes}}};
  }
  std::string js = h.dump();
  while ((8 + js.size()) % 8 != 0) js.push_back(' ');
  const std::string path = dir_ + "/" + files_[s] + ".partial";
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return Status::errorf("{}: cannot create: {}", path, std::strerror(errno));
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  const uint64_t n = js.size();
  if (std::fwrite(&n, 8, 1, f_) != 1 || std::fwrite(js.data(), 1, js.size(), f_) != js.size()) {
    failed_ = true;
    return Status::errorf("{}: write failed: {}", path, std::strerror(errno));
  }
  shard_ = s;
  return Status::ok();
}

Status SafetensorsWriter::close_shard() {
  const bool ok = std::fflush(f_) == 0;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !closed) {
    failed_ = true;
    return Status::errorf("{}/{}: write failed: {}", dir_, files_[shard_], std::strerror(errno));
  }
  return Status::ok();
}

Status SafetensorsWriter::write(const void* data, size_t nbytes) {
  if (!begun_ || !f_) return Status::error("safetensors writer: write() outside begin()/finish()");
  if (failed_) return Status::errorf("{}: an earlier write failed", dir_);
  const auto* b = static_cast<const uint8_t*>(data);
  while (nbytes > 0) {
    // Zero-byte tensors are complete already.
    while (cur_ < tensors_.size() && tensors_[cur_].nbytes == 0) ++cur_;
    if (cur_ >= tensors_.size()) return Status::errorf("{}: {} bytes written past the last tensor", dir_, nbytes);
    const TensorInfo& t = tensors_[cur_];
    if (t.shard != shard_) {
      SHARDLM_TRY(close_shard());
      SHARDLM_TRY(open_shard(t.shard));
    }
    const size_t k = static_cast<size_t>(std::min<uint64_t>(nbytes, t.nbytes - cur_done_));
    if (std::fwrite(b, 1, k, f_) != k) {
      failed_ = true;
      return Status::errorf("{}/{}: write failed: {}", dir_, files_[shard_], std::strerror(errno));
    }
    b += k;
    nbytes -= k;
    cur_done_ += k;
    if (cur_done_ == t.nbytes) {
      ++cur_;
      cur_done_ = 0;
    }
  }
  return Status::ok();
}

Status SafetensorsWriter::finish() {
  if (!begun_ || !f_) return Status::error("safetensors writer: finish() before begin()");
  while (cur_ < tensors_.size() && tensors_[cur_].nbytes == 0) ++cur_;
  if (cur_ != tensors_.size()) {
    Status s = Status::errorf("{}: tensor '{}' incomplete ({} of {} bytes written)", dir_, tensors_[cur_].name,
                              cur_done_, tensors_[cur_].nbytes);
    abort_files();
    return s;
  }
  // Shards after the current one (only possible if they hold only empty tensors).
  while (true) {
    Status s = close_shard();
    if (!s) {
      abort_files();
      return s;
    }
    if (shard_ + 1 >= files_.size()) break;
    s = open_shard(shard_ + 1);
    if (!s) {
      abort_files();
      return s;
    }
  }
  if (failed_) {
    abort_files();
    return Status::errorf("{}: write failed", dir_);
  }
  for (const auto& f : files_) {
    const std::string from = dir_ + "/" + f + ".partial", to = dir_ + "/" + f;
    if (std::rename(from.c_str(), to.c_str()) != 0) {
      Status s = Status::errorf("{}: cannot rename into place: {}", to, std::strerror(errno));
      abort_files();
      return s;
    }
  }
  begun_ = false;
  if (files_.size() > 1 || opt_.always_index) {
    nlohmann::json idx;
    idx["metadata"] = {{"total_size", total_bytes()}};
    nlohmann::json wm = nlohmann::json::object();
    for (const auto& t : tensors_) wm[t.name] = files_[t.shard];
    idx["weight_map"] = wm;
    const std::string path = dir_ + "/" + opt_.basename + ".safetensors.index.json";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return Status::errorf("{}: cannot create: {}", path, std::strerror(errno));
    const std::string js = idx.dump(2) + "\n";
    const bool ok = std::fwrite(js.data(), 1, js.size(), f) == js.size();
    if (std::fclose(f) != 0 || !ok) return Status::errorf("{}: write failed", path);
  }
  return Status::ok();
}

Status SafetensorsWriter::write_files(const std::string& dir) {
  for (const auto& t : tensors_)
    if (!t.has_data) return Status::errorf("{}: tensor '{}' was declared without data", dir, t.name);
  SHARDLM_TRY(begin(dir));
  for (const auto& t : tensors_) {
    Status s = write(t.data.data(), t.data.size());
    if (!s) {
      abort_files();
      return s;
    }
  }
  return finish();
}

}  // namespace shardlm
