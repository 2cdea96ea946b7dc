#include "shardlm/model/gguf-writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shardlm {

namespace {

GgufValue make(GgufType t, decltype(GgufValue::v) v) {
  GgufValue g;
  g.type = t;
  g.v = std::move(v);
  return g;
}

template <typename T>
GgufValue typed_array(GgufType et, const std::vector<T>& v, GgufValue (*fn)(T)) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const T& x : v) items.push_back(fn(x));
  return gguf_array(et, std::move(items));
}

size_t scalar_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

// Serializes a value (without its type tag) into out.
Status encode(const GgufValue& v, GgufType t, std::vector<uint8_t>& out, int depth) {
  auto raw = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  if (depth > 4) return Status::error("GGUF arrays nested too deeply");
  switch (t) {
    case GgufType::STRING: {
      const std::string* s = v.as_string();
      if (!s) return Status::error("value of type STRING holds no string");
      uint64_t n = s->size();
      raw(&n, 8);
      raw(s->data(), s->size());
      return Status::ok();
    }
    case GgufType::ARRAY: {
      const auto* a = v.as_array();
      if (!a) return Status::error("value of type ARRAY holds no array");
      uint32_t et = static_cast<uint32_t>(v.elem_type);
      uint64_t n = a->size();
      raw(&et, 4);
      raw(&n, 8);
      for (const auto& e : *a) SHARDLM_TRY(encode(e, v.elem_type, out, depth + 1));
      return Status::ok();
    }
    case GgufType::BOOL: {
      bool b = false;
      if (auto p = std::get_if<bool>(&v.v)) b = *p;
      else if (auto i = v.as_int()) b = *i != 0;
      else return Status::error("value of type BOOL holds no bool");
      uint8_t u = b ? 1 : 0;
      raw(&u, 1);
      return Status::ok();
    }
    case GgufType::F32: case GgufType::F64: {
      auto d = v.as_float();
      if (!d) return Status::error("float value holds no number");
      if (t == GgufType::F32) {
        float f = static_cast<float>(*d);
        raw(&f, 4);
      } else {
        raw(&*d, 8);
      }
      return Status::ok();
    }
    default: {
      const size_t n = scalar_bytes(t);
      if (n == 0) return Status::errorf("unknown GGUF value type {}", static_cast<uint32_t>(t));
      uint64_t bits;
      if (auto u = std::get_if<uint64_t>(&v.v)) bits = *u;
      else if (auto i = std::get_if<int64_t>(&v.v)) bits = static_cast<uint64_t>(*i);
      else if (auto b = std::get_if<bool>(&v.v)) bits = *b ? 1 : 0;
      else return Status::error("integer value holds no integer");
      raw(&bits, n);  // little-endian: the low n bytes
      return Status::ok();
    }
  }
}

}  // namespace

GgufValue gguf_u8(uint8_t v) { return make(GgufType::U8, uint64_t{v}); }
GgufValue gguf_i8(int8_t v) { return make(GgufType::I8, int64_t{v}); }
GgufValue gguf_u16(uint16_t v) { return make(GgufType::U16, uint64_t{v}); }
GgufValue gguf_i16(int16_t v) { return make(GgufType::I16, int64_t{v}); }
GgufValue gguf_u32(uint32_t v) { return make(GgufType::U32, uint64_t{v}); }
GgufValue gguf_i32(int32_t v) { return make(GgufType::I32, int64_t{v}); }
GgufValue gguf_u64(uint64_t v) { return make(GgufType::U64, v); }
GgufValue gguf_i64(int64_t v) { return make(GgufType::I64, v); }
GgufValue gguf_f32(float v) { return make(GgufType::F32, double{v}); }
GgufValue gguf_f64(double v) { return make(GgufType::F64, v); }
GgufValue gguf_bool(bool v) { return make(GgufType::BOOL, v); }
GgufValue gguf_str(std::string v) { return make(GgufType::STRING, std::move(v)); }
GgufValue gguf_array(GgufType elem_type, std::vector<GgufValue> items) {
  GgufValue g = make(GgufType::ARRAY, std::move(items));
  g.elem_type = elem_type;
  return g;
}
GgufValue gguf_str_array(const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(gguf_str(s));
  return gguf_array(GgufType::STRING, std::move(items));
}
GgufValue gguf_f32_array(const std::vector<float>& v) { return typed_array<float>(GgufType::F32, v, gguf_f32); }
GgufValue gguf_i32_array(const std::vector<int32_t>& v) { return typed_array<int32_t>(GgufType::I32, v, gguf_i32); }
GgufValue gguf_u32_array(const std::vector<uint32_t>& v) { return typed_array<uint32_t>(GgufType::U32, v, gguf_u32); }
GgufValue gguf_i64_array(const std::vector<int64_t>& v) { return typed_array<int64_t>(GgufType::I64, v, gguf_i64); }

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment == 0 ? 32 : alignment) {
  set("general.alignment", gguf_u32(alignment_));
}

GgufWriter::~GgufWriter() { abort_file(); }

void GgufWriter::abort_file() {
  if (f_) {
    std::fclose(f_);
    f_ = nullptr;
    std::remove(tmp_path_.c_str());
  }
}

void GgufWriter::set(const std::string& key, GgufValue v) {
  for (auto& kv : kv_) {
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  }
  kv_.push_back({key, std::move(v)});
}

const GgufValue* GgufWriter::get(const std::string& key) const {
  for (const auto& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

void GgufWriter::erase(const std::string& key) {
  for (auto it = kv_.begin(); it != kv_.end(); ++it) {
    if (it->key == key) {
      kv_.erase(it);
      return;
    }
  }
}

Status GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape) {
  if (f_) return Status::errorf("GGUF writer: tensor '{}' declared after begin()", name);
  if (name.empty() || name.size() > 63) return Status::errorf("GGUF writer: tensor name '{}' must be 1..63 bytes", name);
  for (const auto& t : tensors_)
    if (t.name == name) return Status::errorf("GGUF writer: duplicate tensor '{}'", name);
  auto info = dtype_info(type);
  if (!info || static_cast<uint32_t>(type) >= 1000)
    return Status::errorf("GGUF writer: tensor '{}': type {} is not a GGML type", name, dtype_name(type));
  if (shape.empty() || shape.size() > 4)
    return Status::errorf("GGUF writer: tensor '{}' has {} dimensions (1..4 allowed)", name, shape.size());
  uint64_t numel = 1;
  for (int64_t d : shape) {
    if (d <= 0) return Status::errorf("GGUF writer: tensor '{}' has a dimension {}", name, d);
    numel *= static_cast<uint64_t>(d);
  }
  if (shape.back() % info->block != 0)
    return Status::errorf("GGUF writer: tensor '{}': row length {} is not a multiple of the {} block size {}", name,
                          shape.back(), info->name, info->block);
  TensorInfo t;
  t.name = name;
  t.type = type;
  t.shape = shape;
  t.nbytes = numel / info->block * info->bytes;
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                              const void* data, size_t nbytes) {
  SHARDLM_TRY(add_tensor(name, type, shape));
  TensorInfo& t = tensors_.back();
  if (nbytes != t.nbytes) {
    const uint64_t want = t.nbytes;
    tensors_.pop_back();
    return Status::errorf("GGUF writer: tensor '{}' needs {} bytes, got {}", name, want, nbytes);
  }
  const auto* b = static_cast<const uint8_t*>(data);
  t.data.assign(b, b + nbytes);
  t.has_data = true;
  return Status::ok();
}

Status GgufWriter::put(const void* p, size_t n) {
  if (n == 0) return Status::ok();
  if (std::fwrite(p, 1, n, f_) != n) {
    failed_ = true;
    return Status::errorf("{}: write failed: {}", path_, std::strerror(errno));
  }
  pos_ += n;
  return Status::ok();
}

Status GgufWriter::pad_to_alignment() {
  static const uint8_t zeros[256] = {};
  uint64_t pad = (alignment_ - pos_ % alignment_) % alignment_;
  while (pad > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(zeros)));
    SHARDLM_TRY(put(zeros, k));
    pad -= k;
  }
  return Status::ok();
}

Status GgufWriter::begin(const std::string& path) {
  if (f_) return Status::errorf("{}: GGUF writer already started", path);
  path_ = path;
  tmp_path_ = path + ".partial";
  // Offsets first: each tensor starts on an alignment boundary of the data section.
  uint64_t off = 0;
  for (auto& t : tensors_) {
    t.offset = off;
    off += t.nbytes;
    off = (off + alignment_ - 1) / alignment_ * alignment_;
  }
  std::vector<uint8_t> head;
  auto raw = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    head.insert(head.end(), b, b + n);
  };
  const uint32_t version = 3;
  const uint64_t n_tensors = tensors_.size(), n_kv = kv_.size();
  raw("GGUF", 4);
  raw(&version, 4);
  raw(&n_tensors, 8);
  raw(&n_kv, 8);
  for (const auto& kv : kv_) {
    uint64_t klen = kv.key.size();
    raw(&klen, 8);
    raw(kv.key.data(), kv.key.size());
    uint32_t t = static_cast<uint32_t>(kv.value.type);
    raw(&t, 4);
    Status s = encode(kv.value, kv.value.type, head, 0);
    if (!s) return s.with_context(fmt::format("{}: metadata '{}'", path, kv.key));
  }
  for (const auto& t : tensors_) {
    uint64_t nlen = t.name.size();
    raw(&nlen, 8);
    raw(t.name.data(), t.name.size());
    uint32_t nd = static_cast<uint32_t>(t.shape.size());
    raw(&nd, 4);
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {
      uint64_t ne = static_cast<uint64_t>(*it);
      raw(&ne, 8);
    }
    uint32_t ty = static_cast<uint32_t>(t.type);
    raw(&ty, 4);
    raw(&t.offset, 8);
  }
  f_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!f_) return Status::errorf("{}: cannot create: {}", tmp_path_, std::strerror(errno));
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  pos_ = 0;
  failed_ = false;
  cur_ = 0;
  cur_done_ = 0;
  SHARDLM_TRY(put(head.data(), head.size()));
  SHARDLM_TRY(pad_to_alignment());
  data_start_ = pos_;
  // Skip over leading empty tensors (none can exist: dims are > 0), nothing else to do.
  return Status::ok();
}

Status GgufWriter::write(const void* data, size_t nbytes) {
  if (!f_) return Status::error("GGUF writer: write() before begin()");
  if (failed_) return Status::errorf("{}: an earlier write failed", path_);
  const auto* b = static_cast<const uint8_t*>(data);
  while (nbytes > 0) {
    if (cur_ >= tensors_.size())
      return Status::errorf("{}: {} bytes written past the last tensor", path_, nbytes);
    const TensorInfo& t = tensors_[cur_];
    const uint64_t k = std::min<uint64_t>(nbytes, t.nbytes - cur_done_);
    SHARDLM_TRY(put(b, static_cast<size_t>(k)));
    b += k;
    nbytes -= static_cast<size_t>(k);
    cur_done_ += k;
    if (cur_done_ == t.nbytes) {
      ++cur_;
      cur_done_ = 0;
      if (cur_ < tensors_.size()) SHARDLM_TRY(pad_to_alignment());
    }
  }
  return Status::ok();
}

Status GgufWriter::finish() {
  if (!f_) return Status::error("GGUF writer: finish() before begin()");
  if (cur_ != tensors_.size()) {
    Status s = Status::errorf("{}: tensor '{}' incomplete ({} of {} bytes written)", path_, tensors_[cur_].name,
                              cur_done_, tensors_[cur_].nbytes);
    abort_file();
    return s;
  }
  const bool flush_ok = std::fflush(f_) == 0;
  const bool close_ok = std::fclose(f_) == 0;
  f_ = nullptr;
  if (failed_ || !flush_ok || !close_ok) {
    std::remove(tmp_path_.c_str());
    return Status::errorf("{}: write failed: {}", path_, std::strerror(errno));
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    Status s = Status::errorf("{}: cannot rename {} into place: {}", path_, tmp_path_, std::strerror(errno));
    std::remove(tmp_path_.c_str());
    return s;
  }
  return Status::ok();
}

Status GgufWriter::write_file(const std::string& path) {
  for (const auto& t : tensors_)
    if (!t.has_data) return Status::errorf("{}: tensor '{}' was declared without data", path, t.name);
  SHARDLM_TRY(begin(path));
  for (const auto& t : tensors_) {
    Status s = write(t.data.data(), t.data.size());
    if (!s) {
      abort_file();
      return s;
    }
  }
  return finish();
}

}  // namespace shardlm
