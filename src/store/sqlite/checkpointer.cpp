#include "store/sqlite/checkpointer.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace ig::store::detail {

Checkpointer::Checkpointer(Connection conn, int threshold)
    : conn_(std::move(conn)),
      threshold_(std::max(1, threshold)),
      writer_threshold_(threshold_ > std::numeric_limits<int>::max() / 4
                            ? std::numeric_limits<int>::max()
                            : 4 * threshold_),
      thread_([this] {
        pthread_setname_np(pthread_self(), "ig-checkpoint");
        loop();
      }) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Checkpointer::watch(sqlite3* writer) {
  sqlite3_wal_hook(writer, &Checkpointer::on_commit, this);
}

int Checkpointer::on_commit(void* self, sqlite3* db, const char* name, int wal_pages) {
  auto* c = static_cast<Checkpointer*>(self);
  // What the thread has not copied yet. Asked on every commit past the threshold, the thread
  // ran one checkpoint per commit, each copying a few pages behind two fsyncs that queued the
  // writer's own. A WAL smaller than what was copied has started again from its beginning.
  const int copied = c->copied_.load(std::memory_order_relaxed);
  const int backlog = wal_pages >= copied ? wal_pages - copied : wal_pages;
  if (backlog < c->threshold_ && wal_pages < c->writer_threshold_) {
    return SQLITE_OK;
  }
  if (wal_pages >= c->writer_threshold_) {
    // On the writer, between two of its transactions: nothing is appended while it runs, so
    // it copies everything readers allow and the next transaction restarts the WAL. BUSY
    // (the thread's checkpoint is running) leaves it to the next commit.
    if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK) {
      c->copied_.store(0, std::memory_order_relaxed);  // the next transaction restarts the WAL
    }
    c->checkpoints_.fetch_add(1, std::memory_order_relaxed);
    return SQLITE_OK;
  }
  bool wake = false;
  {
    std::lock_guard lk(c->mu_);
    wake = !c->requested_;
    c->requested_ = true;
  }
  if (wake) {
    c->cv_.notify_one();
  }
  return SQLITE_OK;  // the commit itself succeeded whatever happens here
}

void Checkpointer::loop() {
  int last_rc = SQLITE_OK;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || requested_; });
      if (stopping_) {
        return;
      }
      requested_ = false;
    }
    int wal_pages = 0;
    int copied = 0;
    auto checkpoint = [&] {
      return sqlite3_wal_checkpoint_v2(conn_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       &wal_pages, &copied);
    };
    int rc = checkpoint();
    if (rc == SQLITE_OK && wal_pages < 0) {
      // A connection learns that the database is in WAL mode from its header, at a read. This
      // one was opened before the writer switched a new database to WAL, and a checkpoint on
      // it copies nothing (frame counts of -1) until it has read once.
      if (conn_.exec("SELECT 1 FROM sqlite_schema LIMIT 1", "open the WAL").ok()) {
        rc = checkpoint();
      }
    }
    if (rc == SQLITE_OK && wal_pages >= 0) {
      copied_.store(copied, std::memory_order_relaxed);
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
    }
    // BUSY: another checkpoint (another process's) is running; the next commit asks again.
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != last_rc) {
      spdlog::warn("store: WAL checkpoint failed: {} (the WAL grows until one succeeds)",
                   sqlite3_errstr(rc));
    } else if (rc == SQLITE_OK && last_rc != SQLITE_OK && last_rc != SQLITE_BUSY) {
      spdlog::info("store: WAL checkpoints succeed again");
    }
    last_rc = rc;
  }
}

}  // namespace ig::store::detail
