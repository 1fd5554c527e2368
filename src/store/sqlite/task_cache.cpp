#include "store/sqlite/task_cache.hpp"

#include <utility>

namespace ig::store::detail {

TaskCache::TaskCache(std::size_t capacity)
    : capacity_(capacity), per_shard_(capacity == 0 ? 0 : (capacity + kShards - 1) / kShards) {}

std::shared_ptr<const core::Task> TaskCache::find(std::string_view id) {
  if (!enabled()) {
    return nullptr;
  }
  Shard& s = shard_of(id);
  std::shared_ptr<const core::Task> found;
  {
    std::lock_guard lk(s.mu);
    if (auto it = s.by_id.find(id); it != s.by_id.end()) {
      it->second.referenced = true;
      found = it->second.task;
    }
  }
  (found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
  return found;
}

void TaskCache::put(std::uint64_t read_epoch, const core::Task& task) {
  if (!enabled()) {
    return;
  }
  auto copy = std::make_shared<const core::Task>(task);  // outside the lock
  Shard& s = shard_of(task.id);
  std::lock_guard lk(s.mu);
  // drop_rows() and clear() move the epoch before they take a shard's lock: either they have
  // not reached this shard yet (and will drop what is put here), or the epoch has moved.
  if (epoch_.load(std::memory_order_acquire) != read_epoch) {
    return;
  }
  auto [it, inserted] = s.by_id.try_emplace(task.id);
  if (!inserted) {
    // Read again while kept (two threads missed at once): the same row, read no earlier.
    if (it->second.task->row_id != task.row_id) {
      s.by_row.erase(it->second.task->row_id);
      s.by_row[task.row_id] = it->first;
      s.clock.push_back(task.row_id);
    }
    it->second.task = std::move(copy);
    return;
  }
  it->second.task = std::move(copy);
  s.by_row[task.row_id] = it->first;
  s.clock.push_back(task.row_id);
  while (s.by_id.size() > per_shard_) {
    evict_one(s);
  }
  // Rows dropped or replaced leave their place in the clock behind: rebuild it before it
  // grows past twice what it must hold.
  if (s.clock.size() > 2 * per_shard_ + 64) {
    s.clock.clear();
    for (const auto& [row, id] : s.by_row) {
      s.clock.push_back(row);
    }
  }
}

void TaskCache::evict_one(Shard& s) {
  while (!s.clock.empty()) {
    const std::int64_t row = s.clock.front();
    s.clock.pop_front();
    auto r = s.by_row.find(row);
    if (r == s.by_row.end()) {
      continue;  // dropped since
    }
    auto it = s.by_id.find(r->second);
    if (it->second.referenced) {
      it->second.referenced = false;
      s.clock.push_back(row);
      continue;
    }
    s.by_row.erase(r);
    s.by_id.erase(it);
    return;
  }
}

void TaskCache::drop_rows(const std::vector<std::int64_t>& rows) {
  if (!enabled() || rows.empty()) {
    return;
  }
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  std::uint64_t n = 0;
  for (Shard& s : shards_) {
    std::lock_guard lk(s.mu);
    if (s.by_row.empty()) {
      continue;
    }
    for (std::int64_t row : rows) {
      auto r = s.by_row.find(row);
      if (r == s.by_row.end()) {
        continue;
      }
      s.by_id.erase(s.by_id.find(r->second));
      s.by_row.erase(r);
      ++n;
    }
  }
  dropped_.fetch_add(n, std::memory_order_relaxed);
}

void TaskCache::clear() {
  if (!enabled()) {
    return;
  }
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  for (Shard& s : shards_) {
    std::lock_guard lk(s.mu);
    s.by_row.clear();
    s.by_id.clear();
    s.clock.clear();
  }
  clears_.fetch_add(1, std::memory_order_relaxed);
}

TaskCache::Stats TaskCache::stats() const {
  Stats st;
  st.hits = hits_.load(std::memory_order_relaxed);
  st.misses = misses_.load(std::memory_order_relaxed);
  st.dropped = dropped_.load(std::memory_order_relaxed);
  st.clears = clears_.load(std::memory_order_relaxed);
  for (const Shard& s : shards_) {
    std::lock_guard lk(s.mu);
    st.entries += s.by_id.size();
  }
  return st;
}

}  // namespace ig::store::detail
