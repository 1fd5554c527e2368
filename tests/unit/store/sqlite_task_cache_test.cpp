// SQLite's store keeps the tasks get_task read, decoded (store/sqlite/task_cache.hpp): a read
// after any write through the store sees that write, a read that overlapped a write does not
// leave the old row behind, a commit by another connection is seen without any write through
// the store, and the cache holds no more than it is given.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/task_cache.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::store::testing {
namespace {

using core::TaskState;
using detail::TaskCache;
using SqliteStoreTest = testing::SqliteStoreTest;

core::Task task_at_row(std::string id, std::int64_t row) {
  core::Task t = make_task(std::move(id), 10);
  t.row_id = row;
  return t;
}

TEST(TaskCache, KeepsWhatWasPutUntilItsRowChanges) {
  TaskCache cache(100);
  EXPECT_EQ(cache.find("a"), nullptr);
  cache.put(cache.epoch(), task_at_row("a", 1));
  cache.put(cache.epoch(), task_at_row("b", 2));
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(cache.find("a")->row_id, 1);

  cache.drop_rows({1, 99});
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_NE(cache.find("b"), nullptr);
  cache.clear();
  EXPECT_EQ(cache.find("b"), nullptr);
  const auto st = cache.stats();
  EXPECT_EQ(st.dropped, 1u);
  EXPECT_EQ(st.clears, 1u);
  EXPECT_EQ(st.entries, 0u);
}

TEST(TaskCache, AReadThatOverlappedAChangeDoesNotFillIt) {
  TaskCache cache(100);
  const auto began = cache.epoch();  // a read begins, and sees the row before the change
  cache.drop_rows({1});              // the change commits
  cache.put(began, task_at_row("a", 1));
  EXPECT_EQ(cache.find("a"), nullptr);

  const auto before_clear = cache.epoch();
  cache.clear();
  cache.put(before_clear, task_at_row("a", 1));
  EXPECT_EQ(cache.find("a"), nullptr);

  cache.put(cache.epoch(), task_at_row("a", 1));  // a read that began after both
  EXPECT_NE(cache.find("a"), nullptr);
}

TEST(TaskCache, HoldsNoMoreThanItsCapacityAndKeepsWhatIsReadAgain) {
  TaskCache cache(64);
  cache.put(cache.epoch(), task_at_row("hot", 0));
  for (int i = 1; i <= 2'000; ++i) {
    cache.put(cache.epoch(), task_at_row("t" + std::to_string(i), i));
    ASSERT_NE(cache.find("hot"), nullptr) << "evicted after " << i << " others";
  }
  EXPECT_LE(cache.stats().entries, 64u);
  // Rows dropped after being evicted cost nothing and the survivors still answer.
  std::vector<std::int64_t> all;
  for (int i = 0; i <= 2'000; ++i) {
    all.push_back(i);
  }
  cache.drop_rows(all);
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(TaskCache, ZeroCapacityKeepsNothing) {
  TaskCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.put(cache.epoch(), task_at_row("a", 1));
  EXPECT_EQ(cache.find("a"), nullptr);
}

TEST_F(SqliteStoreTest, EveryWriteThroughTheStoreIsSeenByTheNextRead) {
  auto store = open_sqlite();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_TRUE(store->insert_task(make_task("y", 11)).ok());
  EXPECT_EQ(get(*store, "x")->state, TaskState::kQueued);
  EXPECT_EQ(get(*store, "y")->state, TaskState::kQueued);
  EXPECT_EQ(get(*store, "x")->state, TaskState::kQueued);
  EXPECT_GE(store->task_cache_stats().hits, 1u);

  const auto row = claim(*store, "w1", 1, 1000, 60'000).at(0).task.row_id;
  auto running = get(*store, "x");
  EXPECT_EQ(running->state, TaskState::kRunning);
  EXPECT_EQ(running->attempt, 1);

  ASSERT_EQ(value_of(store->set_task_size(row, 1, 1536, 1024)), Fence::kApplied);
  EXPECT_EQ(get(*store, "x")->request.size, (core::Size{1536, 1024}));
  ASSERT_EQ(value_of(store->set_upstream(row, 1, "relay-a", "up-1")), Fence::kApplied);
  EXPECT_EQ(get(*store, "x")->upstream_id, "up-1");

  ASSERT_EQ(value_of(store->complete_task(row, 1, outcome(TaskState::kSucceeded, "", 4000))),
            Fence::kApplied);
  auto done = get(*store, "x");
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(done->completed_ms, 4000);

  const auto y_row = get(*store, "y")->row_id;
  ASSERT_TRUE(value_of(store->cancel_task(y_row, 5000)));
  EXPECT_EQ(get(*store, "y")->state, TaskState::kCancelled);
}

TEST_F(SqliteStoreTest, AReadRacingWritesNeverKeepsAnOlderRow) {
  auto store = open_sqlite();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 600'000).at(0).task.row_id;

  // Another thread reads the task without pause, filling the cache from reads that overlap
  // the writes (a write right after another finds the task gone from the cache, and the
  // reader reading the row meanwhile); after each write returns, a read must show it.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      (void)store->get_task("x");
    }
  });
  for (int i = 1; i <= 1'000; ++i) {
    const std::string id = "up-" + std::to_string(i);
    ASSERT_EQ(value_of(store->set_upstream(row, 1, "relay-a", id)), Fence::kApplied);
    if (i % 4 != 0) {
      continue;
    }
    auto got = get(*store, "x");
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->upstream_id, id) << "write " << i;
  }
  stop.store(true);
  reader.join();
  EXPECT_GT(store->task_cache_stats().hits, 0u);
}

TEST_F(SqliteStoreTest, ACommitByAnotherConnectionIsSeenWithoutAWriteOfOurOwn) {
  auto store = open_sqlite();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_EQ(get(*store, "x")->fail_msg, "");
  ASSERT_EQ(get(*store, "x")->fail_msg, "");  // kept

  sql_exec("UPDATE tasks SET fail_msg = 'changed elsewhere' WHERE id = 'x'");
  const auto t0 = std::chrono::steady_clock::now();
  while (get(*store, "x")->fail_msg.empty() &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(get(*store, "x")->fail_msg, "changed elsewhere");
  EXPECT_GE(store->task_cache_stats().clears, 1u);
}

TEST_F(SqliteStoreTest, OurOwnCheckpointsDoNotEmptyTheCache) {
  // The checkpoint thread has a connection of its own: what it copies out of the WAL must not
  // look like another process's commit, or every checkpoint would empty the cache.
  SqliteOptions opts;
  opts.synchronous = "NORMAL";
  opts.checkpoint_pages = 50;
  auto store = open_sqlite(opts);
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 1'500; ++i) {
    ASSERT_TRUE(store->insert_task(make_task("t" + std::to_string(i), i)).ok());
    if (i % 100 == 0) {
      ASSERT_TRUE(get(*store, "t0").has_value());
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));  // two looks at data_version
  ASSERT_TRUE(get(*store, "t0").has_value());
  EXPECT_GT(store->checkpoints(), 0u);
  EXPECT_EQ(store->task_cache_stats().clears, 0u);
  EXPECT_GE(store->task_cache_stats().hits, 15u);
}

TEST_F(SqliteStoreTest, WithoutACacheEveryReadIsARead) {
  SqliteOptions opts;
  opts.task_cache = 0;
  auto store = open_sqlite(opts);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_EQ(get(*store, "x")->fail_msg, "");
  sql_exec("UPDATE tasks SET fail_msg = 'changed elsewhere' WHERE id = 'x'");
  EXPECT_EQ(get(*store, "x")->fail_msg, "changed elsewhere");
  EXPECT_EQ(store->task_cache_stats().hits, 0u);
}

}  // namespace
}  // namespace ig::store::testing
