#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.hpp"
#include "core/task.hpp"
#include "media/address_policy.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::http {
class AsyncClient;
}

namespace ig::tasks {

struct CallbackSenderConfig {
  int concurrency = 32;                     // deliveries at once; more wait for a slot
  std::chrono::milliseconds timeout{10'000};  // one attempt, connect to last byte
  /// Waits before the 2nd, 3rd, … attempt: 1, 2 and 4 s (four attempts in all), then any
  /// longer schedule the operator adds (callbacks.extra_retries_s).
  std::vector<std::chrono::milliseconds> retries{std::chrono::seconds(1),
                                                 std::chrono::seconds(2),
                                                 std::chrono::seconds(4)};
  std::chrono::milliseconds lease{60'000};  // a claimed delivery's lease (then: sent again)
  std::chrono::milliseconds poll{1'000};    // looks for due rows (other processes') this often
};

/// Delivers task callbacks from the store's outbox: claims due rows under a lease, POSTs the
/// task as its dialect's query endpoint renders it, signed (Standard Webhooks, plus HiAPI's
/// pair for the `tasks` dialect) with the account's secret, and records every attempt. Only a
/// 2xx is delivered; a 3xx is a failure (never followed); a 410 stops the retries. Every
/// connection goes to a public address (the input fetcher's rules, checked on the address
/// actually connected). Bounded: `concurrency` deliveries at once, each with a timeout and a
/// small response cap; a slow receiver holds one slot and no thread. Thread-safe.
class CallbackSender {
 public:
  /// The body of a task's callback (its dialect's query rendering).
  using Render = std::function<std::string(const core::Task&)>;

  CallbackSender(boost::asio::io_context& ioc, runtime::BlockingExecutor pool,
                 store::Store& store, http::AsyncClient& client, media::AddressPolicy policy,
                 Render render, const core::Clock& clock, CallbackSenderConfig config);

  void start();
  /// A task ended (or a callback was redelivered): look at the outbox now.
  void wake();
  /// Stops claiming and waits (up to `deadline`) for deliveries in flight; those still
  /// running then are sent again by the next process (same webhook-id).
  boost::asio::awaitable<void> stop(std::chrono::milliseconds deadline);

  int in_flight() const { return in_flight_.load(); }

 private:
  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<void> deliver(store::CallbackDelivery d);
  /// The key bytes that sign for `d`'s account ("" when the task has no account); creates
  /// the account's secret on first use.
  boost::asio::awaitable<std::string> signing_key(const store::CallbackDelivery& d);

  boost::asio::io_context& ioc_;
  runtime::BlockingExecutor pool_;
  store::Store& store_;
  http::AsyncClient& client_;
  media::AddressPolicy policy_;
  Render render_;
  const core::Clock& clock_;
  CallbackSenderConfig config_;

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;  // on strand_
  bool wake_pending_ = false;        // on strand_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> loop_done_{true};
  std::atomic<int> in_flight_{0};
};

}  // namespace ig::tasks
