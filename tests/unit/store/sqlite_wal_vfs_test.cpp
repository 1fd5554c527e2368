// The writer's WAL-gathering VFS (wal_vfs.hpp): a commit's frames reach the file in a few
// pwrite calls, and nothing about what SQLite stores, syncs or shows to readers changes.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/wal_vfs.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store {
namespace {

using detail::Connection;
using testing::RawDb;
using testing::TempDir;

Connection open_gathered(const std::filesystem::path& path) {
  auto conn = Connection::open(path, Connection::Mode::kReadWrite, std::chrono::seconds(5),
                               Connection::Wal::kGathered);
  EXPECT_TRUE(conn.ok());
  EXPECT_TRUE(conn->exec("PRAGMA journal_mode = WAL", "wal").ok());
  EXPECT_TRUE(conn->exec("PRAGMA synchronous = FULL", "sync").ok());
  EXPECT_TRUE(conn->exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, "
                         "v TEXT NOT NULL)",
                         "schema")
                  .ok());
  return std::move(*conn);
}

// Rows [from, to) in one transaction, each with a `size`-byte value.
void insert_rows(Connection& c, int from, int to, std::size_t size) {
  ASSERT_TRUE(c.exec("BEGIN IMMEDIATE", "begin").ok());
  for (int i = from; i < to; ++i) {
    const std::string sql = "INSERT INTO t (k, v) VALUES ('k" + std::to_string(i) +
                            "', printf('%." + std::to_string(size) + "c', 'v'))";
    ASSERT_TRUE(c.exec(sql.c_str(), "insert").ok()) << i;
  }
  ASSERT_TRUE(c.exec("COMMIT", "commit").ok());
}

TEST(SqliteWalVfs, GathersEachCommitIntoFewWrites) {
  TempDir dir;
  const auto path = dir.path() / "t.db";
  auto c = open_gathered(path);
  const auto before = detail::wal_vfs_counters();
  for (int i = 0; i < 50; ++i) {
    ASSERT_NO_FATAL_FAILURE(insert_rows(c, i * 20, i * 20 + 20, 300));
  }
  const auto after = detail::wal_vfs_counters();
  const auto gathered = after.writes_gathered - before.writes_gathered;
  const auto flushes = after.flushes - before.flushes;
  // 50 commits of a few pages each: SQLite made two writes a frame, the file got about one a
  // commit.
  EXPECT_GE(gathered, 50u * 4);
  EXPECT_LE(flushes, 50u * 2);
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT count(*) FROM t"), "1000");
}

TEST(SqliteWalVfs, ATransactionLargerThanOneWriteCommitsWhole) {
  // The default VFS writes at most 128 KiB a call, and the buffer holds 4 MiB: this commit is
  // 6 MB of frames, flushed in many pieces and in several buffers. A small page cache makes
  // SQLite spill pages into the WAL before the commit and then write some of them again in
  // place, inside the buffer and behind it.
  TempDir dir;
  const auto path = dir.path() / "t.db";
  auto c = open_gathered(path);
  ASSERT_TRUE(c.exec("PRAGMA cache_size = 16", "cache").ok());
  ASSERT_TRUE(c.exec("BEGIN IMMEDIATE", "begin").ok());
  for (int i = 0; i < 3'000; ++i) {
    const std::string sql = "INSERT INTO t (k, v) VALUES ('k" + std::to_string(i) +
                            "', printf('%.2000c', 'v'))";
    ASSERT_TRUE(c.exec(sql.c_str(), "insert").ok()) << i;
  }
  ASSERT_TRUE(c.exec("UPDATE t SET v = printf('%.1900c', 'w') WHERE id % 7 = 0", "update").ok());
  ASSERT_TRUE(c.exec("COMMIT", "commit").ok());

  RawDb raw(path);  // the default VFS, as the store's readers use
  EXPECT_EQ(raw.text("SELECT count(*) FROM t"), "3000");
  EXPECT_EQ(raw.text("SELECT count(*) FROM t WHERE v LIKE 'w%' AND length(v) = 1900"), "428");
  EXPECT_EQ(raw.text("SELECT sum(length(v)) FROM t"), std::to_string(2572 * 2000 + 428 * 1900));
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(SqliteWalVfs, AReaderSeesEveryCommitAtOnce) {
  TempDir dir;
  const auto path = dir.path() / "t.db";
  auto c = open_gathered(path);
  RawDb raw(path);
  for (int i = 0; i < 40; ++i) {
    ASSERT_NO_FATAL_FAILURE(insert_rows(c, i * 10, i * 10 + 10, 500));
    ASSERT_EQ(raw.text("SELECT count(*) FROM t"), std::to_string(i * 10 + 10)) << i;
    ASSERT_EQ(raw.text("SELECT v FROM t WHERE k = 'k" + std::to_string(i * 10 + 9) + "'"),
              std::string(500, 'v'));
  }
}

// The WAL file object of a connection opened through the gathering VFS.
sqlite3_file* wal_file(Connection& c) {
  sqlite3_file* file = nullptr;
  EXPECT_EQ(sqlite3_file_control(c.handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &file),
            SQLITE_OK);
  return file;
}

TEST(SqliteWalVfs, ARolledBackTransactionNeverOverwritesAnotherConnectionsCommit) {
  // The gathering connection holds a frame of a transaction it then rolls back, at the end of
  // the WAL: it goes out before the WAL write lock is released. Another connection (of this
  // process here; another process alike) commits at the same place, then the first one writes
  // again. Had the held frame stayed in the buffer past the rollback, it would reach the file
  // on that next write, over the other's commit. SQLite itself reads a page back before most
  // rollbacks, which sends held frames out anyway, so the frame is written to the WAL file
  // object directly, as SQLite's spill would write it.
  TempDir dir;
  const auto path = dir.path() / "t.db";
  auto c = open_gathered(path);
  ASSERT_NO_FATAL_FAILURE(insert_rows(c, 0, 10, 100));
  const std::filesystem::path wal = path.string() + "-wal";
  ASSERT_TRUE(c.exec("BEGIN IMMEDIATE", "begin").ok());
  ASSERT_TRUE(c.exec("INSERT INTO t (k, v) VALUES ('gone', 'g')", "insert").ok());
  sqlite3_file* file = wal_file(c);
  ASSERT_NE(file, nullptr);
  const auto size = std::filesystem::file_size(wal);  // where the next commit's frames go
  const std::string frame(4096 + 24, 'Z');
  ASSERT_EQ(file->pMethods->xWrite(file, frame.data(), static_cast<int>(frame.size()),
                                   static_cast<sqlite3_int64>(size)),
            SQLITE_OK);
  EXPECT_EQ(std::filesystem::file_size(wal), size);  // held
  ASSERT_TRUE(c.exec("ROLLBACK", "rollback").ok());
  // Out before the write lock went: as SQLite itself would have written it, past the last
  // commit, where the next commit overwrites it.
  ASSERT_EQ(std::filesystem::file_size(wal), size + frame.size());
  {
    RawDb other(path);
    other.exec("BEGIN IMMEDIATE");
    for (int i = 0; i < 100; ++i) {
      other.exec("INSERT INTO t (k, v) VALUES ('other" + std::to_string(i) +
                 "', printf('%.1200c', 'o'))");
    }
    other.exec("COMMIT");
  }
  ASSERT_NO_FATAL_FAILURE(insert_rows(c, 10, 20, 100));
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.text("SELECT count(*) FROM t WHERE k LIKE 'other%' AND v LIKE 'o%'"), "100");
  EXPECT_EQ(raw.text("SELECT count(*) FROM t WHERE k = 'gone'"), "0");
  EXPECT_EQ(raw.text("SELECT count(*) FROM t"), "120");
}

TEST(SqliteWalVfs, WhatWasCommittedOutlivesTheProcess) {
  // A child commits, starts one more transaction and dies in it without closing anything (the
  // frames of that transaction may still be in the buffer). The committed rows are all there;
  // the unfinished transaction is not.
  TempDir dir;
  const auto path = dir.path() / "t.db";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto conn = Connection::open(path, Connection::Mode::kReadWrite, std::chrono::seconds(5),
                                 Connection::Wal::kGathered);
    bool ok = conn.ok() && conn->exec("PRAGMA journal_mode = WAL", "wal").ok() &&
              conn->exec("PRAGMA synchronous = FULL", "sync").ok() &&
              conn->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v TEXT)", "t")
                  .ok();
    for (int i = 0; ok && i < 30; ++i) {
      ok = conn->exec("BEGIN IMMEDIATE", "begin").ok();
      for (int j = 0; ok && j < 10; ++j) {
        const std::string sql = "INSERT INTO t (k, v) VALUES ('k" + std::to_string(i * 10 + j) +
                                "', printf('%.700c', 'v'))";
        ok = conn->exec(sql.c_str(), "insert").ok();
      }
      ok = ok && conn->exec("COMMIT", "commit").ok();
    }
    ok = ok && conn->exec("BEGIN IMMEDIATE", "begin").ok() &&
         conn->exec("INSERT INTO t (k, v) VALUES ('lost', printf('%.50000c', 'x'))", "lost").ok();
    _exit(ok ? 0 : 1);  // no destructor, no close: as a crash leaves it
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  RawDb raw(path);
  EXPECT_EQ(raw.text("SELECT count(*) FROM t"), "300");
  EXPECT_EQ(raw.text("SELECT count(*) FROM t WHERE k = 'lost'"), "0");
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

core::Task numbered_task(int i) {
  core::Task t;
  t.id = "vfs-" + std::to_string(i);
  t.request.dialect = core::Dialect::kJobs;
  t.request.model = "gpt-image-2-text-to-image";
  t.request.prompt = "a lighthouse";
  t.created_ms = 1'000 + i;
  return t;
}

TEST(SqliteWalVfs, TheStoreGathersOnlyWhenEveryCommitSyncs) {
  // NORMAL does not sync at commit, so a reader could be shown frames still in a buffer: the
  // store's writer then writes its WAL as SQLite does.
  for (const char* sync : {"FULL", "NORMAL"}) {
    SCOPED_TRACE(sync);
    TempDir dir;
    auto opened =
        SqliteStore::open(SqliteOptions{.path = dir.path() / "s.db", .synchronous = sync});
    ASSERT_TRUE(opened.ok());
    const auto before = detail::wal_vfs_counters();
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE((*opened)->insert_task(numbered_task(i)).ok());
    }
    const auto gathered = detail::wal_vfs_counters().writes_gathered - before.writes_gathered;
    if (std::string(sync) == "FULL") {
      EXPECT_GE(gathered, 20u);
    } else {
      EXPECT_EQ(gathered, 0u);
    }
    auto got = (*opened)->get_task("vfs-19");
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->request.prompt, "a lighthouse");
  }
}

}  // namespace
}  // namespace ig::store
