// GGUF and safetensors writers: write, then read back (GGUF with the engine's
// GgufFile reader; safetensors with a minimal parser here).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shardlm/kernels/quant.h"
#include "shardlm/model/gguf-writer.h"
#include "shardlm/model/gguf.h"
#include "shardlm/model/hf-checkpoint.h"
#include "shardlm/model/safetensors.h"
#include "shardlm/model/safetensors-writer.h"

using namespace shardlm;
namespace fs = std::filesystem;

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shardlm-writers-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

}  // namespace

TEST(GgufWriter, MetadataOfEveryTypeRoundTrips) {
  TempDir dir;
  const std::string path = dir.path() + "/meta.gguf";
  GgufWriter w;
  w.set("k.u8", gguf_u8(200));
  w.set("k.i8", gguf_i8(-100));
  w.set("k.u16", gguf_u16(60000));
  w.set("k.i16", gguf_i16(-30000));
  w.set("k.u32", gguf_u32(4000000000u));
  w.set("k.i32", gguf_i32(-2000000000));
  w.set("k.u64", gguf_u64(1ull << 60));
  w.set("k.i64", gguf_i64(-(1ll << 60)));
  w.set("k.f32", gguf_f32(1.5f));
  w.set("k.f64", gguf_f64(0.1));
  w.set("k.bool", gguf_bool(true));
  w.set("k.str", gguf_str("héllo ▁world"));
  w.set("k.empty", gguf_str(""));
  w.set("k.strs", gguf_str_array({"a", "", "<0x0A>", "▁the"}));
  w.set("k.f32s", gguf_f32_array({0.0f, -1.25f, 3.0e-5f}));
  w.set("k.i32s", gguf_i32_array({1, -2, 3}));
  w.set("k.u32s", gguf_u32_array({7, 8}));
  w.set("k.i64s", gguf_i64_array({-(1ll << 40)}));
  w.set("k.nested", gguf_array(GgufType::ARRAY, {gguf_i32_array({1, 2}), gguf_i32_array({})}));
  w.set("k.u32", gguf_u32(5));  // replaces in place
  ASSERT_TRUE(w.write_file(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));

  auto r = GgufFile::open(path);
  ASSERT_TRUE(r) << r.message();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.get_int("general.alignment"), 32);
  EXPECT_EQ(f.find("general.alignment")->type, GgufType::U32);
  EXPECT_EQ(f.get_int("k.u8"), 200);
  EXPECT_EQ(f.find("k.u8")->type, GgufType::U8);
  EXPECT_EQ(f.get_int("k.i8"), -100);
  EXPECT_EQ(f.find("k.i8")->type, GgufType::I8);
  EXPECT_EQ(f.get_int("k.u16"), 60000);
  EXPECT_EQ(f.get_int("k.i16"), -30000);
  EXPECT_EQ(f.get_int("k.u32"), 5);
  EXPECT_EQ(f.get_int("k.i32"), -2000000000);
  EXPECT_EQ(f.get_int("k.u64"), 1ll << 60);
  EXPECT_EQ(f.get_int("k.i64"), -(1ll << 60));
  EXPECT_EQ(f.get_float("k.f32"), 1.5);
  EXPECT_EQ(f.find("k.f32")->type, GgufType::F32);
  EXPECT_EQ(f.get_float("k.f64"), 0.1);
  EXPECT_EQ(f.get_bool("k.bool"), true);
  EXPECT_EQ(f.get_string("k.str"), "héllo ▁world");
  EXPECT_EQ(f.get_string("k.empty"), "");
  EXPECT_EQ(f.get_string_array("k.strs"), (std::vector<std::string>{"a", "", "<0x0A>", "▁the"}));
  EXPECT_EQ(f.get_float_array("k.f32s"), (std::vector<float>{0.0f, -1.25f, 3.0e-5f}));
  EXPECT_EQ(f.get_int_array("k.i32s"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.find("k.i32s")->elem_type, GgufType::I32);
  EXPECT_EQ(f.get_int_array("k.u32s"), (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(f.get_int_array("k.i64s"), (std::vector<int64_t>{-(1ll << 40)}));
  const GgufValue* nested = f.find("k.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->elem_type, GgufType::ARRAY);
  ASSERT_EQ(nested->as_array()->size(), 2u);
  EXPECT_EQ((*nested->as_array())[0].as_array()->size(), 2u);
  EXPECT_EQ((*nested->as_array())[1].as_array()->size(), 0u);
  EXPECT_TRUE(f.tensors().empty());
  // metadata order: the order keys were first set (general.alignment first)
  auto bytes = read_all(path);
  uint64_t klen;
  std::memcpy(&klen, bytes.data() + 24, 8);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data() + 32), klen), "general.alignment");
}

TEST(GgufWriter, TensorsStreamedInChunks) {
  TempDir dir;
  const std::string path = dir.path() + "/t.gguf";
  // a Q8_0 [3, 64] weight from real floats, an F32 1-D norm, an F16 3-D tensor
  std::vector<float> w(3 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i));
  std::vector<uint8_t> q(dtype_row_bytes(DType::Q8_0, 3 * 64));
  ASSERT_TRUE(quantize_row(DType::Q8_0, w.data(), q.data(), 3 * 64));
  const auto norm = pattern(5 * 4, 1);
  const auto f16 = pattern(2 * 3 * 4 * 2, 9);
  GgufWriter gw;
  gw.set_string("general.architecture", "test");
  ASSERT_TRUE(gw.add_tensor("blk.0.w", DType::Q8_0, {3, 64}));
  ASSERT_TRUE(gw.add_tensor("norm", DType::F32, {5}));
  ASSERT_TRUE(gw.add_tensor("cube", DType::F16, {2, 3, 4}));
  ASSERT_TRUE(gw.begin(path));
  std::vector<uint8_t> all = q;
  all.insert(all.end(), norm.begin(), norm.end());
  all.insert(all.end(), f16.begin(), f16.end());
  for (size_t i = 0; i < all.size(); i += 7) ASSERT_TRUE(gw.write(all.data() + i, std::min<size_t>(7, all.size() - i)));
  EXPECT_EQ(gw.current_tensor(), 3u);
  EXPECT_FALSE(gw.write(all.data(), 1));  // past the end
  ASSERT_TRUE(gw.finish());

  auto r = GgufFile::open(path);
  ASSERT_TRUE(r) << r.message();
  const GgufFile& f = **r;
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  const RawTensor* t = f.tensor("blk.0.w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, DType::Q8_0);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{3, 64}));
  ASSERT_EQ(t->nbytes, q.size());
  EXPECT_EQ(std::memcmp(t->data, q.data(), q.size()), 0);
  std::vector<float> back(3 * 64);
  ASSERT_TRUE(dequantize_row(DType::Q8_0, t->data, back.data(), 3 * 64));
  for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(back[i], w[i], 0.01f);
  const RawTensor* n = f.tensor("norm");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->shape, (std::vector<int64_t>{5}));
  EXPECT_EQ(std::memcmp(n->data, norm.data(), norm.size()), 0);
  const RawTensor* c = f.tensor("cube");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->type, DType::F16);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(std::memcmp(c->data, f16.data(), f16.size()), 0);
  for (const auto& x : f.tensors()) EXPECT_EQ((x.data - f.tensor("blk.0.w")->data) % 32, 0) << x.name;

  // ne in the file is the shape reversed: check the raw tensor table of "cube"
  auto bytes = read_all(path);
  const std::string key = "cube";
  auto it = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  ASSERT_NE(it, bytes.end());
  size_t p = static_cast<size_t>(it - bytes.begin()) + key.size();
  uint32_t nd;
  std::memcpy(&nd, bytes.data() + p, 4);
  ASSERT_EQ(nd, 3u);
  uint64_t ne[3];
  std::memcpy(ne, bytes.data() + p + 4, 24);
  EXPECT_EQ(ne[0], 4u);
  EXPECT_EQ(ne[1], 3u);
  EXPECT_EQ(ne[2], 2u);
}

TEST(GgufWriter, CustomAlignment) {
  TempDir dir;
  const std::string path = dir.path() + "/a.gguf";
  GgufWriter w(64);
  const auto a = pattern(4 * 3, 3), b = pattern(4 * 5, 4);
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {3}, a.data(), a.size()));
  ASSERT_TRUE(w.add_tensor("b", DType::F32, {5}, b.data(), b.size()));
  ASSERT_TRUE(w.write_file(path));
  auto r = GgufFile::open(path);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ((*r)->alignment(), 64u);
  EXPECT_EQ((*r)->data_offset() % 64, 0u);
  EXPECT_EQ((*r)->tensor("b")->data - (*r)->tensor("a")->data, 64);
  EXPECT_EQ(std::memcmp((*r)->tensor("b")->data, b.data(), b.size()), 0);
}

TEST(GgufWriter, RejectsBadInput) {
  TempDir dir;
  GgufWriter w;
  EXPECT_FALSE(w.add_tensor("q", DType::Q8_0, {2, 48}));  // 48 is not a multiple of 32
  EXPECT_FALSE(w.add_tensor(std::string(64, 'x'), DType::F32, {1}));
  EXPECT_FALSE(w.add_tensor("u", DType::U32, {4}));  // not a GGML type
  EXPECT_FALSE(w.add_tensor("five", DType::F32, {1, 1, 1, 1, 1}));
  EXPECT_FALSE(w.add_tensor("zero", DType::F32, {0}));
  ASSERT_TRUE(w.add_tensor("ok", DType::F32, {4}));
  EXPECT_FALSE(w.add_tensor("ok", DType::F32, {4}));
  uint8_t three[3] = {};
  EXPECT_FALSE(w.add_tensor("sized", DType::F32, {1}, three, 3));
  EXPECT_FALSE(w.write_file(dir.path() + "/x.gguf"));  // "ok" has no data
  // an unfinished file never appears under its name
  const std::string path = dir.path() + "/incomplete.gguf";
  ASSERT_TRUE(w.begin(path));
  ASSERT_TRUE(w.write(three, 3));
  EXPECT_FALSE(w.finish());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".partial"));
  GgufWriter w2;
  EXPECT_FALSE(w2.begin(dir.path() + "/no/such/dir/x.gguf"));
}

// ---- safetensors ------------------------------------------------------------------

namespace {

struct StFile {
  nlohmann::json header;
  std::vector<uint8_t> bytes;
  size_t data_start = 0;
};

StFile parse_st(const std::string& path) {
  StFile s;
  s.bytes = read_all(path);
  EXPECT_GE(s.bytes.size(), 8u);
  if (s.bytes.size() < 8) return s;
  uint64_t n;
  std::memcpy(&n, s.bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u) << "data section not 8-aligned";
  s.header = nlohmann::json::parse(s.bytes.begin() + 8, s.bytes.begin() + 8 + static_cast<ptrdiff_t>(n));
  s.data_start = 8 + n;
  return s;
}

// Checks one tensor's entry and bytes.
void expect_tensor(const StFile& s, const std::string& name, const char* dtype, const std::vector<int64_t>& shape,
                   const std::vector<uint8_t>& data) {
  ASSERT_TRUE(s.header.contains(name)) << name;
  const auto& e = s.header[name];
  EXPECT_EQ(e["dtype"], dtype);
  EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), shape);
  const auto off = e["data_offsets"].get<std::vector<uint64_t>>();
  ASSERT_EQ(off.size(), 2u);
  ASSERT_EQ(off[1] - off[0], data.size());
  ASSERT_LE(s.data_start + off[1], s.bytes.size());
  if (!data.empty()) {
    EXPECT_EQ(std::memcmp(s.bytes.data() + s.data_start + off[0], data.data(), data.size()), 0) << name;
  }
}

}  // namespace

TEST(SafetensorsWriter, SingleFile) {
  TempDir dir;
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const auto a = pattern(4 * 6, 1), b = pattern(2 * 5, 2), c = pattern(2 * 3, 3);
  ASSERT_TRUE(w.add_tensor("model.embed_tokens.weight", DType::F32, {2, 3}, a.data(), a.size()));
  ASSERT_TRUE(w.add_tensor("h", DType::F16, {5}, b.data(), b.size()));
  ASSERT_TRUE(w.add_tensor("bf", DType::BF16, {1, 3}, c.data(), c.size()));
  EXPECT_FALSE(w.add_tensor("q", DType::Q8_0, {32}));
  ASSERT_TRUE(w.write_files(dir.path()));
  ASSERT_EQ(w.files(), (std::vector<std::string>{"model.safetensors"}));
  EXPECT_FALSE(fs::exists(dir.path() + "/model.safetensors.index.json"));
  const StFile s = parse_st(dir.path() + "/model.safetensors");
  EXPECT_EQ(s.header["__metadata__"]["format"], "pt");
  expect_tensor(s, "model.embed_tokens.weight", "F32", {2, 3}, a);
  expect_tensor(s, "h", "F16", {5}, b);
  expect_tensor(s, "bf", "BF16", {1, 3}, c);
  EXPECT_EQ(s.bytes.size(), s.data_start + a.size() + b.size() + c.size());  // no holes
}

TEST(SafetensorsWriter, ShardedWithIndex) {
  TempDir dir;
  SafetensorsOptions opt;
  opt.max_shard_bytes = 100;
  SafetensorsWriter w(opt);
  std::vector<std::vector<uint8_t>> data;
  const size_t sizes[] = {40, 40, 40, 400, 8, 0};  // the 400-byte tensor gets a shard of its own
  for (size_t i = 0; i < 6; ++i) {
    data.push_back(pattern(sizes[i], static_cast<uint8_t>(i)));
    ASSERT_TRUE(w.add_tensor("t" + std::to_string(i), DType::F32, {static_cast<int64_t>(sizes[i] / 4)}));
  }
  ASSERT_TRUE(w.begin(dir.path()));
  for (const auto& d : data) {  // byte by byte across tensor and shard boundaries
    for (uint8_t b : d) ASSERT_TRUE(w.write(&b, 1));
  }
  ASSERT_TRUE(w.finish());
  ASSERT_EQ(w.files().size(), 4u);
  EXPECT_EQ(w.files()[0], "model-00001-of-00004.safetensors");
  auto idx = nlohmann::json::parse(read_all(dir.path() + "/model.safetensors.index.json"));
  EXPECT_EQ(idx["metadata"]["total_size"], 528);
  // [t0 t1] [t2] [t3: bigger than a shard] [t4 t5]
  const char* want_file[] = {"model-00001-of-00004.safetensors", "model-00001-of-00004.safetensors",
                             "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
                             "model-00004-of-00004.safetensors", "model-00004-of-00004.safetensors"};
  for (size_t i = 0; i < 6; ++i) {
    const std::string name = "t" + std::to_string(i);
    ASSERT_EQ(idx["weight_map"][name], want_file[i]) << name;
    const StFile s = parse_st(dir.path() + "/" + want_file[i]);
    expect_tensor(s, name, "F32", {static_cast<int64_t>(sizes[i] / 4)}, data[i]);
  }
  for (const auto& f : w.files()) EXPECT_FALSE(fs::exists(dir.path() + "/" + f + ".partial"));
}

TEST(SafetensorsWriter, IncompleteLeavesNothing) {
  TempDir dir;
  SafetensorsWriter w;
  ASSERT_TRUE(w.add_tensor("a", DType::F32, {4}));
  ASSERT_TRUE(w.begin(dir.path()));
  uint8_t b[4] = {};
  ASSERT_TRUE(w.write(b, 4));
  EXPECT_FALSE(w.finish());
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// The engine's own readers accept what the writer produces.
TEST(SafetensorsWriter, ReadBackWithEngineReaders) {
  TempDir dir;
  SafetensorsOptions opt;
  opt.max_shard_bytes = 64;
  SafetensorsWriter w(opt);
  w.set_metadata("format", "pt");
  const auto a = pattern(4 * 8, 1), b = pattern(2 * 20, 2), c = pattern(2 * 4, 3);
  ASSERT_TRUE(w.add_tensor("model.a", DType::F32, {2, 4}, a.data(), a.size()));
  ASSERT_TRUE(w.add_tensor("model.b", DType::F16, {20}, b.data(), b.size()));
  ASSERT_TRUE(w.add_tensor("model.c", DType::BF16, {4}, c.data(), c.size()));
  ASSERT_TRUE(w.write_files(dir.path()));
  ASSERT_EQ(w.files().size(), 2u);
  auto f = SafetensorsFile::open(dir.path() + "/" + w.files()[0]);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  const RawTensor* t = (*f)->tensor("model.a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(std::memcmp(t->data, a.data(), a.size()), 0);
  {
    std::ofstream cfg(dir.path() + "/config.json");
    cfg << "{}";
  }
  auto ck = HfCheckpoint::open(dir.path());
  ASSERT_TRUE(ck) << ck.message();
  EXPECT_EQ((*ck)->names(), (std::vector<std::string>{"model.a", "model.b", "model.c"}));
  const RawTensor* tb = (*ck)->tensor("model.b");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->type, DType::F16);
  EXPECT_EQ(std::memcmp(tb->data, b.data(), b.size()), 0);
  const RawTensor* tc = (*ck)->tensor("model.c");
  ASSERT_NE(tc, nullptr);
  EXPECT_EQ(tc->type, DType::BF16);
  EXPECT_EQ(std::memcmp(tc->data, c.data(), c.size()), 0);
}
