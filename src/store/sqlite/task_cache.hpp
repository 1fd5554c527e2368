#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/task.hpp"

namespace ig::store::detail {

/// Tasks as SqliteStore::get_task last read them, by id: a poll of a task read recently costs a
/// hash lookup instead of a read transaction (the WAL read lock's fcntl and mutex, two B-tree
/// descents, decoding the row and its request).
///
/// Kept exact by the writer, which is the only connection of this process that writes:
/// - every row of `tasks` that a batch updated or deleted is dropped (drop_rows) after its
///   COMMIT and before any caller of the batch is answered, so a change is seen by every read
///   that starts after the write returned;
/// - a read fills the cache only if nothing was dropped since it began (`epoch`): a read that
///   overlapped a change may have seen the row before it, and must not keep it;
/// - a commit by another connection (another process on the same file) is not seen by the
///   writer's hook: the writer clears the cache when `PRAGMA data_version` says one happened,
///   which it checks at least every half second.
///
/// Bounded: at most `capacity` tasks, in shards (by id) each evicting with CLOCK (a task read
/// again since it was last passed over is kept once more). Thread-safe.
class TaskCache {
 public:
  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t dropped = 0;  // entries dropped because their row changed
    std::uint64_t clears = 0;   // whole-cache clears (another connection committed)
    std::size_t entries = 0;
  };

  /// `capacity` 0: nothing is ever kept (find() misses, put() does nothing).
  explicit TaskCache(std::size_t capacity);
  TaskCache(const TaskCache&) = delete;
  TaskCache& operator=(const TaskCache&) = delete;

  bool enabled() const { return capacity_ != 0; }

  /// Read before the store read whose result is then put().
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  /// The task with this id, if kept.
  std::shared_ptr<const core::Task> find(std::string_view id);

  /// Keeps `task` as read by a read that began at `read_epoch`, unless a row was dropped (or
  /// the cache cleared) since then.
  void put(std::uint64_t read_epoch, const core::Task& task);

  /// These rows of `tasks` changed (or are gone): forgets their tasks.
  void drop_rows(const std::vector<std::int64_t>& rows);

  /// Forgets every task.
  void clear();

  Stats stats() const;

 private:
  struct Slot {
    std::shared_ptr<const core::Task> task;
    bool referenced = false;  // read since the clock hand last passed it
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Slot, Hash, std::equal_to<>> by_id;
    std::unordered_map<std::int64_t, std::string_view> by_row;  // views of by_id's keys
    std::deque<std::int64_t> clock;  // rows in the order they came in (may hold stale rows)
  };
  static constexpr std::size_t kShards = 8;

  Shard& shard_of(std::string_view id) { return shards_[Hash{}(id) % kShards]; }
  void evict_one(Shard& s);  // s.mu held

  const std::size_t capacity_;
  const std::size_t per_shard_;
  std::atomic<std::uint64_t> epoch_{0};
  std::array<Shard, kShards> shards_;
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> clears_{0};
};

}  // namespace ig::store::detail
