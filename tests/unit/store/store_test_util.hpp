#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/task.hpp"
#include "store/pg/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/pg_test_db.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store::testing {

/// The two implementations every store test runs against.
enum class Backend { kSqlite, kPostgres };

/// "Sqlite" / "Postgres", for test names.
inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

/// A store on a fresh database per test: a file in a temp dir (SQLite), or a schema of its own
/// on the test server (PostgreSQL; see PgSchema). Parameterised by the backend.
class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (backend() == Backend::kPostgres) {
      schema_ = PgSchema::create();
      if (schema_ == nullptr) {
        GTEST_SKIP() << "no PostgreSQL server: set IMAGEGATE_TEST_PG (ctest starts one)";
      }
    }
  }
  /// For the fixtures that open their store in SetUp: true when the test is to go on.
  bool set_up_base() {
    StoreTest::SetUp();
    return !IsSkipped() && !HasFatalFailure();
  }

  virtual Backend backend() const { return GetParam(); }
  bool is_sqlite() const { return backend() == Backend::kSqlite; }
  std::filesystem::path db_path() const { return dir_.path() / "imagegate.db"; }

  /// The store of this test's database (opened again on the same data when called twice).
  /// `lock_wait` is how long a write waits for a lock another connection holds.
  std::unique_ptr<Store> open_store(
      std::chrono::milliseconds lock_wait = std::chrono::milliseconds(5000)) {
    auto r = try_open_store(lock_wait);
    if (!r.ok()) {
      ADD_FAILURE() << "open: " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }
  core::Result<std::unique_ptr<Store>> try_open_store(
      std::chrono::milliseconds lock_wait = std::chrono::milliseconds(5000)) {
    if (backend() == Backend::kPostgres) {
      PgOptions opts;
      opts.url = schema_->url();
      opts.lock_timeout = lock_wait;
      return as_store(PgStore::open(opts));
    }
    SqliteOptions opts;
    opts.path = db_path();
    opts.busy_timeout = lock_wait;
    return as_store(SqliteStore::open(opts));
  }

  /// SQL on the test's database behind the store's back (the portable subset of both
  /// dialects): a statement, or the first column of the first row of a query ("" for none).
  void sql_exec(const std::string& sql) {
    if (is_sqlite()) {
      RawDb(db_path()).exec(sql);
      return;
    }
    schema_->exec(sql);
  }
  std::string sql_text(const std::string& sql) {
    return is_sqlite() ? RawDb(db_path()).text(sql) : schema_->text(sql);
  }
  std::int64_t sql_integer(const std::string& sql) {
    const std::string t = sql_text(sql);
    return t.empty() ? 0 : std::stoll(t);
  }
  /// True when `sql` fails (a constraint holds), without failing the test.
  bool sql_fails(const std::string& sql) {
    if (is_sqlite()) {
      RawDb raw(db_path());
      return sqlite3_exec(raw.handle(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK;
    }
    return !schema_->raw().exec(sql, /*may_fail=*/true);
  }

  TempDir dir_;
  std::unique_ptr<PgSchema> schema_;

 private:
  template <class S>
  static core::Result<std::unique_ptr<Store>> as_store(core::Result<std::unique_ptr<S>> r) {
    if (!r.ok()) {
      return r.error();
    }
    return std::unique_ptr<Store>(std::move(*r));
  }
};

/// The SQLite-only tests (the file itself, the writer, WAL): StoreTest on SQLite alone.
class SqliteStoreTest : public StoreTest {
 protected:
  Backend backend() const override { return Backend::kSqlite; }
  std::unique_ptr<SqliteStore> open_sqlite(SqliteOptions opts = {}) {
    opts.path = db_path();
    auto r = SqliteStore::open(opts);
    if (!r.ok()) {
      ADD_FAILURE() << "open: " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }
};

inline core::Task make_task(std::string id, std::int64_t created_ms, std::int64_t key_id = 0) {
  core::Task t;
  t.id = std::move(id);
  t.key_id = key_id;
  t.created_ms = created_ms;
  t.request.dialect = core::Dialect::kJobs;
  t.request.model = "gpt-image-2";
  t.request.prompt = "a lighthouse at dusk";
  t.request.size = {1024, 1024};
  t.param = R"({"model":"gpt-image-2","input":{"prompt":"a lighthouse at dusk"}})";
  return t;
}

/// "t<i>", built without operator+ (GCC 12 reports a false -Wrestrict on "t" + to_string).
inline std::string task_id(int i) {
  std::string s = std::to_string(i);
  s.insert(s.begin(), 't');
  return s;
}

inline ApiKey make_key(std::string prefix, std::string secret_hash) {
  ApiKey k;
  k.prefix = std::move(prefix);
  k.secret_hash = std::move(secret_hash);
  return k;
}

inline core::TaskOutcome outcome(core::TaskState state, std::string fail_code,
                                 std::int64_t completed_ms,
                                 std::vector<core::ResultObject> results = {}) {
  core::TaskOutcome o;
  o.state = state;
  o.fail_code = std::move(fail_code);
  o.completed_ms = completed_ms;
  o.results = std::move(results);
  return o;
}

/// The value of a store call that must not fail; a database error fails the test and gives T{}.
template <class T>
T must(core::Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << "store error: " << r.error().message;
    return T{};
  }
  return std::move(r).value();
}

/// The value of a store call that must not fail, or nullopt (and a failed test) on an error:
/// for comparing a Fence or a bool without mistaking an error for either.
template <class T>
std::optional<T> value_of(core::Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << "store error: " << r.error().message;
    return std::nullopt;
  }
  return std::move(r).value();
}

/// get_task / find_key_* that must not fail: the row, or nullopt when there is none.
template <class T>
std::optional<T> found(core::Result<std::optional<T>> r) {
  return must(std::move(r));
}

/// The tasks a claim_tasks call (that must not fail) claimed. max_attempts is high so that
/// only tests about it see tasks exhausted.
inline std::vector<Claim> claim(Store& store, const std::string& owner, int max,
                                std::int64_t now_ms, std::int64_t lease_until_ms,
                                int max_attempts = 100) {
  return must(store.claim_tasks(owner, max, now_ms, lease_until_ms, max_attempts)).claims;
}

/// count_tasks_by_state as one line, "queued=1 running=4 succeeded=2 failed=0 cancelled=1"
/// ("-" for a state missing), so that a test compares every count at once.
inline std::string counts_text(const std::map<core::TaskState, std::int64_t>& counts) {
  std::string out;
  for (core::TaskState s : {core::TaskState::kQueued, core::TaskState::kRunning,
                            core::TaskState::kSucceeded, core::TaskState::kFailed,
                            core::TaskState::kCancelled}) {
    const auto it = counts.find(s);
    out += (out.empty() ? "" : " ") + std::string(core::to_string(s)) + "=" +
           (it == counts.end() ? std::string("-") : std::to_string(it->second));
  }
  return out;
}

/// The counts of counts_text, counted from the tasks table itself (SQLite and PostgreSQL).
inline constexpr char kCountsOfTheTasksTable[] =
    "SELECT 'queued=' || (SELECT COUNT(*) FROM tasks WHERE state = 'queued') || "
    "' running=' || (SELECT COUNT(*) FROM tasks WHERE state = 'running') || "
    "' succeeded=' || (SELECT COUNT(*) FROM tasks WHERE state = 'succeeded') || "
    "' failed=' || (SELECT COUNT(*) FROM tasks WHERE state = 'failed') || "
    "' cancelled=' || (SELECT COUNT(*) FROM tasks WHERE state = 'cancelled')";

inline std::optional<core::Task> get(Store& store, const std::string& id) {
  return found(store.get_task(id));
}

inline std::vector<std::string> ids_of(const std::vector<Claim>& claims) {
  std::vector<std::string> out;
  for (const auto& c : claims) {
    out.push_back(c.task.id);
  }
  return out;
}

}  // namespace ig::store::testing
