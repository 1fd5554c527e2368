#pragma once

// Every SQL statement of the SQLite store. A Connection caches its prepared statements by the
// address of these arrays (inline variables: one address in the whole program).

namespace ig::store::detail::sql {

#define IG_TASK_COLUMNS                                                               \
  "row_id, id, key_id, request_json, param, state, attempt, created_ms, started_ms, " \
  "completed_ms, fail_code, fail_msg, results_json, lease_until_ms"

// Column positions in IG_TASK_COLUMNS.
enum TaskCol {
  kColRowId,
  kColId,
  kColKeyId,
  kColRequest,
  kColParam,
  kColState,
  kColAttempt,
  kColCreated,
  kColStarted,
  kColCompleted,
  kColFailCode,
  kColFailMsg,
  kColResults,
  kColLeaseUntil,
};

inline constexpr char kInsertTask[] =
    "INSERT INTO tasks (id, key_id, dialect, request_json, param, state, attempt, created_ms, "
    "width, height, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?7, ?8, ?9)";

inline constexpr char kGetTask[] = "SELECT " IG_TASK_COLUMNS " FROM tasks WHERE id = ?1";

// Each branch walks tasks_claim in (created_ms, row_id) order and stops after ?4 rows; the
// outer ORDER BY merges the two short lists.
inline constexpr char kClaimTasks[] =
    "UPDATE tasks SET state = 'running', attempt = attempt + 1, lease_owner = ?1, "
    "lease_until_ms = ?2, started_ms = COALESCE(NULLIF(started_ms, 0), ?3), updated_ms = ?3 "
    "WHERE row_id IN (SELECT row_id FROM ("
    "  SELECT row_id, created_ms FROM (SELECT row_id, created_ms FROM tasks"
    "    WHERE state = 'queued' ORDER BY created_ms, row_id LIMIT ?4)"
    "  UNION ALL"
    "  SELECT row_id, created_ms FROM (SELECT row_id, created_ms FROM tasks"
    "    WHERE state = 'running' AND lease_until_ms < ?3 ORDER BY created_ms, row_id LIMIT ?4)"
    ") ORDER BY created_ms, row_id LIMIT ?4) "
    "RETURNING " IG_TASK_COLUMNS;

// The fence (RELIABILITY.md): a write lands only while the task is running under `attempt`.
#define IG_FENCE " WHERE row_id = ?1 AND state = 'running' AND attempt = ?2"

inline constexpr char kRenewLease[] =
    "UPDATE tasks SET lease_until_ms = ?3, updated_ms = ?4" IG_FENCE;

inline constexpr char kCompleteTask[] =
    "UPDATE tasks SET state = ?3, fail_code = ?4, fail_msg = ?5, results_json = ?6, "
    "completed_ms = ?7, lease_owner = NULL, lease_until_ms = 0, updated_ms = ?8" IG_FENCE;

inline constexpr char kReleaseTask[] =
    "UPDATE tasks SET state = 'queued', lease_owner = NULL, lease_until_ms = 0, "
    "updated_ms = ?3" IG_FENCE;

// request_json stays the source of truth; the columns are kept equal to it.
inline constexpr char kSetTaskSize[] =
    "UPDATE tasks SET width = ?3, height = ?4, "
    "request_json = json_set(request_json, '$.width', ?3, '$.height', ?4), "
    "updated_ms = ?5" IG_FENCE;

inline constexpr char kListTasks[] =
    "SELECT " IG_TASK_COLUMNS " FROM tasks WHERE key_id = ?1 "
    "ORDER BY created_ms DESC, row_id DESC LIMIT ?3 OFFSET ?2";
inline constexpr char kCountKeyTasks[] = "SELECT COUNT(*) FROM tasks WHERE key_id = ?1";

inline constexpr char kCancelTask[] =
    "UPDATE tasks SET state = 'cancelled', fail_code = 'cancelled', "
    "fail_msg = 'the task was cancelled', completed_ms = ?2, lease_owner = NULL, "
    "lease_until_ms = 0, updated_ms = ?2 WHERE row_id = ?1 AND state IN ('queued', 'running')";

inline constexpr char kCountByState[] = "SELECT state, COUNT(*) FROM tasks GROUP BY state";

#define IG_KEY_COLUMNS "id, name, prefix, secret_hash, disabled, credits, created_ms"

inline constexpr char kInsertKey[] =
    "INSERT INTO api_keys (name, prefix, secret_hash, disabled, credits, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
inline constexpr char kKeyByHash[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE secret_hash = ?1";
inline constexpr char kKeyByPrefix[] = "SELECT " IG_KEY_COLUMNS " FROM api_keys WHERE prefix = ?1";
inline constexpr char kCountKeys[] = "SELECT COUNT(*) FROM api_keys";
inline constexpr char kSelectOne[] = "SELECT 1";

#undef IG_TASK_COLUMNS
#undef IG_FENCE
#undef IG_KEY_COLUMNS

}  // namespace ig::store::detail::sql
