#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ig::tasks {

/// In-process wake-ups for "this task ended": the dispatcher (or a cancel) notifies, a
/// synchronous request waiting for its image wakes at once instead of at its next poll. Other
/// processes' tasks are not seen: waiters still look at the store on a slow poll. Thread-safe.
class TaskEvents {
 public:
  class Subscription;

  /// Starts listening for `task_id` on the caller's executor (a strand, or a one-thread
  /// context). Subscribe before reading the task, so that an end between the read and the wait
  /// is not missed.
  std::shared_ptr<Subscription> subscribe(const std::string& task_id,
                                          const boost::asio::any_io_executor& executor);

  /// Wakes every subscription of `task_id`.
  void notify(std::string_view task_id);

  std::size_t subscribers() const;

 private:
  friend class Subscription;
  void unsubscribe(const std::string& task_id, const Subscription* s);

  mutable std::mutex mu_;
  std::unordered_multimap<std::string, std::weak_ptr<Subscription>> subs_;
};

/// One listener. Unsubscribes when destroyed.
class TaskEvents::Subscription {
 public:
  Subscription(TaskEvents& events, std::string task_id,
               const boost::asio::any_io_executor& executor);
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  /// Waits for a notification or `timeout`; true when notified (now or since subscribing).
  boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout);

 private:
  friend class TaskEvents;
  TaskEvents& events_;
  std::string task_id_;
  boost::asio::steady_timer timer_;
  bool notified_ = false;  // on the timer's executor
};

}  // namespace ig::tasks
