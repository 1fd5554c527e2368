#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::runtime {

/// A counting semaphore for coroutines: at most `permits` holders at once, the others wait in
/// line (first come, first served) without blocking a thread. Thread-safe: holders and waiters
/// may run on any executors, each waiter on a strand (or a one-thread context) of its own. A
/// waiter whose coroutine is cancelled leaves the line.
class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(std::size_t permits) : available_(permits) {}

  /// Waits for a permit. True: the caller holds one and must release() it. False: the wait was
  /// cancelled and nothing is held. Never throws for cancellation.
  boost::asio::awaitable<bool> acquire() {
    auto executor = co_await boost::asio::this_coro::executor;
    auto waiter = std::make_shared<Waiter>(executor);
    {
      std::lock_guard lock(mu_);
      if (available_ > 0 && line_.empty()) {
        --available_;
        co_return true;
      }
      line_.push_back(waiter);
    }
    auto [ec] = co_await waiter->timer.async_wait(
        boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)ec;
    std::lock_guard lock(mu_);
    if (waiter->granted) {
      co_return true;  // a permit arrived, even if a cancellation did too: the caller has it
    }
    std::erase(line_, waiter);
    co_return false;
  }

  /// Returns a permit: the first waiter in line gets it.
  void release() {
    std::shared_ptr<Waiter> next;
    {
      std::lock_guard lock(mu_);
      if (line_.empty()) {
        ++available_;
        return;
      }
      next = std::move(line_.front());
      line_.pop_front();
      next->granted = true;
    }
    // The timer belongs to the waiter's executor: wake it there. An expiry in the past also
    // ends a wait that has not started yet.
    boost::asio::post(next->timer.get_executor(), [next] {
      next->timer.expires_at(boost::asio::steady_timer::time_point::min());
    });
  }

  std::size_t available() const {
    std::lock_guard lock(mu_);
    return available_;
  }
  std::size_t waiting() const {
    std::lock_guard lock(mu_);
    return line_.size();
  }

 private:
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& ex)
        : timer(ex, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer timer;
    bool granted = false;  // under mu_
  };

  mutable std::mutex mu_;
  std::size_t available_;
  std::deque<std::shared_ptr<Waiter>> line_;
};

}  // namespace ig::runtime
