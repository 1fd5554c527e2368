#include "store/sqlite/writer.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "runtime/post_batch.hpp"

namespace ig::store::detail {

namespace {
inline constexpr char kDataVersion[] = "PRAGMA data_version";
}  // namespace

Writer::Writer(Connection conn, int max_batch, TaskCache* cache)
    : conn_(std::move(conn)),
      max_batch_(static_cast<std::size_t>(std::max(1, max_batch))),
      cache_(cache != nullptr && cache->enabled() ? cache : nullptr),
      thread_([this] {
        pthread_setname_np(pthread_self(), "ig-writer");  // what `top -H` shows
        loop();
      }) {
  // The hook and the first data_version are in place before any read can fill the cache.
  ready_.acquire();
}

Writer::~Writer() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

core::Status Writer::submit(WriteOp op) {
  if (std::this_thread::get_id() == thread_.get_id()) {
    // Waiting here would wait for ourselves.
    spdlog::error("store: write submitted from inside a write operation");
    return core::make_error(core::ErrorCode::kInternal, "store: nested write");
  }
  Pending p(op);
  {
    std::lock_guard lk(mu_);
    if (stopping_) {
      return core::make_error(core::ErrorCode::kUnavailable, "store: closed");
    }
    queue_.push_back(&p);
    pending_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
  p.finished.acquire();
  return std::move(p.status);
}

void Writer::submit_async(std::function<core::Status(Connection&)> op,
                          std::function<void(core::Status)> done) {
  auto* p = new Pending(std::move(op), std::move(done));
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      queue_.push_back(p);
      pending_.fetch_add(1, std::memory_order_relaxed);
      p = nullptr;
    }
  }
  if (p != nullptr) {
    auto on_done = std::move(p->on_done);
    delete p;
    on_done(core::make_error(core::ErrorCode::kUnavailable, "store: closed"));
    return;
  }
  work_cv_.notify_one();
}

void Writer::loop() {
  std::vector<Pending*> batch;
  batch.reserve(max_batch_);
  if (cache_ != nullptr) {
    sqlite3_update_hook(conn_.handle(), &Writer::on_row_change, this);
    check_other_writers();
  }
  ready_.release();
  for (;;) {
    if (cache_ != nullptr && std::chrono::steady_clock::now() - checked_ >= kExternalCheck) {
      check_other_writers();
    }
    {
      std::unique_lock lk(mu_);
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (cache_ == nullptr) {
        work_cv_.wait(lk, ready);
      } else if (!work_cv_.wait_until(lk, checked_ + kExternalCheck, ready)) {
        continue;  // time to look at data_version again
      }
      if (queue_.empty()) {
        return;  // stopping, and everything queued before has been completed
      }
      std::size_t n = std::min(max_batch_, queue_.size());
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    try {
      run_batch(batch);
    } catch (...) {
      // Only allocation failures get here; never leave a caller waiting.
      conn_.rollback();
      for (Pending* p : batch) {
        p->status = core::make_error(core::ErrorCode::kInternal, "store: write failed");
      }
    }
    if (!changed_rows_.empty()) {
      // Committed or rolled back, the rows' cached tasks go before any caller hears back.
      cache_->drop_rows(changed_rows_);
      changed_rows_.clear();
    }
    complete(batch);
    batch.clear();
  }
}

void Writer::run_batch(const std::vector<Pending*>& batch) {
  // IMMEDIATE takes the write lock up front, so another process holding it makes us wait
  // (busy_timeout) here instead of failing half-way through the batch.
  if (core::Status begin = conn_.run("BEGIN IMMEDIATE", "begin"); !begin.ok()) {
    fail_all(batch, begin.error());
    return;
  }
  // Each operation runs straight in the transaction. One that fails before it changed a row
  // (a refused create: the checks come first) leaves nothing to undo, and the batch goes on.
  // One that fails after changing rows would need its own rollback: the transaction is rolled
  // back and the batch runs again with a savepoint per operation. A savepoint costs every
  // operation a copy of each page it touches, so it is paid only in that rare case.
  for (Pending* p : batch) {
    const std::int64_t before = sqlite3_total_changes64(conn_.handle());
    run_op(*p);
    if (!conn_.in_transaction()) {
      // SQLite rolled the whole transaction back (I/O error, disk full, …).
      conn_.rollback();
      fail_all(batch, core::make_error(core::ErrorCode::kInternal, "store: write failed"));
      return;
    }
    if (!p->status.ok() && sqlite3_total_changes64(conn_.handle()) != before) {
      conn_.rollback();
      run_batch_isolated(batch);
      return;
    }
  }
  commit(batch);
}

void Writer::run_batch_isolated(const std::vector<Pending*>& batch) {
  isolated_batches_.fetch_add(1, std::memory_order_relaxed);
  if (core::Status begin = conn_.run("BEGIN IMMEDIATE", "begin"); !begin.ok()) {
    fail_all(batch, begin.error());
    return;
  }
  for (Pending* p : batch) {
    if (!run_in_savepoint(*p) || !conn_.in_transaction()) {
      // SQLite rolled the whole transaction back (I/O error, disk full, …) or a savepoint
      // command failed: the writes of earlier operations are gone too.
      conn_.rollback();
      fail_all(batch, core::make_error(core::ErrorCode::kInternal, "store: write failed"));
      return;
    }
  }
  commit(batch);
}

void Writer::commit(const std::vector<Pending*>& batch) {
  if (core::Status commit = conn_.run("COMMIT", "commit"); !commit.ok()) {
    conn_.rollback();
    fail_all(batch, commit.error());
    return;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
}

void Writer::run_op(Pending& p) {
  try {
    p.status = p.op(conn_);
  } catch (const std::exception& e) {
    spdlog::error("store: write operation threw: {}", e.what());
    p.status = core::make_error(core::ErrorCode::kInternal, "store: write failed");
  } catch (...) {
    spdlog::error("store: write operation threw");
    p.status = core::make_error(core::ErrorCode::kInternal, "store: write failed");
  }
}

bool Writer::run_in_savepoint(Pending& p) {
  if (core::Status sp = conn_.run("SAVEPOINT op", "savepoint"); !sp.ok()) {
    p.status = sp.error();
    return false;
  }
  run_op(p);
  if (!conn_.in_transaction()) {
    return false;
  }
  if (p.status.ok()) {
    if (core::Status rel = conn_.run("RELEASE op", "release"); !rel.ok()) {
      p.status = rel.error();
      return false;
    }
    return true;
  }
  // ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it.
  return conn_.run("ROLLBACK TO op", "rollback to").ok() &&
         conn_.run("RELEASE op", "release").ok();
}

void Writer::fail_all(const std::vector<Pending*>& batch, const core::Error& e) {
  for (Pending* p : batch) {
    p->status = e;
  }
}

void Writer::on_row_change(void* self, int op, const char*, const char* table,
                           sqlite3_int64 row) {
  // An insert is a new row: nothing of it can be cached. Updates and deletes are dropped.
  if (op != SQLITE_INSERT && std::strcmp(table, "tasks") == 0) {
    static_cast<Writer*>(self)->changed_rows_.push_back(row);
  }
}

void Writer::check_other_writers() {
  checked_ = std::chrono::steady_clock::now();
  auto st = conn_.prepare(kDataVersion, "data_version");
  if (!st.ok() || st->step() != SQLITE_ROW) {
    // Cannot tell: assume the worst, now and at the next look that can (what is read until
    // then may miss a commit made meanwhile).
    cache_->clear();
    data_version_ = kUnreadable;
    return;
  }
  const std::int64_t version = st->int64(0);
  if (data_version_ != kNeverRead && version != data_version_) {
    cache_->clear();
  }
  data_version_ = version;
}

void Writer::complete(const std::vector<Pending*>& batch) {
  pending_.fetch_sub(batch.size(), std::memory_order_relaxed);
  // The batch's asynchronous callers hear back together: one post per I/O thread, not one per
  // caller (each post to a sleeping io_context costs an epoll_ctl here and a wake-up there).
  runtime::PostBatch together;
  for (Pending* p : batch) {
    if (p->on_done) {
      auto on_done = std::move(p->on_done);
      core::Status status = std::move(p->status);
      delete p;
      try {
        on_done(std::move(status));
      } catch (...) {
        spdlog::error("store: a write's completion threw");
      }
    } else {
      p->finished.release();  // after this the caller may return and destroy *p
    }
  }
}

}  // namespace ig::store::detail
