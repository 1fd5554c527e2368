#include "store/pg/pg_store.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "store/pg/billing.hpp"
#include "store/pg/connection.hpp"
#include "store/pg/migrations.hpp"
#include "store/pg/ops.hpp"
#include "store/pg/rows.hpp"
#include "store/pg/statements.hpp"

namespace ig::store {

namespace pg {

Workers::Workers(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "ig-pg");
      loop();
    });
  }
}

Workers::~Workers() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) {
    t.join();
  }
}

void Workers::post(std::function<void()> job) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back(std::move(job));
  }
  ready_.notify_one();
}

void Workers::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lk(mu_);
      ready_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) {
        return;  // stopping, and nothing left
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("store: an asynchronous write threw: {}", e.what());
    } catch (...) {
      spdlog::error("store: an asynchronous write threw");
    }
  }
}

}  // namespace pg

namespace {

using pg::Connection;
using pg::in_transaction;
using pg::Params;
using pg::with_connection;
namespace sql = pg::sql;

// Every task a RETURNING statement yields, with their leases when asked. An unreadable row is
// an error (logged by read_task) that rolls back the write.
core::Result<std::vector<core::Task>> returned_tasks(const pg::Rows& rows,
                                                     std::vector<std::int64_t>* leases = nullptr) {
  std::vector<core::Task> out;
  for (int i = 0; i < rows.size(); ++i) {
    auto task = pg::read_task(rows[i]);
    if (!task.ok()) {
      return task.error();
    }
    out.push_back(std::move(*task));
    if (leases != nullptr) {
      leases->push_back(pg::read_lease_until(rows[i]));
    }
  }
  return out;
}

// The claim transaction: first fail the exhausted candidates, then claim. Both statements walk
// the same window of candidates, so the claim never takes a task the first one left behind.
core::Result<ClaimBatch> claim_batch(Connection& c, const std::string& owner, int max,
                                     std::int64_t now_ms, std::int64_t lease_until_ms,
                                     int max_attempts) {
  ClaimBatch out;
  auto exhausted_rows = c.exec(
      sql::kExhaustTasks,
      Params(std::string(core::fail::kTooManyAttempts), now_ms, std::int64_t{max}, max_attempts),
      "claim_tasks");
  if (!exhausted_rows.ok()) {
    return exhausted_rows.error();
  }
  auto exhausted = returned_tasks(*exhausted_rows);
  if (!exhausted.ok()) {
    return exhausted.error();
  }
  out.exhausted = std::move(*exhausted);
  for (const auto& t : out.exhausted) {
    if (auto settled = pg::settle(c, t.row_id, /*capture=*/false, now_ms); !settled.ok()) {
      return settled.error();
    }
    if (auto queued = pg::enqueue_callback(c, t.row_id, pg::wall_ms()); !queued.ok()) {
      return queued.error();
    }
  }
  auto claimed_rows =
      c.exec(sql::kClaimTasks,
             Params(owner, lease_until_ms, now_ms, std::int64_t{max}, max_attempts), "claim_tasks");
  if (!claimed_rows.ok()) {
    return claimed_rows.error();
  }
  std::vector<std::int64_t> leases;
  auto claimed = returned_tasks(*claimed_rows, &leases);
  if (!claimed.ok()) {
    return claimed.error();
  }
  for (std::size_t i = 0; i < claimed->size(); ++i) {
    out.claims.push_back(Claim{std::move((*claimed)[i]), leases[i]});
  }
  return out;
}

bool older(const core::Task& a, const core::Task& b) {
  return std::pair(a.created_ms, a.row_id) < std::pair(b.created_ms, b.row_id);
}

// Inserts a new task, queued, or claimed by `owner` (non-null) until `lease_until_ms`, after
// the key's checks, and holds its price: the body of both insert operations. The row id.
core::Result<std::int64_t> insert_new_task(Connection& c, const core::Task& task,
                                           const std::string* owner, std::int64_t lease_until_ms) {
  auto payer = pg::check_new_task(c, task);
  if (!payer.ok()) {
    return payer.error();
  }
  const char* what = owner != nullptr ? "insert_claimed_task" : "insert_task";
  Params params(task.id, pg::null_if_zero(task.key_id),
                std::string(core::to_string(task.request.dialect)),
                core::encode_request(task.request), task.param, task.created_ms,
                task.request.size.width, task.request.size.height, pg::wall_ms(), task.price);
  if (owner != nullptr) {
    params.add(*owner);
    params.add(lease_until_ms);
  }
  auto row =
      pg::query_int(c, owner != nullptr ? sql::kInsertClaimedTask : sql::kInsertTask, params, what);
  if (!row.ok()) {
    return row.error();
  }
  if (*payer) {
    if (auto held = pg::hold(c, **payer, task, *row); !held.ok()) {
      return held.error();
    }
    if (!task.idempotency_key.empty()) {
      auto tied = c.exec(sql::kTieIdempotencyKey,
                         Params((*payer)->account_id, task.idempotency_key, task.id), what);
      if (!tied.ok()) {
        return tied.error();
      }
    }
  }
  return *row;
}

core::Error no_id() {
  return core::make_error(core::ErrorCode::kInvalidRequest, "store: task has no id");
}

core::Error not_terminal(std::int64_t row_id, core::TaskState state) {
  spdlog::error("store: complete_task({}) with non-terminal state {}", row_id,
                core::to_string(state));
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          "store: complete_task needs a terminal state");
}

// The writes of complete_task: the call's end, the fenced UPDATE and, when it lands, the
// settlement and the outbox row.
core::Result<Fence> complete_tx(Connection& c, std::int64_t row_id, int attempt,
                                const core::TaskOutcome& out) {
  const std::int64_t now = pg::wall_ms();
  const std::int64_t completed = out.completed_ms != 0 ? out.completed_ms : now;
  if (out.call_end) {
    // Closed even when the outcome is fenced out: the call was made and succeeded. A call a
    // later attempt already closed (as of unknown outcome) keeps that record.
    const auto& end = *out.call_end;
    auto closed = c.exec(sql::kFinishUpstreamCall,
                         Params(end.id, end.http_status, end.duration_ms, std::string(),
                                std::string(), std::string(), end.upstream_id),
                         "complete_task");
    if (!closed.ok()) {
      return closed.error();
    }
  }
  auto n = pg::affected(
      c, sql::kCompleteTask,
      Params(row_id, attempt, std::string(core::to_string(out.state)), out.fail_code, out.fail_msg,
             core::encode_results(out.results), completed, now, core::encode_usage(out.usage)),
      "complete_task");
  if (!n.ok()) {
    return n.error();
  }
  if (*n != 1) {
    return Fence::kFencedOut;  // not this attempt's to end, nor to settle
  }
  const bool capture = out.state == core::TaskState::kSucceeded;
  if (auto settled = pg::settle(c, row_id, capture, completed); !settled.ok()) {
    return settled.error();
  }
  if (auto queued = pg::enqueue_callback(c, row_id, now); !queued.ok()) {
    return queued.error();
  }
  return Fence::kApplied;
}

}  // namespace

// --- lifecycle

// The migrations' connection: building an index of a large table may take longer than any one
// request should.
constexpr std::chrono::milliseconds kNoStatementTimeout{0};

core::Result<std::unique_ptr<PgStore>> PgStore::open(PgOptions opts) {
  if (opts.url.empty() || opts.pool_size < 1) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "store: a PostgreSQL url and pool_size >= 1 are required");
  }
  try {
    auto conn =
        pg::connect(opts.url, opts.connect_timeout_s, opts.lock_timeout, kNoStatementTimeout);
    if (!conn.ok()) {
      return conn.error();
    }
    if (auto s = pg::migrate(**conn, pg::wall_ms()); !s.ok()) {
      return s.error();
    }
    auto pool = std::make_unique<pg::Pool>(pg::Pool::Settings{
        .url = opts.url,
        .max_size = opts.pool_size,
        .connect_timeout_s = opts.connect_timeout_s,
        .acquire_timeout = opts.acquire_timeout,
        .lock_timeout = opts.lock_timeout,
        .statement_timeout = opts.statement_timeout,
    });
    auto store = std::unique_ptr<PgStore>(new PgStore(std::move(opts), std::move(pool)));
    // The deltas a node left unfolded when it stopped (fewer than kFoldEvery finishes).
    store->fold_task_counts();
    return store;
  } catch (const std::exception& e) {
    spdlog::error("store: open threw: {}", e.what());
  }
  return pg::internal("open");
}

PgStore::PgStore(PgOptions opts, std::unique_ptr<pg::Pool> pool)
    : opts_(std::move(opts)),
      pool_(std::move(pool)),
      workers_(std::make_unique<pg::Workers>(opts_.pool_size)) {}

PgStore::~PgStore() {
  closing_ = true;   // the last writes post no fold: workers_ is null while they run
  workers_.reset();  // its last writes still use the pool
}

int PgStore::open_connections() const {
  return pool_->open_count();
}

// --- keys

core::Result<std::optional<ApiKey>> PgStore::find_key_by_hash(const std::string& secret_hash) {
  return with_connection<std::optional<ApiKey>>(*pool_, "find_key_by_hash", [&](Connection& c) {
    return pg::query_one<ApiKey>(c, sql::kKeyByHash, Params(secret_hash), "find_key_by_hash",
                                 pg::read_key);
  });
}

core::Result<std::optional<ApiKey>> PgStore::find_key_by_prefix(const std::string& prefix) {
  if (prefix.empty()) {
    return std::optional<ApiKey>();  // stored as NULL: no key has the empty prefix
  }
  return with_connection<std::optional<ApiKey>>(*pool_, "find_key_by_prefix", [&](Connection& c) {
    return pg::query_one<ApiKey>(c, sql::kKeyByPrefix, Params(prefix), "find_key_by_prefix",
                                 pg::read_key);
  });
}

std::int64_t PgStore::count_keys() {
  auto n = with_connection<std::int64_t>(*pool_, "count_keys", [&](Connection& c) {
    return pg::query_int(c, sql::kCountKeys, Params(), "count_keys");
  });
  return n.ok() ? *n : -1;
}

// --- tasks

core::Status PgStore::insert_task(const core::Task& task) {
  if (task.id.empty()) {
    return no_id();
  }
  return in_transaction<core::Ok>(*pool_, "insert_task",
                                  [&](Connection& c) -> core::Result<core::Ok> {
                                    auto row = insert_new_task(c, task, nullptr, 0);
                                    if (!row.ok()) {
                                      return row.error();
                                    }
                                    return core::Ok{};
                                  });
}

core::Result<Claim> PgStore::insert_claimed_task(const core::Task& task, const std::string& owner,
                                                 std::int64_t lease_until_ms) {
  if (task.id.empty()) {
    return no_id();
  }
  return in_transaction<Claim>(*pool_, "insert_claimed_task",
                               [&](Connection& c) -> core::Result<Claim> {
                                 auto row = insert_new_task(c, task, &owner, lease_until_ms);
                                 if (!row.ok()) {
                                   return row.error();
                                 }
                                 Claim claim{task, lease_until_ms};
                                 claim.task.row_id = *row;
                                 claim.task.state = core::TaskState::kRunning;
                                 claim.task.attempt = 1;
                                 claim.task.started_ms = task.created_ms;
                                 return claim;
                               });
}

core::Result<std::optional<core::Task>> PgStore::get_task(const std::string& id) {
  using Out = core::Result<std::optional<core::Task>>;
  return with_connection<std::optional<core::Task>>(*pool_, "get_task", [&](Connection& c) -> Out {
    auto rows = c.exec(sql::kGetTask, Params(id), "get_task");
    if (!rows.ok()) {
      return rows.error();
    }
    if (rows->empty()) {
      return std::optional<core::Task>();
    }
    auto task = pg::read_task((*rows)[0]);
    if (!task.ok()) {
      return task.error();
    }
    return std::optional<core::Task>(std::move(*task));
  });
}

core::Result<ClaimBatch> PgStore::claim_tasks(const std::string& owner, int max,
                                              std::int64_t now_ms, std::int64_t lease_until_ms,
                                              int max_attempts) {
  if (max_attempts < 1) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "store: max_attempts must be at least 1");
  }
  if (max <= 0) {
    return ClaimBatch{};
  }
  auto batch = in_transaction<ClaimBatch>(*pool_, "claim_tasks", [&](Connection& c) {
    return claim_batch(c, owner, max, now_ms, lease_until_ms, max_attempts);
  });
  if (!batch.ok()) {
    return batch;
  }
  // RETURNING yields rows in no particular order.
  std::sort(batch->claims.begin(), batch->claims.end(),
            [](const Claim& a, const Claim& b) { return older(a.task, b.task); });
  std::sort(batch->exhausted.begin(), batch->exhausted.end(), older);
  if (!batch->exhausted.empty()) {
    finished(batch->exhausted.size());
  }
  return batch;
}

core::Result<Fence> PgStore::renew_lease(std::int64_t row_id, int attempt,
                                         std::int64_t lease_until_ms) {
  return pg::run_fenced(*pool_, sql::kRenewLease, "renew_lease",
                        Params(row_id, attempt, lease_until_ms, pg::wall_ms()));
}

core::Result<std::vector<RunRef>> PgStore::renew_leases(const std::vector<RunRef>& runs,
                                                        std::int64_t lease_until_ms) {
  // Batches of a few hundred: one commit each, short enough not to hold other writes back.
  constexpr std::size_t kBatch = 512;
  std::vector<RunRef> lost;
  for (std::size_t from = 0; from < runs.size(); from += kBatch) {
    const std::size_t to = std::min(runs.size(), from + kBatch);
    auto batch = in_transaction<std::vector<RunRef>>(
        *pool_, "renew_leases", [&](Connection& c) -> core::Result<std::vector<RunRef>> {
          const std::int64_t now = pg::wall_ms();
          std::vector<RunRef> out;
          for (std::size_t i = from; i < to; ++i) {
            auto n = pg::affected(c, sql::kRenewLease,
                                  Params(runs[i].row_id, runs[i].attempt, lease_until_ms, now),
                                  "renew_leases");
            if (!n.ok()) {
              return n.error();
            }
            if (*n != 1) {
              out.push_back(runs[i]);
            }
          }
          return out;
        });
    if (!batch.ok()) {
      return batch.error();
    }
    lost.insert(lost.end(), batch->begin(), batch->end());
  }
  return lost;
}

core::Result<Fence> PgStore::complete_task(std::int64_t row_id, int attempt,
                                           const core::TaskOutcome& out) {
  if (!core::is_terminal(out.state)) {
    return not_terminal(row_id, out.state);
  }
  auto fence = in_transaction<Fence>(
      *pool_, "complete_task", [&](Connection& c) { return complete_tx(c, row_id, attempt, out); });
  if (fence.ok() && *fence == Fence::kApplied) {
    finished(1);
  }
  return fence;
}

core::Result<Fence> PgStore::release_task(std::int64_t row_id, int attempt) {
  return pg::run_fenced(*pool_, sql::kReleaseTask, "release_task",
                        Params(row_id, attempt, pg::wall_ms()));
}

core::Result<Fence> PgStore::set_task_size(std::int64_t row_id, int attempt, int width,
                                           int height) {
  return pg::run_fenced(*pool_, sql::kSetTaskSize, "set_task_size",
                        Params(row_id, attempt, width, height, pg::wall_ms()));
}

core::Result<Fence> PgStore::set_upstream(std::int64_t row_id, int attempt,
                                          const std::string& route,
                                          const std::string& upstream_id) {
  return pg::run_fenced(*pool_, sql::kSetUpstream, "set_upstream",
                        Params(row_id, attempt, route, upstream_id, pg::wall_ms()));
}

core::Result<TaskPage> PgStore::list_tasks(std::int64_t key_id, std::int64_t offset, int limit) {
  return pg::in_snapshot<TaskPage>(
      *pool_, "list_tasks", [&](Connection& c) -> core::Result<TaskPage> {
        TaskPage page;
        auto total = pg::query_int(c, sql::kCountKeyTasks, Params(key_id), "list_tasks");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto rows = c.exec(sql::kListTasks, Params(key_id, offset, limit), "list_tasks");
        if (!rows.ok()) {
          return rows.error();
        }
        for (int i = 0; i < rows->size(); ++i) {
          // An unreadable row (logged) is left out rather than hiding the key's other tasks.
          if (auto task = pg::read_task((*rows)[i]); task.ok()) {
            page.tasks.push_back(std::move(*task));
          }
        }
        return page;
      });
}

core::Result<bool> PgStore::cancel_task(std::int64_t row_id, std::int64_t now_ms) {
  const auto cancel = [&](Connection& c) -> core::Result<bool> {
    auto n = pg::affected(c, sql::kCancelTask, Params(row_id, now_ms), "cancel_task");
    if (!n.ok()) {
      return n.error();
    }
    if (*n != 1) {
      return false;
    }
    if (auto settled = pg::settle(c, row_id, /*capture=*/false, now_ms); !settled.ok()) {
      return settled.error();
    }
    if (auto queued = pg::enqueue_callback(c, row_id, pg::wall_ms()); !queued.ok()) {
      return queued.error();
    }
    return true;
  };
  auto cancelled = in_transaction<bool>(*pool_, "cancel_task", cancel);
  if (cancelled.ok() && *cancelled) {
    finished(1);
  }
  return cancelled;
}

// --- the asynchronous writes: the blocking forms on the store's threads

void PgStore::insert_task_async(core::Task task, Done<core::Ok> done) {
  workers_->post(
      [this, task = std::move(task), done = std::move(done)] { done(insert_task(task)); });
}

void PgStore::insert_claimed_task_async(core::Task task, std::string owner,
                                        std::int64_t lease_until_ms, Done<Claim> done) {
  workers_->post(
      [this, task = std::move(task), owner = std::move(owner), lease_until_ms,
       done = std::move(done)] { done(insert_claimed_task(task, owner, lease_until_ms)); });
}

void PgStore::complete_task_async(std::int64_t row_id, int attempt, core::TaskOutcome out,
                                  Done<Fence> done) {
  workers_->post([this, row_id, attempt, out = std::move(out), done = std::move(done)] {
    done(complete_task(row_id, attempt, out));
  });
}

void PgStore::begin_upstream_call_async(UpstreamCall call, Done<std::int64_t> done) {
  workers_->post(
      [this, call = std::move(call), done = std::move(done)] { done(begin_upstream_call(call)); });
}

void PgStore::finish_upstream_call_async(std::int64_t id, int http_status, std::int64_t duration_ms,
                                         std::string error_class, std::string error_code,
                                         std::string message, std::string upstream_id,
                                         Done<core::Ok> done) {
  workers_->post([this, id, http_status, duration_ms, error_class = std::move(error_class),
                  error_code = std::move(error_code), message = std::move(message),
                  upstream_id = std::move(upstream_id), done = std::move(done)] {
    done(finish_upstream_call(id, http_status, duration_ms, error_class, error_code, message,
                              upstream_id));
  });
}

std::map<core::TaskState, std::int64_t> PgStore::count_tasks_by_state() {
  using core::TaskState;
  std::map<TaskState, std::int64_t> counts;
  for (TaskState s : {TaskState::kQueued, TaskState::kRunning, TaskState::kSucceeded,
                      TaskState::kFailed, TaskState::kCancelled}) {
    counts[s] = 0;
  }
  auto rows = with_connection<std::vector<std::pair<std::string, std::int64_t>>>(
      *pool_, "count_tasks_by_state", [&](Connection& c) {
        return pg::query_rows<std::pair<std::string, std::int64_t>>(
            c, sql::kCountByState, Params(), "count_tasks_by_state",
            [](const pg::Row& r) { return std::pair(r.text(0), r.int64(1)); });
      });
  if (rows.ok()) {
    for (const auto& [state, n] : *rows) {
      if (auto s = core::parse_task_state(state)) {
        counts[*s] = n;
      }
    }
  }
  return counts;
}

void PgStore::finished(std::uint64_t n) {
  const std::uint64_t before = finished_.fetch_add(n, std::memory_order_relaxed);
  if ((before + n) / kFoldEvery != before / kFoldEvery && !closing_) {
    workers_->post([this] { fold_task_counts(); });
  }
}

void PgStore::fold_task_counts() {
  const auto fold = [](Connection& c) -> core::Result<core::Ok> {
    auto mine = pg::query_int(c, sql::kLockTaskCountFold, Params(), "fold_task_counts");
    if (!mine.ok()) {
      return mine.error();
    }
    if (*mine == 1) {
      if (auto s = c.run(sql::kFoldTaskCounts, "fold_task_counts"); !s.ok()) {
        return s.error();
      }
    }
    return core::Ok{};
  };
  if (auto folded = in_transaction<core::Ok>(*pool_, "fold_task_counts", fold); !folded.ok()) {
    // The deltas stay, and are still counted; the next fold takes them.
    spdlog::warn("store: folding the task counts failed: {}", folded.error().message);
  }
}

bool PgStore::healthy() {
  auto one = with_connection<std::int64_t>(*pool_, "healthy", [&](Connection& c) {
    return pg::query_int(c, sql::kSelectOne, Params(), "healthy");
  });
  return one.ok() && *one == 1;
}

}  // namespace ig::store
