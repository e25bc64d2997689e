// Atomic file replacement (autodiff/file.h): the new contents or the old file, never a mix, and
// no temporary file left behind whatever fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/file.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::testing::contains;
using ad::testing::error_of;
using ad::testing::read_bytes;
using ad::testing::write_bytes;

class ReplaceFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ad_file_tests_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> entries() const { return ad::testing::dir_entries(dir_); }
  fs::path dir_;
};

TEST_F(ReplaceFile, WritesAndOverwritesLeavingNoTemporaryFile) {
  const std::string p = path("a.txt");
  ad::replace_file(p, "first", "test");
  EXPECT_EQ(read_bytes(p), "first");
  ad::replace_file(p, std::string(100000, 'x'), "test");
  EXPECT_EQ(read_bytes(p), std::string(100000, 'x'));
  ad::replace_file(p, "", "test");
  EXPECT_EQ(read_bytes(p), "");
  EXPECT_EQ(entries(), std::vector<std::string>{"a.txt"});
  // The new file is created with 0666 & ~umask like any other.
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666u & ~mask);
}

TEST_F(ReplaceFile, WriterGetsAnFdOnATemporaryFileBesideTheTarget) {
  const std::string p = path("pic.png");
  std::string seen;
  ad::replace_file_with(
      p,
      [&](int fd) {
        ad::write_all(fd, "new ");
        ad::write_all(fd, "contents");
        // The temporary file is in the same directory (so the rename is atomic) and keeps the
        // extension; the target does not exist yet.
        const std::vector<std::string> now = entries();
        ASSERT_EQ(now.size(), 1u);
        seen = now[0];
        EXPECT_FALSE(fs::exists(p));
      },
      "test");
  EXPECT_EQ(read_bytes(p), "new contents");
  EXPECT_NE(seen, "pic.png");
  EXPECT_EQ(fs::path(seen).extension(), ".png");
  EXPECT_EQ(entries(), std::vector<std::string>{"pic.png"});
}

TEST_F(ReplaceFile, AWriterThatThrowsLeavesTheOldFile) {
  const std::string p = path("m.bin");
  ad::replace_file(p, "old", "test");
  const std::string e = error_of([&] {
    ad::replace_file_with(
        p,
        [&](int fd) {
          ad::write_all(fd, "half");
          throw ad::Error("the writer failed");
        },
        "my_save");
  });
  EXPECT_EQ(e, "my_save: cannot write '" + p + "': the writer failed; the existing file, if any, is unchanged");
  EXPECT_EQ(read_bytes(p), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"m.bin"});
  // Not a std::exception: rethrown as it is, after the clean-up.
  EXPECT_THROW(ad::replace_file_with(
                   p, [](int) { throw 42; }, "my_save"),
               int);
  EXPECT_EQ(read_bytes(p), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"m.bin"});
}

TEST_F(ReplaceFile, MissingDirectoryAndDirectoryTargetAreErrorsThatKeepEverything) {
  const std::string nowhere = path("no/such/dir/x.txt");
  const std::string e = error_of([&] { ad::replace_file(nowhere, "x", "save_thing"); });
  EXPECT_TRUE(contains(e, "save_thing: cannot write '" + nowhere + "'")) << e;
  EXPECT_TRUE(contains(e, "No such file or directory")) << e;
  EXPECT_TRUE(contains(e, "check that the directory exists")) << e;
  EXPECT_TRUE(entries().empty());

  const std::string d = path("taken");
  fs::create_directories(d);
  write_bytes(d + "/inside", "keep");
  const std::string r = error_of([&] { ad::replace_file(d, "x", "save_thing"); });
  EXPECT_TRUE(contains(r, "renaming the temporary file over it failed")) << r;
  EXPECT_TRUE(contains(r, "unchanged")) << r;
  EXPECT_EQ(read_bytes(d + "/inside"), "keep");
  EXPECT_EQ(entries(), std::vector<std::string>{"taken"});

  EXPECT_TRUE(contains(error_of([&] { ad::replace_file("", "x", "save_thing"); }), "the path names no file"));
  EXPECT_TRUE(contains(error_of([&] { ad::replace_file(path("sub/"), "x", "save_thing"); }), "the path names no file"));
}

// A writer killed mid-write leaves its temporary file; the next save of the same target removes it
// (its process is gone) but keeps those of live processes and of other targets.
TEST_F(ReplaceFile, TheNextSaveRemovesTemporaryFilesOfDeadWriters) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: the pid names no process now
  const std::string dead = ".m.bin.tmp-" + std::to_string(child) + "-3.bin";
  const std::string live = ".m.bin.tmp-" + std::to_string(::getppid()) + "-0.bin";
  const std::string other = ".n.bin.tmp-" + std::to_string(child) + "-0.bin";
  for (const std::string& name : {dead, live, other}) write_bytes(path(name), "half");
  ad::replace_file(path("m.bin"), "whole", "test");
  EXPECT_EQ(read_bytes(path("m.bin")), "whole");
  std::vector<std::string> want{live, other, "m.bin"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(entries(), want);
}

TEST_F(ReplaceFile, WriteAllReportsABadDescriptor) {
  const std::string e = error_of([&] { ad::write_all(-1, "x"); });
  EXPECT_TRUE(contains(e, "write failed (Bad file descriptor)")) << e;
}

}  // namespace
