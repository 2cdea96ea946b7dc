#include "shardlm/model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace shardlm {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr size_t kMaxDims = 16;

bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

struct DtypeEntry { const char* name; DType type; uint64_t size; };
// BOOL is one byte per element: exposed as U8.
constexpr DtypeEntry kDtypes[] = {
    {"F32", DType::F32, 4}, {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2}, {"F64", DType::F64, 8},
    {"I8", DType::I8, 1},   {"I16", DType::I16, 2}, {"I32", DType::I32, 4},   {"I64", DType::I64, 8},
    {"U8", DType::U8, 1},   {"U32", DType::U32, 4}, {"BOOL", DType::U8, 1},
};
// Valid safetensors dtypes that this build cannot represent.
constexpr const char* kUnsupported[] = {"U16", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"};

const DtypeEntry* find_dtype(const std::string& s) {
  for (const auto& e : kDtypes)
    if (s == e.name) return &e;
  return nullptr;
}

bool is_unsupported(const std::string& s) {
  for (const char* u : kUnsupported)
    if (s == u) return true;
  return false;
}

// A JSON array of non-negative integers, or nothing.
bool read_uints(const json& j, std::vector<uint64_t>& out) {
  if (!j.is_array()) return false;
  out.clear();
  for (const auto& e : j) {
    if (e.is_number_unsigned()) {
      out.push_back(e.get<uint64_t>());
    } else if (e.is_number_integer()) {
      int64_t v = e.get<int64_t>();
      if (v < 0) return false;
      out.push_back(static_cast<uint64_t>(v));
    } else {
      return false;
    }
  }
  return true;
}

std::string shape_str(const std::vector<uint64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  auto mf = MappedFile::open(path);
  if (!mf) return mf.status();
  auto r = parse((*mf)->data(), (*mf)->size(), path);
  if (!r) return r.status();
  r.value()->file_ = std::move(mf.value());
  return r;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::parse(const uint8_t* data, size_t size,
                                                                const std::string& name) {
  auto fail = [&](const std::string& what) { return Status::errorf("{}: invalid safetensors: {}", name, what); };
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  if (size < 8) return fail(fmt::format("file of {} bytes is too short for the 8-byte header length", size));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8)
    return fail(fmt::format("header length {} exceeds the file ({} bytes after the length): truncated or not a safetensors file",
                            n, size - 8));
  if (n > kMaxHeader) return fail(fmt::format("header length {} exceeds the limit of {} bytes", n, kMaxHeader));
  if (n < 2) return fail(fmt::format("header length {} is too short for a JSON object", n));
  const char* hb = reinterpret_cast<const char*>(data + 8);
  if (hb[0] != '{') return fail("header is not a JSON object (does not start with '{')");

  // Parse without exceptions, refusing duplicate keys at any level (a name listed
  // twice would otherwise silently take the last entry).
  std::vector<std::set<std::string>> keys;
  std::string dup;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& v) {
    if (ev == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (ev == json::parse_event_t::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == json::parse_event_t::key && !keys.empty() && v.is_string()) {
      if (!keys.back().insert(v.get_ref<const std::string&>()).second && dup.empty())
        dup = v.get<std::string>();
    }
    return true;
  };
  json h = json::parse(hb, hb + n, cb, /*allow_exceptions=*/false);
  if (h.is_discarded()) return fail("header is not valid JSON");
  if (!h.is_object()) return fail("header is not a JSON object");
  if (!dup.empty()) return fail(fmt::format("duplicate key '{}' in the header", dup));

  f->data_offset_ = 8 + n;
  const uint64_t data_size = size - 8 - n;

  struct Range { uint64_t begin, end; const std::string* name; };
  std::vector<Range> ranges;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) return fail("__metadata__ is not a JSON object");
      for (auto m = v.begin(); m != v.end(); ++m)
        f->metadata_[m.key()] = m.value().is_string()
                                    ? m.value().get<std::string>()
                                    : m.value().dump(-1, ' ', false, json::error_handler_t::replace);
      continue;
    }
    auto tfail = [&](const std::string& what) { return fail(fmt::format("tensor '{}': {}", key, what)); };
    if (!v.is_object()) return tfail("entry is not a JSON object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto of = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || of == v.end()) return tfail("needs 'dtype', 'shape' and 'data_offsets'");
    if (!dt->is_string()) return tfail("'dtype' is not a string");
    const std::string& dts = dt->get_ref<const std::string&>();
    const DtypeEntry* de = find_dtype(dts);
    if (!de) {
      if (is_unsupported(dts)) return tfail(fmt::format("unsupported dtype '{}'", dts));
      return tfail(fmt::format("unknown dtype '{}'", dts));
    }
    std::vector<uint64_t> shape, offs;
    if (!read_uints(*sh, shape)) return tfail("'shape' is not an array of non-negative integers");
    if (shape.size() > kMaxDims) return tfail(fmt::format("{} dimensions (at most {})", shape.size(), kMaxDims));
    if (!read_uints(*of, offs) || offs.size() != 2)
      return tfail("'data_offsets' is not a pair of non-negative integers [begin, end]");
    const uint64_t begin = offs[0], end = offs[1];
    // The product of the non-zero dimensions must fit int64 (so RawTensor::numel() cannot
    // overflow whatever the order), and so must the byte count.
    uint64_t nz = 1, nbytes = 0;
    bool has_zero = false;
    for (uint64_t d : shape) {
      if (d == 0) has_zero = true;
      else if (!checked_mul(nz, d, nz)) return tfail(fmt::format("shape {} overflows", shape_str(shape)));
    }
    if (nz > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || !checked_mul(nz, de->size, nbytes))
      return tfail(fmt::format("shape {} overflows", shape_str(shape)));
    if (has_zero) nbytes = 0;
    if (end < begin) return tfail(fmt::format("data_offsets [{}, {}] end before they begin", begin, end));
    if (end > data_size)
      return tfail(fmt::format("data_offsets [{}, {}] lie beyond the end of the data section ({} bytes): truncated?",
                               begin, end, data_size));
    if (end - begin != nbytes)
      return tfail(fmt::format("shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", shape_str(shape),
                               dts, nbytes, begin, end, end - begin));
    RawTensor t;
    t.name = key;
    t.type = de->type;
    t.shape.reserve(shape.size());
    for (uint64_t d : shape) t.shape.push_back(static_cast<int64_t>(d));  // each d <= nz <= INT64_MAX
    t.data = data + f->data_offset_ + begin;
    t.nbytes = nbytes;
    t.file = name;
    f->tensors_.push_back(std::move(t));
  }
  std::sort(f->tensors_.begin(), f->tensors_.end(), [](const RawTensor& a, const RawTensor& b) { return a.name < b.name; });
  for (size_t i = 0; i < f->tensors_.size(); ++i) {
    const RawTensor& t = f->tensors_[i];
    f->index_[t.name] = i;
    const uint64_t b = static_cast<uint64_t>(t.data - data) - f->data_offset_;
    if (t.nbytes > 0) ranges.push_back({b, b + t.nbytes, &t.name});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      return fail(fmt::format("tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", *ranges[i - 1].name, ranges[i - 1].begin,
                              ranges[i - 1].end, *ranges[i].name, ranges[i].begin, ranges[i].end));
  return f;
}

const RawTensor* SafetensorsFile::tensor(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace shardlm
