#include "store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <string_view>
#include <utility>

#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "store/sqlite/checkpointer.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/ops.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/statements.hpp"
#include "store/sqlite/task_cache.hpp"
#include "store/sqlite/writer.hpp"
#include "store/sqlite/billing.hpp"

namespace ig::store {
namespace {

using detail::Connection;
using detail::guarded;
using detail::internal;
using detail::no_reader;
using detail::run_fenced;
using detail::run_write;
using detail::Statement;
using detail::wall_ms;
namespace sql = detail::sql;

std::atomic<std::uint64_t> g_next_instance{1};

// Readers of stores that are closed stay in a thread's cache (never matched again) until it
// holds this many entries and is dropped.
constexpr std::size_t kMaxCachedStores = 8;

// First column of the first row of a one-off statement (PRAGMAs at open), uncached.
core::Result<std::string> query_text(Connection& conn, const char* text, std::string_view what) {
  std::string out;
  auto cb = [](void* arg, int n, char** values, char**) -> int {
    if (n > 0 && values[0] != nullptr) {
      *static_cast<std::string*>(arg) = values[0];
    }
    return 0;
  };
  if (int rc = sqlite3_exec(conn.handle(), text, cb, &out, nullptr); rc != SQLITE_OK) {
    return conn.error(rc, what);
  }
  return out;
}

const char* synchronous_pragma(std::string level) {
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (level == "FULL") {
    return "PRAGMA synchronous = FULL";
  }
  if (level == "NORMAL") {
    return "PRAGMA synchronous = NORMAL";
  }
  return nullptr;
}

core::Status check_options(const SqliteOptions& opts) {
  if (synchronous_pragma(opts.synchronous) == nullptr) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "store: synchronous must be FULL or NORMAL");
  }
  if (opts.path.empty() || opts.max_batch < 1 || opts.busy_timeout.count() < 0 ||
      opts.checkpoint_pages < 1) {
    return core::make_error(
        core::ErrorCode::kInvalidRequest,
        "store: path, max_batch >= 1, busy_timeout >= 0 and checkpoint_pages >= 1 are required");
  }
  return core::ok_status();
}

// The checkpointer's connection syncs as the writer's does: a checkpoint syncs the WAL before
// copying it and the database after.
core::Result<std::unique_ptr<detail::Checkpointer>> open_checkpointer(const SqliteOptions& opts) {
  auto conn = Connection::open(opts.path, Connection::Mode::kReadWrite, opts.busy_timeout);
  if (!conn.ok()) {
    return conn.error();
  }
  if (auto s = conn->exec(synchronous_pragma(opts.synchronous), "set pragma"); !s.ok()) {
    return s.error();
  }
  return std::make_unique<detail::Checkpointer>(std::move(*conn), opts.checkpoint_pages);
}

core::Result<std::unique_ptr<detail::Writer>> open_writer(const SqliteOptions& opts,
                                                          detail::Checkpointer& checkpointer,
                                                          detail::TaskCache& tasks) {
  const char* sync = synchronous_pragma(opts.synchronous);
  // Every commit syncs only with FULL: the one case where a commit's WAL writes may wait in
  // memory for its sync (wal_vfs.hpp).
  const auto wal = std::string_view(sync) == synchronous_pragma("FULL")
                       ? Connection::Wal::kGathered
                       : Connection::Wal::kPlain;
  auto conn = Connection::open(opts.path, Connection::Mode::kReadWrite, opts.busy_timeout, wal);
  if (!conn.ok()) {
    return conn.error();
  }
  auto mode = query_text(*conn, "PRAGMA journal_mode = WAL", "set journal_mode");
  if (!mode.ok()) {
    return mode.error();
  }
  if (*mode != "wal") {
    spdlog::error("store: {} cannot use WAL (journal_mode is {})", opts.path.string(), *mode);
    return core::make_error(core::ErrorCode::kInternal, "store: WAL mode unavailable");
  }
  // Each write runs in a savepoint of its batch's transaction: its statement journal stays in
  // memory (a batch's grew past 64 KiB and spilled to a temporary file, a write() each page).
  for (const char* pragma : {sync, "PRAGMA foreign_keys = ON", "PRAGMA temp_store = MEMORY"}) {
    if (auto s = conn->exec(pragma, "set pragma"); !s.ok()) {
      return s.error();
    }
  }
  if (auto s = detail::migrate(*conn, wall_ms()); !s.ok()) {
    return s.error();
  }
  checkpointer.watch(conn->handle());  // replaces SQLite's checkpoint inside COMMIT
  return std::make_unique<detail::Writer>(std::move(*conn), opts.max_batch, &tasks);
}

}  // namespace

// --- lifecycle

core::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(SqliteOptions opts) {
  return guarded(
      "open",
      [&]() -> core::Result<std::unique_ptr<SqliteStore>> {
        if (auto s = check_options(opts); !s.ok()) {
          return s.error();
        }
        auto checkpointer = open_checkpointer(opts);
        if (!checkpointer.ok()) {
          return checkpointer.error();
        }
        auto tasks = std::make_unique<detail::TaskCache>(opts.task_cache);
        auto writer = open_writer(opts, **checkpointer, *tasks);
        if (!writer.ok()) {
          return writer.error();
        }
        return std::unique_ptr<SqliteStore>(new SqliteStore(
            std::move(opts), std::move(tasks), std::move(*checkpointer), std::move(*writer)));
      },
      [] { return internal("open"); });
}

SqliteStore::SqliteStore(SqliteOptions opts, std::unique_ptr<detail::TaskCache> tasks,
                         std::unique_ptr<detail::Checkpointer> checkpointer,
                         std::unique_ptr<detail::Writer> writer)
    : opts_(std::move(opts)),
      instance_(g_next_instance.fetch_add(1)),
      tasks_(std::move(tasks)),
      checkpointer_(std::move(checkpointer)),
      writer_(std::move(writer)) {}

SqliteStore::~SqliteStore() = default;

std::uint64_t SqliteStore::commits() const {
  return writer_->commits();
}

std::uint64_t SqliteStore::checkpoints() const {
  return checkpointer_->checkpoints();
}

std::size_t SqliteStore::pending_writes() const {
  return writer_->pending();
}

detail::TaskCache::Stats SqliteStore::task_cache_stats() const {
  return tasks_->stats();
}

Connection* SqliteStore::reader() {
  struct Cached {
    std::uint64_t instance;
    Connection* conn;
  };
  thread_local std::vector<Cached> cache;
  for (const Cached& c : cache) {
    if (c.instance == instance_) {
      return c.conn;
    }
  }
  std::lock_guard lk(readers_mu_);
  const auto self = std::this_thread::get_id();
  auto& slot = readers_[self];
  if (!slot) {
    auto conn = Connection::open(opts_.path, Connection::Mode::kReadOnly, opts_.busy_timeout);
    if (!conn.ok()) {
      readers_.erase(self);
      return nullptr;
    }
    slot = std::make_unique<Connection>(std::move(*conn));
  }
  if (cache.size() >= kMaxCachedStores) {
    cache.clear();
  }
  cache.push_back(Cached{instance_, slot.get()});
  return slot.get();
}

// --- keys

namespace {

// One row of a key lookup on a read connection.
core::Result<std::optional<ApiKey>> find_key(Connection* c, const char* query,
                                             const std::string& value, std::string_view what) {
  if (c == nullptr) {
    return no_reader(what);
  }
  auto st = c->prepare(query, what);
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, value);
  int rc = st->step();
  if (rc == SQLITE_ROW) {
    return std::optional<ApiKey>(detail::read_key(*st));
  }
  if (rc != SQLITE_DONE) {
    return c->error(rc, what);
  }
  return std::optional<ApiKey>();
}

// Every task a RETURNING statement yields. An unreadable row is an error (logged by read_task)
// that rolls back the write.
core::Result<std::vector<core::Task>> returned_tasks(Connection& c, Statement& st,
                                                    std::string_view what,
                                                    std::vector<std::int64_t>* leases = nullptr) {
  std::vector<core::Task> out;
  int rc = SQLITE_OK;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto task = detail::read_task(st);
    if (!task.ok()) {
      return task.error();
    }
    out.push_back(std::move(*task));
    if (leases != nullptr) {
      leases->push_back(detail::read_lease_until(st));
    }
  }
  if (rc != SQLITE_DONE) {
    return c.error(rc, what);
  }
  return out;
}

// The claim transaction: first fail the exhausted candidates, then claim. Both statements walk
// the same window of candidates, so the claim never takes a task the first one left behind.
core::Result<ClaimBatch> claim_batch(Connection& c, const std::string& owner, int max,
                                     std::int64_t now_ms, std::int64_t lease_until_ms,
                                     int max_attempts) {
  ClaimBatch out;
  {
    auto st = c.prepare(sql::kExhaustTasks, "claim_tasks");
    if (!st.ok()) {
      return st.error();
    }
    st->bind(1, core::fail::kTooManyAttempts);
    st->bind(3, now_ms);
    st->bind(4, std::int64_t{max});
    st->bind(5, std::int64_t{max_attempts});
    auto exhausted = returned_tasks(c, *st, "claim_tasks");
    if (!exhausted.ok()) {
      return exhausted.error();
    }
    out.exhausted = std::move(*exhausted);
    for (const auto& t : out.exhausted) {
      if (auto settled = detail::settle(c, t.row_id, /*capture=*/false, now_ms); !settled.ok()) {
        return settled.error();
      }
      if (auto queued = detail::enqueue_callback(c, t.row_id, wall_ms()); !queued.ok()) {
        return queued.error();
      }
    }
  }
  auto st = c.prepare(sql::kClaimTasks, "claim_tasks");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, owner);
  st->bind(2, lease_until_ms);
  st->bind(3, now_ms);
  st->bind(4, std::int64_t{max});
  st->bind(5, std::int64_t{max_attempts});
  std::vector<std::int64_t> leases;
  auto claimed = returned_tasks(c, *st, "claim_tasks", &leases);
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

}  // namespace

core::Result<std::optional<ApiKey>> SqliteStore::find_key_by_hash(const std::string& secret_hash) {
  return guarded(
      "find_key_by_hash",
      [&] { return find_key(reader(), sql::kKeyByHash, secret_hash, "find_key_by_hash"); },
      [] { return core::Result<std::optional<ApiKey>>(internal("find_key_by_hash")); });
}

core::Result<std::optional<ApiKey>> SqliteStore::find_key_by_prefix(const std::string& prefix) {
  if (prefix.empty()) {
    return std::optional<ApiKey>();  // stored as NULL: no key has the empty prefix
  }
  return guarded(
      "find_key_by_prefix",
      [&] { return find_key(reader(), sql::kKeyByPrefix, prefix, "find_key_by_prefix"); },
      [] { return core::Result<std::optional<ApiKey>>(internal("find_key_by_prefix")); });
}

std::int64_t SqliteStore::count_keys() {
  return guarded(
      "count_keys",
      [&]() -> std::int64_t {
        Connection* c = reader();
        if (c == nullptr) {
          return -1;
        }
        auto st = c->prepare(sql::kCountKeys, "count_keys");
        if (!st.ok()) {
          return -1;
        }
        if (int rc = st->step(); rc != SQLITE_ROW) {
          c->error(rc, "count_keys");
          return -1;
        }
        return st->int64(0);
      },
      [] { return std::int64_t{-1}; });
}

// --- tasks

namespace {

// Binds ?1–?10 of kInsertTask and kInsertClaimedTask.
void bind_new_task(Statement& st, const core::Task& task, const std::string& request,
                   std::int64_t now) {
  st.bind(1, task.id);
  if (task.key_id == 0) {
    st.bind_null(2);
  } else {
    st.bind(2, task.key_id);
  }
  st.bind(3, core::to_string(task.request.dialect));
  st.bind(4, request);
  st.bind(5, task.param);
  st.bind(6, task.created_ms);
  st.bind(7, std::int64_t{task.request.size.width});
  st.bind(8, std::int64_t{task.request.size.height});
  st.bind(9, now);
  st.bind(10, task.price);
}

// Inserts a new task, queued, or claimed by `owner` (non-null) until `lease_until_ms`, after
// the key's checks, and holds its price: the body of both insert operations. The row id.
core::Result<std::int64_t> insert_new_task(Connection& c, const core::Task& task,
                                           const std::string& request, std::int64_t now,
                                           const std::string* owner,
                                           std::int64_t lease_until_ms) {
  auto payer = detail::check_new_task(c, task);
  if (!payer.ok()) {
    return payer.error();
  }
  const char* what = owner != nullptr ? "insert_claimed_task" : "insert_task";
  auto st = c.prepare(owner != nullptr ? sql::kInsertClaimedTask : sql::kInsertTask, what);
  if (!st.ok()) {
    return st.error();
  }
  bind_new_task(*st, task, request, now);
  if (owner != nullptr) {
    st->bind(11, *owner);
    st->bind(12, lease_until_ms);
  }
  if (int rc = st->step(); rc != SQLITE_DONE) {
    return c.error(rc, what);
  }
  const std::int64_t row = sqlite3_last_insert_rowid(c.handle());
  if (*payer) {
    if (auto held = detail::hold(c, **payer, task, row); !held.ok()) {
      return held.error();
    }
    if (!task.idempotency_key.empty()) {
      auto tie = c.prepare(sql::kTieIdempotencyKey, what);
      if (!tie.ok()) {
        return tie.error();
      }
      tie->bind(1, (*payer)->account_id);
      tie->bind(2, task.idempotency_key);
      tie->bind(3, task.id);
      if (int rc = tie->step(); rc != SQLITE_DONE) {
        return c.error(rc, what);
      }
    }
  }
  return row;
}

// The writes of insert_task and insert_claimed_task, owning what they need (the asynchronous
// forms outlive their callers' arguments). The request is encoded here, not on the writer
// thread: the single writer only runs SQL.
auto insert_op(core::Task task) {
  std::string request = core::encode_request(task.request);
  const std::int64_t now = wall_ms();
  return [task = std::move(task), request = std::move(request),
          now](Connection& c) -> core::Result<core::Ok> {
    auto row = insert_new_task(c, task, request, now, nullptr, 0);
    if (!row.ok()) {
      return row.error();
    }
    return core::Ok{};
  };
}

auto insert_claimed_op(core::Task task, std::string owner, std::int64_t lease_until_ms) {
  std::string request = core::encode_request(task.request);
  const std::int64_t now = wall_ms();
  return [task = std::move(task), owner = std::move(owner), request = std::move(request), now,
          lease_until_ms](Connection& c) -> core::Result<Claim> {
    auto row = insert_new_task(c, task, request, now, &owner, lease_until_ms);
    if (!row.ok()) {
      return row.error();
    }
    Claim claim{task, lease_until_ms};
    claim.task.row_id = *row;
    claim.task.state = core::TaskState::kRunning;
    claim.task.attempt = 1;
    claim.task.started_ms = task.created_ms;
    return claim;
  };
}

core::Error no_id() {
  return core::make_error(core::ErrorCode::kInvalidRequest, "store: task has no id");
}

}  // namespace

core::Status SqliteStore::insert_task(const core::Task& task) {
  if (task.id.empty()) {
    return no_id();
  }
  return guarded(
      "insert_task",
      [&] { return run_write<core::Ok>(*writer_, insert_op(task)); },
      [] { return core::Status(internal("insert_task")); });
}

void SqliteStore::insert_task_async(core::Task task, Done<core::Ok> done) {
  if (task.id.empty()) {
    done(no_id());
    return;
  }
  detail::guarded_async<core::Ok>("insert_task", done, [&] {
    detail::run_write_async<core::Ok>(*writer_, insert_op(std::move(task)), done);
  });
}

core::Result<Claim> SqliteStore::insert_claimed_task(const core::Task& task,
                                                     const std::string& owner,
                                                     std::int64_t lease_until_ms) {
  if (task.id.empty()) {
    return no_id();
  }
  return guarded(
      "insert_claimed_task",
      [&] { return run_write<Claim>(*writer_, insert_claimed_op(task, owner, lease_until_ms)); },
      [] { return core::Result<Claim>(internal("insert_claimed_task")); });
}

void SqliteStore::insert_claimed_task_async(core::Task task, std::string owner,
                                            std::int64_t lease_until_ms, Done<Claim> done) {
  if (task.id.empty()) {
    done(no_id());
    return;
  }
  detail::guarded_async<Claim>("insert_claimed_task", done, [&] {
    detail::run_write_async<Claim>(
        *writer_, insert_claimed_op(std::move(task), std::move(owner), lease_until_ms), done);
  });
}

core::Result<std::optional<core::Task>> SqliteStore::get_task(const std::string& id) {
  using Out = core::Result<std::optional<core::Task>>;
  return guarded(
      "get_task",
      [&]() -> Out {
        if (auto kept = tasks_->find(id)) {
          return std::optional<core::Task>(*kept);
        }
        const std::uint64_t epoch = tasks_->epoch();  // before the read: see TaskCache::put
        Connection* c = reader();
        if (c == nullptr) {
          return no_reader("get_task");
        }
        auto st = c->prepare(sql::kGetTask, "get_task");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, id);
        int rc = st->step();
        if (rc == SQLITE_DONE) {
          return std::optional<core::Task>();
        }
        if (rc != SQLITE_ROW) {
          return c->error(rc, "get_task");
        }
        auto task = detail::read_task(*st);
        if (!task.ok()) {
          return task.error();
        }
        tasks_->put(epoch, *task);
        return std::optional<core::Task>(std::move(*task));
      },
      [] { return Out(internal("get_task")); });
}

core::Result<ClaimBatch> SqliteStore::claim_tasks(const std::string& owner, int max,
                                                  std::int64_t now_ms,
                                                  std::int64_t lease_until_ms, int max_attempts) {
  if (max_attempts < 1) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "store: max_attempts must be at least 1");
  }
  if (max <= 0) {
    return ClaimBatch{};
  }
  return guarded(
      "claim_tasks",
      [&]() -> core::Result<ClaimBatch> {
        auto batch = run_write<ClaimBatch>(*writer_, [&](Connection& c) {
          return claim_batch(c, owner, max, now_ms, lease_until_ms, max_attempts);
        });
        if (!batch.ok()) {
          return batch.error();
        }
        // RETURNING yields rows in no particular order.
        std::sort(batch->claims.begin(), batch->claims.end(),
                  [](const Claim& a, const Claim& b) { return older(a.task, b.task); });
        std::sort(batch->exhausted.begin(), batch->exhausted.end(), older);
        return batch;
      },
      [] { return core::Result<ClaimBatch>(internal("claim_tasks")); });
}

core::Result<Fence> SqliteStore::renew_lease(std::int64_t row_id, int attempt,
                                             std::int64_t lease_until_ms) {
  return guarded(
      "renew_lease",
      [&] {
        return run_fenced(*writer_, sql::kRenewLease, "renew_lease", [&](Statement& st) {
          st.bind(1, row_id);
          st.bind(2, std::int64_t{attempt});
          st.bind(3, lease_until_ms);
          st.bind(4, wall_ms());
        });
      },
      [] { return core::Result<Fence>(internal("renew_lease")); });
}

// WAL is required (open fails without it), and a WAL reader takes no lock a writer holds: a
// point read on the calling thread's read connection is a few B-tree pages from the page cache.
bool SqliteStore::inline_point_reads() const { return true; }

core::Result<std::vector<RunRef>> SqliteStore::renew_leases(const std::vector<RunRef>& runs,
                                                            std::int64_t lease_until_ms) {
  // Batches of a few hundred: one commit each, short enough not to hold creates back.
  constexpr std::size_t kBatch = 512;
  std::vector<RunRef> lost;
  for (std::size_t from = 0; from < runs.size(); from += kBatch) {
    const std::size_t to = std::min(runs.size(), from + kBatch);
    auto batch = guarded(
        "renew_leases",
        [&] {
          return run_write<std::vector<RunRef>>(
              *writer_, [&](Connection& c) -> core::Result<std::vector<RunRef>> {
                const std::int64_t now = wall_ms();
                std::vector<RunRef> out;
                for (std::size_t i = from; i < to; ++i) {
                  // From the connection's cache; reset when it goes out of scope.
                  auto st = c.prepare(sql::kRenewLease, "renew_leases");
                  if (!st.ok()) {
                    return st.error();
                  }
                  st->bind(1, runs[i].row_id);
                  st->bind(2, std::int64_t{runs[i].attempt});
                  st->bind(3, lease_until_ms);
                  st->bind(4, now);
                  if (int rc = st->step(); rc != SQLITE_DONE) {
                    return c.error(rc, "renew_leases");
                  }
                  if (st->changes() != 1) {
                    out.push_back(runs[i]);
                  }
                }
                return out;
              });
        },
        [] { return core::Result<std::vector<RunRef>>(internal("renew_leases")); });
    if (!batch) {
      return batch.error();
    }
    lost.insert(lost.end(), batch->begin(), batch->end());
  }
  return lost;
}

namespace {

// The write of complete_task: the fenced UPDATE and, when it lands, the settlement.
auto complete_op(std::int64_t row_id, int attempt, const core::TaskOutcome& out) {
  const std::int64_t now = wall_ms();
  const std::int64_t completed = out.completed_ms != 0 ? out.completed_ms : now;
  return [row_id, attempt, now, completed, state = std::string(core::to_string(out.state)),
          capture = out.state == core::TaskState::kSucceeded, fail_code = out.fail_code,
          fail_msg = out.fail_msg, results = core::encode_results(out.results),
          usage = core::encode_usage(out.usage),
          call_end = out.call_end](Connection& c) -> core::Result<Fence> {
    if (call_end) {
      // Closed even when the outcome is fenced out: the call was made and succeeded. A call a
      // later attempt already closed (as of unknown outcome) keeps that record.
      auto end = c.prepare(sql::kFinishUpstreamCall, "complete_task");
      if (!end.ok()) {
        return end.error();
      }
      end->bind(1, call_end->id);
      end->bind(2, std::int64_t{call_end->http_status});
      end->bind(3, call_end->duration_ms);
      end->bind(4, std::string());
      end->bind(5, std::string());
      end->bind(6, std::string());
      end->bind(7, call_end->upstream_id);
      if (int rc = end->step(); rc != SQLITE_DONE) {
        return c.error(rc, "complete_task");
      }
    }
    auto st = c.prepare(sql::kCompleteTask, "complete_task");
    if (!st.ok()) {
      return st.error();
    }
    st->bind(1, row_id);
    st->bind(2, std::int64_t{attempt});
    st->bind(3, state);
    st->bind(4, fail_code);
    st->bind(5, fail_msg);
    st->bind(6, results);
    st->bind(7, completed);
    st->bind(8, now);
    st->bind(9, usage);
    if (int rc = st->step(); rc != SQLITE_DONE) {
      return c.error(rc, "complete_task");
    }
    if (st->changes() != 1) {
      return Fence::kFencedOut;  // not this attempt's to end, nor to settle
    }
    if (auto settled = detail::settle(c, row_id, capture, completed); !settled.ok()) {
      return settled.error();
    }
    if (auto queued = detail::enqueue_callback(c, row_id, now); !queued.ok()) {
      return queued.error();
    }
    return Fence::kApplied;
  };
}

core::Error not_terminal(std::int64_t row_id, core::TaskState state) {
  spdlog::error("store: complete_task({}) with non-terminal state {}", row_id,
                core::to_string(state));
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          "store: complete_task needs a terminal state");
}

}  // namespace

core::Result<Fence> SqliteStore::complete_task(std::int64_t row_id, int attempt,
                                               const core::TaskOutcome& out) {
  if (!core::is_terminal(out.state)) {
    return not_terminal(row_id, out.state);
  }
  return guarded(
      "complete_task",
      [&] { return run_write<Fence>(*writer_, complete_op(row_id, attempt, out)); },
      [] { return core::Result<Fence>(internal("complete_task")); });
}

void SqliteStore::complete_task_async(std::int64_t row_id, int attempt, core::TaskOutcome out,
                                      Done<Fence> done) {
  if (!core::is_terminal(out.state)) {
    done(not_terminal(row_id, out.state));
    return;
  }
  detail::guarded_async<Fence>("complete_task", done, [&] {
    detail::run_write_async<Fence>(*writer_, complete_op(row_id, attempt, out), done);
  });
}

core::Result<Fence> SqliteStore::release_task(std::int64_t row_id, int attempt) {
  return guarded(
      "release_task",
      [&] {
        return run_fenced(*writer_, sql::kReleaseTask, "release_task", [&](Statement& st) {
          st.bind(1, row_id);
          st.bind(2, std::int64_t{attempt});
          st.bind(3, wall_ms());
        });
      },
      [] { return core::Result<Fence>(internal("release_task")); });
}

core::Result<Fence> SqliteStore::set_task_size(std::int64_t row_id, int attempt, int width,
                                               int height) {
  return guarded(
      "set_task_size",
      [&] {
        return run_fenced(*writer_, sql::kSetTaskSize, "set_task_size", [&](Statement& st) {
          st.bind(1, row_id);
          st.bind(2, std::int64_t{attempt});
          st.bind(3, std::int64_t{width});
          st.bind(4, std::int64_t{height});
          st.bind(5, wall_ms());
        });
      },
      [] { return core::Result<Fence>(internal("set_task_size")); });
}

core::Result<Fence> SqliteStore::set_upstream(std::int64_t row_id, int attempt,
                                              const std::string& route,
                                              const std::string& upstream_id) {
  return guarded(
      "set_upstream",
      [&] {
        return run_fenced(*writer_, sql::kSetUpstream, "set_upstream", [&](Statement& st) {
          st.bind(1, row_id);
          st.bind(2, std::int64_t{attempt});
          st.bind(3, route);
          st.bind(4, upstream_id);
          st.bind(5, wall_ms());
        });
      },
      [] { return core::Result<Fence>(internal("set_upstream")); });
}

core::Result<TaskPage> SqliteStore::list_tasks(std::int64_t key_id, std::int64_t offset,
                                               int limit) {
  return guarded(
      "list_tasks",
      [&]() -> core::Result<TaskPage> {
        TaskPage page;
        Connection* c = reader();
        if (c == nullptr) {
          return no_reader("list_tasks");
        }
        {
          auto count = c->prepare(sql::kCountKeyTasks, "list_tasks");
          if (!count.ok()) {
            return count.error();
          }
          count->bind(1, key_id);
          if (int rc = count->step(); rc != SQLITE_ROW) {
            return c->error(rc, "list_tasks");
          }
          page.total = count->int64(0);
        }
        auto st = c->prepare(sql::kListTasks, "list_tasks");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, key_id);
        st->bind(2, offset);
        st->bind(3, std::int64_t{limit});
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          // An unreadable row (logged) is left out rather than hiding the key's other tasks.
          if (auto task = detail::read_task(*st); task.ok()) {
            page.tasks.push_back(std::move(*task));
          }
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "list_tasks");
        }
        return page;
      },
      [] { return core::Result<TaskPage>(internal("list_tasks")); });
}

core::Result<bool> SqliteStore::cancel_task(std::int64_t row_id, std::int64_t now_ms) {
  return guarded(
      "cancel_task",
      [&] {
        return run_write<bool>(*writer_, [&](Connection& c) -> core::Result<bool> {
          auto st = c.prepare(sql::kCancelTask, "cancel_task");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, row_id);
          st->bind(2, now_ms);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "cancel_task");
          }
          if (st->changes() != 1) {
            return false;
          }
          if (auto settled = detail::settle(c, row_id, /*capture=*/false, now_ms); !settled.ok()) {
            return settled.error();
          }
          if (auto queued = detail::enqueue_callback(c, row_id, wall_ms()); !queued.ok()) {
            return queued.error();
          }
          return true;
        });
      },
      [] { return core::Result<bool>(internal("cancel_task")); });
}

std::map<core::TaskState, std::int64_t> SqliteStore::count_tasks_by_state() {
  using core::TaskState;
  auto zeros = [] {
    std::map<TaskState, std::int64_t> m;
    for (TaskState s : {TaskState::kQueued, TaskState::kRunning, TaskState::kSucceeded,
                        TaskState::kFailed, TaskState::kCancelled}) {
      m[s] = 0;
    }
    return m;
  };
  return guarded(
      "count_tasks_by_state",
      [&] {
        auto counts = zeros();
        Connection* c = reader();
        if (c == nullptr) {
          return counts;
        }
        auto st = c->prepare(sql::kCountByState, "count_tasks_by_state");
        if (!st.ok()) {
          return counts;
        }
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          if (auto s = core::parse_task_state(st->text(0))) {
            counts[*s] = st->int64(1);
          }
        }
        if (rc != SQLITE_DONE) {
          c->error(rc, "count_tasks_by_state");
        }
        return counts;
      },
      zeros);
}

bool SqliteStore::healthy() {
  return guarded(
      "healthy",
      [&] {
        Connection* c = reader();
        if (c == nullptr) {
          return false;
        }
        auto st = c->prepare(sql::kSelectOne, "healthy");
        if (!st.ok()) {
          return false;
        }
        int rc = st->step();
        if (rc != SQLITE_ROW) {
          c->error(rc, "healthy");
          return false;
        }
        return st->int64(0) == 1;
      },
      [] { return false; });
}

}  // namespace ig::store
