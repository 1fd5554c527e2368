#include "tasks/task_service.hpp"

#include "tasks/task_events.hpp"

#include "billing/prices.hpp"
#include "core/codec.hpp"
#include "media/mask.hpp"
#include "media/probe.hpp"
#include "runtime/await_callback.hpp"
#include "storage/result_storage.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/url/parse.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::tasks {
namespace {

// How often a waiter with task-end wake-ups still reads the store.
constexpr std::chrono::milliseconds kSlowPoll{1000};
// How often watch() reads the store when there are no wake-ups at all.
constexpr std::chrono::milliseconds kPollWithoutEvents{250};

// A store failure as a client sees it: 503 while the database is busy (kUnavailable), else a
// 500; never a 404 or a 409. The store's own message went to the log.
core::Error store_failure(const core::Error& e, std::string what) {
  const bool busy = e.code == core::ErrorCode::kUnavailable;
  return core::make_error(busy ? core::ErrorCode::kUnavailable : core::ErrorCode::kInternal,
                          what + (busy ? ": the task store is busy; try again"
                                       : ": the task store failed; try again later"));
}

// The field a dialect names its callback URL with, for messages.
std::string_view callback_field(core::Dialect d) {
  switch (d) {
    case core::Dialect::kJobs: return "callBackUrl";
    case core::Dialect::kTasks: return "callback.url";
    default: return "callback_url";
  }
}

// A callback URL whose host is a literal address must name a public one (the dialects have
// checked https and the length already).
core::Status check_callback_host(const core::GenerationRequest& r,
                                 const media::AddressPolicy& policy) {
  auto url = boost::urls::parse_absolute_uri(r.callback_url);
  if (!url) {
    return core::ok_status();  // the dialect's check refused what matters
  }
  std::optional<boost::asio::ip::address> literal;
  if (url->host_type() == boost::urls::host_type::ipv6) {
    literal = boost::asio::ip::address(boost::asio::ip::address_v6(url->host_ipv6_address().to_bytes()));
  } else if (url->host_type() == boost::urls::host_type::ipv4) {
    literal = boost::asio::ip::address(boost::asio::ip::address_v4(url->host_ipv4_address().to_bytes()));
  } else if (auto v4 = media::parse_ipv4_literal(url->host())) {
    literal = boost::asio::ip::address(*v4);
  }
  if (literal && !policy.allowed(*literal)) {
    const std::string field(callback_field(r.dialect));
    return core::make_error(core::ErrorCode::kValidationFailed,
                            field + " must not point at a private or special address (" +
                                literal->to_string() + ")",
                            field);
  }
  return core::ok_status();
}

}  // namespace

std::string live_token(const core::Task& task) {
  // Every dialect's progress is a function of the state; a real progress would join it here.
  return std::string(core::to_string(task.state));
}

TaskService::TaskService(store::Store& store, storage::ResultStorage& uploads,
                         runtime::BlockingExecutor pool, const core::Clock& clock,
                         core::RandomSource random, std::function<void()> on_created,
                         std::function<void(std::int64_t)> on_cancelled,
                         long long max_input_pixels)
    : store_(store),
      uploads_(uploads),
      pool_(pool),
      clock_(clock),
      random_(std::move(random)),
      on_created_(std::move(on_created)),
      on_cancelled_(std::move(on_cancelled)),
      max_input_pixels_(max_input_pixels) {}

boost::asio::awaitable<core::Result<std::vector<core::Size>>> TaskService::check_uploads(
    const Uploads& uploads) {
  const media::ProbeLimits limits{max_input_pixels_};
  co_return co_await runtime::offload(pool_, [&]() -> core::Result<std::vector<core::Size>> {
    std::vector<core::Size> sizes;
    media::ImageInfo first;
    for (std::size_t i = 0; i < uploads.images.size(); ++i) {
      auto info = media::verify_decodes(uploads.images[i], limits);
      if (!info) {
        const std::string which =
            uploads.images.size() == 1 ? "" : " (image " + std::to_string(i + 1) + ")";
        return core::make_error(core::ErrorCode::kValidationFailed,
                                "Invalid image file" + which + ": " + info.error().message,
                                "image");
      }
      if (i == 0) {
        first = *info;
      }
      sizes.push_back(core::Size{info->width, info->height});
    }
    if (uploads.mask && !uploads.images.empty()) {
      auto info = media::verify_decodes(*uploads.mask, limits);
      if (!info) {
        return core::make_error(core::ErrorCode::kValidationFailed,
                                "Invalid mask image format - " + info.error().message, "mask");
      }
      if (auto problem =
              media::check_mask(media::mime_type(info->format), info->has_alpha, info->width,
                                info->height, first.width, first.height)) {
        return core::make_error(core::ErrorCode::kValidationFailed, *problem, "mask");
      }
    }
    return sizes;
  });
}

std::string TaskService::new_task_id(core::Dialect dialect) const {
  switch (dialect) {
    case core::Dialect::kUnified:
      return "task-unified-" + std::to_string(clock_.now_ms() / 1000) + "-" +
             core::random_alnum(random_, 8);
    case core::Dialect::kTasks:
      return "tk-hiapi-" + core::ulid(clock_.now_ms(), random_);  // HiAPI's shape (API-NOTES)
    default:
      return core::uuid_v7(clock_.now_ms(), random_);
  }
}

// The two create()s are not coroutines: each hands its arguments straight to create_as's
// frame (a coroutine layer each had cost a frame, a resumption and two moves of the request).
boost::asio::awaitable<core::Result<core::Task>> TaskService::create(
    const store::ApiKey& key, core::GenerationRequest request, std::string param,
    std::string idempotency_key) {
  return create(key, std::move(request), std::move(param), Uploads{}, std::move(idempotency_key));
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::create(
    const store::ApiKey& key, core::GenerationRequest request, std::string param,
    Uploads uploads, std::string idempotency_key) {
  std::string id = new_task_id(request.dialect);
  return create_as(key, std::move(id), std::move(request), std::move(param), std::move(uploads),
                   std::move(idempotency_key));
}

boost::asio::awaitable<core::Result<TaskService::Watched>> TaskService::create_watched(
    const store::ApiKey& key, core::GenerationRequest request, std::string param,
    Uploads uploads, std::string idempotency_key) {
  Watched out;
  std::string id = new_task_id(request.dialect);
  if (events_ != nullptr) {
    out.ended = events_->subscribe(id, co_await boost::asio::this_coro::executor);
  }
  auto created = co_await create_as(key, std::move(id), std::move(request), std::move(param),
                                    std::move(uploads), std::move(idempotency_key));
  if (!created) {
    co_return created.error();
  }
  out.task = std::move(*created);
  co_return out;
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::create_as(
    const store::ApiKey& key, std::string id, core::GenerationRequest request, std::string param,
    Uploads uploads, std::string idempotency_key) {
  if (!request.callback_url.empty()) {
    if (auto st = check_callback_host(request, callback_policy_); !st) {
      co_return st.error();
    }
  }
  core::Task task;
  task.id = std::move(id);
  if (!uploads.images.empty()) {
    // Stored first: a task must never name an input that is not there.
    std::vector<std::pair<std::string, std::string*>> objects;
    for (std::size_t i = 0; i < uploads.images.size(); ++i) {
      objects.emplace_back("uploads/" + task.id + "/image-" + std::to_string(i + 1),
                           &uploads.images[i]);
    }
    if (uploads.mask) {
      objects.emplace_back("uploads/" + task.id + "/mask", &*uploads.mask);
    }
    core::Status st = co_await runtime::offload(pool_, [this, &objects]() -> core::Status {
      for (const auto& [k, bytes] : objects) {
        if (auto put = uploads_.put(k, *bytes); !put) {
          return put;
        }
      }
      return core::ok_status();
    });
    if (!st) {
      co_return st.error();
    }
    request.input_urls.clear();
    for (std::size_t i = 0; i < uploads.images.size(); ++i) {
      request.input_urls.push_back(std::string(core::kUploadPrefix) + objects[i].first);
    }
    request.mask_url =
        uploads.mask ? std::string(core::kUploadPrefix) + objects.back().first : std::string();
  }
  task.key_id = key.id;
  if (prices_ != nullptr) {
    // After the uploads are named in input_urls: references are priced too.
    auto price = prices_->quote(request);
    if (!price) {
      co_return price.error();
    }
    task.price = *price;
  }
  task.request = std::move(request);
  task.param = std::move(param);
  task.state = core::TaskState::kQueued;
  task.created_ms = clock_.now_ms();
  task.idempotency_key = std::move(idempotency_key);
  if (auto slot = starter_ != nullptr ? starter_->reserve() : std::nullopt) {
    // Written claimed and run at once: no separate claim commit, no wait for the claim loop.
    // No thread waits for the commit: the writer resumes us.
    auto claim = co_await runtime::await_callback<core::Result<store::Claim>>(
        [&](store::Store::Done<store::Claim> done) {
          store_.insert_claimed_task_async(task, slot->owner, slot->lease_until_ms,
                                           std::move(done));
        });
    if (!claim) {
      starter_->unreserve();
      co_return claim.error();
    }
    // The answer shows the task as accepted (queued, as every provider's create answer does);
    // it is running already, and the next read says so.
    task.row_id = claim->task.row_id;
    task.idempotency_key.clear();
    starter_->start(std::move(*claim));
    co_return task;
  }
  // No thread waits for the commit: the writer resumes us.
  auto inserted = co_await runtime::await_callback<core::Status>(
      [&](store::Store::Done<core::Ok> done) { store_.insert_task_async(task, std::move(done)); });
  if (!inserted) {
    co_return inserted.error();
  }
  if (on_created_) {
    on_created_();
  }
  task.idempotency_key.clear();
  co_return task;
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::get(const store::ApiKey& key,
                                                                  std::string id) {
  auto task = co_await runtime::run_here_or_offload(store_.inline_point_reads(), pool_,
                                                    [&] { return store_.get_task(id); });
  if (!task) {
    co_return store_failure(task.error(), "could not read task " + core::echo_text(id, 128));
  }
  if (!*task || (*task)->key_id != key.id) {
    co_return core::make_error(core::ErrorCode::kNotFound,
                               "task not found: " + core::echo_text(id, 128), "task_id");
  }
  co_return std::move(**task);
}

boost::asio::awaitable<core::Result<store::TaskPage>> TaskService::list(const store::ApiKey& key,
                                                                       int page, int page_size,
                                                                       store::TaskFilter filter) {
  const std::int64_t offset = static_cast<std::int64_t>(page - 1) * page_size;
  const std::int64_t key_id = key.id;
  const bool filtered = !filter.state.empty() || !filter.model.empty() ||
                        !filter.dialect.empty() || filter.since_ms != 0 || filter.until_ms != 0;
  filter.key_id = key_id;
  auto listed = co_await runtime::offload(pool_, [&] {
    return filtered ? store_.list_all_tasks(filter, offset, page_size)
                    : store_.list_tasks(key_id, offset, page_size);
  });
  if (!listed) {
    co_return store_failure(listed.error(), "could not list the tasks");
  }
  co_return std::move(*listed);
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::get_any(std::string id) {
  auto task = co_await runtime::run_here_or_offload(store_.inline_point_reads(), pool_,
                                                    [&] { return store_.get_task(id); });
  if (!task) {
    co_return store_failure(task.error(), "could not read task " + core::echo_text(id, 128));
  }
  if (!*task) {
    co_return core::make_error(core::ErrorCode::kNotFound,
                               "task not found: " + core::echo_text(id, 128), "task_id");
  }
  co_return std::move(**task);
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::cancel(const store::ApiKey& key,
                                                                     std::string id) {
  auto task = co_await get(key, id);
  if (!task) {
    co_return task;
  }
  const core::Status cancelled = co_await cancel_found(*task);
  if (!cancelled) {
    co_return cancelled.error();
  }
  co_return co_await get(key, id);
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::cancel_any(std::string id) {
  auto task = co_await get_any(id);
  if (!task) {
    co_return task;
  }
  const core::Status cancelled = co_await cancel_found(*task);
  if (!cancelled) {
    co_return cancelled.error();
  }
  co_return co_await get_any(id);
}

boost::asio::awaitable<core::Status> TaskService::cancel_found(const core::Task& task) {
  const std::int64_t row = task.row_id;
  const std::int64_t now = clock_.now_ms();
  const auto cancelled =
      co_await runtime::offload(pool_, [this, row, now] { return store_.cancel_task(row, now); });
  if (!cancelled) {
    co_return store_failure(cancelled.error(),
                            "could not cancel task " + core::echo_text(task.id, 128));
  }
  if (!*cancelled) {
    co_return core::make_error(core::ErrorCode::kConflict,
                               "task " + task.id + " has already ended and cannot be cancelled",
                               "task_id");
  }
  if (on_cancelled_) {
    on_cancelled_(row);
  }
  if (events_ != nullptr) {
    // Cancelled: an end (its refund and callback are committed), for waiters, live status
    // readers and the callback sender alike.
    events_->notify(task.id);
  }
  co_return core::ok_status();
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::wait(
    const store::ApiKey& key, std::string id, std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval) {
  co_return co_await wait_for(key, std::move(id), nullptr, timeout, interval);
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::wait(
    const store::ApiKey& key, Watched& created, std::chrono::milliseconds timeout) {
  if (core::is_terminal(created.task.state)) {
    co_return created.task;
  }
  co_return co_await wait_for(key, created.task.id, created.ended, timeout,
                              std::chrono::milliseconds(50));
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::wait_for(
    const store::ApiKey& key, std::string id, std::shared_ptr<TaskEvents::Subscription> ended,
    std::chrono::milliseconds timeout, std::chrono::milliseconds interval) {
  const auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // A subscription handed in listens for a task that had not ended when it was taken: the
  // first read waits for its wake-up (or the slow poll) instead of going to the store now.
  bool read_now = ended == nullptr;
  bool busy = false;
  for (;;) {
    if (read_now) {
      // Subscribed before the read: an end between the read and the wait still wakes us.
      ended = events_ != nullptr ? events_->subscribe(id, executor) : nullptr;
      auto task = co_await get(key, id);
      // A busy database (kUnavailable) is asked again at the next interval until the deadline.
      busy = !task && task.error().code == core::ErrorCode::kUnavailable;
      if (!busy && (!task || core::is_terminal(task->state))) {
        co_return task;
      }
      if (busy && std::chrono::steady_clock::now() >= deadline) {
        co_return task;
      }
    }
    read_now = true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      co_return core::make_error(core::ErrorCode::kUnavailable,
                                 "the image was not ready in time; task " + id +
                                     " is still running");
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (ended && !busy) {
      // Woken when this process ends the task; the slow poll covers other processes and
      // cancellations.
      const bool woken = co_await ended->wait(std::min(left, std::max(interval, kSlowPoll)));
      if (const auto& end = ended->end();
          woken && end && end->task.id == id && end->task.key_id == key.id) {
        co_return end->task;  // as this process ended it: no read needed
      }
      continue;
    }
    timer.expires_after(std::min(left, interval));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::watch(
    const store::ApiKey& key, std::string id, std::string since, std::chrono::milliseconds timeout,
    std::function<bool()> stop) {
  const auto executor = co_await boost::asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Subscribed before the first read, and kept: a change between a read and the next wait
  // still wakes us.
  const auto changes =
      events_ != nullptr
          ? events_->subscribe(id, executor, TaskEvents::Interest::kChanges)
          : nullptr;
  boost::asio::steady_timer timer(executor);
  std::optional<core::Task> last;
  for (;;) {
    auto task = co_await get(key, id);
    // A busy database (kUnavailable) is asked again at the next poll until the deadline.
    const bool busy = !task && task.error().code == core::ErrorCode::kUnavailable;
    if (!busy && (!task || core::is_terminal(task->state) || live_token(*task) != since)) {
      co_return task;
    }
    if (!busy) {
      last = std::move(*task);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (stop && stop())) {
      if (last) {
        co_return std::move(*last);
      }
      co_return task;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (changes) {
      co_await changes->wait(std::min(left, kSlowPoll));
      continue;
    }
    timer.expires_after(std::min(left, kPollWithoutEvents));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace ig::tasks
