#pragma once

#include <chrono>
#include <functional>
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

/// In-process wake-ups about tasks: "this task ended" (the dispatcher, after writing the
/// terminal state), for which a synchronous request waiting for its image wakes at once instead
/// of at its next poll; and "this task changed" (a run started, a cancel), for which live status
/// readers (long-poll, Server-Sent Events) wake. Other processes' tasks are not seen: waiters
/// still look at the store on a slow poll. Thread-safe.
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

  /// What a subscription is woken for. An end also wakes kChanges subscriptions.
  enum class Interest {
    kEnd,      // only the task's end (the synchronous waiter: no wake-up it would not use)
    kChanges,  // every change of state or progress, and the end
  };

  /// Starts listening for `task_id` on the caller's executor (a strand, or a one-thread
  /// context). Subscribe before reading the task, so that an end (or change) between the read
  /// and the wait is not missed.
  std::shared_ptr<Subscription> subscribe(const std::string& task_id,
                                          const boost::asio::any_io_executor& executor,
                                          Interest interest = Interest::kEnd);

  /// The task ended: wakes every subscription of `task_id`, handing them `end` when given,
  /// then every end listener.
  void notify(std::string_view task_id, std::shared_ptr<const End> end = nullptr);

  /// Called with the id of every task that ends in this process (after its terminal state and
  /// its callback's outbox row are committed), on the notifying thread: it must not block.
  /// The callback sender listens here. Add listeners before tasks run.
  void on_end(std::function<void(std::string_view task_id)> listener);

  /// The task's state or progress changed (it is not known to have ended): wakes the kChanges
  /// subscriptions of `task_id` only.
  void changed(std::string_view task_id);

  /// Whether a kEnd subscription listens for `task_id` (so that an End is worth building;
  /// kChanges subscribers read the store after a wake-up and do not need one).
  bool listening(const std::string& task_id) const;

  std::size_t subscribers() const;

 private:
  friend class Subscription;
  struct Entry {
    std::weak_ptr<Subscription> sub;
    const Subscription* raw;  // identifies the entry when `sub` has already expired
    Interest interest;
  };
  void wake(std::string_view task_id, bool changes_only, std::shared_ptr<const End> end);
  void unsubscribe(const std::string& task_id, const Subscription* s);

  mutable std::mutex mu_;
  std::unordered_multimap<std::string, Entry> subs_;
  std::vector<std::function<void(std::string_view)>> end_listeners_;  // set before tasks run
};

/// One listener. Unsubscribes when destroyed.
class TaskEvents::Subscription {
 public:
  Subscription(TaskEvents& events, std::string task_id,
               const boost::asio::any_io_executor& executor);
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  /// Waits for a wake-up or `timeout`; true when woken (now, or since subscribing or the
  /// previous wait() returned true). A wake-up is consumed by the wait that reports it, so a
  /// long-lived subscription can wait again for the next one. On the subscriber's executor.
  boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout);

  /// What the last end notification handed over, if anything. On the timer's executor, after
  /// wait().
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
