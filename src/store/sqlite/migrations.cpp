#include "store/sqlite/migrations.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <string>

namespace ig::store::detail {
namespace {

// Conventions for every table: STRICT typing, times in ms since the Unix epoch, 0 for "not
// yet" instead of NULL, booleans as 0/1.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE api_keys (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL DEFAULT '',
  prefix      TEXT    UNIQUE,            -- NULL when the key has none
  secret_hash TEXT    NOT NULL UNIQUE,   -- lower-case hex SHA-256 of the whole key
  disabled    INTEGER NOT NULL DEFAULT 0,
  credits     INTEGER NOT NULL DEFAULT 0,
  created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE tasks (
  row_id         INTEGER PRIMARY KEY,
  id             TEXT    NOT NULL UNIQUE,  -- public id, in the creating dialect's format
  key_id         INTEGER REFERENCES api_keys(id),  -- NULL for a task without a key
  dialect        TEXT    NOT NULL,
  request_json   TEXT    NOT NULL,  -- core::encode_request; the source of truth for the request
  param          TEXT    NOT NULL DEFAULT '',
  state          TEXT    NOT NULL
                 CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempt        INTEGER NOT NULL DEFAULT 0,
  lease_owner    TEXT,
  lease_until_ms INTEGER NOT NULL DEFAULT 0,
  created_ms     INTEGER NOT NULL,
  started_ms     INTEGER NOT NULL DEFAULT 0,
  completed_ms   INTEGER NOT NULL DEFAULT 0,
  fail_code      TEXT    NOT NULL DEFAULT '',
  fail_msg       TEXT    NOT NULL DEFAULT '',
  results_json   TEXT    NOT NULL DEFAULT '[]',  -- core::encode_results
  width          INTEGER NOT NULL DEFAULT 0,  -- copies of the request's size, kept in step
  height         INTEGER NOT NULL DEFAULT 0,
  updated_ms     INTEGER NOT NULL
) STRICT;

-- Claim: for state 'queued', and for 'running' (expired leases), walks rows already in
-- (created_ms, row_id) order and checks the lease from the index alone: no sort, no table
-- read until a row is taken. Also serves the count per state.
CREATE INDEX tasks_claim ON tasks (state, created_ms, row_id, lease_until_ms);

-- A key's tasks, newest or oldest first.
CREATE INDEX tasks_by_key ON tasks (key_id, created_ms);
)sql";

// Where a task's paid work lives and what it cost; the log of every upstream call.
constexpr std::string_view kV2 = R"sql(
ALTER TABLE tasks ADD COLUMN usage_json     TEXT NOT NULL DEFAULT '';  -- core::encode_usage
ALTER TABLE tasks ADD COLUMN upstream_route TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN upstream_id    TEXT NOT NULL DEFAULT '';

-- Claim also checks max_attempts from the index alone (attempt appended).
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (state, created_ms, row_id, lease_until_ms, attempt);

-- Append-only: a row is written before the request leaves and finished when it ends, so a
-- crash mid-call leaves it 'in_flight'.
CREATE TABLE upstream_calls (
  id            INTEGER PRIMARY KEY,
  task_row      INTEGER NOT NULL REFERENCES tasks(row_id) ON DELETE CASCADE,
  attempt       INTEGER NOT NULL,  -- the claim attempt that made the call
  route         TEXT    NOT NULL DEFAULT '',
  provider_kind TEXT    NOT NULL DEFAULT '',
  upstream_id   TEXT    NOT NULL DEFAULT '',
  http_status   INTEGER NOT NULL DEFAULT 0,
  started_ms    INTEGER NOT NULL,
  duration_ms   INTEGER NOT NULL DEFAULT -1,       -- -1 while in flight
  error_class   TEXT    NOT NULL DEFAULT 'in_flight',  -- '' succeeded, else a FailureClass word
  error_code    TEXT    NOT NULL DEFAULT '',
  message       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX upstream_calls_by_task ON upstream_calls (task_row);
)sql";

// Billing: accounts own keys and hold the money, every movement of it is a ledger row, keys
// carry their limits, tasks their price.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE accounts (
  id         INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL DEFAULT '',
  metered    INTEGER NOT NULL DEFAULT 0,  -- 1: a create is refused beyond the balance
  balance    INTEGER NOT NULL DEFAULT 0,  -- micro-credits: SUM(ledger.amount), kept in the same
                                          -- transaction as every ledger row
  created_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger (
  id         INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  kind       TEXT    NOT NULL CHECK (kind IN ('topup', 'hold', 'capture', 'refund', 'adjust')),
  amount     INTEGER NOT NULL,  -- the balance's movement: topup +, hold -price, capture 0,
                                -- refund +price, adjust either way
  price      INTEGER NOT NULL DEFAULT 0,  -- hold, capture, refund: the task's price
  task_row   INTEGER REFERENCES tasks(row_id),
  key_id     INTEGER REFERENCES api_keys(id),
  reason     TEXT    NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
) STRICT;

-- A task is held once and settled (captured or refunded) at most once: by the schema, not
-- only by the code.
CREATE UNIQUE INDEX ledger_one_hold ON ledger (task_row) WHERE kind = 'hold';
CREATE UNIQUE INDEX ledger_one_settlement ON ledger (task_row)
  WHERE kind IN ('capture', 'refund');
CREATE INDEX ledger_by_account ON ledger (account_id, created_ms);
-- Spend limits: a key's holds since a time.
CREATE INDEX ledger_spend ON ledger (key_id, kind, created_ms);

-- Every existing key gets an account of its own (same id), metered when it had credits.
-- `keys create --credits N` stored N in whole credits; balances are micro-credits.
INSERT INTO accounts (id, name, metered, balance, created_ms)
  SELECT id, name, credits > 0, credits * 1000000, created_ms FROM api_keys;
INSERT INTO ledger (account_id, kind, amount, reason, created_ms)
  SELECT id, 'topup', credits * 1000000, 'credits of the key before accounts', created_ms
  FROM api_keys WHERE credits > 0;

ALTER TABLE api_keys ADD COLUMN account_id INTEGER REFERENCES accounts(id);
UPDATE api_keys SET account_id = id;
ALTER TABLE api_keys DROP COLUMN credits;
ALTER TABLE api_keys ADD COLUMN rpm          INTEGER NOT NULL DEFAULT 0;  -- 0: no limit
ALTER TABLE api_keys ADD COLUMN max_active   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_hourly INTEGER NOT NULL DEFAULT 0;  -- micro-credits
ALTER TABLE api_keys ADD COLUMN spend_daily  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN spend_total  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT    NOT NULL DEFAULT '';  -- CIDRs, ','-joined

ALTER TABLE tasks ADD COLUMN price INTEGER NOT NULL DEFAULT 0;  -- micro-credits held at create

-- The active-task limit counts a key's queued and running tasks from this index alone.
CREATE INDEX tasks_active_by_key ON tasks (key_id) WHERE state IN ('queued', 'running');
)sql";

// Callbacks: a durable outbox row per task end to announce, and every delivery attempt.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';  -- whsec_…; '' = none yet

CREATE TABLE callbacks (
  id             INTEGER PRIMARY KEY,
  task_row       INTEGER NOT NULL UNIQUE REFERENCES tasks(row_id),
  url            TEXT    NOT NULL,
  msg_id         TEXT    NOT NULL UNIQUE,  -- webhook-id: the same on every attempt
  state          TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts       INTEGER NOT NULL DEFAULT 0,
  next_ms        INTEGER NOT NULL,          -- when the next attempt is due
  lease_until_ms INTEGER NOT NULL DEFAULT 0,  -- a sender is delivering it until then
  created_ms     INTEGER NOT NULL,
  updated_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX callbacks_due ON callbacks (state, next_ms);

CREATE TABLE callback_attempts (
  id          INTEGER PRIMARY KEY,
  callback_id INTEGER NOT NULL REFERENCES callbacks(id),
  started_ms  INTEGER NOT NULL,
  http_status INTEGER NOT NULL DEFAULT 0,  -- 0: no answer
  latency_ms  INTEGER NOT NULL,
  error       TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX callback_attempts_by_callback ON callback_attempts (callback_id);
)sql";

// Idempotency keys of creates, per account: the request they were first used with and the
// answer it got, replayed to a retry.
constexpr std::string_view kV5 = R"sql(
CREATE TABLE idempotency_keys (
  account_id   INTEGER NOT NULL,
  key          TEXT    NOT NULL,
  request_hash TEXT    NOT NULL,            -- SHA-256 of the method, path and body
  task_id      TEXT    NOT NULL DEFAULT '',  -- '' while the first request is being created
  status       INTEGER NOT NULL DEFAULT 0,
  response     TEXT    NOT NULL DEFAULT '',
  created_ms   INTEGER NOT NULL,
  PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_ms);
)sql";

// The admin views (#10): everyone's tasks and usage over a time window, and the upstream
// call log over a window, each read along an index instead of the whole table.
constexpr std::string_view kV6 = R"sql(
CREATE INDEX tasks_by_created ON tasks (created_ms);
CREATE INDEX upstream_calls_by_start ON upstream_calls (started_ms);
)sql";

// The same CHECK constraints, written as OR chains. SQLite evaluates `x IN (three or more
// constants)` by building a temporary b-tree each time a statement runs, which cost every task
// insert, state change and ledger row several microseconds on the single writer (#9). Only
// the text of the constraints changes, not what they accept, nor anything on disk, so the
// table definitions are edited in place (https://sqlite.org/lang_altertable.html, "making
// other kinds of table schema changes"): migrate() runs this step with writable_schema on,
// checks that every definition changed, and bumps schema_version.
constexpr std::string_view kV7 = R"sql(
UPDATE sqlite_schema SET sql = replace(sql,
  'CHECK (state IN (''queued'', ''running'', ''succeeded'', ''failed'', ''cancelled''))',
  'CHECK (state = ''queued'' OR state = ''running'' OR state = ''succeeded'' OR '
  || 'state = ''failed'' OR state = ''cancelled'')')
  WHERE type = 'table' AND name = 'tasks';
UPDATE sqlite_schema SET sql = replace(sql,
  'CHECK (kind IN (''topup'', ''hold'', ''capture'', ''refund'', ''adjust''))',
  'CHECK (kind = ''topup'' OR kind = ''hold'' OR kind = ''capture'' OR kind = ''refund'' OR '
  || 'kind = ''adjust'')')
  WHERE type = 'table' AND name = 'ledger';
UPDATE sqlite_schema SET sql = replace(sql,
  'CHECK (state IN (''pending'', ''delivered'', ''failed''))',
  'CHECK (state = ''pending'' OR state = ''delivered'' OR state = ''failed'')')
  WHERE type = 'table' AND name = 'callbacks';
)sql";

// A claim also takes running tasks whose lease has ended. tasks_claim found them by walking
// every running task in creation order and reading its lease: with 10,000 tasks running, each
// claim read 10,000 index entries, twice (the exhaust step walks too), even when no lease had
// ended (#9). tasks_lease_end holds the running tasks in the order their leases end, so a
// claim reads the ones that ended, and no more than it takes. tasks_claim loses
// lease_until_ms, which only that walk read: a lease renewal now moves one entry, in the small
// index, instead of one in each.
constexpr std::string_view kV8 = R"sql(
DROP INDEX tasks_claim;
CREATE INDEX tasks_claim ON tasks (state, created_ms, row_id, attempt);
CREATE INDEX tasks_lease_end ON tasks (lease_until_ms, created_ms, row_id, attempt)
  WHERE state = 'running';
)sql";

// /metrics and the admin summary count the tasks in each state. SELECT ... GROUP BY state read
// an index entry per task ever created: 56 ms a call at 1,000,000 tasks, on an endpoint anyone
// may call (#9). The tasks queued or running are still counted (from tasks_claim: as many
// entries as there are tasks in flight); the finished ones, whose number only grows, are kept
// in task_counts by triggers, in the transaction of the change, whoever makes it (an older
// binary still draining on the same data directory too). One writer: no counter row is
// contended. Comparisons instead of IN lists, as migration 7 explains.
//
// A trigger that may fire on a statement makes it keep a statement journal in a transaction:
// about 3.5 µs more per statement on the writer (measured), even when its WHEN is false. So
// no trigger fires on the statements of every task's life: none on INSERT (the store inserts
// every task queued or running), and the updates' triggers watch completed_ms, which a task
// gets when it finishes (complete, cancel, too many attempts), not state, which each claim and
// release sets too. Uncounted, then: a row inserted finished, or finished without its
// completed_ms, by hand.
constexpr std::string_view kV9 = R"sql(
CREATE TABLE task_counts (
  state TEXT    PRIMARY KEY,  -- 'succeeded', 'failed' or 'cancelled'
  n     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO task_counts (state, n)
  SELECT s.state, (SELECT COUNT(*) FROM tasks WHERE tasks.state = s.state)
  FROM (SELECT 'succeeded' AS state UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;
CREATE TRIGGER tasks_count_enter AFTER UPDATE OF completed_ms ON tasks
  WHEN OLD.state <> NEW.state AND NEW.state <> 'queued' AND NEW.state <> 'running' BEGIN
  UPDATE task_counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER tasks_count_leave AFTER UPDATE OF completed_ms ON tasks
  WHEN OLD.state <> NEW.state AND OLD.state <> 'queued' AND OLD.state <> 'running' BEGIN
  UPDATE task_counts SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
  WHEN OLD.state <> 'queued' AND OLD.state <> 'running' BEGIN
  UPDATE task_counts SET n = n - 1 WHERE state = OLD.state;
END;
)sql";

constexpr std::array kMigrations{
    Migration{1, kV1},
    Migration{2, kV2},
    Migration{3, kV3},
    Migration{4, kV4},
    Migration{5, kV5},
    Migration{6, kV6},
    Migration{7, kV7, true},
    Migration{8, kV8},
    Migration{9, kV9},
};

core::Result<std::int64_t> current_version(Connection& conn) {
  static constexpr const char kSql[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
  auto st = conn.prepare(kSql, "read schema version");
  if (!st.ok()) {
    return st.error();
  }
  if (int rc = st->step(); rc != SQLITE_ROW) {
    return conn.error(rc, "read schema version");
  }
  return st->int64(0);
}

core::Status record_version(Connection& conn, int version, std::int64_t now_ms) {
  static constexpr const char kSql[] =
      "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)";
  auto st = conn.prepare(kSql, "record schema version");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, std::int64_t{version});
  st->bind(2, now_ms);
  if (int rc = st->step(); rc != SQLITE_DONE) {
    return conn.error(rc, "record schema version");
  }
  return core::ok_status();
}

core::Result<std::int64_t> integer(Connection& conn, const char* sql, std::string_view what) {
  auto st = conn.prepare(sql, what);
  if (!st.ok()) {
    return st.error();
  }
  if (int rc = st->step(); rc != SQLITE_ROW) {
    return conn.error(rc, what);
  }
  return st->int64(0);
}

// Runs `sql`, which rewrites table definitions in sqlite_schema, inside the caller's
// transaction: with writable_schema on, then checks that no definition still holds a CHECK
// with IN, and bumps schema_version so every connection parses the new definitions.
core::Status edit_schema(Connection& conn, const char* sql) {
  auto before = integer(conn, "PRAGMA schema_version", "read schema_version");
  if (!before.ok()) {
    return before.error();
  }
  if (auto s = conn.exec("PRAGMA writable_schema = ON", "edit schema"); !s.ok()) {
    return s;
  }
  core::Status edited = conn.exec(sql, "apply migration");
  if (auto s = conn.exec("PRAGMA writable_schema = OFF", "edit schema"); !s.ok() && edited.ok()) {
    edited = s;
  }
  if (!edited.ok()) {
    return edited;
  }
  auto left = integer(conn,
                      "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND "
                      "sql LIKE '%CHECK (% IN (%'",
                      "check schema edit");
  if (!left.ok()) {
    return left.error();
  }
  if (*left != 0) {
    return core::make_error(core::ErrorCode::kInternal,
                            "store: a table definition was not rewritten as expected");
  }
  const std::string bump = "PRAGMA schema_version = " + std::to_string(*before + 1);
  return conn.exec(bump.c_str(), "bump schema_version");
}

// Applies the step after the database's current version, if any. Sets `done` when the
// database is at the latest version.
core::Status step_once(Connection& conn, std::int64_t now_ms, bool& done) {
  const auto known = static_cast<std::int64_t>(kMigrations.size());
  auto version = current_version(conn);
  if (!version.ok()) {
    return version.error();
  }
  if (*version > known) {
    spdlog::error("store: database schema version {} is newer than this binary knows ({})",
                  *version, known);
    return core::make_error(core::ErrorCode::kInternal,
                            "store: database schema version " + std::to_string(*version) +
                                " is newer than this binary supports (" + std::to_string(known) +
                                ")");
  }
  if (*version == known) {
    done = true;
    return core::ok_status();
  }
  const Migration& m = kMigrations[static_cast<std::size_t>(*version)];
  // sqlite3_exec needs a NUL-terminated string; the literals above are.
  if (m.edits_schema) {
    if (auto s = edit_schema(conn, m.sql.data()); !s.ok()) {
      return s;
    }
  } else if (auto s = conn.exec(m.sql.data(), "apply migration"); !s.ok()) {
    return s;
  }
  if (auto s = record_version(conn, m.version, now_ms); !s.ok()) {
    return s;
  }
  spdlog::info("store: applied schema migration {}", m.version);
  return core::ok_status();
}

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

core::Status migrate(Connection& conn, std::int64_t now_ms) {
  if (auto s = conn.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL) STRICT",
                         "create schema_migrations");
      !s.ok()) {
    return s;
  }
  for (bool done = false; !done;) {
    if (auto s = conn.exec("BEGIN IMMEDIATE", "begin migration"); !s.ok()) {
      return s;
    }
    core::Status s = step_once(conn, now_ms, done);
    if (!s.ok()) {
      conn.rollback();
      return s;
    }
    if (auto c = conn.exec("COMMIT", "commit migration"); !c.ok()) {
      conn.rollback();
      return c;
    }
  }
  return core::ok_status();
}

}  // namespace ig::store::detail
