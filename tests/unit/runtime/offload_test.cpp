#include "runtime/offload.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

TEST(Offload, ReturnsTheValueOnTheCallersExecutor) {
  asio::io_context ioc;
  asio::thread_pool pool(1);
  int got = 0;
  bool on_ioc = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        got = co_await ig::runtime::offload(pool.get_executor(), [] { return 42; });
        on_ioc = ioc.get_executor().running_in_this_thread();
      },
      asio::detached);
  ioc.run();
  pool.join();
  EXPECT_EQ(got, 42);
  EXPECT_TRUE(on_ioc);
}

TEST(Offload, PropagatesExceptions) {
  asio::io_context ioc;
  asio::thread_pool pool(1);
  std::string what;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        try {
          co_await ig::runtime::offload(pool.get_executor(),
                                        []() -> int { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error& e) {
          what = e.what();
        }
      },
      asio::detached);
  ioc.run();
  pool.join();
  EXPECT_EQ(what, "boom");
}

// A waiter cancelled while the blocking call runs (the `||` of a lost lease, a user's cancel, a
// shutdown) must neither crash nor lose the call's result: the work finishes and the waiter
// resumes with it, seeing the cancellation only at its next cancellable wait.
TEST(Offload, ACancelledWaiterSurvivesAndGetsTheResult) {
  // Several pool threads, so the cancellation can reach the pool while the call runs there.
  asio::io_context ioc;
  asio::thread_pool pool(4);
  std::atomic<bool> finished{false};
  int got = 0;
  bool next_wait_cancelled = false;
  asio::cancellation_signal signal;
  auto slow = [&]() -> asio::awaitable<void> {
    got = co_await ig::runtime::offload(pool.get_executor(), [&] {
      std::this_thread::sleep_for(200ms);
      finished = true;
      return 7;
    });
    try {
      asio::steady_timer t(co_await asio::this_coro::executor, 10s);
      co_await t.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error& e) {
      next_wait_cancelled = e.code() == asio::error::operation_aborted;
    }
  };
  asio::co_spawn(ioc, slow(), asio::bind_cancellation_slot(signal.slot(), asio::detached));
  asio::steady_timer kick(ioc, 50ms);
  kick.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
  ioc.run();
  pool.join();
  EXPECT_TRUE(finished);
  EXPECT_EQ(got, 7);
  EXPECT_TRUE(next_wait_cancelled);
}

TEST(Offload, LosingAnOrRaceDoesNotTerminate) {
  asio::io_context ioc;
  asio::thread_pool pool(4);
  std::atomic<bool> finished{false};
  bool timer_won = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto work = [&]() -> asio::awaitable<int> {
          co_return co_await ig::runtime::offload(pool.get_executor(), [&] {
            std::this_thread::sleep_for(200ms);
            finished = true;
            return 1;
          });
        };
        auto quick = [&]() -> asio::awaitable<void> {
          asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
          co_await t.async_wait(asio::use_awaitable);
        };
        auto r = co_await (work() || quick());
        timer_won = r.index() == 1;
      },
      asio::detached);
  ioc.run();
  pool.join();
  EXPECT_TRUE(finished);
  // The timer finished first; `||` resolves once the blocking side has returned too.
  EXPECT_TRUE(timer_won);
}

}  // namespace
