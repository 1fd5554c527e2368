#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/task.hpp"

namespace ig::tasks {

/// In-process wake-ups for "this task ended": the dispatcher (or a cancel) notifies, a
/// synchronous request waiting for its image wakes at once instead of at its next poll. Other
/// processes' tasks are not seen: waiters still look at the store on a slow poll. Thread-safe.
class TaskEvents {
 public:
  class Subscription;

  /// A task as it ended in this process, with its images' bytes (in the order of
  /// task.results) when the run still had them: a waiter needs neither the store nor the
  /// result files to answer.
  struct End {
    core::Task task;
    std::vector<std::string> images;
  };

  /// Starts listening for `task_id` on the caller's executor (a strand, or a one-thread
  /// context). Subscribe before reading the task, so that an end between the read and the wait
  /// is not missed.
  std::shared_ptr<Subscription> subscribe(const std::string& task_id,
                                          const boost::asio::any_io_executor& executor);

  /// Wakes every subscription of `task_id`, handing them `end` when given.
  void notify(std::string_view task_id, std::shared_ptr<const End> end = nullptr);

  /// Whether anyone listens for `task_id` (so that an End is worth building).
  bool listening(const std::string& task_id) const;

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

  /// What the notification handed over, if anything. On the timer's executor, after wait().
  const std::shared_ptr<const End>& end() const { return end_; }

 private:
  friend class TaskEvents;
  TaskEvents& events_;
  std::string task_id_;
  boost::asio::steady_timer timer_;
  bool notified_ = false;  // on the timer's executor
  std::shared_ptr<const End> end_;  // likewise
};

}  // namespace ig::tasks
