#include "tasks/task_events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::tasks {

namespace asio = boost::asio;

std::shared_ptr<TaskEvents::Subscription> TaskEvents::subscribe(
    const std::string& task_id, const asio::any_io_executor& executor) {
  auto sub = std::make_shared<Subscription>(*this, task_id, executor);
  std::lock_guard lock(mu_);
  subs_.emplace(task_id, sub);
  return sub;
}

void TaskEvents::notify(std::string_view task_id, std::shared_ptr<const End> end) {
  std::vector<std::shared_ptr<Subscription>> woken;
  {
    std::lock_guard lock(mu_);
    auto [first, last] = subs_.equal_range(std::string(task_id));
    for (auto it = first; it != last; ++it) {
      if (auto sub = it->second.lock()) {
        woken.push_back(std::move(sub));
      }
    }
  }
  for (auto& sub : woken) {
    // The timer belongs to the subscriber's executor: touch it only there.
    asio::post(sub->timer_.get_executor(), [sub, end] {
      sub->notified_ = true;
      sub->end_ = end;
      sub->timer_.cancel();
    });
  }
}

bool TaskEvents::listening(const std::string& task_id) const {
  std::lock_guard lock(mu_);
  return subs_.contains(task_id);
}

std::size_t TaskEvents::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void TaskEvents::unsubscribe(const std::string& task_id, const Subscription* s) {
  std::lock_guard lock(mu_);
  auto [first, last] = subs_.equal_range(task_id);
  for (auto it = first; it != last; ++it) {
    auto held = it->second.lock();
    if (!held || held.get() == s) {
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
  if (notified_) {
    co_return true;
  }
  timer_.expires_after(timeout);
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return notified_;
}

}  // namespace ig::tasks
