// The WAL is checkpointed by the store's own thread, never inside the writer's COMMIT, and
// stays bounded while writes go on.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store {
namespace {

using testing::RawDb;
using testing::TempDir;

core::Task task_numbered(int i) {
  core::Task t;
  t.id = "ckpt-" + std::to_string(i);
  t.request.dialect = core::Dialect::kJobs;
  t.request.model = "gpt-image-2-text-to-image";
  t.request.prompt = std::string(600, 'p');  // about a page per task with its indexes
  t.created_ms = 1'000 + i;
  return t;
}

std::uintmax_t wal_bytes(const std::filesystem::path& db) {
  std::error_code ec;
  auto n = std::filesystem::file_size(db.string() + "-wal", ec);
  return ec ? 0 : n;
}

std::unique_ptr<SqliteStore> open_store(const std::filesystem::path& path, const char* sync,
                                        int checkpoint_pages) {
  auto opened = SqliteStore::open(
      SqliteOptions{.path = path, .synchronous = sync, .checkpoint_pages = checkpoint_pages});
  EXPECT_TRUE(opened.ok());
  return opened.ok() ? std::move(*opened) : nullptr;
}

// Tasks [from, to), one insert (one commit) each.
void insert_numbered(SqliteStore& store, int from, int to) {
  for (int i = from; i < to; ++i) {
    ASSERT_TRUE(store.insert_task(task_numbered(i)).ok()) << i;
  }
}

TEST(SqliteCheckpoint, TheWalStaysNearItsThresholdWhileTheWriterWrites) {
  TempDir dir;
  const auto path = dir.path() / "imagegate.db";
  auto opened = open_store(path, "NORMAL", 50);
  ASSERT_TRUE(opened);
  auto& store = *opened;
  ASSERT_NO_FATAL_FAILURE(insert_numbered(store, 0, 2'000));
  // 2,000 commits of at least a page each: without checkpoints the WAL would hold well over
  // 8 MB. The writer restarts it after each complete checkpoint, so the file keeps the size
  // of the longest run between two of them.
  EXPECT_GT(store.checkpoints(), 0u);
  EXPECT_LT(wal_bytes(path), 4u * 1024 * 1024) << "checkpoints: " << store.checkpoints();
  // Everything the checkpoints copied is in the database file and every task reads back.
  RawDb raw(path);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM tasks WHERE id LIKE 'ckpt-%'"), 2'000);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(SqliteCheckpoint, TheThreadCopiesTheWalIntoTheDatabaseOfANewStore) {
  // A new database is switched to WAL by the writer, after the checkpointer's connection was
  // opened: that connection must still checkpoint, not return "nothing to do". The WAL is
  // kept under the writer's own checkpoint size (4 × threshold), so only the thread copies.
  TempDir dir;
  const auto path = dir.path() / "imagegate.db";
  auto opened = open_store(path, "NORMAL", 100);
  ASSERT_TRUE(opened);
  const auto db_bytes = [&] { return std::filesystem::file_size(path); };
  const auto before = db_bytes();
  ASSERT_NO_FATAL_FAILURE(insert_numbered(*opened, 0, 40));
  ASSERT_GT(wal_bytes(path), 100u * 4096);
  ASSERT_LT(wal_bytes(path), 400u * 4096);
  // The thread runs on its own; wait (up to 10 s) for the pages it copies.
  for (int i = 0; i < 1'000 && db_bytes() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(db_bytes(), before);
  EXPECT_GT(opened->checkpoints(), 0u);
}

TEST(SqliteCheckpoint, EachCheckpointCopiesAThresholdsWorth) {
  // Past the threshold, the thread is asked again only once the writer has added another
  // threshold's worth of pages since what it last copied: a checkpoint per commit would
  // cost two fsyncs per commit, each queueing the writer's own. FULL, as served, so that
  // commits take as long as they do in production.
  TempDir dir;
  const auto path = dir.path() / "imagegate.db";
  auto opened = open_store(path, "FULL", 100);
  ASSERT_TRUE(opened);
  auto& store = *opened;
  const auto commits_before = store.commits();
  ASSERT_NO_FATAL_FAILURE(insert_numbered(store, 0, 1'500));
  const auto commits = store.commits() - commits_before;
  // Each commit adds about six pages (the task's and its indexes'), so a threshold's worth
  // is some 17 commits: about 140 checkpoints here, thread's and writer's. Asked on every
  // commit past the threshold, the thread ran about 1,100.
  EXPECT_GT(store.checkpoints(), 0u);
  EXPECT_LT(store.checkpoints() * 4, commits) << "checkpoints: " << store.checkpoints();
  EXPECT_LT(wal_bytes(path), 2u * 1024 * 1024);
  EXPECT_EQ(RawDb(path).integer("SELECT COUNT(*) FROM tasks WHERE id LIKE 'ckpt-%'"), 1'500);
}

TEST(SqliteCheckpoint, TheWriterNoLongerCheckpointsInsideItsCommit) {
  // With a threshold no test reaches, nothing checkpoints while the store is open: the WAL
  // only grows. (SQLite's own automatic checkpoint would have run at 1,000 pages.)
  TempDir dir;
  const auto path = dir.path() / "imagegate.db";
  auto opened = open_store(path, "NORMAL", 1'000'000);
  ASSERT_TRUE(opened);
  ASSERT_NO_FATAL_FAILURE(insert_numbered(*opened, 0, 1'401));
  const std::uintmax_t before = wal_bytes(path);
  ASSERT_NO_FATAL_FAILURE(insert_numbered(*opened, 1'401, 1'500));
  EXPECT_EQ(opened->checkpoints(), 0u);
  EXPECT_GT(wal_bytes(path), before);  // still appending: no restart from the beginning
  EXPECT_GT(before, 1'000u * 4096);
  // Closing the store checkpoints everything and removes the WAL.
  opened.reset();
  EXPECT_EQ(wal_bytes(path), 0u);
  EXPECT_EQ(RawDb(path).integer("SELECT COUNT(*) FROM tasks"), 1'500);
}

TEST(SqliteCheckpoint, RejectsAThresholdBelowOnePage) {
  TempDir dir;
  auto r = SqliteStore::open(SqliteOptions{.path = dir.path() / "x.db", .checkpoint_pages = 0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidRequest);
}

}  // namespace
}  // namespace ig::store
