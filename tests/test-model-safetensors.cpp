// SafetensorsFile and HfCheckpoint: the real test models parse; malformed files and
// directories, built here byte by byte, are refused with the file and the problem named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "shardlm/model/hf-checkpoint.h"
#include "shardlm/model/safetensors.h"

namespace fs = std::filesystem;
using namespace shardlm;

namespace {

std::string shared_dir() {
  const char* e = std::getenv("SHARDLM_SHARED");
  return e && *e ? e : std::string(SHARDLM_SOURCE_DIR) + "/../shared";
}

std::string model_dir(const std::string& name) { return shared_dir() + "/models/" + name; }

#define NEED_MODEL(dir)                                                                   \
  do {                                                                                    \
    if (!fs::exists(dir)) GTEST_SKIP() << "test model not found: " << (dir)               \
                                       << " (set SHARDLM_SHARED to the shared/ folder)";  \
  } while (0)

// u64 LE length + header + data.
std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("shardlm-test-st-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  fs::path path_;
};

// Opens bytes written to a temp file; returns the error message ("" if it parsed).
std::string open_error(const std::string& bytes, std::string* path_out = nullptr) {
  static TempDir dir;
  static int n = 0;
  std::string p = dir.write("bad-" + std::to_string(n++) + ".safetensors", bytes);
  if (path_out) *path_out = p;
  auto r = SafetensorsFile::open(p);
  return r ? std::string() : r.message();
}

// The file name and a keyword must both appear in the error.
void expect_refused(const std::string& bytes, const std::string& keyword) {
  std::string path;
  std::string msg = open_error(bytes, &path);
  ASSERT_FALSE(msg.empty()) << "accepted a malformed file; expected an error with '" << keyword << "'";
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(keyword), std::string::npos) << "expected '" << keyword << "' in: " << msg;
}

std::string f32_entry(const std::string& shape, uint64_t b, uint64_t e, const std::string& dtype = "F32") {
  return "{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(b) + "," +
         std::to_string(e) + "]}";
}

}  // namespace

// ---------------------------------------------------------------- real files

TEST(Safetensors, TinyStoriesF32) {
  const std::string dir = model_dir("TinyStories-656K");
  NEED_MODEL(dir);
  auto r = SafetensorsFile::open(dir + "/model.safetensors");
  ASSERT_TRUE(r) << r.message();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.tensors().size(), 20u);  // 2 layers × 9 + final norm + lm_head
  EXPECT_EQ(f.data_offset(), 8u + 2160u);
  ASSERT_TRUE(f.metadata().count("format"));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const RawTensor* head = f.tensor("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->type, DType::F32);
  EXPECT_EQ(head->shape, (std::vector<int64_t>{2048, 128}));
  EXPECT_EQ(head->nbytes, 2048u * 128 * 4);
  EXPECT_EQ(head->data, f.file()->data() + f.data_offset());  // data_offsets [0, ...]
  EXPECT_EQ(head->file, dir + "/model.safetensors");
  const RawTensor* q = f.tensor("model.layers.1.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{128, 128}));
  const RawTensor* k = f.tensor("model.layers.1.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{64, 128}));  // 4 KV heads × 16
  EXPECT_EQ(f.tensor("model.embed_tokens.weight"), nullptr);  // tied: only lm_head stored
  uint64_t total = 0;
  for (const auto& t : f.tensors()) total += t.nbytes;
  EXPECT_EQ(total + f.data_offset(), f.file()->size());
}

TEST(Safetensors, MlxQuantized) {
  struct Case { const char* dir; uint64_t data_off; int bits; DType fdt; };
  for (const Case& c : {Case{"TinyStories-656K-mlx-4bit", 5120, 4, DType::F16},
                        Case{"TinyStories-656K-mlx-8bit", 5155, 8, DType::BF16}}) {
    SCOPED_TRACE(c.dir);
    const std::string dir = model_dir(c.dir);
    NEED_MODEL(dir);
    auto r = SafetensorsFile::open(dir + "/model.safetensors");
    ASSERT_TRUE(r) << r.message();
    const SafetensorsFile& f = **r;
    EXPECT_EQ(f.data_offset(), c.data_off);
    EXPECT_EQ(f.metadata().at("format"), "mlx");
    EXPECT_EQ(f.tensors().size(), 50u);  // 7 Linears × 3 × 2 layers + 2 norms × 2 + final norm + embedding × 3
    const RawTensor* w = f.tensor("model.layers.0.mlp.down_proj.weight");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->type, DType::U32);
    EXPECT_EQ(w->shape, (std::vector<int64_t>{128, 384 * c.bits / 32}));
    const RawTensor* s = f.tensor("model.layers.0.mlp.down_proj.scales");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->type, c.fdt);
    EXPECT_EQ(s->shape, (std::vector<int64_t>{128, 6}));
    const RawTensor* e = f.tensor("model.embed_tokens.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->shape, (std::vector<int64_t>{2048, 128 * c.bits / 32}));
    if (c.bits == 8) {  // every tensor at an odd file offset: allowed
      for (const auto& t : f.tensors()) EXPECT_EQ((t.data - f.file()->data()) % 2, 1) << t.name;
    }
  }
}

// ---------------------------------------------------------------- valid synthetic

TEST(Safetensors, SyntheticValid) {
  // Two tensors out of key order, unaligned (the header is 3 bytes of padding off),
  // a BOOL, an empty tensor, a gap, metadata with a non-string value, trailing spaces.
  std::string data(64, '\0');
  for (int i = 0; i < 64; ++i) data[i] = static_cast<char>(i);
  std::string hdr = "{\"b\":" + f32_entry("[2,3]", 1, 25) + ",\"a\":" + f32_entry("[3]", 30, 36, "F16") +
                    ",\"m\":" + f32_entry("[4]", 36, 40, "BOOL") + ",\"z\":" + f32_entry("[0,5]", 40, 40) +
                    ",\"__metadata__\":{\"format\":\"pt\",\"n\":3}}   ";
  std::string path;
  std::string bytes = st_bytes(hdr, data);
  ASSERT_EQ(open_error(bytes, &path), "");
  auto r = SafetensorsFile::open(path);
  ASSERT_TRUE(r);
  const auto& f = **r;
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "a");  // sorted by name
  const RawTensor* b = f.tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->nbytes, 24u);
  EXPECT_EQ(b->data[0], 1);  // data_offsets begin 1
  EXPECT_EQ(f.tensor("m")->type, DType::U8);
  EXPECT_EQ(f.tensor("a")->type, DType::F16);
  EXPECT_EQ(f.tensor("z")->nbytes, 0u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("n"), "3");
  // Also through parse() with a caller-owned buffer.
  auto p = SafetensorsFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p.value()->tensor("b")->data, reinterpret_cast<const uint8_t*>(bytes.data()) + 8 + hdr.size() + 1);
  EXPECT_EQ(p.value()->file(), nullptr);
}

TEST(Safetensors, EmptyHeaderObject) {
  std::string path;
  ASSERT_EQ(open_error(st_bytes("{}", ""), &path), "");
}

// ---------------------------------------------------------------- malformed

TEST(SafetensorsRefuses, ShortFile) { expect_refused("abc", "too short"); }

TEST(SafetensorsRefuses, HeaderLengthBeyondFile) {
  std::string b = st_bytes("{}", "");
  b[0] = 100;  // claims 100 header bytes, has 2
  expect_refused(b, "header length 100 exceeds the file");
  std::string huge(8, '\xff');
  expect_refused(huge + "{}", "exceeds the file");
}

TEST(SafetensorsRefuses, HeaderTooShort) { expect_refused(st_bytes("{", ""), "too short"); }

TEST(SafetensorsRefuses, NotJson) {
  expect_refused(st_bytes("{\"a\": [1, 2", std::string(16, '\0')), "not valid JSON");
  expect_refused(st_bytes("hello world", ""), "not a JSON object");
  expect_refused(st_bytes("{\"a\": 1} trailing", ""), "not valid JSON");
}

TEST(SafetensorsRefuses, NotAnObject) { expect_refused(st_bytes("{\"a\": 1}", ""), "entry is not a JSON object"); }

TEST(SafetensorsRefuses, MissingFields) {
  expect_refused(st_bytes("{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", "abcd"), "needs 'dtype', 'shape' and 'data_offsets'");
}

TEST(SafetensorsRefuses, UnknownDtype) {
  expect_refused(st_bytes("{\"w\":" + f32_entry("[1]", 0, 4, "F99") + "}", "abcd"), "unknown dtype 'F99'");
  expect_refused(st_bytes("{\"w\":" + f32_entry("[1]", 0, 1, "F8_E4M3") + "}", "abcd"), "unsupported dtype 'F8_E4M3'");
  expect_refused(st_bytes("{\"w\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd"), "'dtype' is not a string");
}

TEST(SafetensorsRefuses, BadShape) {
  expect_refused(st_bytes("{\"w\":" + f32_entry("[-1]", 0, 4) + "}", "abcd"), "non-negative integers");
  expect_refused(st_bytes("{\"w\":" + f32_entry("[1.5]", 0, 4) + "}", "abcd"), "non-negative integers");
  expect_refused(st_bytes("{\"w\":" + f32_entry("7", 0, 4) + "}", "abcd"), "non-negative integers");
}

TEST(SafetensorsRefuses, ShapeOffsetMismatch) {
  expect_refused(st_bytes("{\"w\":" + f32_entry("[2]", 0, 4) + "}", "abcdefgh"), "needs 8 bytes but data_offsets [0, 4] hold 4");
}

TEST(SafetensorsRefuses, ShapeOverflow) {
  // 2^32 × 2^32 elements: overflows u64 before any offset check.
  expect_refused(st_bytes("{\"w\":" + f32_entry("[4294967296,4294967296]", 0, 4) + "}", "abcd"), "overflows");
  // 2^62 elements × 4 bytes overflows the byte count.
  expect_refused(st_bytes("{\"w\":" + f32_entry("[4611686018427387904]", 0, 4) + "}", "abcd"), "overflows");
  // Zero elements, but the other dimensions alone overflow int64.
  expect_refused(st_bytes("{\"w\":" + f32_entry("[0,4294967296,4294967296]", 0, 0) + "}", ""), "overflows");
}

TEST(SafetensorsRefuses, OffsetsBeyondEnd) {
  // The file was cut: the tensor's data runs past the end.
  expect_refused(st_bytes("{\"w\":" + f32_entry("[4]", 0, 16) + "}", std::string(10, 'x')), "beyond the end");
  expect_refused(st_bytes("{\"w\":" + f32_entry("[0]", 99, 99) + "}", ""), "beyond the end");
  expect_refused(st_bytes("{\"w\":" + f32_entry("[1]", 8, 4) + "}", std::string(10, 'x')), "end before they begin");
  expect_refused(st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", "abcd"), "pair");
  expect_refused(st_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0, -4]}}", "abcd"), "pair");
}

TEST(SafetensorsRefuses, Overlap) {
  expect_refused(st_bytes("{\"a\":" + f32_entry("[2]", 0, 8) + ",\"b\":" + f32_entry("[2]", 4, 12) + "}",
                          std::string(12, 'x')),
                 "overlap");
  expect_refused(st_bytes("{\"a\":" + f32_entry("[2]", 0, 8) + ",\"b\":" + f32_entry("[2]", 0, 8) + "}",
                          std::string(8, 'x')),
                 "overlap");
}

TEST(SafetensorsRefuses, DuplicateKey) {
  expect_refused(st_bytes("{\"a\":" + f32_entry("[1]", 0, 4) + ",\"a\":" + f32_entry("[1]", 4, 8) + "}",
                          std::string(8, 'x')),
                 "duplicate key 'a'");
}

TEST(SafetensorsRefuses, BadMetadata) {
  expect_refused(st_bytes("{\"__metadata__\": [1]}", ""), "__metadata__ is not a JSON object");
}

TEST(SafetensorsRefuses, MissingFile) {
  auto r = SafetensorsFile::open("/nonexistent/dir/x.safetensors");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("/nonexistent/dir/x.safetensors"), std::string::npos) << r.message();
}

// ---------------------------------------------------------------- HF directories

TEST(HfCheckpoint, TinyStoriesF32) {
  const std::string dir = model_dir("TinyStories-656K");
  NEED_MODEL(dir);
  auto r = HfCheckpoint::open(dir + "/");
  ASSERT_TRUE(r) << r.message();
  const HfCheckpoint& c = **r;
  EXPECT_EQ(c.dir(), dir);
  EXPECT_EQ(c.config().at("hidden_size").get<int>(), 128);
  EXPECT_EQ(c.names().size(), 20u);
  ASSERT_NE(c.tensor("lm_head.weight"), nullptr);
  EXPECT_EQ(c.tensor("nope"), nullptr);
  EXPECT_EQ(c.files().size(), 1u);
  c.release(*c.tensor("lm_head.weight"));  // must not crash; data stays readable
  EXPECT_EQ(c.tensor("lm_head.weight")->data[0], c.files()[0]->tensor("lm_head.weight")->data[0]);
}

TEST(HfCheckpoint, MlxWithIndex) {
  for (const char* name : {"TinyStories-656K-mlx-4bit", "TinyStories-656K-mlx-8bit"}) {
    SCOPED_TRACE(name);
    const std::string dir = model_dir(name);
    NEED_MODEL(dir);
    auto r = HfCheckpoint::open(dir);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ((*r)->names().size(), 50u);
    EXPECT_TRUE((*r)->config().contains("quantization"));
    const RawTensor* w = (*r)->tensor("model.layers.1.self_attn.v_proj.weight");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->type, DType::U32);
  }
}

namespace {

const std::string kConfig = "{\"hidden_size\": 4}";
std::string one_tensor(const std::string& name) { return st_bytes("{\"" + name + "\":" + f32_entry("[1]", 0, 4) + "}", "abcd"); }

void expect_dir_refused(const TempDir& d, const std::string& name_in_msg, const std::string& keyword) {
  auto r = HfCheckpoint::open(d.path());
  ASSERT_FALSE(r) << "accepted a bad directory; expected '" << keyword << "'";
  EXPECT_NE(r.message().find(name_in_msg), std::string::npos) << "expected '" << name_in_msg << "' in: " << r.message();
  EXPECT_NE(r.message().find(keyword), std::string::npos) << "expected '" << keyword << "' in: " << r.message();
}

}  // namespace

TEST(HfCheckpoint, ShardedWithIndex) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("model-00001-of-00002.safetensors", one_tensor("a"));
  d.write("model-00002-of-00002.safetensors", one_tensor("b"));
  d.write("model.safetensors.index.json",
          "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
          "\"b\":\"model-00002-of-00002.safetensors\"}}");
  auto r = HfCheckpoint::open(d.path());
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ((*r)->names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*r)->tensor("b")->file, d.path() + "/model-00002-of-00002.safetensors");
}

TEST(HfCheckpoint, GlobWithoutIndex) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("x.safetensors", one_tensor("a"));
  d.write("y.safetensors", one_tensor("b"));
  d.write("notes.txt", "ignored");
  auto r = HfCheckpoint::open(d.path());
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ((*r)->names(), (std::vector<std::string>{"a", "b"}));
}

TEST(HfCheckpointRefuses, NotADirectory) {
  auto r = HfCheckpoint::open("/nonexistent/model-dir");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("/nonexistent/model-dir"), std::string::npos);
  EXPECT_NE(r.message().find("not a directory"), std::string::npos);
}

TEST(HfCheckpointRefuses, MissingConfig) {
  TempDir d;
  d.write("model.safetensors", one_tensor("a"));
  expect_dir_refused(d, d.path(), "missing config.json");
}

TEST(HfCheckpointRefuses, BadConfig) {
  TempDir d;
  d.write("config.json", "{\"hidden_size\": ");
  d.write("model.safetensors", one_tensor("a"));
  expect_dir_refused(d, d.path() + "/config.json", "not valid JSON");
  d.write("config.json", "[1, 2]");
  expect_dir_refused(d, d.path() + "/config.json", "not a JSON object");
}

TEST(HfCheckpointRefuses, NoWeights) {
  TempDir d;
  d.write("config.json", kConfig);
  expect_dir_refused(d, d.path(), "no weights");
}

TEST(HfCheckpointRefuses, BadShardInside) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("model.safetensors", st_bytes("{\"w\":" + f32_entry("[4]", 0, 16) + "}", "abcd"));
  expect_dir_refused(d, d.path() + "/model.safetensors", "beyond the end");
}

TEST(HfCheckpointRefuses, IndexMissingShard) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("model-00001-of-00002.safetensors", one_tensor("a"));
  d.write("model.safetensors.index.json",
          "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
  expect_dir_refused(d, "model-00002-of-00002.safetensors", "missing shard");
}

TEST(HfCheckpointRefuses, IndexMissingTensor) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("model-00001-of-00001.safetensors", one_tensor("a"));
  d.write("model.safetensors.index.json",
          "{\"weight_map\":{\"a\":\"model-00001-of-00001.safetensors\",\"lm_head.weight\":\"model-00001-of-00001.safetensors\"}}");
  expect_dir_refused(d, d.path() + "/model-00001-of-00001.safetensors", "missing tensor 'lm_head.weight'");
}

TEST(HfCheckpointRefuses, BadIndex) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("model.safetensors", one_tensor("a"));
  d.write("model.safetensors.index.json", "{\"metadata\":{}}");
  expect_dir_refused(d, "model.safetensors.index.json", "weight_map");
  d.write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}");
  expect_dir_refused(d, "model.safetensors.index.json", "outside the directory");
  d.write("model.safetensors.index.json", "{\"weight_map\":{\"a\":7}}");
  expect_dir_refused(d, "model.safetensors.index.json", "not a file name");
  d.write("model.safetensors.index.json", "not json");
  expect_dir_refused(d, "model.safetensors.index.json", "not valid JSON");
}

TEST(HfCheckpointRefuses, DuplicateAcrossShards) {
  TempDir d;
  d.write("config.json", kConfig);
  d.write("x.safetensors", one_tensor("a"));
  d.write("y.safetensors", one_tensor("a"));
  expect_dir_refused(d, d.path() + "/y.safetensors", "tensor 'a' is also in");
}
