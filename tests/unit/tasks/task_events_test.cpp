// Wake-ups for live task status: a change wakes long-poll and SSE readers (kChanges) but never
// the synchronous waiter (kEnd), which must not read the store more than it did; an end wakes
// both. TaskService::watch answers on a change signal at once and on a store-only change (another
// process) at its slow poll.

#include "tasks/task_events.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/task.hpp"
#include "storage/fs_storage.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "tasks/task_service.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::tasks {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using core::TaskState;
using Interest = TaskEvents::Interest;
using SteadyClock = std::chrono::steady_clock;

constexpr std::int64_t kT0 = 1'700'000'000'000;

/// TaskEvents with one I/O thread; the test thread runs coroutines on it and waits for them.
class TaskEventsTest : public ::testing::Test {
 protected:
  TaskEventsTest() : thread_([this] { ioc_.run(); }) {}
  ~TaskEventsTest() override {
    work_.reset();
    thread_.join();
  }

  template <class T>
  T run(asio::awaitable<T> a) {
    return asio::co_spawn(ioc_, std::move(a), asio::use_future).get();
  }

  std::shared_ptr<TaskEvents::Subscription> subscribe(const std::string& id, Interest interest) {
    return events_.subscribe(id, ioc_.get_executor(), interest);
  }

  bool woken(const std::shared_ptr<TaskEvents::Subscription>& sub,
             std::chrono::milliseconds within) {
    return run(sub->wait(within));
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  std::thread thread_;
  TaskEvents events_;
};

TEST_F(TaskEventsTest, AChangeWakesChangeSubscribersOfThatTaskOnly) {
  auto ends = subscribe("t1", Interest::kEnd);
  auto changes = subscribe("t1", Interest::kChanges);
  auto other = subscribe("t2", Interest::kChanges);
  events_.changed("t1");
  EXPECT_TRUE(woken(changes, 5s));
  EXPECT_EQ(changes->end(), nullptr);
  EXPECT_FALSE(woken(ends, 200ms)) << "the synchronous waiter was woken by a mere change";
  EXPECT_FALSE(woken(other, 50ms));
}

TEST_F(TaskEventsTest, AnEndWakesBothKindsAndHandsOverTheEndedTask) {
  auto ends = subscribe("t1", Interest::kEnd);
  auto changes = subscribe("t1", Interest::kChanges);
  auto end = std::make_shared<TaskEvents::End>();
  end->task.id = "t1";
  end->task.state = TaskState::kSucceeded;
  events_.notify("t1", end);
  EXPECT_TRUE(woken(ends, 5s));
  EXPECT_TRUE(woken(changes, 5s));
  EXPECT_EQ(ends->end(), end);
  EXPECT_EQ(changes->end(), end);
}

// The callback sender listens for every end (and only ends): a change is not an end.
TEST_F(TaskEventsTest, EndListenersHearEveryEndAndNoChange) {
  std::vector<std::string> heard;
  events_.on_end([&heard](std::string_view id) { heard.emplace_back(id); });
  events_.changed("t1");
  events_.notify("t1");
  events_.notify("t2", std::make_shared<TaskEvents::End>());
  EXPECT_EQ(heard, (std::vector<std::string>{"t1", "t2"}));
}

TEST_F(TaskEventsTest, AWakeUpIsConsumedAndTheNextOneIsWaitedFor) {
  auto changes = subscribe("t1", Interest::kChanges);
  // Two changes before anyone waits: not lost, reported once.
  events_.changed("t1");
  events_.changed("t1");
  EXPECT_TRUE(woken(changes, 5s));
  EXPECT_FALSE(woken(changes, 200ms));
  // A change while waiting wakes the wait before its timeout.
  const auto start = SteadyClock::now();
  auto waiting = asio::co_spawn(ioc_, changes->wait(10s), asio::use_future);
  std::this_thread::sleep_for(50ms);
  events_.changed("t1");
  ASSERT_EQ(waiting.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(waiting.get());
  EXPECT_LT(SteadyClock::now() - start, 5s);
}

TEST_F(TaskEventsTest, OnlyEndSubscribersMakeAnEndWorthBuilding) {
  auto changes = subscribe("t1", Interest::kChanges);
  EXPECT_FALSE(events_.listening("t1"));
  auto ends = subscribe("t1", Interest::kEnd);
  EXPECT_TRUE(events_.listening("t1"));
  EXPECT_EQ(events_.subscribers(), 2u);
  ends.reset();
  EXPECT_FALSE(events_.listening("t1"));
  EXPECT_EQ(events_.subscribers(), 1u);
  changes.reset();
  EXPECT_EQ(events_.subscribers(), 0u);
}

/// TaskService::watch over a real SqliteStore with TaskEvents.
class WatchTest : public TaskEventsTest {
 protected:
  void SetUp() override {
    store::SqliteOptions opts;
    opts.path = dir_.path() / "imagegate.db";
    auto opened = store::SqliteStore::open(opts);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    auto key = store_->create_key(store::testing::make_key("sk-test", "hash-test"));
    ASSERT_TRUE(key.ok()) << key.error().message;
    key_ = *key;
    storage_ = std::make_unique<storage::FsResultStorage>(dir_.path() / "results", clock_);
    service_ = std::make_unique<TaskService>(*store_, *storage_, pool_.get_executor(), clock_,
                                             core::default_random(), [] {});
    service_->set_events(&events_);
  }

  void TearDown() override { pool_.join(); }

  void insert(const std::string& id) {
    auto st = store_->insert_task(store::testing::make_task(id, kT0, key_.id));
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // What another worker does when it starts the task: the store says running.
  void start_in_store() {
    EXPECT_EQ(store::testing::claim(*store_, "other-process", 10, kT0, kT0 + 60'000).size(), 1u);
  }

  std::future<core::Result<core::Task>> watch(const std::string& id, std::string since,
                                              std::chrono::milliseconds timeout,
                                              std::function<bool()> stop = {}) {
    return asio::co_spawn(ioc_, service_->watch(key_, id, std::move(since), timeout,
                                                std::move(stop)),
                          asio::use_future);
  }

  store::testing::TempDir dir_;
  core::ManualClock clock_{kT0};
  std::unique_ptr<store::SqliteStore> store_;
  store::ApiKey key_;
  std::unique_ptr<storage::FsResultStorage> storage_;
  asio::thread_pool pool_{2};
  std::unique_ptr<TaskService> service_;
};

TEST_F(WatchTest, AnswersAtOnceWhenTheTaskIsNotWhatWasSeen) {
  insert("t1");
  auto first = watch("t1", "", 10s).get();  // nothing seen yet
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->state, TaskState::kQueued);
  EXPECT_EQ(live_token(*first), "queued");
  const auto start = SteadyClock::now();
  auto other = watch("t1", "running", 10s).get();
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(other->state, TaskState::kQueued);
  EXPECT_LT(SteadyClock::now() - start, 900ms);
}

TEST_F(WatchTest, AChangeSignalAnswersBeforeTheSlowPoll) {
  insert("t1");
  const auto start = SteadyClock::now();
  auto watched = watch("t1", "queued", 10s);
  std::this_thread::sleep_for(100ms);
  start_in_store();
  events_.changed("t1");
  ASSERT_EQ(watched.wait_for(5s), std::future_status::ready);
  auto task = watched.get();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->state, TaskState::kRunning);
  EXPECT_LT(SteadyClock::now() - start, 800ms) << "woken by the slow poll, not the signal";
}

TEST_F(WatchTest, AChangeWithoutASignalIsSeenAtTheSlowPoll) {
  insert("t1");
  const auto start = SteadyClock::now();
  auto watched = watch("t1", "queued", 10s);
  std::this_thread::sleep_for(100ms);
  start_in_store();  // another process: no signal here
  ASSERT_EQ(watched.wait_for(5s), std::future_status::ready);
  auto task = watched.get();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->state, TaskState::kRunning);
  const auto took = SteadyClock::now() - start;
  EXPECT_GE(took, 500ms);
  EXPECT_LT(took, 3s);
}

TEST_F(WatchTest, ACancelWakesTheWatcher) {
  insert("t1");
  const auto start = SteadyClock::now();
  auto watched = watch("t1", "queued", 10s);
  std::this_thread::sleep_for(100ms);
  auto cancelled = run(service_->cancel(key_, "t1"));
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  ASSERT_EQ(watched.wait_for(5s), std::future_status::ready);
  auto task = watched.get();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->state, TaskState::kCancelled);
  EXPECT_LT(SteadyClock::now() - start, 800ms);
}

TEST_F(WatchTest, TimesOutWithTheUnchangedTask) {
  insert("t1");
  const auto start = SteadyClock::now();
  auto task = watch("t1", "queued", 300ms).get();
  const auto took = SteadyClock::now() - start;
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->state, TaskState::kQueued);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
}

TEST_F(WatchTest, StopEndsTheWaitWithinASlowPoll) {
  insert("t1");
  std::atomic<bool> stop{false};
  const auto start = SteadyClock::now();
  auto watched = watch("t1", "queued", 30s, [&stop] { return stop.load(); });
  std::this_thread::sleep_for(100ms);
  stop = true;
  ASSERT_EQ(watched.wait_for(5s), std::future_status::ready);
  auto task = watched.get();
  ASSERT_TRUE(task.ok()) << task.error().message;
  EXPECT_EQ(task->state, TaskState::kQueued);
  EXPECT_LT(SteadyClock::now() - start, 2s);
}

TEST_F(WatchTest, AnUnknownOrForeignTaskIsNotFound) {
  auto missing = watch("nope", "", 1s).get();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  auto other = store_->create_key(store::testing::make_key("sk-other", "hash-other"));
  ASSERT_TRUE(other.ok()) << other.error().message;
  auto st = store_->insert_task(store::testing::make_task("foreign", kT0, other->id));
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto foreign = watch("foreign", "", 1s).get();
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ig::tasks
