// A database failure is an Error, never "fenced out", "absent" or "false"; a busy database is
// an error the caller can retry; a version-1 database is migrated with its data kept. On both
// stores.

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/codec.hpp"
#include "store/pg/migrations.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::store::testing {
namespace {

using core::ErrorCode;
using core::TaskState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The message of a failed call: a store error, with no SQL or SQLite text in it.
template <class T>
void expect_store_error(const core::Result<T>& r, ErrorCode code) {
  ASSERT_FALSE(r.ok()) << "expected a database error";
  EXPECT_EQ(r.error().code, code);
  EXPECT_THAT(r.error().message, HasSubstr("store: "));
  for (const char* sql : {"UPDATE", "SELECT", "RAISE", "injected", "no such", "elsewhere"}) {
    EXPECT_THAT(r.error().message, Not(HasSubstr(sql)));
  }
}

// StoreTest with the faults these tests inject, in each backend's words.
class StoreErrorsTest : public StoreTest {
 protected:
  // Every UPDATE of a task fails (as an I/O error or a full disk would) until the trigger goes.
  void break_task_updates() {
    if (is_sqlite()) {
      sql_exec(
          "CREATE TRIGGER broken BEFORE UPDATE ON tasks BEGIN SELECT RAISE(ABORT, 'injected'); "
          "END");
      return;
    }
    sql_exec(
        "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'injected'; END$$; "
        "CREATE TRIGGER broken BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION broken()");
  }
  void repair_task_updates() {
    sql_exec(is_sqlite() ? "DROP TRIGGER broken" : "DROP TRIGGER broken ON tasks");
  }

  // Another connection (another process) takes the lock a write of a task needs, until
  // release_write_lock().
  void hold_write_lock() {
    if (is_sqlite()) {
      sqlite_locker_ = std::make_unique<RawDb>(db_path());
      sqlite_locker_->exec("BEGIN IMMEDIATE");
      return;
    }
    pg_locker_ = std::make_unique<RawPg>(schema_->url());
    pg_locker_->exec("BEGIN; LOCK TABLE tasks IN EXCLUSIVE MODE");
  }
  void release_write_lock() {
    if (sqlite_locker_) {
      sqlite_locker_->exec("COMMIT");
    }
    if (pg_locker_) {
      pg_locker_->exec("COMMIT");
    }
  }

  // Creates the tables of schema version 1 exactly as shipped, recorded as applied at 5 ms.
  void create_version_1() {
    if (is_sqlite()) {
      RawDb raw(db_path());
      raw.exec("PRAGMA journal_mode = WAL");
      raw.exec(
          "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT "
          "NULL) STRICT");
      raw.exec(std::string(detail::migrations()[0].sql));
    } else {
      sql_exec(
          "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT "
          "NULL)");
      sql_exec(std::string(pg::migrations()[0].sql));
    }
    sql_exec("INSERT INTO schema_migrations VALUES (1, 5)");
  }
  std::size_t known_migrations() const {
    return is_sqlite() ? detail::migrations().size() : pg::migrations().size();
  }
  // The definition of an index.
  std::string index_sql(const std::string& name) {
    return sql_text(is_sqlite() ? "SELECT sql FROM sqlite_schema WHERE name = '" + name + "'"
                                : "SELECT indexdef FROM pg_indexes WHERE indexname = '" + name +
                                      "' AND schemaname = current_schema()");
  }

  std::unique_ptr<RawDb> sqlite_locker_;
  std::unique_ptr<RawPg> pg_locker_;
};

TEST_P(StoreErrorsTest, FencedWritesReportADatabaseErrorNotAFenceOut) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 60'000).at(0).task.row_id;

  break_task_updates();
  expect_store_error(store->renew_lease(row, 1, 90'000), ErrorCode::kInternal);
  expect_store_error(store->set_task_size(row, 1, 512, 512), ErrorCode::kInternal);
  expect_store_error(store->set_upstream(row, 1, "relay", "up-1"), ErrorCode::kInternal);
  expect_store_error(store->complete_task(row, 1, outcome(TaskState::kSucceeded, "", 2000)),
                     ErrorCode::kInternal);
  expect_store_error(store->release_task(row, 1), ErrorCode::kInternal);
  expect_store_error(store->cancel_task(row, 2000), ErrorCode::kInternal);
  expect_store_error(store->claim_tasks("w2", 1, 99'000'000, 99'000'001, 3), ErrorCode::kInternal);
  // Nothing landed, and the run still owns its task: once the database recovers it finishes.
  EXPECT_EQ(get(*store, "x")->state, TaskState::kRunning);
  EXPECT_EQ(get(*store, "x")->attempt, 1);
  repair_task_updates();
  EXPECT_EQ(value_of(store->complete_task(row, 1, outcome(TaskState::kSucceeded, "", 2000))),
            Fence::kApplied);
  EXPECT_EQ(get(*store, "x")->state, TaskState::kSucceeded);
}

// The case that threw paid images away: the database is busy for a moment while a run
// completes. The write fails as kUnavailable (not kFencedOut), and retried, it lands.
TEST_P(StoreErrorsTest, BusyDatabaseWhileCompletingIsARetryableError) {
  auto store = open_store(std::chrono::milliseconds(50));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("paid", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 60'000).at(0).task.row_id;

  hold_write_lock();
  auto done = outcome(TaskState::kSucceeded, "", 2000, {{"paid/a1-1.png", "image/png", 8, 8}});
  expect_store_error(store->complete_task(row, 1, done), ErrorCode::kUnavailable);
  expect_store_error(store->renew_lease(row, 1, 90'000), ErrorCode::kUnavailable);
  expect_store_error(store->claim_tasks("w2", 1, 2000, 3000, 3), ErrorCode::kUnavailable);
  release_write_lock();

  EXPECT_EQ(value_of(store->complete_task(row, 1, done)), Fence::kApplied);
  auto t = get(*store, "paid");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->state, TaskState::kSucceeded);
  ASSERT_EQ(t->results.size(), 1u);
  EXPECT_EQ(t->results[0].key, "paid/a1-1.png");
}

TEST_P(StoreErrorsTest, FencedOutIsNotAnError) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  ASSERT_EQ(claim(*store, "w2", 1, 3000, 9000).at(0).task.attempt, 2);
  for (auto r : {store->renew_lease(row, 1, 9000), store->set_upstream(row, 1, "relay", "u"),
                 store->set_task_size(row, 1, 8, 8), store->release_task(row, 1),
                 store->complete_task(row, 1, outcome(TaskState::kFailed, "x", 3500))}) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, Fence::kFencedOut);
  }
  EXPECT_EQ(value_of(store->cancel_task(row, 4000)), true);
  EXPECT_EQ(value_of(store->renew_lease(row, 2, 9000)), Fence::kFencedOut);  // cancelled
  EXPECT_EQ(value_of(store->cancel_task(row, 5000)), false);                 // already ended
}

TEST_P(StoreErrorsTest, ReadErrorsAreErrorsNotAbsence) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto key = store->create_key(make_key("sk-k", "hk"));
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(store->insert_task(make_task("x", 10, key->id)).ok());
  ASSERT_TRUE(store->insert_task(make_task("never-read", 11, key->id)).ok());
  const auto row = get(*store, "x")->row_id;
  ASSERT_TRUE(found(store->find_key_by_hash("hk")).has_value());  // readers are warm

  sql_exec("ALTER TABLE tasks RENAME TO tasks_elsewhere");
  sql_exec("ALTER TABLE api_keys RENAME TO keys_elsewhere");
  sql_exec("ALTER TABLE upstream_calls RENAME TO calls_elsewhere");
  expect_store_error(store->get_task("never-read"), ErrorCode::kInternal);
  expect_store_error(store->get_task("missing"), ErrorCode::kInternal);
  if (is_sqlite()) {
    // "x" was read before: SQLite's store keeps it decoded until it sees that another
    // connection committed (within half a second, docs/operations.md).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (store->get_task("x").ok() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  expect_store_error(store->get_task("x"), ErrorCode::kInternal);
  expect_store_error(store->find_key_by_hash("hk"), ErrorCode::kInternal);
  expect_store_error(store->find_key_by_prefix("sk-k"), ErrorCode::kInternal);
  expect_store_error(store->list_tasks(key->id, 0, 10), ErrorCode::kInternal);
  expect_store_error(store->list_upstream_calls(row), ErrorCode::kInternal);
  expect_store_error(store->claim_tasks("w", 1, 100, 1000, 3), ErrorCode::kInternal);
  EXPECT_EQ(store->count_keys(), -1);

  sql_exec("ALTER TABLE tasks_elsewhere RENAME TO tasks");
  sql_exec("ALTER TABLE keys_elsewhere RENAME TO api_keys");
  sql_exec("ALTER TABLE calls_elsewhere RENAME TO upstream_calls");
  EXPECT_EQ(get(*store, "x")->id, "x");
  EXPECT_FALSE(get(*store, "missing").has_value());
}

TEST_P(StoreErrorsTest, MigratesAVersion1DatabaseKeepingItsData) {
  auto queued = make_task("old-queued", 20, 1);
  {
    create_version_1();
    sql_exec(
        "INSERT INTO api_keys (name, prefix, secret_hash, credits, created_ms) "
        "VALUES ('old', 'sk-old', 'h-old', 42, 5)");
    sql_exec(
        "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, "
        "created_ms, started_ms, completed_ms, results_json, width, height, updated_ms) VALUES "
        "('old-done', 1, 'jobs', '" +
        core::encode_request(make_task("old-done", 10).request) +
        "', '{}', 'succeeded', 1, 10, 11, 12, "
        "'[{\"key\":\"old-done/1.png\",\"content_type\":\"image/png\",\"width\":1024,"
        "\"height\":1024}]', 1024, 1024, 12)");
    sql_exec(
        "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, created_ms, width, "
        "height, updated_ms) VALUES ('old-queued', 1, 'jobs', '" +
        core::encode_request(queued.request) + "', '" + queued.param +
        "', 'queued', 20, 1024, 1024, 20)");
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(sql_integer("SELECT MAX(version) FROM schema_migrations"),
            static_cast<std::int64_t>(known_migrations()));
  EXPECT_EQ(sql_integer("SELECT applied_ms FROM schema_migrations WHERE version = 1"), 5);
  EXPECT_THAT(index_sql("tasks_claim"), HasSubstr("attempt"));

  // The key's credits became a metered account of its own holding them, as a top-up.
  auto old_key = found(store->find_key_by_prefix("sk-old"));
  ASSERT_TRUE(old_key.has_value());
  auto old_account = found(store->get_account(old_key->account_id));
  ASSERT_TRUE(old_account.has_value());
  EXPECT_EQ(old_account->balance, 42 * 1'000'000);
  EXPECT_EQ(old_account->total_purchased, 42 * 1'000'000);
  EXPECT_TRUE(old_account->metered);
  EXPECT_EQ(sql_integer("SELECT COUNT(*) FROM ledger WHERE kind = 'topup'"), 1);
  auto done = get(*store, "old-done");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(done->completed_ms, 12);
  ASSERT_EQ(done->results.size(), 1u);
  EXPECT_EQ(done->results[0].key, "old-done/1.png");
  EXPECT_TRUE(done->usage.empty());
  EXPECT_EQ(done->upstream_route, "");
  EXPECT_EQ(done->upstream_id, "");

  // The old queued task runs under the new schema: claimed, its upstream and calls recorded.
  auto claims = claim(*store, "w", 5, 100, 1000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].task.id, "old-queued");
  EXPECT_EQ(claims[0].task.param, queued.param);
  const auto row = claims[0].task.row_id;
  EXPECT_EQ(value_of(store->set_upstream(row, 1, "relay", "up-9")), Fence::kApplied);
  ASSERT_TRUE(store->begin_upstream_call(UpstreamCall{.task_row = row, .attempt = 1}).ok());
  EXPECT_EQ(must(store->list_upstream_calls(row)).size(), 1u);
  EXPECT_EQ(get(*store, "old-queued")->upstream_id, "up-9");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreErrorsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backend_name);

}  // namespace
}  // namespace ig::store::testing
