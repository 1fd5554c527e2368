#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"

namespace ig::store {

/// An API key as stored (only the SHA-256 of the secret is kept).
struct ApiKey {
  std::int64_t id = 0;
  std::string name;
  std::string prefix;       // first characters of the key, for operators ("sk-AbC1…")
  std::string secret_hash;  // lower-case hex SHA-256 of the whole key
  bool disabled = false;
  std::int64_t credits = 0;  // micro-credits (unused until billing lands)
  std::int64_t created_ms = 0;
};

/// A claimed task: the dispatcher owns it until `lease_until_ms` unless it renews.
struct Claim {
  core::Task task;
  std::int64_t lease_until_ms = 0;
};

/// One page of a key's tasks (newest first) and how many the key has in all.
struct TaskPage {
  std::vector<core::Task> tasks;
  std::int64_t total = 0;
};

/// Durable state of the gateway. Every method is blocking and thread-safe: call it from the
/// blocking pool, never from an I/O thread. A method that returns has committed its writes.
/// Writes from many threads are grouped into shared transactions by the implementation.
class Store {
 public:
  virtual ~Store() = default;

  // --- keys
  virtual core::Result<ApiKey> create_key(const ApiKey& key) = 0;
  virtual std::optional<ApiKey> find_key_by_hash(const std::string& secret_hash) = 0;
  virtual std::optional<ApiKey> find_key_by_prefix(const std::string& prefix) = 0;
  virtual std::int64_t count_keys() = 0;

  // --- tasks
  /// Inserts a new task in state queued with attempt 0. Fails (kConflict) if the id exists.
  virtual core::Status insert_task(const core::Task& task) = 0;
  /// The task with this public id, whoever owns it (callers check key_id).
  virtual std::optional<core::Task> get_task(const std::string& id) = 0;

  /// Claims up to `max` tasks that are queued, or running with an expired lease (oldest
  /// first): state → running, attempt + 1, started_ms set if 0, lease to `lease_until_ms`,
  /// lease owner recorded.
  virtual std::vector<Claim> claim_tasks(const std::string& owner, int max, std::int64_t now_ms,
                                         std::int64_t lease_until_ms) = 0;
  /// Extends the lease if the task is still running under `attempt`. False: the lease is lost.
  virtual bool renew_lease(std::int64_t row_id, int attempt, std::int64_t lease_until_ms) = 0;
  /// Writes the terminal outcome if the task is still running under `attempt` (fenced).
  /// False: another attempt owns the task now and nothing was written.
  virtual bool complete_task(std::int64_t row_id, int attempt, const core::TaskOutcome& out) = 0;
  /// Returns a running task to queued (keeping its attempt count) so another worker may take
  /// it at once; used on graceful shutdown. Fenced like complete_task.
  virtual bool release_task(std::int64_t row_id, int attempt) = 0;
  /// Stores the resolved size of a task whose size depended on its reference image.
  virtual bool set_task_size(std::int64_t row_id, int attempt, int width, int height) = 0;

  /// The key's tasks, newest first, skipping `offset`, at most `limit`.
  virtual TaskPage list_tasks(std::int64_t key_id, std::int64_t offset, int limit) = 0;
  /// Cancels a queued or running task: state → cancelled, fail_code "cancelled", completed_ms
  /// set, lease cleared (a running worker is fenced out). False when the task was not queued or
  /// running (already terminal), or on a database error.
  virtual bool cancel_task(std::int64_t row_id, std::int64_t now_ms) = 0;

  /// Number of tasks in each state (every state present, zero when none).
  virtual std::map<core::TaskState, std::int64_t> count_tasks_by_state() = 0;
  /// True when the database answers a trivial query (for /readyz).
  virtual bool healthy() = 0;
};

}  // namespace ig::store
