#pragma once

// Every SQL statement of the SQLite store. A Connection caches its prepared statements by the
// address of these arrays (inline variables: one address in the whole program).

#include "store/row_readers.hpp"

namespace ig::store::detail::sql {

#define IG_TASK_COLUMNS                                                               \
  "row_id, id, key_id, request_json, param, state, attempt, created_ms, started_ms, " \
  "completed_ms, fail_code, fail_msg, results_json, lease_until_ms, usage_json, "       \
  "upstream_route, upstream_id, price"

// Column positions in IG_TASK_COLUMNS.
using enum rows::TaskCol;  // the order row_readers.hpp reads them in

inline constexpr char kInsertTask[] =
    "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, created_ms, "
    "width, height, updated_ms, price) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?7, ?8, ?9, ?10)";

// A task created already claimed by its creating process (attempt 1, leased to ?11 until ?12,
// started when created), so that it runs without waiting for a claim.
inline constexpr char kInsertClaimedTask[] =
    "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, created_ms, "
    "width, height, updated_ms, price, lease_owner, lease_until_ms, started_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'running', 1, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?6)";

// In the insert's transaction: the create's Idempotency-Key (begun, not yet finished) names
// the task, so a crash before its answer is recorded leaves a replay, not a second task.
inline constexpr char kTieIdempotencyKey[] =
    "UPDATE idempotency_keys SET task_id = ?3 WHERE account_id = ?1 AND key = ?2 AND task_id = ''";

inline constexpr char kGetTask[] = "SELECT " IG_TASK_COLUMNS " FROM tasks WHERE id = ?1";

// The candidates of a claim: the ?4 oldest queued tasks, walking tasks_claim in (created_ms,
// row_id) order, and the ?4 running tasks whose lease ended first (before ?3), walking
// tasks_lease_end; each reads the index alone and stops after ?4 rows, however many tasks run.
// The callers' ORDER BY merges the two short lists. `extra` filters on attempt. INDEXED BY:
// SQLite's planner would rather walk tasks_claim for the running branch, reading every running
// task.
#define IG_CLAIM_WALK(extra)                                                                \
  "  SELECT row_id, created_ms, attempt FROM (SELECT row_id, created_ms, attempt FROM tasks" \
  "    WHERE state = 'queued'" extra " ORDER BY created_ms, row_id LIMIT ?4)"               \
  "  UNION ALL"                                                                             \
  "  SELECT row_id, created_ms, attempt FROM (SELECT row_id, created_ms, attempt FROM tasks" \
  "    INDEXED BY tasks_lease_end WHERE state = 'running' AND lease_until_ms < ?3" extra    \
  "    ORDER BY lease_until_ms, created_ms, row_id LIMIT ?4)"

// Claims the oldest ?4 candidates that may run again (attempt < ?5, max_attempts). A task is
// never started before it was created: a claimer reads its clock before it runs the claim,
// and a task committed in between would otherwise start before its creation.
inline constexpr char kClaimTasks[] =
    "UPDATE tasks SET state = 'running', attempt = attempt + 1, lease_owner = ?1, "
    "lease_until_ms = ?2, started_ms = COALESCE(NULLIF(started_ms, 0), MAX(?3, created_ms)), "
    "updated_ms = ?3 "
    "WHERE row_id IN (SELECT row_id FROM (" IG_CLAIM_WALK(" AND attempt < ?5")
    ") ORDER BY created_ms, row_id LIMIT ?4) "
    "RETURNING " IG_TASK_COLUMNS;

// Runs just before kClaimTasks, in its transaction: fails those of the oldest ?4 candidates
// that another claim would take past max_attempts (?5). Bounded like the claim, so a long
// queue costs nothing; an exhausted task further back is failed when a later claim's window
// reaches it (kClaimTasks itself never takes one).
inline constexpr char kExhaustTasks[] =
    "UPDATE tasks SET state = 'failed', fail_code = ?1, "
    "fail_msg = 'the task was claimed ' || attempt || ' times without finishing "
    "(dispatcher.max_attempts); it is not run again', "
    "completed_ms = ?3, lease_owner = NULL, lease_until_ms = 0, updated_ms = ?3 "
    "WHERE row_id IN (SELECT row_id FROM (SELECT row_id, attempt FROM (" IG_CLAIM_WALK("")
    ") ORDER BY created_ms, row_id LIMIT ?4) WHERE attempt >= ?5) "
    "RETURNING " IG_TASK_COLUMNS;

// The fence (RELIABILITY.md): a write lands only while the task is running under `attempt`.
#define IG_FENCE " WHERE row_id = ?1 AND state = 'running' AND attempt = ?2"

inline constexpr char kRenewLease[] =
    "UPDATE tasks SET lease_until_ms = ?3, updated_ms = ?4" IG_FENCE;

inline constexpr char kCompleteTask[] =
    "UPDATE tasks SET state = ?3, fail_code = ?4, fail_msg = ?5, results_json = ?6, "
    "completed_ms = ?7, lease_owner = NULL, lease_until_ms = 0, updated_ms = ?8, "
    "usage_json = ?9" IG_FENCE;

inline constexpr char kReleaseTask[] =
    "UPDATE tasks SET state = 'queued', lease_owner = NULL, lease_until_ms = 0, "
    "updated_ms = ?3" IG_FENCE;

// request_json stays the source of truth; the columns are kept equal to it.
inline constexpr char kSetTaskSize[] =
    "UPDATE tasks SET width = ?3, height = ?4, "
    "request_json = json_set(request_json, '$.width', ?3, '$.height', ?4), "
    "updated_ms = ?5" IG_FENCE;

inline constexpr char kSetUpstream[] =
    "UPDATE tasks SET upstream_route = ?3, upstream_id = ?4, updated_ms = ?5" IG_FENCE;

inline constexpr char kListTasks[] =
    "SELECT " IG_TASK_COLUMNS " FROM tasks WHERE key_id = ?1 "
    "ORDER BY created_ms DESC, row_id DESC LIMIT ?3 OFFSET ?2";
inline constexpr char kCountKeyTasks[] = "SELECT COUNT(*) FROM tasks WHERE key_id = ?1";

inline constexpr char kCancelTask[] =
    "UPDATE tasks SET state = 'cancelled', fail_code = 'cancelled', "
    "fail_msg = 'the task was cancelled', completed_ms = ?2, lease_owner = NULL, "
    "lease_until_ms = 0, updated_ms = ?2 WHERE row_id = ?1 AND state IN ('queued', 'running')";

#define IG_CALL_COLUMNS                                                                     \
  "id, task_row, attempt, route, provider_kind, upstream_id, http_status, started_ms, "   \
  "duration_ms, error_class, error_code, message"

inline constexpr char kInsertUpstreamCall[] =
    "INSERT INTO upstream_calls (task_row, attempt, route, provider_kind, upstream_id, "
    "http_status, started_ms, duration_ms, error_class) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, -1, 'in_flight')";
inline constexpr char kFinishUpstreamCall[] =
    "UPDATE upstream_calls SET http_status = ?2, duration_ms = ?3, error_class = ?4, "
    "error_code = ?5, message = ?6, upstream_id = CASE WHEN ?7 = '' THEN upstream_id ELSE ?7 END "
    "WHERE id = ?1 AND error_class = 'in_flight'";
inline constexpr char kUpstreamCallExists[] = "SELECT 1 FROM upstream_calls WHERE id = ?1";
inline constexpr char kListUpstreamCalls[] =
    "SELECT " IG_CALL_COLUMNS " FROM upstream_calls WHERE task_row = ?1 ORDER BY id";

// The tasks in flight are counted (tasks_claim, one entry each); the finished ones are kept in
// task_counts by triggers (migration 9): the cost follows the tasks in flight, not history.
inline constexpr char kCountByState[] =
    "SELECT 'queued', COUNT(*) FROM tasks WHERE state = 'queued' "
    "UNION ALL SELECT 'running', COUNT(*) FROM tasks WHERE state = 'running' "
    "UNION ALL SELECT state, n FROM task_counts";

#define IG_KEY_COLUMNS                                                                    \
  "id, name, prefix, secret_hash, disabled, account_id, rpm, max_active, spend_hourly, "    \
  "spend_daily, spend_total, ip_allowlist, created_ms"

inline constexpr char kInsertKey[] =
    "INSERT INTO api_keys (name, prefix, secret_hash, disabled, account_id, rpm, max_active, "
    "spend_hourly, spend_daily, spend_total, ip_allowlist, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
inline constexpr char kKeyByHash[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE secret_hash = ?1";
inline constexpr char kKeyByPrefix[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE prefix = ?1";
inline constexpr char kKeyById[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE id = ?1";
inline constexpr char kListKeys[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys ORDER BY id";
inline constexpr char kUpdateKey[] =
    "UPDATE api_keys SET name = ?2, disabled = ?3, rpm = ?4, max_active = ?5, "
    "spend_hourly = ?6, spend_daily = ?7, spend_total = ?8, ip_allowlist = ?9 WHERE id = ?1";
inline constexpr char kRotateKey[] =
    "UPDATE api_keys SET prefix = ?2, secret_hash = ?3 WHERE id = ?1";

// --- billing
inline constexpr char kInsertAccount[] =
    "INSERT INTO accounts (name, metered, balance, created_ms) VALUES (?1, ?2, 0, ?3)";
inline constexpr char kAccountById[] =
    "SELECT id, name, metered, balance, created_ms, "
    "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = ?1 AND kind = 'topup'), "
    "(SELECT COALESCE(SUM(price), 0) FROM ledger WHERE account_id = ?1 AND kind = 'capture') "
    "FROM accounts WHERE id = ?1";
inline constexpr char kInsertLedger[] =
    "INSERT INTO ledger (account_id, kind, amount, price, task_row, key_id, reason, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
inline constexpr char kMoveBalance[] = "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1";
inline constexpr char kMakeMetered[] = "UPDATE accounts SET metered = 1 WHERE id = ?1";
inline constexpr char kListLedger[] =
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE account_id = ?1 ORDER BY id";
// What a create checks, read in its own transaction.
inline constexpr char kPayerOfKey[] =
    "SELECT k.disabled, k.account_id, k.max_active, k.spend_hourly, k.spend_daily, "
    "k.spend_total, a.metered, a.balance FROM api_keys k JOIN accounts a ON a.id = k.account_id "
    "WHERE k.id = ?1";
// Matches the partial index tasks_active_by_key term for term.
inline constexpr char kCountActive[] =
    "SELECT COUNT(*) FROM tasks WHERE key_id = ?1 AND state IN ('queued', 'running')";
// A key's holds since ?2 that were not refunded: what it has spent (or is spending). The
// settlement lookup repeats ledger_one_settlement's WHERE so that the index serves it.
inline constexpr char kSpentSince[] =
    "SELECT COALESCE(SUM(h.price), 0), COALESCE(MIN(h.created_ms), 0) FROM ledger h "
    "WHERE h.key_id = ?1 AND h.kind = 'hold' AND h.created_ms >= ?2 AND h.price > 0 "
    "AND NOT EXISTS (SELECT 1 FROM ledger r WHERE r.task_row = h.task_row "
    "AND r.kind IN ('capture', 'refund') AND r.kind = 'refund')";
inline constexpr char kHoldOfTask[] =
    "SELECT account_id, price, COALESCE(key_id, 0) FROM ledger "
    "WHERE task_row = ?1 AND kind = 'hold'";

// Everyone's tasks (?2 = 0) or one key's (?2), filtered, newest first: two forms, so that a
// key's walk tasks_by_key and everyone's tasks_by_created instead of the whole table.
#define IG_ALL_TASKS_WHERE(key_term)                                                          \
  " FROM tasks WHERE " key_term "(?1 = '' OR state = ?1) "                                    \
  "AND (?3 = '' OR json_extract(request_json, '$.model') = ?3) "                              \
  "AND (?4 = 0 OR created_ms >= ?4) AND (?5 = 0 OR created_ms < ?5) "                         \
  "AND (?8 = '' OR dialect = ?8)"
inline constexpr char kListAllTasks[] =
    "SELECT " IG_TASK_COLUMNS IG_ALL_TASKS_WHERE("?2 = 0 AND ")
    " ORDER BY created_ms DESC, row_id DESC LIMIT ?7 OFFSET ?6";
inline constexpr char kCountAllTasks[] = "SELECT COUNT(*)" IG_ALL_TASKS_WHERE("?2 = 0 AND ");
inline constexpr char kListAllTasksOfKey[] =
    "SELECT " IG_TASK_COLUMNS IG_ALL_TASKS_WHERE("key_id = ?2 AND ")
    " ORDER BY created_ms DESC, row_id DESC LIMIT ?7 OFFSET ?6";
inline constexpr char kCountAllTasksOfKey[] =
    "SELECT COUNT(*)" IG_ALL_TASKS_WHERE("key_id = ?2 AND ");
#undef IG_ALL_TASKS_WHERE
inline constexpr char kUsage[] =
    "SELECT strftime('%Y-%m-%d', t.created_ms / 1000, 'unixepoch') AS day, COUNT(*), "
    "SUM(CASE WHEN t.state = 'succeeded' THEN json_array_length(t.results_json) ELSE 0 END), "
    "SUM(CASE WHEN t.state = 'succeeded' THEN t.price ELSE 0 END) "
    "FROM tasks t WHERE (?1 = 0 OR t.key_id = ?1) AND t.created_ms >= ?2 AND t.created_ms < ?3 "
    "GROUP BY day ORDER BY day";

// Usage per day, and per key (?4 = 1) or model (?4 = 2), of tasks created in [?2, ?3) whose
// model is ?5 (or any for ''). Two forms, so that each walks an index over the window:
// tasks_by_created for every key, tasks_by_key for one (?1).
#define IG_USAGE_ROWS(key_term)                                                              \
  "SELECT strftime('%Y-%m-%d', created_ms / 1000, 'unixepoch') AS day, "                     \
  "CASE ?4 WHEN 1 THEN COALESCE(key_id, 0) ELSE 0 END AS k, "                               \
  "CASE ?4 WHEN 2 THEN COALESCE(json_extract(request_json, '$.model'), '') ELSE '' END AS m, " \
  "COUNT(*), "                                                                              \
  "SUM(CASE WHEN state = 'succeeded' THEN json_array_length(results_json) ELSE 0 END), "    \
  "SUM(CASE WHEN state = 'succeeded' THEN price ELSE 0 END) "                               \
  "FROM tasks WHERE " key_term "created_ms >= ?2 AND created_ms < ?3 "                      \
  "AND (?5 = '' OR json_extract(request_json, '$.model') = ?5) "                            \
  "GROUP BY day, k, m ORDER BY day, k, m"
inline constexpr char kUsageRowsAll[] = IG_USAGE_ROWS("?1 = 0 AND ");
inline constexpr char kUsageRowsOfKey[] = IG_USAGE_ROWS("key_id = ?1 AND ");
#undef IG_USAGE_ROWS

// Totals as in kAccountById.
inline constexpr char kListAccounts[] =
    "SELECT a.id, a.name, a.metered, a.balance, a.created_ms, "
    "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = a.id AND kind = 'topup'), "
    "(SELECT COALESCE(SUM(price), 0) FROM ledger WHERE account_id = a.id AND kind = 'capture') "
    "FROM accounts a ORDER BY a.id LIMIT ?2 OFFSET ?1";
inline constexpr char kCountAccounts[] = "SELECT COUNT(*) FROM accounts";

// A page of the keys a search matches (?1 empty: every key): ?2 a LIKE pattern on the name,
// ?3 one on the prefix, ?4 the id; offset ?5, limit ?6.
#define IG_KEY_SEARCH \
  " WHERE ?1 = '' OR name LIKE ?2 ESCAPE '\\' OR prefix LIKE ?3 ESCAPE '\\' OR id = ?4"
inline constexpr char kListKeysPage[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys" IG_KEY_SEARCH " ORDER BY id LIMIT ?6 OFFSET ?5";
inline constexpr char kCountKeysPage[] = "SELECT COUNT(*) FROM api_keys" IG_KEY_SEARCH;
#undef IG_KEY_SEARCH

// A page of an account's ledger, newest first along ledger_by_account, with the balance after
// each row: the balance now, less the rows newer than the page (the ?2 skipped ones), less the
// rows above it on the page. One statement: the balance and the rows are of one snapshot.
inline constexpr char kLedgerPage[] =
    "WITH page AS (SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0) AS task_row, "
    "  COALESCE(key_id, 0) AS key_id, reason, created_ms FROM ledger WHERE account_id = ?1 "
    "  ORDER BY created_ms DESC, id DESC LIMIT ?3 OFFSET ?2), "
    "newer AS (SELECT COALESCE(SUM(amount), 0) AS total FROM (SELECT amount FROM ledger "
    "  WHERE account_id = ?1 ORDER BY created_ms DESC, id DESC LIMIT ?2)) "
    "SELECT p.id, p.account_id, p.kind, p.amount, p.price, p.task_row, p.key_id, p.reason, "
    "p.created_ms, COALESCE(t.id, ''), "
    "(SELECT balance FROM accounts WHERE id = ?1) - (SELECT total FROM newer) - "
    "COALESCE(SUM(p.amount) OVER (ORDER BY p.created_ms DESC, p.id DESC "
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
    "FROM page p LEFT JOIN tasks t ON t.row_id = p.task_row "
    "ORDER BY p.created_ms DESC, p.id DESC";
inline constexpr char kCountLedger[] = "SELECT COUNT(*) FROM ledger WHERE account_id = ?1";

// Each branch repeats a partial index's WHERE (ledger_one_hold, ledger_one_settlement).
inline constexpr char kTaskLedger[] =
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE task_row = ?1 AND kind = 'hold' "
    "UNION ALL "
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE task_row = ?1 AND kind IN ('capture', 'refund') "
    "ORDER BY 1";

// Per route, the calls started in [?1, ?2) (along upstream_calls_by_start), and the
// nearest-rank 50th and 95th percentiles of the finished ones' durations. A call ended by a
// cancellation (code 'cancelled') is neither an error nor a latency.
inline constexpr char kUpstreamStats[] =
    "WITH w AS (SELECT route, provider_kind, error_class, error_code, duration_ms, started_ms "
    "  FROM upstream_calls WHERE started_ms >= ?1 AND started_ms < ?2), "
    "d AS (SELECT route, duration_ms, "
    "  ROW_NUMBER() OVER (PARTITION BY route ORDER BY duration_ms) AS rn, "
    "  COUNT(*) OVER (PARTITION BY route) AS n FROM w "
    "  WHERE duration_ms >= 0 AND error_code <> 'cancelled'), "
    "p AS (SELECT route, MIN(CASE WHEN rn * 100 >= 50 * n THEN duration_ms END) AS p50, "
    "  MIN(CASE WHEN rn * 100 >= 95 * n THEN duration_ms END) AS p95 FROM d GROUP BY route) "
    "SELECT w.route, MAX(w.provider_kind), COUNT(*), SUM(w.error_class = ''), "
    "SUM(w.error_class NOT IN ('', 'in_flight') AND w.error_code <> 'cancelled'), "
    "SUM(w.error_class = 'in_flight'), MAX(w.started_ms), COALESCE(MAX(p.p50), -1), "
    "COALESCE(MAX(p.p95), -1), "
    "SUM(w.error_class NOT IN ('', 'in_flight') AND w.error_code = 'cancelled') "
    "FROM w LEFT JOIN p ON p.route = w.route GROUP BY w.route ORDER BY w.route";

inline constexpr char kCountKeys[] = "SELECT COUNT(*) FROM api_keys";
inline constexpr char kSelectOne[] = "SELECT 1";

#undef IG_TASK_COLUMNS
#undef IG_CLAIM_WALK
#undef IG_CALL_COLUMNS
#undef IG_FENCE
#undef IG_KEY_COLUMNS

}  // namespace ig::store::detail::sql
