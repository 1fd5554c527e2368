#include "runtime/async_semaphore.hpp"

#include <chrono>
#include <optional>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace ig::runtime {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> hold(AsyncSemaphore& sem, std::vector<int>& order, int id,
                           std::chrono::milliseconds for_how_long) {
  if (!co_await sem.acquire()) {
    co_return;
  }
  order.push_back(id);
  asio::steady_timer t(co_await asio::this_coro::executor, for_how_long);
  co_await t.async_wait(asio::use_awaitable);
  sem.release();
}

TEST(AsyncSemaphore, PermitsAreHandedOutInArrivalOrder) {
  asio::io_context io;
  AsyncSemaphore sem(1);
  std::vector<int> order;
  for (int i = 0; i < 4; ++i) {
    asio::co_spawn(io, hold(sem, order, i, 5ms), asio::detached);
  }
  io.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(sem.available(), 1u);
  EXPECT_EQ(sem.waiting(), 0u);
}

TEST(AsyncSemaphore, ACancelledWaiterLeavesTheLineWithoutAPermit) {
  asio::io_context io;
  AsyncSemaphore sem(1);
  std::vector<int> order;
  asio::cancellation_signal signal;
  std::optional<bool> cancelled_got;
  asio::co_spawn(io, hold(sem, order, 0, 50ms), asio::detached);
  asio::co_spawn(io,
                 [&]() -> asio::awaitable<void> { cancelled_got = co_await sem.acquire(); },
                 asio::bind_cancellation_slot(signal.slot(), asio::detached));
  asio::co_spawn(io, hold(sem, order, 2, 1ms), asio::detached);
  asio::steady_timer t(io, 10ms);
  t.async_wait([&](auto) {
    EXPECT_EQ(sem.waiting(), 2u);
    signal.emit(asio::cancellation_type::terminal);
  });
  io.run();
  ASSERT_TRUE(cancelled_got.has_value());
  EXPECT_FALSE(*cancelled_got);
  EXPECT_EQ(order, (std::vector<int>{0, 2}));  // the cancelled one took no turn
  EXPECT_EQ(sem.available(), 1u);
}

}  // namespace
}  // namespace ig::runtime
