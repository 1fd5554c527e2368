#pragma once

// The SQL of the PostgreSQL store's task, key and billing methods (the callback, idempotency
// and admin statements sit with their methods). Each is prepared once per connection, keyed by
// the address of its array (inline variables: one address in the whole program). Parameters
// that a comparison with a constant would type as int4 are cast to bigint.

#include "store/row_readers.hpp"

namespace ig::store::pg::sql {

#define IG_TASK_COLUMNS                                                               \
  "row_id, id, key_id, request_json, param, state, attempt, created_ms, started_ms, " \
  "completed_ms, fail_code, fail_msg, results_json, lease_until_ms, usage_json, "     \
  "upstream_route, upstream_id, price"

// Column positions in IG_TASK_COLUMNS.
using enum rows::TaskCol;  // the order row_readers.hpp reads them in

inline constexpr char kInsertTask[] =
    "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, created_ms, "
    "width, height, updated_ms, price) "
    "VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9, $10) RETURNING row_id";

inline constexpr char kInsertClaimedTask[] =
    "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, created_ms, "
    "width, height, updated_ms, price, lease_owner, lease_until_ms, started_ms) "
    "VALUES ($1, $2, $3, $4, $5, 'running', 1, $6, $7, $8, $9, $10, $11, $12, $6) "
    "RETURNING row_id";

// In the insert's transaction: the create's Idempotency-Key (begun, not yet finished) names
// the task, so a crash before its answer is recorded leaves a replay, not a second task.
inline constexpr char kTieIdempotencyKey[] =
    "UPDATE idempotency_keys SET task_id = $3 WHERE account_id = $1 AND key = $2 AND task_id = ''";

inline constexpr char kGetTask[] = "SELECT " IG_TASK_COLUMNS " FROM tasks WHERE id = $1";

// The task columns of a claim's UPDATE … FROM (qualified: the candidates have row_id too).
#define IG_TASK_COLUMNS_T                                                                 \
  "t.row_id, t.id, t.key_id, t.request_json, t.param, t.state, t.attempt, t.created_ms, " \
  "t.started_ms, t.completed_ms, t.fail_code, t.fail_msg, t.results_json, "               \
  "t.lease_until_ms, t.usage_json, t.upstream_route, t.upstream_id, t.price"

// The candidates of a claim, oldest first: of the `limit` oldest queued tasks (tasks_claim)
// and the `limit` running ones whose lease ended first, before `now` (tasks_lease_end), the
// `limit` oldest. Each branch reads no more index entries than it takes, however many tasks
// run or have finished: one query ordered by created_ms over both states made PostgreSQL walk
// tasks_by_created through every older task (#9). Rows another node holds locked are skipped,
// not waited for; a branch's rows that the merge leaves out stay locked until the claim's
// transaction ends (PostgreSQL allows no FOR UPDATE beside a UNION, hence the CTEs).
#define IG_CANDIDATES(now, limit, extra)                                                     \
  "WITH q AS (SELECT row_id, attempt, created_ms FROM tasks WHERE state = 'queued'" extra    \
  " ORDER BY created_ms, row_id LIMIT " limit " FOR UPDATE SKIP LOCKED), "                   \
  "r AS (SELECT row_id, attempt, created_ms FROM tasks WHERE state = 'running' AND "         \
  "lease_until_ms < " now extra " ORDER BY lease_until_ms, created_ms, row_id LIMIT " limit  \
  " FOR UPDATE SKIP LOCKED) "                                                                \
  "SELECT row_id, attempt FROM (SELECT * FROM q UNION ALL SELECT * FROM r) u "               \
  "ORDER BY created_ms, row_id LIMIT " limit

// Runs first in the claim's transaction: fails those of the oldest $3 candidates that another
// claim would take past max_attempts ($4), at $2. Bounded like the claim (an exhausted task
// further back is failed when a later claim's window reaches it).
inline constexpr char kExhaustTasks[] =
    "WITH w AS (" IG_CANDIDATES("$2", "$3", "") ") "
    "UPDATE tasks t SET state = 'failed', fail_code = $1, "
    "fail_msg = 'the task was claimed ' || t.attempt || ' times without finishing "
    "(dispatcher.max_attempts); it is not run again', "
    "completed_ms = $2, lease_owner = NULL, lease_until_ms = 0, updated_ms = $2 "
    "FROM w WHERE t.row_id = w.row_id AND w.attempt >= $4 "
    "RETURNING " IG_TASK_COLUMNS_T;

// Claims the oldest $4 candidates that may run again (attempt < $5, max_attempts); never
// started before created (as SQLite's kClaimTasks).
inline constexpr char kClaimTasks[] =
    "WITH c AS (" IG_CANDIDATES("$3", "$4", " AND attempt < $5") ") "
    "UPDATE tasks t SET state = 'running', attempt = t.attempt + 1, lease_owner = $1, "
    "lease_until_ms = $2, started_ms = CASE WHEN t.started_ms = 0 THEN "
    "GREATEST($3, t.created_ms) ELSE t.started_ms END, updated_ms = $3 "
    "FROM c WHERE t.row_id = c.row_id "
    "RETURNING " IG_TASK_COLUMNS_T;

// The fence (RELIABILITY.md): a write lands only while the task is running under `attempt`.
#define IG_FENCE " WHERE row_id = $1 AND state = 'running' AND attempt = $2"

inline constexpr char kRenewLease[] =
    "UPDATE tasks SET lease_until_ms = $3, updated_ms = $4" IG_FENCE;

inline constexpr char kCompleteTask[] =
    "UPDATE tasks SET state = $3, fail_code = $4, fail_msg = $5, results_json = $6, "
    "completed_ms = $7, lease_owner = NULL, lease_until_ms = 0, updated_ms = $8, "
    "usage_json = $9" IG_FENCE;

inline constexpr char kReleaseTask[] =
    "UPDATE tasks SET state = 'queued', lease_owner = NULL, lease_until_ms = 0, "
    "updated_ms = $3" IG_FENCE;

// request_json stays the source of truth; the columns are kept equal to it.
inline constexpr char kSetTaskSize[] =
    "UPDATE tasks SET width = $3, height = $4, request_json = (request_json::jsonb || "
    "jsonb_build_object('width', $3::integer, 'height', $4::integer))::text, "
    "updated_ms = $5" IG_FENCE;

inline constexpr char kSetUpstream[] =
    "UPDATE tasks SET upstream_route = $3, upstream_id = $4, updated_ms = $5" IG_FENCE;

inline constexpr char kListTasks[] = "SELECT " IG_TASK_COLUMNS
                                     " FROM tasks WHERE key_id = $1 "
                                     "ORDER BY created_ms DESC, row_id DESC LIMIT $3 OFFSET $2";
inline constexpr char kCountKeyTasks[] = "SELECT COUNT(*) FROM tasks WHERE key_id = $1";

inline constexpr char kCancelTask[] =
    "UPDATE tasks SET state = 'cancelled', fail_code = 'cancelled', "
    "fail_msg = 'the task was cancelled', completed_ms = $2, lease_owner = NULL, "
    "lease_until_ms = 0, updated_ms = $2 WHERE row_id = $1 AND state IN ('queued', 'running')";

#define IG_CALL_COLUMNS                                                                 \
  "id, task_row, attempt, route, provider_kind, upstream_id, http_status, started_ms, " \
  "duration_ms, error_class, error_code, message"

inline constexpr char kInsertUpstreamCall[] =
    "INSERT INTO upstream_calls (task_row, attempt, route, provider_kind, upstream_id, "
    "http_status, started_ms, duration_ms, error_class) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, -1, 'in_flight') RETURNING id";
inline constexpr char kFinishUpstreamCall[] =
    "UPDATE upstream_calls SET http_status = $2, duration_ms = $3, error_class = $4, "
    "error_code = $5, message = $6, "
    "upstream_id = CASE WHEN $7::text = '' THEN upstream_id ELSE $7::text END "
    "WHERE id = $1 AND error_class = 'in_flight'";
inline constexpr char kUpstreamCallExists[] = "SELECT 1 FROM upstream_calls WHERE id = $1";
inline constexpr char kListUpstreamCalls[] =
    "SELECT " IG_CALL_COLUMNS " FROM upstream_calls WHERE task_row = $1 ORDER BY id";

// The tasks in flight are counted (tasks_claim); the finished ones are task_counts plus the
// deltas not yet folded into it (migration 10), read in one snapshot: one statement.
inline constexpr char kCountByState[] =
    "SELECT 'queued', COUNT(*) FROM tasks WHERE state = 'queued' "
    "UNION ALL SELECT 'running', COUNT(*) FROM tasks WHERE state = 'running' "
    "UNION ALL SELECT state, SUM(n)::bigint FROM (SELECT state, n FROM task_counts "
    "UNION ALL SELECT state, delta FROM task_count_deltas) AS c GROUP BY state";
// One fold at a time (per schema); a node that finds another folding leaves it the work.
inline constexpr char kLockTaskCountFold[] =
    "SELECT pg_try_advisory_xact_lock(hashtextextended("
    "'imagegate task counts ' || current_schema(), 0))::int";
// Moves every delta into task_counts, in one transaction: a count sees before or after.
inline constexpr char kFoldTaskCounts[] =
    "WITH moved AS (DELETE FROM task_count_deltas RETURNING state, delta), "
    "sums AS (SELECT state, SUM(delta) AS d FROM moved GROUP BY state) "
    "UPDATE task_counts SET n = task_counts.n + sums.d FROM sums "
    "WHERE task_counts.state = sums.state";

#define IG_KEY_COLUMNS                                                                   \
  "id, name, prefix, secret_hash, disabled, account_id, rpm, max_active, spend_hourly, " \
  "spend_daily, spend_total, ip_allowlist, created_ms"

inline constexpr char kInsertKey[] =
    "INSERT INTO api_keys (name, prefix, secret_hash, disabled, account_id, rpm, max_active, "
    "spend_hourly, spend_daily, spend_total, ip_allowlist, created_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
inline constexpr char kKeyByHash[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE secret_hash = $1";
inline constexpr char kKeyByPrefix[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE prefix = $1";
inline constexpr char kKeyById[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE id = $1";
// The key about to be patched, locked: two patches of one key apply one after the other.
inline constexpr char kKeyByIdForUpdate[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE id = $1 FOR NO KEY UPDATE";
inline constexpr char kListKeys[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys ORDER BY id";
inline constexpr char kUpdateKey[] =
    "UPDATE api_keys SET name = $2, disabled = $3, rpm = $4, max_active = $5, "
    "spend_hourly = $6, spend_daily = $7, spend_total = $8, ip_allowlist = $9 WHERE id = $1";
inline constexpr char kRotateKey[] =
    "UPDATE api_keys SET prefix = $2, secret_hash = $3 WHERE id = $1";

// --- billing
inline constexpr char kInsertAccount[] =
    "INSERT INTO accounts (name, metered, balance, created_ms) VALUES ($1, $2, 0, $3) "
    "RETURNING id";
#define IG_ACCOUNT_TOTALS(id)                                           \
  "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = " id \
  " AND kind = 'topup'), "                                              \
  "(SELECT COALESCE(SUM(price), 0) FROM ledger WHERE account_id = " id " AND kind = 'capture')"
inline constexpr char kAccountById[] =
    "SELECT id, name, metered, balance, created_ms, " IG_ACCOUNT_TOTALS(
        "$1") " FROM accounts WHERE id = $1";
inline constexpr char kInsertLedger[] =
    "INSERT INTO ledger (account_id, kind, amount, price, task_row, key_id, reason, created_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
// In the ledger row's transaction: an atomic increment, never a read then a write.
inline constexpr char kMoveBalance[] = "UPDATE accounts SET balance = balance + $2 WHERE id = $1";
inline constexpr char kMakeMetered[] = "UPDATE accounts SET metered = true WHERE id = $1";
inline constexpr char kListLedger[] =
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE account_id = $1 ORDER BY id";
// What a create checks, with the account's row locked until the create commits: creates
// against one account (on any node) check its balance, and its keys' limits, one at a time.
inline constexpr char kPayerOfKey[] =
    "SELECT k.disabled, k.account_id, k.max_active, k.spend_hourly, k.spend_daily, "
    "k.spend_total, a.metered, a.balance FROM api_keys k JOIN accounts a ON a.id = k.account_id "
    "WHERE k.id = $1 FOR NO KEY UPDATE OF a";
inline constexpr char kKeyExists[] = "SELECT 1 FROM api_keys WHERE id = $1";
inline constexpr char kCountActive[] =
    "SELECT COUNT(*) FROM tasks WHERE key_id = $1 AND state IN ('queued', 'running')";
// A key's holds since $2 that were not refunded: what it has spent (or is spending).
inline constexpr char kSpentSince[] =
    "SELECT COALESCE(SUM(h.price), 0), COALESCE(MIN(h.created_ms), 0) FROM ledger h "
    "WHERE h.key_id = $1 AND h.kind = 'hold' AND h.created_ms >= $2 AND h.price > 0 "
    "AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.task_row = h.task_row "
    "AND r.kind IN ('capture', 'refund') AND r.kind = 'refund')";
inline constexpr char kHoldOfTask[] =
    "SELECT account_id, price, COALESCE(key_id, 0) FROM ledger "
    "WHERE task_row = $1 AND kind = 'hold'";

inline constexpr char kCountKeys[] = "SELECT COUNT(*) FROM api_keys";
inline constexpr char kSelectOne[] = "SELECT 1";

#undef IG_CANDIDATES
#undef IG_TASK_COLUMNS_T
#undef IG_FENCE
#undef IG_ACCOUNT_TOTALS

}  // namespace ig::store::pg::sql
