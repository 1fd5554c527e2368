#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "store/sqlite/connection.hpp"

// Private to the SQLite store.
namespace ig::store::detail {

/// Copies the WAL back into the database mostly on a thread of its own. SQLite's automatic
/// checkpoint runs inside the COMMIT that crosses its threshold: the writer then copies a
/// thousand pages and waits on two fsyncs while every create queued behind it waits too.
/// Installed as the writer connection's WAL hook (which turns that automatic checkpoint off),
/// it is told the WAL's size after every commit and, once the WAL holds `threshold` pages
/// more than its last checkpoint copied, runs a PASSIVE checkpoint on its thread: it blocks
/// neither the writer nor the readers, and each one copies a threshold's worth of pages (its
/// two fsyncs are paid that seldom, not once per commit).
///
/// The WAL only starts again from its beginning when the writer begins a transaction with
/// every frame already copied, which a checkpoint racing a busy writer never achieves. So
/// when the WAL reaches 4 × `threshold` pages, the writer's own commit checkpoints what the
/// thread has not copied yet, as SQLite would have, and its next transaction restarts the
/// file: it stays within about 4 × `threshold` pages, and the writer does a quarter of the
/// checkpoints it did, each copying only the tail. Thread-safe.
class Checkpointer {
 public:
  /// `conn`: a read-write connection to the same database, used only by this thread.
  /// Throws std::system_error if the thread cannot be started.
  Checkpointer(Connection conn, int threshold);
  /// Stops the thread (after the checkpoint it is running, if any).
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  /// Makes `writer` tell this checkpointer its WAL's size after each commit. The writer's
  /// connection must be closed (or its hook removed) before this object is destroyed.
  void watch(sqlite3* writer);

  /// Checkpoints run so far (whole or partial; the thread's count only those that copied).
  std::uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }

 private:
  static int on_commit(void* self, sqlite3* db, const char* name, int wal_pages);
  void loop();

  Connection conn_;  // used only by thread_
  const int threshold_;
  const int writer_threshold_;  // 4 × threshold_

  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;
  bool stopping_ = false;

  std::atomic<std::uint64_t> checkpoints_{0};
  // Frames of the WAL the thread's last checkpoint had copied; set by the thread, read by the
  // writer's commit hook.
  std::atomic<int> copied_{0};
  std::thread thread_;  // last: starts after every other member exists
};

}  // namespace ig::store::detail
