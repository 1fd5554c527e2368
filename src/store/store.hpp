#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"

namespace ig::store {

/// A key's limits; 0 (or empty) means none. Checked at create: rpm and the IP allowlist in
/// memory on each node, the others in the create's own transaction.
struct KeyLimits {
  int rpm = 0;                            // requests per minute (token bucket per node)
  int max_active = 0;                     // queued + running tasks at once
  std::int64_t spend_hourly = 0;          // micro-credits held in the last hour, refunds not
  std::int64_t spend_daily = 0;           // counted; the same over the last 24 hours,
  std::int64_t spend_total = 0;           // and ever
  std::vector<std::string> ip_allowlist;  // CIDRs the client must come from
  bool operator==(const KeyLimits&) const = default;
};

/// An API key as stored (only the SHA-256 of the secret is kept).
struct ApiKey {
  std::int64_t id = 0;
  std::string name;
  std::string prefix;       // first characters of the key, for operators ("sk-AbC1…")
  std::string secret_hash;  // lower-case hex SHA-256 of the whole key
  bool disabled = false;
  std::int64_t account_id = 0;  // the account that pays for its tasks
  KeyLimits limits;
  std::int64_t created_ms = 0;
};

/// Who pays. Balances are integer micro-credits; `balance` is the sum of the account's ledger.
struct Account {
  std::int64_t id = 0;
  std::string name;
  bool metered = false;  // false: nothing is refused for balance (movements still recorded)
  std::int64_t balance = 0;
  std::int64_t total_purchased = 0;  // top-ups
  std::int64_t total_consumed = 0;   // captured task prices
  std::int64_t created_ms = 0;
};

/// One movement of money.
struct LedgerEntry {
  std::int64_t id = 0;
  std::int64_t account_id = 0;
  std::string kind;  // topup | hold | capture | refund | adjust
  std::int64_t amount = 0;  // the balance's movement
  std::int64_t price = 0;   // hold, capture, refund: the task's price
  std::int64_t task_row = 0;
  std::int64_t key_id = 0;
  std::string reason;
  std::int64_t created_ms = 0;
};

/// Changes to a key; unset fields stay.
struct KeyPatch {
  std::optional<std::string> name;
  std::optional<bool> disabled;
  std::optional<int> rpm;
  std::optional<int> max_active;
  std::optional<std::int64_t> spend_hourly;
  std::optional<std::int64_t> spend_daily;
  std::optional<std::int64_t> spend_total;
  std::optional<std::vector<std::string>> ip_allowlist;
};

/// What the admin task list filters on; 0 / "" for any.
struct TaskFilter {
  std::string state;
  std::int64_t key_id = 0;
  std::string model;  // the model as the request named it
  std::int64_t since_ms = 0;
  std::int64_t until_ms = 0;
  std::string dialect;  // the creating dialect (core::to_string(Dialect))
};

/// One page of the keys (by id) that match a search, and how many match.
struct KeyPage {
  std::vector<ApiKey> keys;
  std::int64_t total = 0;
};

/// One page of every account (oldest first) and how many there are.
struct AccountPage {
  std::vector<Account> accounts;
  std::int64_t total = 0;
};

/// A ledger row as the admin API shows it: with its task's public id ("" when none) and the
/// account's balance right after it.
struct LedgerLine {
  LedgerEntry entry;
  std::string task_id;
  std::int64_t balance_after = 0;
};

/// One page of an account's ledger (newest first) and how many rows it has.
struct LedgerPage {
  std::vector<LedgerLine> lines;
  std::int64_t total = 0;
};

/// What usage is counted over: tasks created in [from_ms, to_ms), of one key (0: every key)
/// and one model (""; as the request named it), per UTC day and, optionally, per key or model.
struct UsageQuery {
  enum class GroupBy { kDay, kKey, kModel };
  std::int64_t key_id = 0;
  std::string model;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  GroupBy group_by = GroupBy::kDay;
};

/// One row of usage_rows: a day, and the key or model of the row when grouped by them.
struct UsageRow {
  std::string day;          // YYYY-MM-DD (UTC)
  std::int64_t key_id = 0;  // GroupBy::kKey
  std::string model;        // GroupBy::kModel
  std::int64_t tasks = 0;
  std::int64_t images = 0;   // of succeeded tasks
  std::int64_t credits = 0;  // captured, micro-credits
};

/// Upstream calls of one route started in a time window, from the call log.
struct RouteStats {
  std::string route;
  std::string provider_kind;
  std::int64_t requests = 0;   // calls started
  std::int64_t succeeded = 0;
  std::int64_t errors = 0;     // finished with a failure class, not cancelled
  std::int64_t cancelled = 0;  // ended by a cancellation (error code "cancelled")
  std::int64_t in_flight = 0;  // not finished (running, or cut off by a crash)
  std::int64_t p50_ms = -1;    // of finished, not cancelled calls (nearest rank); -1: none
  std::int64_t p95_ms = -1;
  std::int64_t last_started_ms = 0;
};

/// A task's callback: the outbox row written with its terminal state.
struct CallbackDelivery {
  std::int64_t id = 0;
  std::int64_t task_row = 0;
  std::string task_id;
  std::string url;
  std::string msg_id;  // webhook-id
  std::string state;   // pending | delivered | failed
  int attempts = 0;
  std::int64_t next_ms = 0;
  std::int64_t created_ms = 0;
  std::int64_t account_id = 0;  // whose secret signs it (0: a task without a key)
  std::string webhook_secret;   // that account's, "" when it has none yet
};

/// One delivery attempt.
struct CallbackAttempt {
  std::int64_t started_ms = 0;
  int http_status = 0;  // 0: no HTTP answer
  std::int64_t latency_ms = 0;
  std::string error;    // "" for a 2xx
};

/// What an Idempotency-Key says about a create (begin_idempotent).
struct IdempotentBegin {
  enum class State {
    kNew,         // first use (or the old one expired): go on, then finish or abandon
    kReplay,      // used before with the same request: answer `status` and `body` again
                  // (status 0: the answer was never recorded; render task_id's task again)
    kMismatch,    // used before with another request
    kInProgress,  // the first request with it is still being created
  };
  State state = State::kNew;
  std::string task_id;
  int status = 0;
  std::string body;
};

/// Requests-per-minute tokens taken from a key's bucket in the database (take_rate_tokens).
struct RateGrant {
  int granted = 0;                 // 0..want
  std::int64_t retry_after_ms = 0; // when none was granted: until the bucket holds one again
};

/// One day (UTC) of a key's (or everyone's) use.
struct UsageDay {
  std::string day;  // YYYY-MM-DD
  std::int64_t tasks = 0;
  std::int64_t images = 0;        // of succeeded tasks
  std::int64_t credits = 0;       // captured, micro-credits
};

/// A claimed task: the dispatcher owns it until `lease_until_ms` unless it renews.
struct Claim {
  core::Task task;
  std::int64_t lease_until_ms = 0;
};

/// What one claim_tasks call did: the tasks it claimed, and the tasks it failed instead
/// because another claim would have exceeded max_attempts (for the dispatcher to log).
struct ClaimBatch {
  std::vector<Claim> claims;          // oldest first: (created_ms, row_id)
  std::vector<core::Task> exhausted;  // now failed with fail_code "too_many_attempts"
};

/// One page of a key's tasks (newest first) and how many the key has in all.
struct TaskPage {
  std::vector<core::Task> tasks;
  std::int64_t total = 0;
};

/// The outcome of a write fenced by the attempt number (RELIABILITY.md). A database failure is
/// not a Fence: it is the Error of the core::Result<Fence>, and the caller may retry.
enum class Fence {
  kApplied,    // the task was running under that attempt and the write landed
  kFencedOut,  // it is not running under that attempt any more (lease lost, cancelled,
               // finished): nothing was written
};

/// One run of a task: the row and the attempt that owns it.
struct RunRef {
  std::int64_t row_id = 0;
  int attempt = 0;
  bool operator==(const RunRef&) const = default;
};

/// One call to an upstream provider, as logged while it runs (append-only; not fenced). Every
/// member has an initializer, so designated initializers may name only some.
struct UpstreamCall {
  std::int64_t id = 0;
  std::int64_t task_row = 0;
  int attempt = 0;  // the claim attempt that made the call
  std::string route{};
  std::string provider_kind{};
  std::string upstream_id{};
  int http_status = 0;
  std::int64_t started_ms = 0;
  std::int64_t duration_ms = -1;  // -1 while in flight
  /// "" when it succeeded; a FailureClass word (no_work, route_fault, rejected, unknown,
  /// failed); "in_flight" until finished.
  std::string error_class{};
  std::string error_code{};
  std::string message{};
};

/// Durable state of the gateway. Every method is blocking and thread-safe: call it from the
/// blocking pool, never from an I/O thread — except the point reads marked below when
/// inline_point_reads() is true. A method that returns has committed its writes. Writes from
/// many threads are grouped into shared transactions by the implementation; the *_async
/// methods hand their result to a callback instead of blocking a thread.
class Store {
 public:
  virtual ~Store() = default;

  /// True when the point reads (find_key_by_hash, get_task: one row by a unique key) take
  /// microseconds and never wait on a lock or the network, so an I/O thread may call them
  /// directly instead of hopping to the blocking pool and back (SQLite in WAL mode: a
  /// per-thread read connection). A networked store keeps false.
  virtual bool inline_point_reads() const { return false; }

  // Reads and writes that return a core::Result report a database failure as an Error
  // (kUnavailable when the database stayed locked, else kInternal; the message holds no SQL),
  // never as "absent", "fenced out" or "false".

  // --- keys
  virtual core::Result<ApiKey> create_key(const ApiKey& key) = 0;
  /// The key with this hash; nullopt when there is none.
  virtual core::Result<std::optional<ApiKey>> find_key_by_hash(const std::string& secret_hash) = 0;
  /// The key with this prefix; nullopt when there is none (always for "").
  virtual core::Result<std::optional<ApiKey>> find_key_by_prefix(const std::string& prefix) = 0;
  /// -1 when the database cannot be read.
  virtual std::int64_t count_keys() = 0;

  // --- tasks
  /// Inserts a new task in state queued with attempt 0. Fails (kConflict) if the id exists.
  /// A task with a key is billed in the same transaction: `task.price` is held from the key's
  /// account (a ledger `hold`), after the key's limits are checked against the database:
  /// kUnauthorized (key disabled since it was authenticated), kTooManyActive (max_active),
  /// kSpendLimited (a spend limit), kInsufficientCredits (a metered account's balance is
  /// below the price). Nothing is written when any fails. When `task.idempotency_key` is set,
  /// the same transaction names the task in that key's row of the key's account if the row is
  /// still being created (task_id ''): a replay then finds the task even if the process died
  /// before finish_idempotent (the row's status stays 0: the caller renders the answer again).
  virtual core::Status insert_task(const core::Task& task) = 0;
  /// Inserts a new task already claimed by `owner`: running, attempt 1, started at created_ms,
  /// leased until `lease_until_ms`, in one transaction. The creating process runs it at once
  /// instead of waiting for claim_tasks. Fails (kConflict) if the id exists. Ties
  /// `task.idempotency_key` as insert_task does.
  virtual core::Result<Claim> insert_claimed_task(const core::Task& task, const std::string& owner,
                                                  std::int64_t lease_until_ms) = 0;
  /// The task with this public id, whoever owns it (callers check key_id); nullopt when none.
  virtual core::Result<std::optional<core::Task>> get_task(const std::string& id) = 0;

  /// Claims up to `max` tasks that are queued, or running with an expired lease: of the `max`
  /// oldest queued tasks and the `max` running ones whose lease ended first, the `max` oldest
  /// by (created_ms, row_id). A claim reads about as many tasks as it takes, however many run
  /// or have finished. State → running, attempt + 1, started_ms set if 0, lease to
  /// `lease_until_ms`, lease owner recorded. A candidate already claimed `max_attempts` times
  /// is never claimed: when it is among the oldest `max` candidates it is failed in the same
  /// transaction ("too_many_attempts", completed_ms = now_ms, lease cleared) and returned in
  /// `exhausted` (one further back is failed by a later call that reaches it). Up to `max`
  /// others are still claimed. `max_attempts` must be >= 1 (else kInvalidRequest).
  virtual core::Result<ClaimBatch> claim_tasks(const std::string& owner, int max,
                                               std::int64_t now_ms, std::int64_t lease_until_ms,
                                               int max_attempts) = 0;
  /// Extends the lease if the task is still running under `attempt`.
  virtual core::Result<Fence> renew_lease(std::int64_t row_id, int attempt,
                                          std::int64_t lease_until_ms) = 0;
  /// renew_lease for many runs in few transactions (a process keeps every lease it holds with
  /// one call, not one write per task). Returns the runs that were fenced out; an error means
  /// none was known to be renewed. The default calls renew_lease for each.
  virtual core::Result<std::vector<RunRef>> renew_leases(const std::vector<RunRef>& runs,
                                                         std::int64_t lease_until_ms) {
    std::vector<RunRef> lost;
    for (const auto& r : runs) {
      auto f = renew_lease(r.row_id, r.attempt, lease_until_ms);
      if (!f) {
        return f.error();
      }
      if (*f == Fence::kFencedOut) {
        lost.push_back(r);
      }
    }
    return lost;
  }
  /// Writes the terminal outcome (state, fail code and message, results, usage) if the task is
  /// still running under `attempt`, and settles its hold in the same transaction: captured on
  /// success, refunded otherwise. `out.state` must be terminal (else kInvalidRequest).
  virtual core::Result<Fence> complete_task(std::int64_t row_id, int attempt,
                                            const core::TaskOutcome& out) = 0;
  /// Returns a running task to queued (keeping its attempt count) so another worker may take
  /// it at once; used on graceful shutdown. Fenced like complete_task.
  virtual core::Result<Fence> release_task(std::int64_t row_id, int attempt) = 0;
  /// Stores the resolved size of a task whose size depended on its reference image. Fenced.
  virtual core::Result<Fence> set_task_size(std::int64_t row_id, int attempt, int width,
                                            int height) = 0;
  /// Records where the task's paid work lives: the route and that upstream's id for it (a
  /// relay's task id). Written before the provider polls, so a restart finds the work again.
  /// Fenced.
  virtual core::Result<Fence> set_upstream(std::int64_t row_id, int attempt,
                                           const std::string& route,
                                           const std::string& upstream_id) = 0;

  /// The key's tasks, newest first, skipping `offset`, at most `limit`.
  virtual core::Result<TaskPage> list_tasks(std::int64_t key_id, std::int64_t offset,
                                            int limit) = 0;
  /// Cancels a queued or running task: state → cancelled, fail_code "cancelled", completed_ms
  /// set, lease cleared (a running worker is fenced out), its hold refunded in the same
  /// transaction. False when the task was not queued or running (already terminal, or no such
  /// row).
  virtual core::Result<bool> cancel_task(std::int64_t row_id, std::int64_t now_ms) = 0;

  // --- upstream call log (append-only, not fenced: a late run's calls are facts too)
  /// Records a call about to be sent (error_class "in_flight", duration_ms -1, started_ms now
  /// when 0) and returns its id. Written before the request leaves, so a crash mid-call leaves
  /// an in_flight row. kInvalidRequest when `call.task_row` names no task.
  virtual core::Result<std::int64_t> begin_upstream_call(const UpstreamCall& call) = 0;
  /// Records how the call ended: `error_class` is "" (succeeded) or a FailureClass word;
  /// `duration_ms` >= 0; an empty `upstream_id` keeps the one recorded at the start.
  /// kNotFound for an unknown id, kConflict for a call already finished.
  virtual core::Status finish_upstream_call(std::int64_t id, int http_status,
                                            std::int64_t duration_ms,
                                            const std::string& error_class,
                                            const std::string& error_code,
                                            const std::string& message,
                                            const std::string& upstream_id) = 0;
  /// The task's calls, oldest first.
  virtual core::Result<std::vector<UpstreamCall>> list_upstream_calls(std::int64_t task_row) = 0;

  // --- accounts, keys and the ledger (admin API, CLI)
  /// Creates a key. With `key.account_id` 0 a new account (named after the key) is created:
  /// metered when `credits` is given, holding them as a top-up. With an existing account,
  /// `credits` (if any) are a top-up to it; kNotFound when it does not exist. Returns the key
  /// with its id and account id.
  virtual core::Result<ApiKey> create_key_in_account(const ApiKey& key,
                                                     std::optional<std::int64_t> credits) = 0;
  virtual core::Result<std::optional<ApiKey>> get_key(std::int64_t id) = 0;
  /// Every key, oldest first.
  virtual core::Result<std::vector<ApiKey>> list_keys() = 0;
  /// Applies the patch; nullopt when there is no such key.
  virtual core::Result<std::optional<ApiKey>> update_key(std::int64_t id,
                                                         const KeyPatch& patch) = 0;
  /// Replaces the key's secret (its hash and prefix); the old secret stops working.
  virtual core::Result<std::optional<ApiKey>> rotate_key(std::int64_t id,
                                                         const std::string& prefix,
                                                         const std::string& secret_hash) = 0;
  /// The account with its balance and totals, read from the database (never a cache).
  virtual core::Result<std::optional<Account>> get_account(std::int64_t id) = 0;
  /// A `topup` (amount > 0; makes the account metered) or an `adjust` (either sign, not 0).
  /// Returns the account afterwards; nullopt when there is none.
  virtual core::Result<std::optional<Account>> add_credits(std::int64_t account_id,
                                                           const std::string& kind,
                                                           std::int64_t amount,
                                                           const std::string& reason,
                                                           std::int64_t now_ms) = 0;
  /// The account's ledger, oldest first.
  virtual core::Result<std::vector<LedgerEntry>> list_ledger(std::int64_t account_id) = 0;
  /// Every key's tasks matching `filter`, newest first.
  virtual core::Result<TaskPage> list_all_tasks(const TaskFilter& filter, std::int64_t offset,
                                                int limit) = 0;
  /// Tasks, images and captured credits per UTC day in [from_ms, to_ms), oldest day first;
  /// `key_id` 0 for every key.
  virtual core::Result<std::vector<UsageDay>> usage(std::int64_t key_id, std::int64_t from_ms,
                                                    std::int64_t to_ms) = 0;
  /// usage() with a model filter and rows per day and key or model: oldest day first, then by
  /// key id or model.
  virtual core::Result<std::vector<UsageRow>> usage_rows(const UsageQuery& query) = 0;
  /// The keys matching `search` (empty: all; else the id, a part of the name, case-insensitive
  /// for ASCII, or the start of the prefix), by id, skipping `offset`, at most `limit`.
  virtual core::Result<KeyPage> list_keys_page(std::string_view search, std::int64_t offset,
                                               int limit) = 0;
  /// Every account, oldest first, skipping `offset`, at most `limit`, with balances and totals.
  virtual core::Result<AccountPage> list_accounts(std::int64_t offset, int limit) = 0;
  /// The account's ledger, newest first (by time, then id), skipping `offset`, at most
  /// `limit`, each row with the balance right after it.
  virtual core::Result<LedgerPage> ledger_page(std::int64_t account_id, std::int64_t offset,
                                               int limit) = 0;
  /// The task's hold and its settlement (capture or refund), oldest first; empty for a task
  /// that holds nothing.
  virtual core::Result<std::vector<LedgerEntry>> task_ledger(std::int64_t task_row) = 0;
  /// Per route (by name), the upstream calls started in [since_ms, until_ms).
  virtual core::Result<std::vector<RouteStats>> upstream_stats(std::int64_t since_ms,
                                                               std::int64_t until_ms) = 0;

  // --- callbacks (the outbox): rows are written by complete_task, cancel_task and the
  // exhaustion of claim_tasks, in their transaction, for tasks whose request has a callback URL
  /// Takes up to `max` pending callbacks due by `now_ms` whose lease has ended, leasing them
  /// until `lease_until_ms` (a sender that dies mid-delivery leaves them to the next one,
  /// which sends them again with the same msg_id). Oldest due first.
  virtual core::Result<std::vector<CallbackDelivery>> claim_callbacks(
      int max, std::int64_t now_ms, std::int64_t lease_until_ms) = 0;
  /// Records an attempt and where the callback goes next: `state` "pending" (again at
  /// `next_ms`), "delivered" or "failed"; the lease is released.
  virtual core::Status record_callback_attempt(std::int64_t callback_id,
                                               const CallbackAttempt& attempt,
                                               const std::string& state,
                                               std::int64_t next_ms) = 0;
  /// The task's callback (nullopt: none) and its attempts, oldest first.
  virtual core::Result<std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>>
  task_callback(std::int64_t task_row) = 0;
  /// Sends the task's callback again from the start (pending, due now, attempts 0, the same
  /// msg_id). False when the task has none.
  virtual core::Result<bool> redeliver_callback(std::int64_t task_row, std::int64_t now_ms) = 0;
  /// When the next pending callback may be claimed (its next_ms, or after its lease when one is
  /// being delivered), or nullopt when none is pending.
  virtual core::Result<std::optional<std::int64_t>> next_callback_due() = 0;
  /// The account's webhook secret; when it has none, `candidate` becomes it. Returns the
  /// secret in force. nullopt for an unknown account.
  virtual core::Result<std::optional<std::string>> webhook_secret(std::int64_t account_id,
                                                                  const std::string& candidate) = 0;
  /// Replaces the account's webhook secret; false for an unknown account.
  virtual core::Result<bool> set_webhook_secret(std::int64_t account_id,
                                                const std::string& secret) = 0;

  // --- Idempotency-Key of creates, per account, kept 24 h (a first request that has not
  // finished or abandoned its key within `in_progress_ms` is taken to have died)
  virtual core::Result<IdempotentBegin> begin_idempotent(std::int64_t account_id,
                                                         const std::string& key,
                                                         const std::string& request_hash,
                                                         std::int64_t now_ms,
                                                         std::int64_t in_progress_ms) = 0;
  /// The answer the first request got (replayed to retries).
  virtual core::Status finish_idempotent(std::int64_t account_id, const std::string& key,
                                         const std::string& task_id, int status,
                                         const std::string& body) = 0;
  /// The first request created nothing: the key may be used again.
  virtual core::Status abandon_idempotent(std::int64_t account_id, const std::string& key) = 0;

  // --- requests per minute counted where every node sees them
  /// True when several gateway processes may share this store (PostgreSQL): a key's requests
  /// per minute are then counted in it, by take_rate_tokens, instead of in each process.
  /// An embedded store (SQLite) serves one process, which counts in memory.
  virtual bool shared_by_nodes() const { return false; }
  /// Takes up to `want` tokens (at least 1 when any is there) from the token bucket of
  /// `key_id` that holds `rpm` tokens and refills at rpm a minute, at `now_ms` (wall clock,
  /// ms since the epoch; a time before the bucket's last take refills nothing). A new bucket
  /// starts full; a changed `rpm` applies at once (the tokens held are clamped to it). The take
  /// is atomic across every process sharing the store. Only a store that is
  /// shared_by_nodes() keeps such buckets; the others answer kInternal.
  virtual core::Result<RateGrant> take_rate_tokens(std::int64_t /*key_id*/, int /*rpm*/,
                                                   int /*want*/, std::int64_t /*now_ms*/) {
    return core::make_error(core::ErrorCode::kInternal,
                            "store: this store keeps no shared rate limits");
  }

  // --- the writes on the request path, with no thread waiting for their commit
  /// How an asynchronous write reports: called once, on a thread of the store's (its
  /// writer's); it must not block. Post the result to where it is wanted
  /// (runtime::await_callback does).
  template <class T>
  using Done = std::function<void(core::Result<T>)>;
  /// The blocking forms above, completing through `done`. These defaults run the blocking
  /// form on the calling thread: a store whose writes block must override them (SqliteStore
  /// does), or its callers block their I/O threads.
  virtual void insert_task_async(core::Task task, Done<core::Ok> done) {
    done(insert_task(task));
  }
  virtual void insert_claimed_task_async(core::Task task, std::string owner,
                                         std::int64_t lease_until_ms, Done<Claim> done) {
    done(insert_claimed_task(task, owner, lease_until_ms));
  }
  virtual void complete_task_async(std::int64_t row_id, int attempt, core::TaskOutcome out,
                                   Done<Fence> done) {
    done(complete_task(row_id, attempt, out));
  }
  virtual void begin_upstream_call_async(UpstreamCall call, Done<std::int64_t> done) {
    done(begin_upstream_call(call));
  }
  virtual void finish_upstream_call_async(std::int64_t id, int http_status,
                                          std::int64_t duration_ms, std::string error_class,
                                          std::string error_code, std::string message,
                                          std::string upstream_id, Done<core::Ok> done) {
    done(finish_upstream_call(id, http_status, duration_ms, error_class, error_code, message,
                              upstream_id));
  }

  /// Number of tasks in each state (every state present, zero when none).
  virtual std::map<core::TaskState, std::int64_t> count_tasks_by_state() = 0;
  /// True when the database answers a trivial query (for /readyz).
  virtual bool healthy() = 0;
};

}  // namespace ig::store
