#include "shardlm/model/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace shardlm {

namespace {

constexpr uint64_t kMaxKv = 1u << 20;          // sanity limits against absurd counts
constexpr uint64_t kMaxTensors = 1u << 20;
constexpr uint64_t kMaxArray = 1ull << 28;
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxNesting = 4;

// Bounds-checked little-endian cursor over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }
  template <typename T>
  bool read(T& out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(&out, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool read_string(std::string& out) {
    uint64_t len = 0;
    if (!read(len) || len > remaining()) return false;
    out.assign(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return true;
  }
  bool skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool read_value(Cursor& c, GgufType t, GgufValue& out, int depth, std::string& err) {
  out.type = t;
  switch (t) {
    case GgufType::U8: { uint8_t v; if (!c.read(v)) break; out.v = uint64_t{v}; return true; }
    case GgufType::I8: { int8_t v; if (!c.read(v)) break; out.v = int64_t{v}; return true; }
    case GgufType::U16: { uint16_t v; if (!c.read(v)) break; out.v = uint64_t{v}; return true; }
    case GgufType::I16: { int16_t v; if (!c.read(v)) break; out.v = int64_t{v}; return true; }
    case GgufType::U32: { uint32_t v; if (!c.read(v)) break; out.v = uint64_t{v}; return true; }
    case GgufType::I32: { int32_t v; if (!c.read(v)) break; out.v = int64_t{v}; return true; }
    case GgufType::U64: { uint64_t v; if (!c.read(v)) break; out.v = v; return true; }
    case GgufType::I64: { int64_t v; if (!c.read(v)) break; out.v = v; return true; }
    case GgufType::F32: { float v; if (!c.read(v)) break; out.v = double{v}; return true; }
    case GgufType::F64: { double v; if (!c.read(v)) break; out.v = v; return true; }
    case GgufType::BOOL: {
      uint8_t v;
      if (!c.read(v)) break;
      if (v > 1) { err = fmt::format("invalid bool value {}", v); return false; }
      out.v = v != 0;
      return true;
    }
    case GgufType::STRING: {
      std::string s;
      if (!c.read_string(s)) break;
      out.v = std::move(s);
      return true;
    }
    case GgufType::ARRAY: {
      if (depth >= kMaxNesting) { err = "arrays nested too deeply"; return false; }
      uint32_t et;
      uint64_t n;
      if (!c.read(et) || !c.read(n)) break;
      if (et > static_cast<uint32_t>(GgufType::F64)) { err = fmt::format("unknown array element type {}", et); return false; }
      out.elem_type = static_cast<GgufType>(et);
      size_t min_elem = scalar_size(out.elem_type);
      if (min_elem == 0) min_elem = out.elem_type == GgufType::STRING ? 8 : 12;
      if (n > kMaxArray || n > c.remaining() / min_elem) { err = fmt::format("array of {} elements exceeds the file", n); return false; }
      std::vector<GgufValue> arr(n);
      for (uint64_t i = 0; i < n; ++i)
        if (!read_value(c, out.elem_type, arr[i], depth + 1, err)) return false;
      out.v = std::move(arr);
      return true;
    }
    default:
      err = fmt::format("unknown value type {}", static_cast<uint32_t>(t));
      return false;
  }
  err = "truncated";
  return false;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

}  // namespace

bool GgufValue::is_int() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
    default: return false;
  }
}

std::optional<int64_t> GgufValue::as_int() const {
  if (auto p = std::get_if<uint64_t>(&v)) {
    if (*p > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*p);
  }
  if (auto p = std::get_if<int64_t>(&v)) return *p;
  if (auto p = std::get_if<bool>(&v)) return *p ? 1 : 0;
  return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
  if (auto p = std::get_if<double>(&v)) return *p;
  if (is_int()) {
    auto i = as_int();
    if (i) return static_cast<double>(*i);
  }
  return std::nullopt;
}

const std::string* GgufValue::as_string() const { return std::get_if<std::string>(&v); }
const std::vector<GgufValue>* GgufValue::as_array() const { return std::get_if<std::vector<GgufValue>>(&v); }

std::string GgufValue::to_string(size_t max_items) const {
  if (auto s = as_string()) return s->size() > 80 ? fmt::format("\"{}...\"", s->substr(0, 80)) : fmt::format("\"{}\"", *s);
  if (auto a = as_array()) {
    std::string r = "[";
    for (size_t i = 0; i < a->size() && i < max_items; ++i) r += (i ? ", " : "") + (*a)[i].to_string(max_items);
    if (a->size() > max_items) r += fmt::format(", ... ({} items)", a->size());
    return r + "]";
  }
  if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (auto i = std::get_if<int64_t>(&v)) return fmt::format("{}", *i);
  if (auto u = std::get_if<uint64_t>(&v)) return fmt::format("{}", *u);
  return "?";
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  auto mf = MappedFile::open(path);
  if (!mf) return mf.status();
  auto r = parse((*mf)->data(), (*mf)->size(), path);
  if (!r) return r.status();
  r.value()->file_ = std::move(mf.value());
  return r;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  auto fail = [&](const std::string& what) { return Status::errorf("{}: invalid GGUF: {}", name, what); };
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->path_ = name;
  Cursor c(data, size);
  uint32_t magic = 0;
  if (!c.read(magic)) return fail("file too short for a header");
  if (std::memcmp(&magic, "GGUF", 4) != 0) return fail("bad magic (not a GGUF file)");
  if (!c.read(g->version_)) return fail("truncated header");
  if (g->version_ == 1) return fail("GGUF version 1 is not supported (convert it to v3)");
  if (g->version_ != 2 && g->version_ != 3) {
    // A byte-swapped version means a big-endian file.
    if (g->version_ == 0x02000000u || g->version_ == 0x03000000u) return fail("big-endian GGUF is not supported");
    return fail(fmt::format("unsupported version {}", g->version_));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (!c.read(n_tensors) || !c.read(n_kv)) return fail("truncated header");
  if (n_kv > kMaxKv) return fail(fmt::format("absurd metadata count {}", n_kv));
  if (n_tensors > kMaxTensors) return fail(fmt::format("absurd tensor count {}", n_tensors));

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    uint32_t t = 0;
    if (!c.read_string(key) || !c.read(t)) return fail(fmt::format("truncated metadata entry {}", i));
    GgufValue v;
    std::string err;
    if (!read_value(c, static_cast<GgufType>(t), v, 0, err)) return fail(fmt::format("metadata '{}': {}", key, err));
    if (g->kv_.count(key)) return fail(fmt::format("duplicate metadata key '{}'", key));
    g->kv_.emplace(std::move(key), std::move(v));
  }
  if (auto a = g->find("general.alignment")) {
    auto av = a->as_int();
    if (!av || *av <= 0 || (*av & (*av - 1)) != 0 || *av > (1 << 20))
      return fail("general.alignment must be a power of two");
    g->alignment_ = static_cast<uint64_t>(*av);
  }

  struct Info { std::string name; std::vector<int64_t> shape; uint32_t type; uint64_t offset; };
  std::vector<Info> infos;
  infos.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Info ti;
    uint32_t nd = 0;
    if (!c.read_string(ti.name) || !c.read(nd)) return fail(fmt::format("truncated tensor info {}", i));
    if (nd == 0 || nd > kMaxDims) return fail(fmt::format("tensor '{}': {} dimensions", ti.name, nd));
    std::vector<uint64_t> ne(nd);
    for (auto& d : ne)
      if (!c.read(d)) return fail(fmt::format("truncated tensor info '{}'", ti.name));
    if (!c.read(ti.type) || !c.read(ti.offset)) return fail(fmt::format("truncated tensor info '{}'", ti.name));
    for (auto it = ne.rbegin(); it != ne.rend(); ++it) {
      if (*it > (1ull << 40)) return fail(fmt::format("tensor '{}': dimension {} out of range", ti.name, *it));
      ti.shape.push_back(static_cast<int64_t>(*it));
    }
    infos.push_back(std::move(ti));
  }
  uint64_t data_start = (c.pos() + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  if (data_start > size && n_tensors > 0) return fail("data section starts past the end of the file");
  g->data_offset_ = data_start;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& ti : infos) {
    auto info = dtype_info(ti.type);
    if (!info || ti.type >= 1000) return fail(fmt::format("tensor '{}': unknown tensor type {}", ti.name, ti.type));
    DType dt = static_cast<DType>(ti.type);
    uint64_t numel = 1, nonzero = 1;
    for (auto d : ti.shape) {
      if (!checked_mul(numel, static_cast<uint64_t>(d), numel)) return fail(fmt::format("tensor '{}': size overflows", ti.name));
      // Zero-sized tensors must still have a product of dimensions that fits int64.
      if (d != 0 && (!checked_mul(nonzero, static_cast<uint64_t>(d), nonzero) || nonzero > (1ull << 62)))
        return fail(fmt::format("tensor '{}': size overflows", ti.name));
    }
    int64_t inner = ti.shape.back();
    if (inner % info->block != 0)
      return fail(fmt::format("tensor '{}': row of {} elements is not a multiple of the {} block size {}", ti.name, inner, info->name, info->block));
    uint64_t nbytes = 0;
    if (!checked_mul(numel / info->block, info->bytes, nbytes)) return fail(fmt::format("tensor '{}': size overflows", ti.name));
    if (ti.offset % g->alignment_ != 0)
      return fail(fmt::format("tensor '{}': offset {} is not aligned to {}", ti.name, ti.offset, g->alignment_));
    if (ti.offset > size - std::min<uint64_t>(size, data_start) || nbytes > size - data_start - ti.offset)
      return fail(fmt::format("tensor '{}': data [{}, +{}) lies outside the file ({} bytes): truncated?", ti.name,
                              data_start + ti.offset, nbytes, size));
    if (g->tensor_index_.count(ti.name)) return fail(fmt::format("duplicate tensor '{}'", ti.name));
    RawTensor rt;
    rt.name = ti.name;
    rt.type = dt;
    rt.shape = ti.shape;
    rt.data = data + data_start + ti.offset;
    rt.nbytes = nbytes;
    rt.file = name;
    g->tensor_index_[rt.name] = g->tensors_.size();
    g->tensors_.push_back(std::move(rt));
    ranges.emplace_back(ti.offset, nbytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i - 1].first + ranges[i - 1].second > ranges[i].first && ranges[i].second > 0)
      return fail(fmt::format("tensor data ranges overlap at offset {}", ranges[i].first));
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::get_int(const std::string& key) const {
  auto v = find(key);
  if (!v || !(v->is_int() || v->type == GgufType::BOOL)) return std::nullopt;
  return v->as_int();
}

std::optional<double> GgufFile::get_float(const std::string& key) const {
  auto v = find(key);
  return v ? v->as_float() : std::nullopt;
}

std::optional<std::string> GgufFile::get_string(const std::string& key) const {
  auto v = find(key);
  if (!v || !v->as_string()) return std::nullopt;
  return *v->as_string();
}

std::optional<bool> GgufFile::get_bool(const std::string& key) const {
  auto v = find(key);
  if (!v) return std::nullopt;
  if (auto b = std::get_if<bool>(&v->v)) return *b;
  if (v->is_int()) return v->as_int().value_or(0) != 0;
  return std::nullopt;
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(const std::string& key) const {
  auto v = find(key);
  if (!v || !v->as_array() || v->elem_type != GgufType::STRING) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(v->as_array()->size());
  for (const auto& e : *v->as_array()) out.push_back(*e.as_string());
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(const std::string& key) const {
  auto v = find(key);
  if (!v || !v->as_array()) return std::nullopt;
  std::vector<float> out;
  out.reserve(v->as_array()->size());
  for (const auto& e : *v->as_array()) {
    auto f = e.as_float();
    if (!f) return std::nullopt;
    out.push_back(static_cast<float>(*f));
  }
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(const std::string& key) const {
  auto v = find(key);
  if (!v || !v->as_array()) return std::nullopt;
  std::vector<int64_t> out;
  out.reserve(v->as_array()->size());
  for (const auto& e : *v->as_array()) {
    auto i = e.as_int();
    if (!i) return std::nullopt;
    out.push_back(*i);
  }
  return out;
}

const RawTensor* GgufFile::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace shardlm
