#include "storage/secret.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "unit/storage/temp_dir.hpp"

namespace ig::storage {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(SecretTest, CreatesA0600FileWith32RandomBytesInHex) {
  test::TempDir dir;
  const fs::path file = dir.path() / "data" / "url-secret";

  auto secret = load_or_create_secret(file);
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(secret->size(), 64u);
  EXPECT_TRUE(is_lower_hex(*secret));
  EXPECT_EQ(slurp(file), *secret + "\n");

  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()), 1)
      << "no temporary file left behind";
}

TEST(SecretTest, ReusesTheExistingSecret) {
  test::TempDir dir;
  const fs::path file = dir.path() / "url-secret";
  auto first = load_or_create_secret(file);
  ASSERT_TRUE(first.ok());
  auto second = load_or_create_secret(file);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);

  test::TempDir other;
  auto third = load_or_create_secret(other.path() / "url-secret");
  ASSERT_TRUE(third.ok());
  EXPECT_NE(*first, *third) << "each new file gets fresh random bytes";
}

TEST(SecretTest, UsesAnOperatorProvidedSecretTrimmed) {
  test::TempDir dir;
  const fs::path file = dir.path() / "url-secret";
  std::ofstream(file) << "  my-own-secret-that-is-long-enough-123\n\n";
  auto secret = load_or_create_secret(file);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(*secret, "my-own-secret-that-is-long-enough-123");
}

TEST(SecretTest, RefusesAShortOrEmptySecretInsteadOfReplacingIt) {
  test::TempDir dir;
  const fs::path file = dir.path() / "url-secret";
  std::ofstream(file) << "short\n";
  EXPECT_FALSE(load_or_create_secret(file).ok());
  EXPECT_EQ(slurp(file), "short\n");

  std::ofstream(file, std::ios::trunc).flush();
  EXPECT_FALSE(load_or_create_secret(file).ok());
}

TEST(SecretTest, ConcurrentCreatorsAgreeOnOneSecret) {
  test::TempDir dir;
  const fs::path file = dir.path() / "url-secret";
  std::vector<std::string> got(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      auto s = load_or_create_secret(file);
      got[i] = s.ok() ? *s : "error: " + s.error().message;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& s : got) {
    EXPECT_EQ(s, got[0]);
  }
  EXPECT_EQ(slurp(file), got[0] + "\n");
}

}  // namespace
}  // namespace ig::storage
