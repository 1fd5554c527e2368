#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <semaphore>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/task_cache.hpp"

namespace ig::store::detail {

/// A non-owning reference to a write operation `core::Status(Connection&)`. The callable
/// must outlive the Writer::submit call it is passed to (submit blocks until it ran).
class WriteOp {
 public:
  // Excludes WriteOp itself: a copy must copy the reference, not refer to the copied object.
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, WriteOp> &&
           std::is_invocable_r_v<core::Status, F&, Connection&>)
      WriteOp(F& f)  // NOLINT(google-explicit-constructor)
      : obj_(static_cast<void*>(&f)),
        call_([](void* obj, Connection& c) -> core::Status { return (*static_cast<F*>(obj))(c); }) {
  }

  core::Status operator()(Connection& c) const { return call_(obj_, c); }

 private:
  void* obj_;
  core::Status (*call_)(void*, Connection&);
};

/// The single writer: a dedicated thread owning the only write connection. Callers submit an
/// operation and block; the thread takes up to `max_batch` queued operations, runs them in one
/// BEGIN IMMEDIATE … COMMIT and then completes every caller with its own result. A failing
/// operation rolls back only itself: when it had changed rows before failing, the batch runs
/// again from the start with each operation in its own SAVEPOINT, so an operation may run
/// more than once and must hand its results out by assignment, never by appending. A caller
/// returns only after the COMMIT that holds its write; if BEGIN or COMMIT fails, every
/// operation of the batch gets that error. Thread-safe.
class Writer {
 public:
  /// Starts the thread; `conn` must be a read-write connection no other thread uses.
  /// With a `cache`, every batch drops the tasks whose rows it changed before it answers its
  /// callers, and the writer clears the cache once another connection has committed (it looks
  /// at least every kExternalCheck). Throws std::system_error if the thread cannot be started.
  Writer(Connection conn, int max_batch, TaskCache* cache = nullptr);
  /// Stops accepting operations, completes those already queued, joins the thread.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  /// Runs `op` in the next batch and returns its result once that batch has committed (or
  /// the batch's error). Must not be called from inside an operation.
  core::Status submit(WriteOp op);

  /// The same without a waiting thread: `op` runs in the next batch and `done` is called with
  /// its result on the writer's thread once that batch has committed (or failed). `done` must
  /// not block or write (post the result to an executor). After the writer has stopped, `done`
  /// is called at once with kUnavailable.
  void submit_async(std::function<core::Status(Connection&)> op,
                    std::function<void(core::Status)> done);

  /// COMMITs executed so far.
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  /// Batches run again with a savepoint per operation, after one failed having changed rows.
  std::uint64_t isolated_batches() const {
    return isolated_batches_.load(std::memory_order_relaxed);
  }
  /// Operations submitted and not yet completed (queued or in the running batch).
  std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    explicit Pending(WriteOp o) : op(o) {}
    explicit Pending(std::function<core::Status(Connection&)> o,
                     std::function<void(core::Status)> d)
        : owned(std::move(o)), op(owned), on_done(std::move(d)) {}
    std::function<core::Status(Connection&)> owned;  // async: the operation itself
    WriteOp op;
    std::function<void(core::Status)> on_done;  // async: the completion; sync: empty
    core::Status status = core::ok_status();
    // sync: released once `status` is final. One per caller, so a batch's end wakes exactly
    // its callers (a shared condition variable woke every waiting thread on every batch).
    std::binary_semaphore finished{0};
  };

  void loop();
  void run_batch(const std::vector<Pending*>& batch);
  /// The batch again, each operation in its own savepoint.
  void run_batch_isolated(const std::vector<Pending*>& batch);
  void commit(const std::vector<Pending*>& batch);
  /// Runs the operation into p.status; an exception becomes an error.
  void run_op(Pending& p);
  /// Runs one operation inside its own savepoint. False: the savepoint machinery itself
  /// failed and the whole transaction must be abandoned.
  bool run_in_savepoint(Pending& p);
  void fail_all(const std::vector<Pending*>& batch, const core::Error& e);
  void complete(const std::vector<Pending*>& batch);
  /// sqlite3_update_hook: remembers the rows of `tasks` changed in the running batch.
  static void on_row_change(void* self, int op, const char* db, const char* table,
                            sqlite3_int64 row);
  /// Clears the cache if another connection committed since the last look (PRAGMA
  /// data_version), and notes when it looked.
  void check_other_writers();

  static constexpr std::chrono::milliseconds kExternalCheck{500};

  Connection conn_;  // used only by thread_
  const std::size_t max_batch_;
  TaskCache* const cache_;                 // may be null
  std::vector<std::int64_t> changed_rows_;  // thread_ only: rows of `tasks` the batch changed
  // PRAGMA data_version is never negative: these two mark "not read yet" (the cache is still
  // empty) and "the last look failed" (the next look that succeeds clears the cache).
  static constexpr std::int64_t kNeverRead = -1;
  static constexpr std::int64_t kUnreadable = -2;
  std::int64_t data_version_ = kNeverRead;  // thread_ only: the last PRAGMA data_version
  std::chrono::steady_clock::time_point checked_;  // thread_ only: when it was read
  std::binary_semaphore ready_{0};  // thread_ has set the hook up

  std::mutex mu_;
  std::condition_variable work_cv_;  // queue_ gained an operation, or stopping_
  std::deque<Pending*> queue_;
  bool stopping_ = false;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> isolated_batches_{0};
  std::atomic<std::size_t> pending_{0};

  std::thread thread_;  // last: starts after every other member exists
};

}  // namespace ig::store::detail
