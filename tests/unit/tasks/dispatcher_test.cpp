#include "tasks/dispatcher.hpp"
#include "tasks/task_events.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <ostream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/task.hpp"
#include "providers/provider.hpp"
#include "runtime/offload.hpp"
#include "storage/fs_storage.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "tasks/input_source.hpp"
#include "tasks/upstream_router.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::core {
// Readable TaskState values in gtest messages (found by ADL).
inline void PrintTo(TaskState s, std::ostream* os) { *os << to_string(s); }
}  // namespace ig::core

namespace ig::tasks {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using core::TaskState;
using store::testing::wait_until;

constexpr std::int64_t kT0 = 1'700'000'000'000;  // the manual clock's start (Unix ms)
constexpr auto kWait = 5s;                        // generous deadline of every wait below

// "<task>/a<attempt>-<i>.png", the key the dispatcher gives a result (built with append: g++ 12
// warns falsely, -Wrestrict, on "literal" + std::string&&).
std::string result_key(const std::string& task, int attempt, int i) {
  std::string key = task;
  key += "/a";
  key += std::to_string(attempt);
  key += '-';
  key += std::to_string(i);
  key += ".png";
  return key;
}

// The bytes the fake provider returns for image `i` of one attempt: every run's output differs.
std::string image_bytes(const std::string& task, int attempt, int i) {
  std::string b = "fake-png:";
  b += task;
  b += ":a";
  b += std::to_string(attempt);
  b += ':';
  b += std::to_string(i);
  return b;
}

std::string task_name(int i) { return store::testing::task_id(i); }

// How the fake provider holds a call until the test releases it.
enum class Hold {
  kNone,         // return at once
  kCancellable,  // wait on asio timers: a cancellation ends the call (operation_aborted)
  kBlocking,     // one blocking step on the pool (a paid upstream call): not cancellable
};

/// A provider the test drives: it records every call, holds calls as configured until
/// release(), and notes which calls saw a cancellation (a cancellable hold ends with it; a
/// blocking hold only notices it and carries on, like a paid upstream call that cannot be
/// taken back). Returns request.n images of image_bytes().
class FakeProvider final : public providers::Provider {
 public:
  explicit FakeProvider(runtime::BlockingExecutor pool) : pool_(pool) {}

  std::string_view name() const override { return "fake"; }
  std::string_view kind() const override { return kind_; }
  bool can_resume() const override { return kind_ == "relay"; }

  /// Configure before the dispatcher starts: "sandbox" (free: unknown work is redone),
  /// "openai" (paid: unknown work is not resubmitted) or "relay" (resumes by upstream id).
  void set_kind(std::string kind) { kind_ = std::move(kind); }
  std::vector<std::string> resumed() const {
    std::lock_guard lock(mu_);
    return resumed_;
  }

  /// Configure before the dispatcher starts. `which` picks the calls to hold (all if empty).
  void hold(Hold how, std::function<bool(const providers::GenerateJob&)> which = {}) {
    hold_ = how;
    hold_if_ = std::move(which);
  }

  /// Lets every held call (and every later one) return.
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  asio::awaitable<providers::GenerateResult> generate(const providers::GenerateJob& job) override {
    InFlight in_flight(*this);
    const std::string task = job.task_id;
    const int attempt = job.attempt;
    {
      std::lock_guard lock(mu_);
      calls_.emplace_back(task, attempt);
      if (!job.resume_upstream_id.empty()) {
        resumed_.push_back(job.resume_upstream_id);
      }
    }
    if (hold_ != Hold::kNone && (!hold_if_ || hold_if_(job))) {
      if (hold_ == Hold::kCancellable) {
        co_await hold_cancellable(task, attempt);
      } else {
        co_await hold_blocking(task, attempt);
      }
    }
    providers::GenerateResult out;
    out.usage.input_tokens = 10;
    out.usage.output_tokens = 20;
    out.usage.total_tokens = 30;
    for (int i = 1; i <= job.request.n; ++i) {
      out.images.push_back(providers::ImageBytes{image_bytes(task, attempt, i), "image/png",
                                                 job.request.size.width,
                                                 job.request.size.height, false});
    }
    co_return out;
  }

  std::vector<std::pair<std::string, int>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::size_t call_count() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }
  bool saw_cancel(const std::string& task, int attempt) const {
    std::lock_guard lock(mu_);
    return cancelled_.count({task, attempt}) > 0;
  }
  int in_flight() const { return in_flight_.load(); }
  int max_in_flight() const { return max_in_flight_.load(); }

 private:
  struct InFlight {
    explicit InFlight(FakeProvider& p) : p(p) {
      const int now = ++p.in_flight_;
      int seen = p.max_in_flight_.load();
      while (now > seen && !p.max_in_flight_.compare_exchange_weak(seen, now)) {
      }
    }
    ~InFlight() { --p.in_flight_; }
    FakeProvider& p;
  };

  bool released() const {
    std::lock_guard lock(mu_);
    return released_;
  }

  void note_cancel(const std::string& task, int attempt) {
    std::lock_guard lock(mu_);
    cancelled_.emplace(task, attempt);
  }

  asio::awaitable<void> hold_cancellable(std::string task, int attempt) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    try {
      while (!released()) {
        // A cancellation that arrived between two waits (the router turns asio's
        // throw-at-next-wait off, so it is not thrown): a well-behaved provider checks.
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) {
          throw boost::system::system_error(asio::error::operation_aborted);
        }
        timer.expires_after(1ms);
        co_await timer.async_wait(asio::use_awaitable);
      }
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) {
        note_cancel(task, attempt);
      }
      throw;
    }
  }

  asio::awaitable<void> hold_blocking(std::string task, int attempt) {
    // The blocking step cannot be interrupted; a handler on this coroutine's cancellation slot
    // only notes that a cancellation arrived meanwhile (runtime::offload leaves the slot free).
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      note_cancel(task, attempt);
    } else if (state.slot().is_connected()) {
      state.slot().assign(
          [this, task, attempt](asio::cancellation_type) { note_cancel(task, attempt); });
    }
    co_await runtime::offload(pool_, [this] {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return released_; });
      return true;
    });
  }

  runtime::BlockingExecutor pool_;
  std::string kind_ = "sandbox";
  std::vector<std::string> resumed_;  // under mu_
  Hold hold_ = Hold::kNone;
  std::function<bool(const providers::GenerateJob&)> hold_if_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::pair<std::string, int>> calls_;
  std::set<std::pair<std::string, int>> cancelled_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
};

/// No test task has inputs; a load would be a bug.
class NoInputs final : public InputSource {
 public:
  asio::awaitable<LoadedInput> load(std::string, std::string param, std::size_t) override {
    ADD_FAILURE() << "unexpected input load for " << param;
    LoadedInput out;
    out.failure = InputFailure{"input_fetch_failed", param + ": not available in this test"};
    co_return out;
  }
};

/// A real SqliteStore and FsResultStorage in a temp dir, the fake provider, an io_context on
/// two threads and a small blocking pool. Time in the store is a ManualClock (leases are
/// compared with it); the dispatcher's timers (poll, lease renewal) run on real time.
class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions opts;
    opts.path = dir_.path() / "imagegate.db";
    auto opened = store::SqliteStore::open(opts);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    auto key = store_->create_key(store::testing::make_key("sk-test", "hash-test"));
    ASSERT_TRUE(key.ok()) << key.error().message;
    key_id_ = key->id;
    storage_ = std::make_unique<storage::FsResultStorage>(dir_.path() / "results", clock_);
    std::map<std::string, RouteSpec> routes;
    routes["sandbox"] = RouteSpec{provider_, RouteSettings{}};
    router_ = std::make_unique<UpstreamRouter>(std::move(routes),
                                               std::vector<std::pair<std::string, std::vector<std::string>>>{});
    for (int i = 0; i < 2; ++i) {
      threads_.emplace_back([this] { ioc_.run(); });
    }
  }

  void TearDown() override {
    provider_->release();
    if (dispatcher_) {
      auto stopped = stop_async(5s);
      EXPECT_EQ(stopped.wait_for(10s), std::future_status::ready) << "teardown stop() hung";
      EXPECT_TRUE(wait_until([&] { return dispatcher_->running() == 0; }, kWait));
    }
    work_.reset();
    if (!wait_until([&] { return ioc_.stopped(); }, kWait)) {
      ADD_FAILURE() << "work left on the io_context after stop()";
      ioc_.stop();
    }
    for (auto& t : threads_) {
      t.join();
    }
    pool_.join();
    dispatcher_.reset();
  }

  static DispatcherConfig config(int concurrency, std::chrono::milliseconds lease) {
    DispatcherConfig c;
    c.concurrency = concurrency;
    c.lease = lease;
    c.poll = 20ms;
    c.owner = "test-host:1:dispatcher";
    return c;
  }

  void start(DispatcherConfig c, TaskEvents* events = nullptr) {
    dispatcher_ = std::make_unique<Dispatcher>(ioc_, pool_.get_executor(), *store_, *router_,
                                               inputs_, *storage_, clock_, std::move(c));
    dispatcher_->set_events(events);
    dispatcher_->start();
  }

  std::future<void> stop_async(std::chrono::milliseconds deadline) {
    return asio::co_spawn(ioc_, dispatcher_->stop(deadline), asio::use_future);
  }

  core::Task insert(const std::string& id, int n = 1) {
    core::Task t = store::testing::make_task(id, kT0 + (seq_++), key_id_);
    t.request.n = n;
    auto st = store_->insert_task(t);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return task(id);
  }

  core::Task task(const std::string& id) {
    auto t = store::testing::get(*store_, id);
    EXPECT_TRUE(t.has_value()) << "no task " << id;
    return t.value_or(core::Task{});
  }

  bool wait_state(const std::string& id, TaskState s) {
    return wait_until(
        [&] {
          auto t = store::testing::get(*store_, id);
          return t && t->state == s;
        },
        kWait);
  }

  fs::path result_path(const std::string& key) const { return dir_.path() / "results" / key; }

  std::string read_result(const std::string& key) const {
    std::ifstream in(result_path(key), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static std::vector<std::string> keys_of(const core::Task& t) {
    std::vector<std::string> out;
    for (const auto& r : t.results) {
      out.push_back(r.key);
    }
    return out;
  }

  store::testing::TempDir dir_;
  core::ManualClock clock_{kT0};
  std::unique_ptr<store::SqliteStore> store_;
  std::int64_t key_id_ = 0;
  std::unique_ptr<storage::FsResultStorage> storage_;
  asio::thread_pool pool_{4};
  std::shared_ptr<FakeProvider> provider_ = std::make_shared<FakeProvider>(pool_.get_executor());
  std::unique_ptr<UpstreamRouter> router_;
  NoInputs inputs_;
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      ioc_.get_executor()};
  std::vector<std::thread> threads_;
  std::unique_ptr<Dispatcher> dispatcher_;
  int seq_ = 0;
};

// 1. The happy path: one claim, one provider call, results stored under attempt-1 keys and the
// terminal state written once.
TEST_F(DispatcherTest, ClaimsGeneratesAndCompletesAQueuedTaskOnce) {
  const std::string id = "job-1";
  insert(id, /*n=*/2);
  start(config(2, 30s));

  ASSERT_TRUE(wait_state(id, TaskState::kSucceeded)) << core::to_string(task(id).state);
  auto t = task(id);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_TRUE(t.fail_code.empty()) << t.fail_code;
  EXPECT_EQ(t.completed_ms, kT0);
  ASSERT_EQ(keys_of(t), (std::vector<std::string>{result_key(id, 1, 1), result_key(id, 1, 2)}));
  for (int i = 1; i <= 2; ++i) {
    const auto& r = t.results[static_cast<std::size_t>(i - 1)];
    EXPECT_EQ(r.content_type, "image/png");
    EXPECT_EQ(r.width, 1024);
    EXPECT_EQ(r.height, 1024);
    EXPECT_TRUE(fs::is_regular_file(result_path(r.key))) << r.key;
    EXPECT_EQ(read_result(r.key), image_bytes(id, 1, i));
  }

  // Let the loop look for work again: the finished task is not run a second time.
  dispatcher_->wake();
  auto stopped = stop_async(5s);
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(provider_->calls(), (std::vector<std::pair<std::string, int>>{{id, 1}}));
  EXPECT_EQ(task(id).state, TaskState::kSucceeded);
  EXPECT_EQ(task(id).attempt, 1);
}

// 2a. Another process takes the task over (this run's lease lapsed) while the provider is busy
// and the run does not notice before it finishes: its completion is fenced out by the attempt,
// and only the new owner's completion lands.
TEST_F(DispatcherTest, CompletionOfARunThatLostItsLeaseIsFenced) {
  const std::string id = "job-fenced";
  insert(id);
  // Renewal every 10 s: the run cannot learn of the takeover before it completes.
  provider_->hold(Hold::kBlocking);
  start(config(1, 30s));
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 1; }, kWait));
  ASSERT_EQ(task(id).attempt, 1);

  // The other process claims at a time when attempt 1's lease (kT0 + 30 s) has expired.
  auto other = store::testing::claim(*store_, "other-host:2:x", 1, kT0 + 60'000, kT0 + 90'000);
  ASSERT_EQ(other.size(), 1u);
  ASSERT_EQ(other[0].task.attempt, 2);

  provider_->release();  // attempt 1's provider call returns its images
  ASSERT_TRUE(wait_until([&] { return dispatcher_->running() == 0; }, kWait));
  auto t = task(id);
  EXPECT_EQ(t.state, TaskState::kRunning) << "attempt 1's completion was not fenced out";
  EXPECT_EQ(t.attempt, 2);
  EXPECT_TRUE(t.results.empty());

  // The current owner completes; that is the one completion the task gets.
  core::ResultObject obj{result_key(id, 2, 1), "image/png", 1024, 1024};
  ASSERT_EQ(store::testing::value_of(store_->complete_task(
                t.row_id, 2,
                store::testing::outcome(TaskState::kSucceeded, "", kT0 + 61'000, {obj}))),
            store::Fence::kApplied);
  t = task(id);
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.attempt, 2);
  EXPECT_EQ(keys_of(t), std::vector<std::string>{result_key(id, 2, 1)});
  EXPECT_EQ(t.completed_ms, kT0 + 61'000);
  // The other process still holds the task (lease until kT0 + 90 s): this dispatcher, whose
  // clock says kT0, never claimed it again.
  EXPECT_EQ(provider_->call_count(), 1u);
}

// 2b. The run learns at a renewal that its lease is lost (another process claimed the task),
// gives up; that process dies and this dispatcher claims the task again while the old run is
// still stuck in its provider call. Two runs of one row coexist; the new attempt completes and
// the old one, finishing later, changes nothing.
TEST_F(DispatcherTest, RunThatLosesItsLeaseIsAbandonedAndTheNewAttemptCompletes) {
  const std::string id = "job-lost";
  insert(id);
  provider_->hold(Hold::kBlocking, [](const providers::GenerateJob& j) { return j.attempt == 1; });
  start(config(2, 300ms));  // renewal every 100 ms of real time; lease end = clock + 300 ms
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 1; }, kWait));

  // Another process claims it: by its clock attempt 1's lease (kT0 + 300 ms) has lapsed.
  auto other = store::testing::claim(*store_, "other-host:2:x", 1, kT0 + 10'000, kT0 + 20'000);
  ASSERT_EQ(other.size(), 1u);
  ASSERT_EQ(other[0].task.attempt, 2);

  // The next renewal of attempt 1 fails and its run is cancelled (the provider notices).
  ASSERT_TRUE(wait_until([&] { return provider_->saw_cancel(id, 1); }, kWait))
      << "the run did not give up after losing its lease";

  // The other process dies; once its lease is past, this dispatcher claims attempt 3.
  clock_.set_ms(kT0 + 30'000);
  dispatcher_->wake();
  ASSERT_TRUE(wait_state(id, TaskState::kSucceeded)) << core::to_string(task(id).state);
  auto t = task(id);
  EXPECT_EQ(t.attempt, 3);
  EXPECT_EQ(keys_of(t), std::vector<std::string>{result_key(id, 3, 1)});
  // Attempt 3's run winds down after its write; attempt 1's is still in its provider call.
  EXPECT_TRUE(wait_until([&] { return dispatcher_->running() == 1; }, kWait))
      << "running: " << dispatcher_->running();

  // Now attempt 1's provider call returns: its late result must not touch the task.
  provider_->release();
  ASSERT_TRUE(wait_until([&] { return dispatcher_->running() == 0; }, kWait));
  t = task(id);
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.attempt, 3);
  EXPECT_EQ(keys_of(t), std::vector<std::string>{result_key(id, 3, 1)});
  EXPECT_EQ(t.completed_ms, kT0 + 30'000);
  EXPECT_EQ(read_result(result_key(id, 3, 1)), image_bytes(id, 3, 1));
  EXPECT_EQ(provider_->calls(), (std::vector<std::pair<std::string, int>>{{id, 1}, {id, 3}}));
}

// 2c. Leases are renewed in paced slices: every slice of a round is renewed, the last one too.
// Five runs in slices of two: after the store's clock jumps, no lease is left for another
// process to take.
TEST_F(DispatcherTest, EverySliceOfLeasesIsRenewed) {
  provider_->hold(Hold::kCancellable);
  for (int i = 0; i < 5; ++i) {
    insert("job-slice-" + std::to_string(i));
  }
  auto c = config(5, 600ms);  // a round every 200 ms, three slices 33 ms apart
  c.lease_slice = 2;
  start(std::move(c));
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 5; }, kWait));

  // Leases were taken until kT0 + 600 ms; from now on each renewal gives kT0 + 10,600 ms.
  clock_.set_ms(kT0 + 10'000);
  store::testing::RawDb db(dir_.path() / "imagegate.db");
  const auto renewed = [&] {
    return db.integer("SELECT count(*) FROM tasks WHERE state = 'running' AND "
                      "lease_until_ms >= " + std::to_string(kT0 + 10'600)) == 5;
  };
  ASSERT_TRUE(wait_until(renewed, kWait))
      << db.integer("SELECT count(*) FROM tasks WHERE lease_until_ms < " +
                    std::to_string(kT0 + 10'600))
      << " leases were not renewed";
  auto other = store::testing::claim(*store_, "other-host:2:x", 10, kT0 + 10'300, kT0 + 20'000);
  EXPECT_TRUE(other.empty()) << other.size() << " leases were not renewed, first "
                             << (other.empty() ? "" : other[0].task.id);
  EXPECT_EQ(dispatcher_->running(), 5);
}

// 3. The owner cancels a running task (TaskService: store.cancel_task, then abandon): the
// provider call is cancelled and the run writes nothing.
TEST_F(DispatcherTest, AbandonCancelsTheRunAndItWritesNothing) {
  const std::string id = "job-cancel";
  const auto row = insert(id).row_id;
  provider_->hold(Hold::kCancellable);
  start(config(2, 30s));  // renewal every 10 s: only abandon() can end the run in this test
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 1; }, kWait));

  clock_.advance_ms(5'000);
  ASSERT_EQ(store::testing::value_of(store_->cancel_task(row, clock_.now_ms())), true);
  dispatcher_->abandon(row);

  ASSERT_TRUE(wait_until([&] { return provider_->saw_cancel(id, 1); }, kWait))
      << "the provider call was not cancelled";
  ASSERT_TRUE(wait_until([&] { return dispatcher_->running() == 0; }, kWait));
  auto t = task(id);
  EXPECT_EQ(t.state, TaskState::kCancelled);
  EXPECT_EQ(t.fail_code, "cancelled");
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.completed_ms, kT0 + 5'000);
  EXPECT_TRUE(t.results.empty());
  EXPECT_FALSE(fs::exists(result_path(id))) << "the abandoned run stored result files";

  // stop() has nothing to release: the cancelled state stays.
  auto stopped = stop_async(5s);
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(task(id).state, TaskState::kCancelled);
  EXPECT_EQ(provider_->call_count(), 1u);
}

// 4. Graceful shutdown with a provider call that can be cancelled: the call ends at once and the
// task goes back to the queue with its attempt count, claimable by another process right away.
TEST_F(DispatcherTest, StopCancelsAWaitingProviderAndReleasesTheTask) {
  const std::string id = "job-stop";
  insert(id);
  provider_->hold(Hold::kCancellable);  // held until released: "forever" for this test
  start(config(2, 30s));
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 1; }, kWait));
  ASSERT_EQ(task(id).state, TaskState::kRunning);

  // The deadline is far away: stop() must end because the run ended, not because time ran out.
  auto stopped = stop_async(30s);
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready)
      << "stop() waited for the provider instead of cancelling it";
  stopped.get();
  EXPECT_EQ(dispatcher_->running(), 0);
  EXPECT_TRUE(provider_->saw_cancel(id, 1));

  auto t = task(id);
  EXPECT_EQ(t.state, TaskState::kQueued);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_TRUE(t.results.empty());
  EXPECT_TRUE(t.fail_code.empty());
  EXPECT_FALSE(fs::exists(result_path(id)));

  // Released means the lease is gone: another process claims it now, as attempt 2.
  auto other = store::testing::claim(*store_, "other-host:2:x", 1, kT0, kT0 + 30'000);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].task.id, id);
  EXPECT_EQ(other[0].task.attempt, 2);
}

// 5. Graceful shutdown while the provider is in a step that cannot be cancelled (the upstream
// call is paid for): when it succeeds before the deadline its images are stored and the task
// completes; it is not released to be paid for again.
TEST_F(DispatcherTest, StopKeepsThePaidWorkOfABlockingStepThatSucceeds) {
  const std::string id = "job-paid";
  insert(id);
  provider_->hold(Hold::kBlocking);
  start(config(2, 30s));
  ASSERT_TRUE(wait_until([&] { return provider_->call_count() == 1; }, kWait));

  auto stopped = stop_async(10s);
  // stop() has cancelled the run while the provider is in its blocking step…
  ASSERT_TRUE(wait_until([&] { return provider_->saw_cancel(id, 1); }, kWait));
  // …which then succeeds.
  provider_->release();
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready);
  stopped.get();
  EXPECT_EQ(dispatcher_->running(), 0);

  auto t = task(id);
  EXPECT_EQ(t.state, TaskState::kSucceeded) << "paid work thrown away; state "
                                            << core::to_string(t.state);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(keys_of(t), std::vector<std::string>{result_key(id, 1, 1)});
  EXPECT_TRUE(fs::is_regular_file(result_path(result_key(id, 1, 1))));
  EXPECT_EQ(read_result(result_key(id, 1, 1)), image_bytes(id, 1, 1));
}

// 6. With concurrency 2 and five queued tasks the provider never has more than two calls at
// once, and every task completes exactly once.
TEST_F(DispatcherTest, NeverRunsMoreProviderCallsThanTheConcurrencyLimit) {
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) {
    ids.push_back(task_name(i));
    insert(ids.back());
  }
  provider_->hold(Hold::kCancellable);
  start(config(2, 30s));
  ASSERT_TRUE(wait_until([&] { return provider_->in_flight() == 2; }, kWait));
  // Give an over-eager loop several polls (20 ms each) and wake-ups to claim a third task; not
  // a timing assertion, only the chance to misbehave.
  for (int i = 0; i < 5; ++i) {
    dispatcher_->wake();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(provider_->call_count(), 2u);
  EXPECT_EQ(store_->count_tasks_by_state()[TaskState::kRunning], 2);
  EXPECT_EQ(store_->count_tasks_by_state()[TaskState::kQueued], 3);

  provider_->release();
  for (const auto& id : ids) {
    ASSERT_TRUE(wait_state(id, TaskState::kSucceeded)) << id;
  }
  EXPECT_LE(provider_->max_in_flight(), 2);
  EXPECT_EQ(provider_->max_in_flight(), 2);
  EXPECT_EQ(provider_->call_count(), 5u);
  std::set<std::string> called;
  for (const auto& [task, attempt] : provider_->calls()) {
    called.insert(task);
    EXPECT_EQ(attempt, 1) << task;
  }
  EXPECT_EQ(called, std::set<std::string>(ids.begin(), ids.end()));
  for (const auto& id : ids) {
    auto t = task(id);
    EXPECT_EQ(t.attempt, 1) << id;
    EXPECT_EQ(keys_of(t), std::vector<std::string>{result_key(id, 1, 1)}) << id;
  }
}

// A task created by this process is written claimed and started at once: the reserved slot
// counts against the concurrency limit, so the claim loop does not also hand it out.
TEST_F(DispatcherTest, AReservedSlotRunsATaskCreatedClaimedWithinTheLimit) {
  provider_->hold(Hold::kCancellable);
  start(config(1, 30s));
  std::optional<TaskStarter::Slot> slot;
  // The claim loop holds the free slots while it looks for queued work: wait for it.
  ASSERT_TRUE(wait_until([&] { return (slot = dispatcher_->reserve()).has_value(); }, kWait));
  EXPECT_EQ(slot->owner, "test-host:1:dispatcher");
  EXPECT_EQ(slot->lease_until_ms, kT0 + 30'000);
  EXPECT_FALSE(dispatcher_->reserve().has_value());  // the only slot is taken
  EXPECT_EQ(dispatcher_->running(), 1);

  // A queued task waits: the reserved slot is busy.
  insert("queued");
  for (int i = 0; i < 3; ++i) {
    dispatcher_->wake();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(task("queued").state, TaskState::kQueued);

  core::Task created = store::testing::make_task("created", kT0 + 100, key_id_);
  auto claim = store_->insert_claimed_task(created, slot->owner, slot->lease_until_ms);
  ASSERT_TRUE(claim.ok()) << claim.error().message;
  dispatcher_->start(std::move(*claim));
  ASSERT_TRUE(wait_until([&] { return provider_->in_flight() == 1; }, kWait));
  EXPECT_EQ(provider_->calls(), (std::vector<std::pair<std::string, int>>{{"created", 1}}));

  provider_->release();
  ASSERT_TRUE(wait_state("created", TaskState::kSucceeded));
  ASSERT_TRUE(wait_state("queued", TaskState::kSucceeded));
  EXPECT_EQ(provider_->max_in_flight(), 1);
  EXPECT_EQ(keys_of(task("created")), std::vector<std::string>{result_key("created", 1, 1)});
}

TEST_F(DispatcherTest, AnUnusedReservationIsGivenBack) {
  start(config(1, 30s));
  // While the claim loop looks for queued work it holds every free slot (a reservation then
  // finds none, and its create is queued instead): wait for the slot.
  const auto reserved = [&] { return dispatcher_->reserve().has_value(); };
  ASSERT_TRUE(wait_until(reserved, kWait));
  insert("queued");
  dispatcher_->unreserve();  // the create failed: the slot goes to the queue at once
  ASSERT_TRUE(wait_state("queued", TaskState::kSucceeded));
  ASSERT_TRUE(wait_until([&] { return dispatcher_->running() == 0; }, kWait));
  EXPECT_TRUE(wait_until(reserved, kWait));
  dispatcher_->unreserve();
}

asio::awaitable<bool> woken(TaskEvents::Subscription* sub) {
  co_return co_await sub->wait(std::chrono::seconds(10));
}

// A synchronous waiter is handed the task as it ended and its images, so it answers without
// reading the store or the result files; they are the same as what was stored.
TEST_F(DispatcherTest, AWaiterGetsTheEndedTaskAndItsImages) {
  TaskEvents events;
  const std::string id = "job-ev";
  insert(id, /*n=*/2);
  auto strand = asio::make_strand(ioc_);
  auto sub = events.subscribe(id, strand);
  EXPECT_TRUE(events.listening(id));
  auto got = asio::co_spawn(strand, woken(sub.get()), asio::use_future);
  start(config(2, 30s), &events);
  ASSERT_EQ(got.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(got.get());
  auto end = sub->end();  // the future's readiness orders this read after the strand's write
  ASSERT_NE(end, nullptr);
  ASSERT_TRUE(wait_state(id, TaskState::kSucceeded));
  const core::Task stored = task(id);
  EXPECT_EQ(end->task.id, id);
  EXPECT_EQ(end->task.state, TaskState::kSucceeded);
  EXPECT_EQ(end->task.completed_ms, stored.completed_ms);
  EXPECT_EQ(keys_of(end->task), keys_of(stored));
  ASSERT_EQ(end->images.size(), 2u);
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(end->images[static_cast<std::size_t>(i - 1)], read_result(result_key(id, 1, i)));
  }
  // Nobody listening: nothing is built (and nothing breaks). The notification that woke the
  // waiter holds the subscription until it has returned on the strand, which may be a moment
  // after the waiter's future is ready.
  sub.reset();
  EXPECT_TRUE(wait_until([&] { return !events.listening(id); }, kWait));
}

// A run that died during an upstream call left it in flight: the next run does not pay again.
class DispatcherRestartTest : public DispatcherTest {
 protected:
  /// Claims the task as a process that then dies, with a call in flight at `route`.
  core::Task died_during_a_call(const std::string& id, const std::string& upstream_id = "") {
    core::Task t = insert(id);
    auto batch = store_->claim_tasks("dead-host:1:x", 1, kT0, kT0 + 100, 3);
    EXPECT_TRUE(batch.ok() && batch->claims.size() == 1u);
    if (!upstream_id.empty()) {
      auto set = store_->set_upstream(t.row_id, 1, "sandbox", upstream_id);
      EXPECT_TRUE(set.ok() && *set == store::Fence::kApplied);
    }
    store::UpstreamCall call;
    call.task_row = t.row_id;
    call.attempt = 1;
    call.route = "sandbox";
    call.provider_kind = std::string(provider_->kind());
    call.started_ms = kT0;
    EXPECT_TRUE(store_->begin_upstream_call(call).ok());
    clock_.advance_ms(1000);  // the dead process's lease has run out
    return t;
  }
};

TEST_F(DispatcherRestartTest, APaidCallWithAnUnknownOutcomeIsNotSentAgain) {
  provider_->set_kind("openai");
  const core::Task t = died_during_a_call("t-unknown");
  start(config(2, 10s));
  ASSERT_TRUE(wait_state("t-unknown", TaskState::kFailed));
  const core::Task done = task("t-unknown");
  EXPECT_EQ(done.fail_code, "upstream_unknown_outcome");
  EXPECT_EQ(done.attempt, 2);
  EXPECT_EQ(provider_->call_count(), 0u);
  auto calls = store_->list_upstream_calls(t.row_id);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].error_class, "unknown");  // no longer shown as in flight
}

TEST_F(DispatcherRestartTest, FreeSandboxWorkIsSimplyDoneAgain) {
  died_during_a_call("t-free");
  start(config(2, 10s));
  ASSERT_TRUE(wait_state("t-free", TaskState::kSucceeded));
  EXPECT_EQ(provider_->call_count(), 1u);
}

TEST_F(DispatcherRestartTest, ARelayTaskResumesItsRecordedUpstreamTask) {
  provider_->set_kind("relay");
  const core::Task t = died_during_a_call("t-resume", "up-9");
  start(config(2, 10s));
  ASSERT_TRUE(wait_state("t-resume", TaskState::kSucceeded));
  EXPECT_EQ(provider_->resumed(), std::vector<std::string>{"up-9"});
  auto calls = store_->list_upstream_calls(t.row_id);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[1].attempt, 2);
  EXPECT_EQ((*calls)[1].error_class, "");
}

TEST_F(DispatcherTest, UsageAndTheCallLogAreRecorded) {
  const core::Task t = insert("t-usage");
  start(config(2, 10s));
  ASSERT_TRUE(wait_state("t-usage", TaskState::kSucceeded));
  const core::Task done = task("t-usage");
  EXPECT_EQ(done.usage.input_tokens, 10);
  EXPECT_EQ(done.usage.output_tokens, 20);
  EXPECT_EQ(done.usage.total_tokens, 30);
  auto calls = store_->list_upstream_calls(t.row_id);
  ASSERT_TRUE(calls.ok());
  ASSERT_EQ(calls->size(), 1u);
  EXPECT_EQ((*calls)[0].route, "sandbox");
  EXPECT_EQ((*calls)[0].error_class, "");
  EXPECT_GE((*calls)[0].duration_ms, 0);
}

}  // namespace
}  // namespace ig::tasks
