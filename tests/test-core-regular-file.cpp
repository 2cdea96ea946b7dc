// open_regular_file / read_regular_file / MappedFile::open: a FIFO, a device or a
// directory is refused at once (never opened in a way that blocks, never read).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "shardlm/core/mmap.h"
#include "shardlm/core/regular-file.h"

using namespace shardlm;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    char tmpl[] = "/tmp/shardlm-regfile-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

TEST(RegularFile, ReadsARegularFileAndASymlinkToOne) {
  TempDir t;
  const auto f = t.dir / "a.txt";
  std::ofstream(f) << "hello";
  fs::create_symlink(f, t.dir / "link");
  auto r = read_regular_file(f.string());
  ASSERT_TRUE(r.is_ok()) << r.message();
  EXPECT_EQ(r.value(), "hello");
  auto l = read_regular_file((t.dir / "link").string());
  ASSERT_TRUE(l.is_ok()) << l.message();
  EXPECT_EQ(l.value(), "hello");
  auto m = MappedFile::open(f.string());
  ASSERT_TRUE(m.is_ok()) << m.message();
  EXPECT_EQ(m.value()->size(), 5u);
  EXPECT_FALSE(read_regular_file(f.string(), 4).is_ok());  // over max_bytes
}

TEST(RegularFile, RefusesFifoDeviceDirectoryAndMissingPromptly) {
  TempDir t;
  const auto fifo = t.dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  for (const std::string& p : {fifo.string(), std::string("/dev/zero"), std::string("/dev/null"), t.dir.string(),
                              (t.dir / "missing").string()}) {
    EXPECT_FALSE(check_regular_file(p).is_ok()) << p;
    EXPECT_FALSE(open_regular_file(p).is_ok()) << p;
    EXPECT_FALSE(read_regular_file(p).is_ok()) << p;
    EXPECT_FALSE(MappedFile::open(p).is_ok()) << p;
  }
  // Nothing blocked on the FIFO (no writer ever opens it); a generous bound.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  auto r = open_regular_file(fifo.string());
  EXPECT_NE(r.message().find("not a regular file"), std::string::npos) << r.message();
}
