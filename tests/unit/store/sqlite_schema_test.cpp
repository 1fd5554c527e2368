// Migration 7: the CHECK constraints written as OR chains instead of IN lists, edited in
// sqlite_schema. What they accept must not change, rows must survive, and no statement that
// writes the three tables may build a temporary b-tree to check them.
// Migration 8: a claim finds the running tasks whose lease ended through tasks_lease_end, and
// reads none of those whose lease holds.
// Migration 9: the finished tasks are counted in task_counts by triggers: counted once from
// the tasks already there, kept in step by any update or delete, whoever writes it, and a
// count reads no finished task.
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/statements.hpp"
#include "unit/store/store_test_util.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store {
namespace {

using testing::RawDb;
using testing::TempDir;

class SqliteSchemaTest : public ::testing::Test {
 protected:
  std::filesystem::path db_path() const { return dir_.path() / "imagegate.db"; }

  // A database as a binary of migration `version` left it (at most 6: migration 7 edits the
  // schema, which a plain exec cannot).
  void make_database_at(int version) {
    RawDb raw(db_path());
    raw.exec("PRAGMA journal_mode = WAL");
    raw.exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_ms INTEGER NOT NULL) STRICT");
    for (const auto& m : detail::migrations()) {
      if (m.version > version) {
        break;
      }
      raw.exec(std::string(m.sql));
      raw.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 1)");
    }
  }

  // A database as a binary of migration 6 left it, with a row in each edited table.
  void make_version_6_database() {
    make_database_at(6);
    RawDb raw(db_path());
    raw.exec("INSERT INTO accounts (id, name, created_ms) VALUES (1, 'a', 1)");
    raw.exec(
        "INSERT INTO tasks (row_id, id, dialect, request_json, state, created_ms, updated_ms) "
        "VALUES (1, 't1', 'jobs', '{}', 'succeeded', 1, 1)");
    raw.exec("INSERT INTO ledger (account_id, kind, amount, created_ms) VALUES (1, 'topup', 5, 1)");
    raw.exec(
        "INSERT INTO callbacks (task_row, url, msg_id, state, next_ms, created_ms, updated_ms) "
        "VALUES (1, 'http://x/', 'msg_1', 'delivered', 1, 1, 1)");
  }

  std::unique_ptr<SqliteStore> open() {
    auto r = SqliteStore::open(SqliteOptions{.path = db_path()});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(*r) : nullptr;
  }

  // How many temporary b-trees the statement's program opens.
  static std::int64_t ephemeral_tables(RawDb& raw, const std::string& sql) {
    raw.exec("CREATE TEMP TABLE IF NOT EXISTS plan (addr, opcode, p1, p2, p3, p4, p5, comment)");
    std::int64_t n = 0;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw.handle(), ("EXPLAIN " + sql).c_str(), -1, &st, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw.handle());
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      const auto* op = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      if (op != nullptr && std::string(op) == "OpenEphemeral") {
        ++n;
      }
    }
    sqlite3_finalize(st);
    return n;
  }

  enum class Step { kExhaust, kClaim };

  // Runs a claim's step (kExhaustTasks or kClaimTasks) at `now_ms` and returns how many steps
  // SQLite's virtual machine took; `rows` gets the number of rows it returned.
  static std::int64_t claim_steps(RawDb& raw, Step step, std::int64_t now_ms, int* rows) {
    const char* sql = step == Step::kClaim ? detail::sql::kClaimTasks : detail::sql::kExhaustTasks;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw.handle(), sql, -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(raw.handle());
    if (st == nullptr) {
      return -1;
    }
    if (step == Step::kClaim) {
      sqlite3_bind_text(st, 1, "node", -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, now_ms + 30'000);
    } else {
      sqlite3_bind_text(st, 1, "too_many_attempts", -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int64(st, 4, 64);
    sqlite3_bind_int64(st, 5, 3);
    *rows = 0;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      ++*rows;
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(raw.handle());
    const std::int64_t steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    return steps;
  }

  // `n` running tasks created at `first`, `first` + 1, …, leased until `lease_until_ms`.
  static void add_running(RawDb& raw, const std::string& prefix, int n, std::int64_t first,
                          std::int64_t lease_until_ms, int attempt = 1) {
    raw.exec(
        "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms, "
        "lease_owner, lease_until_ms) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
        "FROM n WHERE i + 1 < " +
        std::to_string(n) + ") SELECT '" + prefix + "' || i, 'jobs', '{}', 'running', " +
        std::to_string(attempt) + ", " + std::to_string(first) + " + i, 1, 'other', " +
        std::to_string(lease_until_ms) + " FROM n");
  }

  TempDir dir_;
};

TEST_F(SqliteSchemaTest, MigrationSevenKeepsRowsAndWhatTheChecksAccept) {
  make_version_6_database();
  ASSERT_NE(open(), nullptr);

  RawDb raw(db_path());
  EXPECT_EQ(raw.integer("SELECT MAX(version) FROM schema_migrations"),
            static_cast<std::int64_t>(detail::migrations().size()));
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_schema WHERE sql LIKE '%CHECK (% IN (%'"), 0);
  EXPECT_EQ(raw.text("SELECT state FROM tasks WHERE id = 't1'"), "succeeded");
  EXPECT_EQ(raw.integer("SELECT amount FROM ledger WHERE kind = 'topup'"), 5);
  EXPECT_EQ(raw.text("SELECT state FROM callbacks"), "delivered");

  // Every allowed word still goes in, every other one is still refused.
  auto accepted = [&](const std::string& sql) {
    return sqlite3_exec(raw.handle(), sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  };
  int row = 10;
  for (const char* s : {"queued", "running", "succeeded", "failed", "cancelled"}) {
    ++row;
    EXPECT_TRUE(accepted(
        "INSERT INTO tasks (row_id, id, dialect, request_json, state, created_ms, "
        "updated_ms) VALUES (" +
        std::to_string(row) + ", 't" + std::to_string(row) + "', 'jobs', '{}', '" + s + "', 1, 1)"))
        << s;
  }
  EXPECT_FALSE(
      accepted("INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
               "VALUES ('bad', 'jobs', '{}', 'Queued', 1, 1)"));
  EXPECT_FALSE(accepted("UPDATE tasks SET state = 'done' WHERE id = 't1'"));
  for (const char* k : {"topup", "hold", "capture", "refund", "adjust"}) {
    EXPECT_TRUE(accepted(std::string("INSERT INTO ledger (account_id, kind, amount, created_ms) "
                                     "VALUES (1, '") +
                         k + "', 0, 1)"))
        << k;
  }
  EXPECT_FALSE(accepted(
      "INSERT INTO ledger (account_id, kind, amount, created_ms) VALUES (1, 'gift', 1, 1)"));
  for (const char* s : {"pending", "failed"}) {
    EXPECT_TRUE(accepted(std::string("UPDATE callbacks SET state = '") + s + "'")) << s;
  }
  EXPECT_FALSE(accepted("UPDATE callbacks SET state = 'lost'"));
}

TEST_F(SqliteSchemaTest, WritesToTheCheckedTablesBuildNoTemporaryTree) {
  ASSERT_NE(open(), nullptr);
  RawDb raw(db_path());
  EXPECT_EQ(ephemeral_tables(raw,
                             "INSERT INTO tasks (id, dialect, request_json, state, created_ms, "
                             "updated_ms) VALUES ('x', 'jobs', '{}', 'queued', 1, 1)"),
            0);
  EXPECT_EQ(ephemeral_tables(raw, "UPDATE tasks SET state = 'failed' WHERE row_id = 1"), 0);
  EXPECT_EQ(ephemeral_tables(raw,
                             "INSERT INTO ledger (account_id, kind, amount, created_ms) "
                             "VALUES (1, 'hold', -1, 1)"),
            0);
  EXPECT_EQ(ephemeral_tables(raw, "UPDATE callbacks SET state = 'failed' WHERE id = 1"), 0);
}

TEST_F(SqliteSchemaTest, TheStoreThatAppliedMigrationSevenWritesAtOnce) {
  // The store that applies migration 7 keeps using its connection: the bumped
  // schema_version makes it (and every reader) parse the edited definitions, so a task
  // insert through it still works and a bad state is still refused by a fresh connection.
  make_version_6_database();
  auto store = open();
  ASSERT_NE(store, nullptr);
  core::Task task;
  task.id = "after-migration";
  task.request.dialect = core::Dialect::kJobs;
  task.request.model = "gpt-image-2-text-to-image";
  task.request.prompt = "x";
  task.created_ms = 2;
  ASSERT_TRUE(store->insert_task(task).ok());
  auto got = store->get_task("after-migration");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->state, core::TaskState::kQueued);
}

TEST_F(SqliteSchemaTest, AClaimReadsNoRunningTaskWhoseLeaseHolds) {
  ASSERT_NE(open(), nullptr);
  RawDb raw(db_path());
  constexpr std::int64_t kNow = 1'000'000;
  add_running(raw, "held-a-", 10, 1, kNow + 60'000);
  int rows = 0;
  const std::int64_t claim_few = claim_steps(raw, Step::kClaim, kNow, &rows);
  EXPECT_EQ(rows, 0);
  const std::int64_t exhaust_few = claim_steps(raw, Step::kExhaust, kNow, &rows);
  EXPECT_EQ(rows, 0);

  // 2,000 more runs that keep their lease: a claim and its exhaust step take no more steps.
  // (Walking tasks_claim, each read every running task: about 14,000 more steps each.)
  add_running(raw, "held-b-", 2000, 100, kNow + 60'000);
  EXPECT_EQ(claim_steps(raw, Step::kClaim, kNow, &rows), claim_few);
  EXPECT_EQ(rows, 0);
  EXPECT_EQ(claim_steps(raw, Step::kExhaust, kNow, &rows), exhaust_few);
  EXPECT_EQ(rows, 0);

  // Runs whose lease ended are still found, and taken oldest first with the queue.
  add_running(raw, "ended-", 3, 50, kNow - 1);
  add_running(raw, "worn-", 1, 40, kNow - 1, /*attempt=*/3);
  raw.exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) VALUES "
      "('queued-0', 'jobs', '{}', 'queued', 51, 1)");
  EXPECT_GT(claim_steps(raw, Step::kExhaust, kNow, &rows), 0);
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(raw.text("SELECT state FROM tasks WHERE id = 'worn-0'"), "failed");
  EXPECT_GT(claim_steps(raw, Step::kClaim, kNow, &rows), 0);
  EXPECT_EQ(rows, 4);
  EXPECT_EQ(raw.text("SELECT group_concat(id, ' ') FROM (SELECT id FROM tasks WHERE "
                     "lease_owner = 'node' ORDER BY created_ms, row_id)"),
            "ended-0 ended-1 queued-0 ended-2");
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM tasks WHERE lease_owner = 'node' AND "
                        "attempt = 2 AND lease_until_ms = " +
                        std::to_string(kNow + 30'000)),
            3);
}

TEST_F(SqliteSchemaTest, MigrationNineCountsTheTasksAlreadyThere) {
  // A database that a binary of migration 8 wrote to (migration 7 only rewrote CHECKs, which
  // are not needed here): the counts start from the tasks it holds.
  make_database_at(6);
  {
    RawDb raw(db_path());
    raw.exec("INSERT INTO schema_migrations VALUES (7, 1)");
    raw.exec(std::string(detail::migrations()[7].sql));
    raw.exec("INSERT INTO schema_migrations VALUES (8, 1)");
    add_running(raw, "run-", 4, 1, 1'000);
    raw.exec(
        "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) VALUES "
        "('q1', 'jobs', '{}', 'queued', 1, 1), ('s1', 'jobs', '{}', 'succeeded', 1, 1), "
        "('s2', 'jobs', '{}', 'succeeded', 1, 1), ('c1', 'jobs', '{}', 'cancelled', 1, 1)");
  }
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(testing::counts_text(store->count_tasks_by_state()),
            "queued=1 running=4 succeeded=2 failed=0 cancelled=1");
}

TEST_F(SqliteSchemaTest, TheCountsFollowEveryFinishAndDeleteWhoeverMakesIt) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  // Written as a process that knows nothing of task_counts would (an older binary still
  // draining on the same data directory), each finish with its completed_ms as the store
  // writes it: finishes of many rows at once, finished to finished and back in flight,
  // updates that change no finished state, a delete, a rolled-back change.
  RawDb raw(db_path());
  add_running(raw, "run-", 50, 1, 1'000);
  raw.exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) VALUES "
      "('q1', 'jobs', '{}', 'queued', 1, 1), ('q2', 'jobs', '{}', 'queued', 1, 1)");
  const auto finish = [&](const std::string& state, const std::string& where) {
    raw.exec("UPDATE tasks SET state = '" + state + "', completed_ms = 7 WHERE " + where);
  };
  finish("succeeded", "id LIKE 'run-1%'");  // 11 of them
  finish("failed", "id IN ('run-2', 'q1')");
  finish("running", "id = 'run-3'");  // already running
  raw.exec("UPDATE tasks SET state = 'queued' WHERE id = 'run-5'");  // a release
  raw.exec("UPDATE tasks SET completed_ms = 9 WHERE state = 'succeeded'");  // no change of state
  raw.exec("DELETE FROM tasks WHERE id IN ('run-4', 'q2', 'run-10')");
  finish("cancelled", "id = 'run-11'");  // finished to finished
  raw.exec("UPDATE tasks SET state = 'queued', completed_ms = 0 WHERE id = 'run-12'");  // back
  raw.exec("BEGIN; UPDATE tasks SET state = 'cancelled', completed_ms = 8; ROLLBACK");
  const std::string counts = testing::counts_text(store->count_tasks_by_state());
  EXPECT_EQ(counts, raw.text(testing::kCountsOfTheTasksTable));
  EXPECT_EQ(counts, "queued=2 running=36 succeeded=8 failed=2 cancelled=1");
}

TEST_F(SqliteSchemaTest, OnlyTheStatementsThatFinishATaskFireATrigger) {
  ASSERT_NE(open(), nullptr);
  RawDb raw(db_path());
  // OP_Program runs a trigger's program; a statement that has one keeps a statement journal.
  const auto fires = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw.handle(), (std::string("EXPLAIN ") + sql).c_str(), -1, &st,
                                 nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw.handle());
    bool program = false;
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      const auto* op = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      program = program || (op != nullptr && std::string(op) == "Program");
    }
    sqlite3_finalize(st);
    return program;
  };
  EXPECT_FALSE(fires(detail::sql::kInsertTask));
  EXPECT_FALSE(fires(detail::sql::kInsertClaimedTask));
  EXPECT_FALSE(fires(detail::sql::kClaimTasks));
  EXPECT_FALSE(fires(detail::sql::kRenewLease));
  EXPECT_FALSE(fires(detail::sql::kReleaseTask));
  EXPECT_TRUE(fires(detail::sql::kCompleteTask));
  EXPECT_TRUE(fires(detail::sql::kCancelTask));
  EXPECT_TRUE(fires(detail::sql::kExhaustTasks));
}

TEST_F(SqliteSchemaTest, ACountReadsNoFinishedTask) {
  ASSERT_NE(open(), nullptr);
  RawDb raw(db_path());
  const auto count_steps = [&] {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw.handle(), detail::sql::kCountByState, -1, &st, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(raw.handle());
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
    }
    const std::int64_t steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    return steps;
  };
  add_running(raw, "running-", 10, 1, 1'000);
  raw.exec("UPDATE tasks SET state = 'succeeded', completed_ms = 5 WHERE id = 'running-0'");
  const std::int64_t few = count_steps();
  // 2,000 more finished tasks: the same steps. (SELECT state, COUNT(*) ... GROUP BY state took
  // a step or more for each.)
  add_running(raw, "done-", 2000, 100, 1'000);
  raw.exec("UPDATE tasks SET state = 'failed', completed_ms = 5 WHERE id LIKE 'done-%'");
  EXPECT_EQ(count_steps(), few);
  EXPECT_EQ(raw.integer("SELECT n FROM task_counts WHERE state = 'failed'"), 2000);
}

}  // namespace
}  // namespace ig::store
