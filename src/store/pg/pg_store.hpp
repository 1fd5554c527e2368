#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/store.hpp"

namespace ig::store {

namespace pg {
class Pool;
class Workers;
}  // namespace pg

/// How to reach the PostgreSQL store. A plain value type.
struct PgOptions {
  std::string url;    // postgres://user:password@host:port/db (or libpq key=value)
  int pool_size = 8;  // connections open at once, at most
  int connect_timeout_s = 5;
  std::chrono::milliseconds acquire_timeout{10'000};  // wait for a free connection
  std::chrono::milliseconds lock_timeout{5'000};      // wait for another transaction's lock
  std::chrono::milliseconds statement_timeout{30'000};
};

/// PostgreSQL (>= 13) implementation of Store, for several nodes sharing one database: tasks,
/// callbacks and idempotency keys are claimed with row locks (FOR UPDATE SKIP LOCKED), a
/// create locks its account's row before it checks the balance and the key's limits, and each
/// method is one transaction on a connection of a bounded pool. A lost connection fails the
/// call in progress (kUnavailable; a transaction is rolled back by the server, never half
/// applied) and is replaced by a new one on the next call. Thread-safe.
class PgStore final : public Store {
 public:
  /// Connects, applies missing migrations (under an advisory lock) and opens the pool.
  /// kUnavailable when the server cannot be reached; fails when the schema is newer than this
  /// binary.
  static core::Result<std::unique_ptr<PgStore>> open(PgOptions opts);
  /// Waits for the asynchronous writes in progress, then closes every connection. No call may
  /// be running or start while it runs.
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  core::Result<ApiKey> create_key(const ApiKey& key) override;
  core::Result<std::optional<ApiKey>> find_key_by_hash(const std::string& secret_hash) override;
  core::Result<std::optional<ApiKey>> find_key_by_prefix(const std::string& prefix) override;
  std::int64_t count_keys() override;

  core::Status insert_task(const core::Task& task) override;
  core::Result<Claim> insert_claimed_task(const core::Task& task, const std::string& owner,
                                          std::int64_t lease_until_ms) override;
  core::Result<std::optional<core::Task>> get_task(const std::string& id) override;
  core::Result<ClaimBatch> claim_tasks(const std::string& owner, int max, std::int64_t now_ms,
                                       std::int64_t lease_until_ms, int max_attempts) override;
  core::Result<Fence> renew_lease(std::int64_t row_id, int attempt,
                                  std::int64_t lease_until_ms) override;
  core::Result<std::vector<RunRef>> renew_leases(const std::vector<RunRef>& runs,
                                                 std::int64_t lease_until_ms) override;
  core::Result<Fence> complete_task(std::int64_t row_id, int attempt,
                                    const core::TaskOutcome& out) override;
  core::Result<Fence> release_task(std::int64_t row_id, int attempt) override;
  core::Result<Fence> set_task_size(std::int64_t row_id, int attempt, int width,
                                    int height) override;
  core::Result<Fence> set_upstream(std::int64_t row_id, int attempt, const std::string& route,
                                   const std::string& upstream_id) override;
  core::Result<TaskPage> list_tasks(std::int64_t key_id, std::int64_t offset, int limit) override;
  core::Result<bool> cancel_task(std::int64_t row_id, std::int64_t now_ms) override;

  // upstream_calls.cpp
  core::Result<std::int64_t> begin_upstream_call(const UpstreamCall& call) override;
  core::Status finish_upstream_call(std::int64_t id, int http_status, std::int64_t duration_ms,
                                    const std::string& error_class, const std::string& error_code,
                                    const std::string& message,
                                    const std::string& upstream_id) override;
  core::Result<std::vector<UpstreamCall>> list_upstream_calls(std::int64_t task_row) override;

  // billing.cpp
  core::Result<ApiKey> create_key_in_account(const ApiKey& key,
                                             std::optional<std::int64_t> credits) override;
  core::Result<std::optional<ApiKey>> get_key(std::int64_t id) override;
  core::Result<std::vector<ApiKey>> list_keys() override;
  core::Result<std::optional<ApiKey>> update_key(std::int64_t id, const KeyPatch& patch) override;
  core::Result<std::optional<ApiKey>> rotate_key(std::int64_t id, const std::string& prefix,
                                                 const std::string& secret_hash) override;
  core::Result<std::optional<Account>> get_account(std::int64_t id) override;
  core::Result<std::optional<Account>> add_credits(std::int64_t account_id, const std::string& kind,
                                                   std::int64_t amount, const std::string& reason,
                                                   std::int64_t now_ms) override;
  core::Result<std::vector<LedgerEntry>> list_ledger(std::int64_t account_id) override;

  // admin_reads.cpp
  core::Result<TaskPage> list_all_tasks(const TaskFilter& filter, std::int64_t offset,
                                        int limit) override;
  core::Result<std::vector<UsageDay>> usage(std::int64_t key_id, std::int64_t from_ms,
                                            std::int64_t to_ms) override;
  core::Result<std::vector<UsageRow>> usage_rows(const UsageQuery& query) override;
  core::Result<KeyPage> list_keys_page(std::string_view search, std::int64_t offset,
                                       int limit) override;
  core::Result<AccountPage> list_accounts(std::int64_t offset, int limit) override;
  core::Result<LedgerPage> ledger_page(std::int64_t account_id, std::int64_t offset,
                                       int limit) override;
  core::Result<std::vector<LedgerEntry>> task_ledger(std::int64_t task_row) override;
  core::Result<std::vector<RouteStats>> upstream_stats(std::int64_t since_ms,
                                                       std::int64_t until_ms) override;

  // callbacks.cpp
  core::Result<std::vector<CallbackDelivery>> claim_callbacks(int max, std::int64_t now_ms,
                                                              std::int64_t lease_until_ms) override;
  core::Status record_callback_attempt(std::int64_t callback_id, const CallbackAttempt& attempt,
                                       const std::string& state, std::int64_t next_ms) override;
  core::Result<std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>>
  task_callback(std::int64_t task_row) override;
  core::Result<bool> redeliver_callback(std::int64_t task_row, std::int64_t now_ms) override;
  core::Result<std::optional<std::int64_t>> next_callback_due() override;
  core::Result<std::optional<std::string>> webhook_secret(std::int64_t account_id,
                                                          const std::string& candidate) override;
  core::Result<bool> set_webhook_secret(std::int64_t account_id,
                                        const std::string& secret) override;

  // idempotency.cpp
  core::Result<IdempotentBegin> begin_idempotent(std::int64_t account_id, const std::string& key,
                                                 const std::string& request_hash,
                                                 std::int64_t now_ms,
                                                 std::int64_t in_progress_ms) override;
  core::Status finish_idempotent(std::int64_t account_id, const std::string& key,
                                 const std::string& task_id, int status,
                                 const std::string& body) override;
  core::Status abandon_idempotent(std::int64_t account_id, const std::string& key) override;

  // rate_limits.cpp
  bool shared_by_nodes() const override { return true; }
  core::Result<RateGrant> take_rate_tokens(std::int64_t key_id, int rpm, int want,
                                           std::int64_t now_ms) override;

  // The writes of the request path run on the store's own threads (as many as the pool has
  // connections), so that the caller's I/O thread never waits on the network.
  void insert_task_async(core::Task task, Done<core::Ok> done) override;
  void insert_claimed_task_async(core::Task task, std::string owner, std::int64_t lease_until_ms,
                                 Done<Claim> done) override;
  void complete_task_async(std::int64_t row_id, int attempt, core::TaskOutcome out,
                           Done<Fence> done) override;
  void begin_upstream_call_async(UpstreamCall call, Done<std::int64_t> done) override;
  void finish_upstream_call_async(std::int64_t id, int http_status, std::int64_t duration_ms,
                                  std::string error_class, std::string error_code,
                                  std::string message, std::string upstream_id,
                                  Done<core::Ok> done) override;

  std::map<core::TaskState, std::int64_t> count_tasks_by_state() override;
  bool healthy() override;

  /// Folds the finished tasks' count deltas (appended by triggers, migration 10) into
  /// task_counts, unless another node is folding. The store does it itself when it opens and
  /// after every kFoldEvery tasks it finishes, so the deltas stay few; public for tests.
  void fold_task_counts();
  static constexpr std::uint64_t kFoldEvery = 1024;

  /// Connections open now (for tests and metrics).
  int open_connections() const;

 private:
  PgStore(PgOptions opts, std::unique_ptr<pg::Pool> pool);

  // Counts `n` tasks this node finished; every kFoldEvery, posts a fold (not once the store is
  // being destroyed: its workers are running their last jobs).
  void finished(std::uint64_t n);

  const PgOptions opts_;
  std::unique_ptr<pg::Pool> pool_;
  std::atomic<std::uint64_t> finished_{0};
  std::atomic<bool> closing_{false};
  // Declared last: destroyed (drained) first, while the pool still serves its writes.
  std::unique_ptr<pg::Workers> workers_;
};

}  // namespace ig::store
