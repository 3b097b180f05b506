// The durable file writes of the actors: the exports' atomic replace.
#include "actors/side_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace failcat {
namespace {

namespace fs = std::filesystem;

class ReplaceDurably : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "failcat-side-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string read(const std::string& file) const {
    std::ifstream in(dir_ / file);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }
  fs::path dir_;
};

TEST_F(ReplaceDurably, WritesAndReplacesTheWholeFileLeavingNoTemporary) {
  ASSERT_TRUE(replace_durably((dir_ / "sub").string(), "a.ndjson", "{\"n\":1}\n").ok());
  ASSERT_TRUE(replace_durably((dir_ / "sub").string(), "a.ndjson", "{\"n\":2}\n").ok());
  EXPECT_EQ(read("sub/a.ndjson"), "{\"n\":2}\n");
  EXPECT_FALSE(fs::exists(dir_ / "sub" / "a.ndjson.tmp"));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "sub" / "a.ndjson").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// A write the device refuses (here a full disk: the temporary is /dev/full) is an error, and
// the file as last written stays whole.
TEST_F(ReplaceDurably, AFailedWriteIsAnErrorAndKeepsTheOldFile) {
  ASSERT_TRUE(replace_durably(dir_.string(), "a.ndjson", "old\n").ok());
  fs::create_symlink("/dev/full", dir_ / "a.ndjson.tmp");
  auto written = replace_durably(dir_.string(), "a.ndjson", std::string(1 << 16, 'x'));
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.error().message.find("a.ndjson.tmp"), std::string::npos)
      << written.error().message;
  EXPECT_EQ(read("a.ndjson"), "old\n");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "a.ndjson.tmp")));
}

}  // namespace
}  // namespace failcat
