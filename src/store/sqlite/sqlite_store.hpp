#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/sqlite/task_cache.hpp"
#include "store/store.hpp"

namespace ig::store {

namespace detail {
class Checkpointer;
class Connection;
class Writer;
}  // namespace detail

/// How to open the SQLite store. A plain value type.
struct SqliteOptions {
  std::filesystem::path path;        // the database file; its directory must exist
  std::string synchronous = "FULL";  // "FULL" or "NORMAL" (WAL: NORMAL may lose the last
                                     // commits on power loss, never consistency)
  std::chrono::milliseconds busy_timeout{5000};  // wait for another process's lock
  int max_batch = 256;                           // write operations per group commit
  int checkpoint_pages = 1000;  // the WAL is copied back (on a thread of its own) at this size
  std::size_t task_cache = 16384;  // tasks kept decoded for get_task (0: none); about 1 KB each
};

/// SQLite (WAL) implementation of Store: one writer thread with group commit, a read
/// connection per calling thread. Thread-safe.
class SqliteStore final : public Store {
 public:
  /// Opens or creates the database, applies missing migrations and starts the writer.
  /// Fails if the file cannot be opened in WAL mode, or its schema is newer than this binary.
  static core::Result<std::unique_ptr<SqliteStore>> open(SqliteOptions opts);
  /// Stops the writer after draining its queue, then closes every connection. No call may be
  /// running or start while it runs.
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  core::Result<ApiKey> create_key(const ApiKey& key) override;
  core::Result<ApiKey> create_key_in_account(const ApiKey& key,
                                             std::optional<std::int64_t> credits) override;
  core::Result<std::optional<ApiKey>> get_key(std::int64_t id) override;
  core::Result<std::vector<ApiKey>> list_keys() override;
  core::Result<std::optional<ApiKey>> update_key(std::int64_t id, const KeyPatch& patch) override;
  core::Result<std::optional<ApiKey>> rotate_key(std::int64_t id, const std::string& prefix,
                                                 const std::string& secret_hash) override;
  core::Result<std::optional<Account>> get_account(std::int64_t id) override;
  core::Result<std::optional<Account>> add_credits(std::int64_t account_id,
                                                   const std::string& kind, std::int64_t amount,
                                                   const std::string& reason,
                                                   std::int64_t now_ms) override;
  core::Result<std::vector<LedgerEntry>> list_ledger(std::int64_t account_id) override;
  core::Result<TaskPage> list_all_tasks(const TaskFilter& filter, std::int64_t offset,
                                        int limit) override;
  core::Result<std::vector<UsageDay>> usage(std::int64_t key_id, std::int64_t from_ms,
                                            std::int64_t to_ms) override;
  // admin_reads.cpp
  core::Result<std::vector<UsageRow>> usage_rows(const UsageQuery& query) override;
  core::Result<KeyPage> list_keys_page(std::string_view search, std::int64_t offset,
                                       int limit) override;
  core::Result<AccountPage> list_accounts(std::int64_t offset, int limit) override;
  core::Result<LedgerPage> ledger_page(std::int64_t account_id, std::int64_t offset,
                                       int limit) override;
  core::Result<std::vector<LedgerEntry>> task_ledger(std::int64_t task_row) override;
  core::Result<std::vector<RouteStats>> upstream_stats(std::int64_t since_ms,
                                                       std::int64_t until_ms) override;
  core::Result<std::optional<ApiKey>> find_key_by_hash(const std::string& secret_hash) override;
  core::Result<std::optional<ApiKey>> find_key_by_prefix(const std::string& prefix) override;
  std::int64_t count_keys() override;

  core::Status insert_task(const core::Task& task) override;
  core::Result<Claim> insert_claimed_task(const core::Task& task, const std::string& owner,
                                          std::int64_t lease_until_ms) override;
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
  core::Result<IdempotentBegin> begin_idempotent(std::int64_t account_id, const std::string& key,
                                                 const std::string& request_hash,
                                                 std::int64_t now_ms,
                                                 std::int64_t in_progress_ms) override;
  core::Status finish_idempotent(std::int64_t account_id, const std::string& key,
                                 const std::string& task_id, int status,
                                 const std::string& body) override;
  core::Status abandon_idempotent(std::int64_t account_id, const std::string& key) override;
  core::Result<std::optional<core::Task>> get_task(const std::string& id) override;
  core::Result<ClaimBatch> claim_tasks(const std::string& owner, int max, std::int64_t now_ms,
                                       std::int64_t lease_until_ms, int max_attempts) override;
  core::Result<Fence> renew_lease(std::int64_t row_id, int attempt,
                                  std::int64_t lease_until_ms) override;
  bool inline_point_reads() const override;
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
                                    const std::string& error_class,
                                    const std::string& error_code, const std::string& message,
                                    const std::string& upstream_id) override;
  core::Result<std::vector<UpstreamCall>> list_upstream_calls(std::int64_t task_row) override;

  std::map<core::TaskState, std::int64_t> count_tasks_by_state() override;
  bool healthy() override;

  /// COMMITs the writer has executed since open (for tests and metrics).
  std::uint64_t commits() const;
  /// WAL checkpoints run since open (for tests).
  std::uint64_t checkpoints() const;
  /// Write operations submitted and not yet completed (for tests and metrics).
  std::size_t pending_writes() const;
  /// get_task's cache of decoded tasks (for tests).
  detail::TaskCache::Stats task_cache_stats() const;

 private:
  SqliteStore(SqliteOptions opts, std::unique_ptr<detail::TaskCache> tasks,
              std::unique_ptr<detail::Checkpointer> checkpointer,
              std::unique_ptr<detail::Writer> writer);

  /// This thread's read connection, opened on first use; nullptr if it cannot be opened.
  detail::Connection* reader();

  const SqliteOptions opts_;
  const std::uint64_t instance_;  // never reused: tells this store's cached readers apart
  std::unique_ptr<detail::TaskCache> tasks_;  // before writer_, which drops from it
  // Declared before writer_: the writer's connection, which reports to it, closes first. The
  // checkpointer's, closing last, checkpoints the WAL and removes it.
  std::unique_ptr<detail::Checkpointer> checkpointer_;
  std::unique_ptr<detail::Writer> writer_;
  std::mutex readers_mu_;
  // Declared after writer_ so readers close first.
  std::unordered_map<std::thread::id, std::unique_ptr<detail::Connection>> readers_;
};

}  // namespace ig::store
