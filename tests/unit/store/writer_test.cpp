// The group-commit writer on its own, with operations the store never issues: a blocking
// operation to control batch composition, a COMMIT that fails, an operation that throws.

#include "store/sqlite/writer.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "runtime/post_batch.hpp"

#include "unit/store/test_db.hpp"

namespace ig::store::detail {
namespace {

using core::ErrorCode;
using testing::RawDb;
using testing::TempDir;
using testing::wait_until;

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() / "w.db";
    RawDb raw(path_);
    raw.exec("PRAGMA journal_mode = WAL");
    raw.exec(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE);"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        "  p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);");
    auto conn = Connection::open(path_, Connection::Mode::kReadWrite, std::chrono::seconds(5));
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->exec("PRAGMA foreign_keys = ON", "fk").ok());
    writer_ = std::make_unique<Writer>(std::move(*conn), 64);
  }

  // An operation running `sql` (no parameters) and failing with the statement's error.
  static auto exec_op(std::string sql) {
    return [sql = std::move(sql)](Connection& c) { return c.exec(sql.c_str(), "test op"); };
  }

  // Submits `op` from a new thread and waits until the writer has it (or already finished
  // it: the last op a holding op waits for can complete before we look).
  std::thread submit_async(std::function<core::Status(Connection&)> op, core::Status& out) {
    const auto before = writer_->pending();
    auto returned = std::make_shared<std::atomic<bool>>(false);
    std::thread t([this, op = std::move(op), &out, returned]() mutable {
      out = writer_->submit(op);
      returned->store(true);
    });
    EXPECT_TRUE(wait_until([&] { return writer_->pending() == before + 1 || returned->load(); }));
    return t;
  }

  // An operation that occupies the writer (its batch is already formed) until `n` operations
  // are pending, so the ones queued meanwhile form the next batch together.
  std::function<core::Status(Connection&)> hold_until_pending(std::size_t n) {
    return [this, n](Connection&) {
      holding_.store(true);
      wait_until([this, n] { return writer_->pending() == n; });
      return core::ok_status();
    };
  }

  TempDir dir_;
  std::filesystem::path path_;
  std::atomic<bool> holding_{false};
  std::unique_ptr<Writer> writer_;
};

TEST_F(WriterTest, FailedOperationRollsBackAloneInsideItsBatch) {
  // A first operation holds the writer until three more are queued; those three then form
  // exactly one batch.
  auto hold = hold_until_pending(4);
  core::Status held = core::ok_status(), a = core::ok_status(), dup = core::ok_status(),
               b = core::ok_status();
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  const auto commits_before = writer_->commits();
  auto t1 = submit_async(exec_op("INSERT INTO t (v) VALUES ('a')"), a);
  // Its first statement succeeds, its second violates UNIQUE: only the savepoint undoes both.
  auto t2 = submit_async(
      exec_op("INSERT INTO t (v) VALUES ('partial'); INSERT INTO t (v) VALUES ('a')"), dup);
  auto t3 = submit_async(exec_op("INSERT INTO t (v) VALUES ('b')"), b);
  for (auto* t : {&t0, &t1, &t2, &t3}) {
    t->join();
  }
  EXPECT_TRUE(held.ok());
  EXPECT_TRUE(a.ok());
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(b.ok());
  // One batch for `hold`, one for the other three.
  EXPECT_EQ(writer_->commits() - commits_before, 2u);
  EXPECT_EQ(RawDb(path_).text("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY v)"),
            "a,b");
}

TEST_F(WriterTest, AnOperationRefusedBeforeItChangedARowCostsTheOthersNothing) {
  // Each operation runs once, without savepoints: the refused one changed nothing, so
  // nothing has to be undone and its batch commits as it is.
  auto hold = hold_until_pending(4);
  core::Status held = core::ok_status(), a = core::ok_status(), dup = core::ok_status(),
               b = core::ok_status();
  std::atomic<int> runs{0};
  auto counted = [&runs](std::string sql) {
    return [&runs, sql = std::move(sql)](Connection& c) {
      ++runs;
      return c.exec(sql.c_str(), "test op");
    };
  };
  auto taken = exec_op("INSERT INTO t (v) VALUES ('taken')");
  ASSERT_TRUE(writer_->submit(taken).ok());
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  auto t1 = submit_async(counted("INSERT INTO t (v) VALUES ('a')"), a);
  auto t2 = submit_async(counted("INSERT INTO t (v) VALUES ('taken')"), dup);  // UNIQUE
  auto t3 = submit_async(counted("INSERT INTO t (v) VALUES ('b')"), b);
  for (auto* t : {&t0, &t1, &t2, &t3}) {
    t->join();
  }
  EXPECT_TRUE(a.ok());
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(b.ok());
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(writer_->isolated_batches(), 0u);
  EXPECT_EQ(RawDb(path_).text("SELECT group_concat(v, ',') FROM (SELECT v FROM t ORDER BY v)"),
            "a,b,taken");
}

TEST_F(WriterTest, AFailureAfterChangesRunsTheBatchAgainWithSavepointsAndCommitsOnce) {
  // The second operation changes a row, then fails: its batch is rolled back and run again
  // with a savepoint per operation. The first operation ran twice; its row is there once.
  auto hold = hold_until_pending(3);
  core::Status held = core::ok_status(), a = core::ok_status(), bad = core::ok_status();
  std::atomic<int> a_runs{0};
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  auto t1 = submit_async(
      [&a_runs](Connection& c) {
        ++a_runs;
        return c.exec("INSERT INTO t (v) VALUES ('a')", "test op");
      },
      a);
  auto t2 = submit_async(
      [](Connection& c) -> core::Status {
        if (auto s = c.exec("INSERT INTO t (v) VALUES ('half')", "test op"); !s.ok()) {
          return s;
        }
        return core::make_error(ErrorCode::kConflict, "refused after writing");
      },
      bad);
  for (auto* t : {&t0, &t1, &t2}) {
    t->join();
  }
  EXPECT_TRUE(a.ok());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "refused after writing");
  EXPECT_EQ(a_runs.load(), 2);
  EXPECT_EQ(writer_->isolated_batches(), 1u);
  EXPECT_EQ(RawDb(path_).text("SELECT group_concat(v, ',') FROM t"), "a");
}

TEST_F(WriterTest, FailedCommitFailsEveryOperationOfTheBatch) {
  auto hold = hold_until_pending(3);
  core::Status held = core::ok_status(), good = core::ok_status(), bad = core::ok_status();
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  auto t1 = submit_async(exec_op("INSERT INTO parent (id) VALUES (1)"), good);
  // Deferred foreign key: the statement succeeds, the COMMIT fails.
  auto t2 = submit_async(exec_op("INSERT INTO child (id, p) VALUES (1, 999)"), bad);
  for (auto* t : {&t0, &t1, &t2}) {
    t->join();
  }
  EXPECT_TRUE(held.ok());
  EXPECT_FALSE(good.ok());
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(RawDb(path_).integer("SELECT COUNT(*) FROM parent"), 0);

  // The writer is still usable.
  auto again = exec_op("INSERT INTO parent (id) VALUES (2)");
  EXPECT_TRUE(writer_->submit(again).ok());
  EXPECT_EQ(RawDb(path_).integer("SELECT COUNT(*) FROM parent"), 1);
}

TEST_F(WriterTest, ThrowingOperationFailsAlone) {
  auto thrower = [](Connection& c) -> core::Status {
    EXPECT_TRUE(c.exec("INSERT INTO t (v) VALUES ('half-done')", "op").ok());
    throw std::runtime_error("boom");
  };
  core::Status s = writer_->submit(thrower);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInternal);
  auto fine = exec_op("INSERT INTO t (v) VALUES ('fine')");
  EXPECT_TRUE(writer_->submit(fine).ok());
  EXPECT_EQ(RawDb(path_).text("SELECT group_concat(v) FROM t"), "fine");
}

TEST_F(WriterTest, NestedSubmitIsRefusedInsteadOfDeadlocking) {
  auto inner = exec_op("INSERT INTO t (v) VALUES ('inner')");
  auto outer = [&](Connection&) { return writer_->submit(inner); };
  core::Status s = writer_->submit(outer);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(RawDb(path_).integer("SELECT COUNT(*) FROM t"), 0);
}

TEST_F(WriterTest, CallerReturnsOnlyAfterItsWriteIsDurable) {
  for (int i = 0; i < 20; ++i) {
    auto op = exec_op("INSERT INTO t (v) VALUES ('v" + std::to_string(i) + "')");
    ASSERT_TRUE(writer_->submit(op).ok());
    // Another connection sees it at once: it is committed, not just queued.
    EXPECT_EQ(RawDb(path_).integer("SELECT COUNT(*) FROM t"), i + 1);
  }
  EXPECT_EQ(writer_->commits(), 20u);
}

// submit_async: no thread waits; the completion runs after the commit that holds the write,
// with the operation's own result, and shares batches with blocking callers.
TEST_F(WriterTest, AsyncOperationsCompleteAfterTheirCommitWithTheirOwnResult) {
  auto hold = hold_until_pending(4);
  core::Status held = core::ok_status(), sync_ok = core::ok_status();
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  const auto commits_before = writer_->commits();
  std::atomic<int> completed{0};
  std::optional<core::Status> good, dup;
  std::atomic<std::int64_t> seen_by_other_connection{-1};
  writer_->submit_async(exec_op("INSERT INTO t (v) VALUES ('x')"), [&](core::Status s) {
    // Committed already: another connection sees the row.
    seen_by_other_connection = RawDb(path_).integer("SELECT COUNT(*) FROM t WHERE v = 'x'");
    good = std::move(s);
    ++completed;
  });
  writer_->submit_async(exec_op("INSERT INTO t (v) VALUES ('x')"), [&](core::Status s) {
    dup = std::move(s);
    ++completed;
  });
  auto t1 = submit_async(exec_op("INSERT INTO t (v) VALUES ('y')"), sync_ok);
  t0.join();
  t1.join();
  ASSERT_TRUE(wait_until([&] { return completed.load() == 2; }));
  ASSERT_TRUE(good.has_value() && dup.has_value());
  EXPECT_TRUE(good->ok());
  EXPECT_EQ(seen_by_other_connection.load(), 1);
  ASSERT_FALSE(dup->ok());
  EXPECT_EQ(dup->error().code, ErrorCode::kConflict);
  EXPECT_TRUE(sync_ok.ok());
  EXPECT_EQ(writer_->commits() - commits_before, 2u);  // `hold`, then the three together
  EXPECT_EQ(writer_->pending(), 0u);
}

// A batch's answers that go to an I/O thread (through runtime::post_batched, as await_callback
// sends them) reach its io_context as one handler, in the batch's order: one wake-up of that
// thread per commit, not one per request.
TEST_F(WriterTest, ABatchsAnswersReachAnIoContextAsOneHandler) {
  constexpr int kOps = 5;
  auto hold = hold_until_pending(1 + kOps);
  core::Status held = core::ok_status();
  auto t0 = submit_async(hold, held);
  EXPECT_TRUE(wait_until([this] { return holding_.load(); }));
  boost::asio::io_context ioc;
  auto keep = boost::asio::make_work_guard(ioc);  // poll() must not stop it while it is idle
  std::vector<int> answered;
  for (int i = 0; i < kOps; ++i) {
    writer_->submit_async(exec_op("INSERT INTO t (v) VALUES ('p" + std::to_string(i) + "')"),
                          [&ioc, &answered, i](core::Status s) {
                            EXPECT_TRUE(s.ok());
                            runtime::post_batched(ioc.get_executor(),
                                                  [&answered, i] { answered.push_back(i); });
                          });
  }
  t0.join();
  ASSERT_TRUE(held.ok());
  std::size_t handlers = 0;
  ASSERT_TRUE(wait_until([&] {
    handlers += ioc.poll();
    return answered.size() == static_cast<std::size_t>(kOps);
  }));
  EXPECT_EQ(handlers, 1u);
  EXPECT_EQ(answered, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(WriterTest, AsyncOperationsQueuedWhenTheWriterStopsStillComplete) {
  writer_.reset();
  auto conn = Connection::open(path_, Connection::Mode::kReadWrite, std::chrono::seconds(5));
  ASSERT_TRUE(conn.ok());
  writer_ = std::make_unique<Writer>(std::move(*conn), 64);
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    writer_->submit_async(exec_op("INSERT INTO t (v) VALUES ('q" + std::to_string(i) + "')"),
                          [&](core::Status s) { done += s.ok() ? 1 : 1000; });
  }
  writer_.reset();  // drains the queue: every queued operation completes
  EXPECT_EQ(done.load(), 50);
  EXPECT_EQ(RawDb(path_).integer("SELECT COUNT(*) FROM t"), 50);
}

}  // namespace
}  // namespace ig::store::detail
