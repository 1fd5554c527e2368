#include "tasks/task_events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::tasks {

namespace asio = boost::asio;

std::shared_ptr<TaskEvents::Subscription> TaskEvents::subscribe(
    const std::string& task_id, const asio::any_io_executor& executor, Interest interest) {
  auto sub = std::make_shared<Subscription>(*this, task_id, executor);
  std::lock_guard lock(mu_);
  subs_.emplace(task_id, Entry{sub, sub.get(), interest});
  return sub;
}

void TaskEvents::notify(std::string_view task_id, std::shared_ptr<const End> end) {
  wake(task_id, false, std::move(end));
  for (const auto& listener : end_listeners_) {
    listener(task_id);
  }
}

void TaskEvents::on_end(std::function<void(std::string_view task_id)> listener) {
  end_listeners_.push_back(std::move(listener));
}

void TaskEvents::changed(std::string_view task_id) {
  wake(task_id, true, nullptr);
}

void TaskEvents::wake(std::string_view task_id, bool changes_only, std::shared_ptr<const End> end) {
  std::vector<std::shared_ptr<Subscription>> woken;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = subs_.equal_range(std::string(task_id));
    for (auto it = first; it != last; ++it) {
      if (changes_only && it->second.interest != Interest::kChanges) {
        continue;
      }
      if (auto sub = it->second.sub.lock()) {
        woken.push_back(std::move(sub));
      }
    }
  }
  for (auto& sub : woken) {
    // The timer belongs to the subscriber's executor: touch it only there.
    asio::post(sub->timer_.get_executor(), [sub, end, changes_only] {
      sub->notified_ = true;
      if (!changes_only) {
        sub->end_ = end;
      }
      sub->timer_.cancel();
    });
  }
}

bool TaskEvents::listening(const std::string& task_id) const {
  std::lock_guard lock(mu_);
  auto [first, last] = subs_.equal_range(task_id);
  for (auto it = first; it != last; ++it) {
    if (it->second.interest == Interest::kEnd) {
      return true;
    }
  }
  return false;
}

std::size_t TaskEvents::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void TaskEvents::unsubscribe(const std::string& task_id, const Subscription* s) {
  std::lock_guard lock(mu_);
  auto [first, last] = subs_.equal_range(task_id);
  for (auto it = first; it != last; ++it) {
    if (it->second.raw == s) {
      subs_.erase(it);
      return;
    }
  }
}

TaskEvents::Subscription::Subscription(TaskEvents& events, std::string task_id,
                                       const asio::any_io_executor& executor)
    : events_(events), task_id_(std::move(task_id)), timer_(executor) {}

TaskEvents::Subscription::~Subscription() { events_.unsubscribe(task_id_, this); }

asio::awaitable<bool> TaskEvents::Subscription::wait(std::chrono::milliseconds timeout) {
  if (!notified_) {
    timer_.expires_after(timeout);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  const bool woken = notified_;
  notified_ = false;
  co_return woken;
}

}  // namespace ig::tasks
