// [store] url and pool_size: the PostgreSQL store of issue #11, from TOML and from IMAGEGATE_*
// variables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/config.hpp"

namespace ig::app {
namespace {

TEST(StoreConfig, DefaultIsSqliteInTheDataDir) {
  Config c;
  EXPECT_TRUE(c.store_url.empty());
  EXPECT_EQ(c.store_pool_size, 10);
}

TEST(StoreConfig, TheDocumentedTomlLoadsAsWritten) {
  const auto file = std::filesystem::temp_directory_path() / "ig-store-config-test.toml";
  std::ofstream(file) << R"([store]
url = "postgres://imagegate:secret@127.0.0.1:5432/imagegate"   # default: SQLite in data_dir
pool_size = 24
)";
  Config c;
  ASSERT_TRUE(load_toml(c, file));
  std::filesystem::remove(file);
  EXPECT_EQ(c.store_url, "postgres://imagegate:secret@127.0.0.1:5432/imagegate");
  EXPECT_EQ(c.store_pool_size, 24);
}

TEST(StoreConfig, BothOptionsAreEnvironmentVariables) {
  std::string vars[] = {"IMAGEGATE_STORE_URL=postgres://u:p@db:5432/ig",
                        "IMAGEGATE_STORE_POOL_SIZE=3"};
  std::vector<char*> env;
  for (auto& v : vars) {
    env.push_back(v.data());
  }
  env.push_back(nullptr);
  Config c;
  ASSERT_TRUE(load_env(c, env.data()));
  EXPECT_EQ(c.store_url, "postgres://u:p@db:5432/ig");
  EXPECT_EQ(c.store_pool_size, 3);
}

TEST(StoreConfig, APoolOutsideItsRangeIsRefused) {
  Config c;
  EXPECT_FALSE(set_option(c, "store.pool_size", "0"));
  EXPECT_FALSE(set_option(c, "store.pool_size", "1001"));
  EXPECT_TRUE(set_option(c, "store.pool_size", "1"));
  EXPECT_EQ(c.store_pool_size, 1);
}

TEST(StoreConfig, TheSqliteTaskCacheIsACountOfTasksAndZeroTurnsItOff) {
  Config c;
  EXPECT_EQ(c.sqlite_task_cache, 16384);
  EXPECT_TRUE(set_option(c, "store.sqlite_task_cache", "0"));
  EXPECT_EQ(c.sqlite_task_cache, 0);
  EXPECT_TRUE(set_option(c, "store.sqlite_task_cache", "100000"));
  EXPECT_EQ(c.sqlite_task_cache, 100000);
  EXPECT_FALSE(set_option(c, "store.sqlite_task_cache", "-1"));
  EXPECT_FALSE(set_option(c, "store.sqlite_task_cache", "lots"));
  EXPECT_EQ(c.sqlite_task_cache, 100000);
}

}  // namespace
}  // namespace ig::app
