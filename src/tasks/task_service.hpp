#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <vector>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/request.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "media/address_policy.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"
#include "tasks/task_events.hpp"
#include "tasks/task_starter.hpp"

namespace ig::billing {
class PriceTable;
}

namespace ig::storage {
class ResultStorage;
}

namespace ig::tasks {

/// What a live status reader has seen of a task: a token that differs whenever the task's
/// state (and with it the progress every dialect shows) differs. Used as an SSE event id.
std::string live_token(const core::Task& task);

/// Creates and reads tasks on behalf of an API key. Knows no dialect's JSON. Thread-safe.
class TaskService {
 public:
  TaskService(store::Store& store, storage::ResultStorage& uploads,
              runtime::BlockingExecutor pool, const core::Clock& clock, core::RandomSource random,
              std::function<void()> on_created,
              std::function<void(std::int64_t row_id)> on_cancelled = {},
              long long max_input_pixels = 50'000'000);

  /// Stores a new task; returns it once committed. `param` is the original body. The task is
  /// queued, or already running when a TaskStarter is set and has a free slot.
  /// `idempotency_key`: the create's Idempotency-Key, begun by Store::begin_idempotent; the
  /// insert names the task in it (Store::insert_task).
  boost::asio::awaitable<core::Result<core::Task>> create(const store::ApiKey& key,
                                                          core::GenerationRequest request,
                                                          std::string param,
                                                          std::string idempotency_key = {});

  /// Images that came inside the request (multipart edits): stored before the task, then
  /// named in its request as "upload:<key>" inputs.
  struct Uploads {
    std::vector<std::string> images;
    std::optional<std::string> mask;
  };
  boost::asio::awaitable<core::Result<core::Task>> create(const store::ApiKey& key,
                                                          core::GenerationRequest request,
                                                          std::string param, Uploads uploads,
                                                          std::string idempotency_key = {});

  /// A created task whose end is already listened for (see create_watched).
  struct Watched {
    core::Task task;
    std::shared_ptr<TaskEvents::Subscription> ended;  // null without events
  };
  /// create() for a caller that waits for the task (the synchronous `openai` dialect): its end
  /// is listened for before the task exists, so wait(Watched) needs no first read.
  boost::asio::awaitable<core::Result<Watched>> create_watched(const store::ApiKey& key,
                                                               core::GenerationRequest request,
                                                               std::string param,
                                                               Uploads uploads,
                                                               std::string idempotency_key = {});

  /// Proves uploads usable before a task is created for them: each image a JPEG/PNG/WEBP
  /// within the pixel cap that decodes completely; the mask (if any) a PNG with alpha of
  /// exactly the first image's size (seed 001's messages). kValidationFailed with param
  /// "image" or "mask" otherwise. Returns the images' sizes. Runs on the blocking pool.
  boost::asio::awaitable<core::Result<std::vector<core::Size>>> check_uploads(
      const Uploads& uploads);

  /// The task with this public id if it belongs to `key`; otherwise kNotFound (another key's
  /// task is indistinguishable from a missing one).
  boost::asio::awaitable<core::Result<core::Task>> get(const store::ApiKey& key, std::string id);

  /// The task with this public id, whoever owns it (the admin API); kNotFound when none.
  boost::asio::awaitable<core::Result<core::Task>> get_any(std::string id);

  /// The key's tasks, newest first: page 1.. of `page_size`. kInternal or kUnavailable when the
  /// store cannot be read (get, cancel and wait answer the same, never kNotFound for it).
  /// With a `filter` (its key_id is ignored), only the key's tasks that match it.
  boost::asio::awaitable<core::Result<store::TaskPage>> list(const store::ApiKey& key, int page,
                                                            int page_size,
                                                            store::TaskFilter filter = {});

  /// Cancels the key's task if it is queued or running; kNotFound for another key's or a
  /// missing task, kConflict when it has already ended. Returns the task as it is afterwards.
  boost::asio::awaitable<core::Result<core::Task>> cancel(const store::ApiKey& key,
                                                          std::string id);

  /// cancel() of any key's task (the admin API).
  boost::asio::awaitable<core::Result<core::Task>> cancel_any(std::string id);

  /// Waits until the key's task is terminal (polling the store every `interval`) or `timeout`
  /// passes (then kUnavailable; the task keeps running). For synchronous dialects.
  boost::asio::awaitable<core::Result<core::Task>> wait(const store::ApiKey& key, std::string id,
                                                        std::chrono::milliseconds timeout,
                                                        std::chrono::milliseconds interval);
  /// wait() for a task from create_watched, polling every 50 ms when there are no events.
  /// When this process ended the task, the answer is the task as it ended (no store read)
  /// and `created.ended->end()` also holds its images.
  boost::asio::awaitable<core::Result<core::Task>> wait(const store::ApiKey& key,
                                                        Watched& created,
                                                        std::chrono::milliseconds timeout);

  /// Live status (long-poll, Server-Sent Events): the key's task as soon as its live_token()
  /// differs from `since` (so at once when `since` is ""), or it is terminal; otherwise, once
  /// `timeout` has passed or `stop()` says so, the task as last read. Woken by TaskEvents
  /// changes in this process; other processes' changes are seen by a slow poll of the store
  /// (every second). `stop` (may be empty) is asked after every read, so it is heeded within a
  /// second. Errors as get(); a busy store is asked again until the timeout.
  boost::asio::awaitable<core::Result<core::Task>> watch(const store::ApiKey& key,
                                                         std::string id, std::string since,
                                                         std::chrono::milliseconds timeout,
                                                         std::function<bool()> stop = {});

  /// Task-end wake-ups for wait(), and change wake-ups for watch(): without them both only
  /// poll.
  void set_events(TaskEvents* events) { events_ = events; }
  /// Runs created tasks at once when it has room (the Dispatcher); without it every task is
  /// created queued and waits for a claim.
  void set_starter(TaskStarter* starter) { starter_ = starter; }
  /// Prices every new task (held from its key's account by the store); without it tasks cost 0.
  void set_prices(const billing::PriceTable* prices) { prices_ = prices; }
  /// Which literal addresses a callback URL may name (the input fetcher's rules and test-only
  /// allowances); a host name is checked again, on the address connected, at delivery.
  void set_callback_policy(media::AddressPolicy policy) { callback_policy_ = std::move(policy); }

  /// Public id in the format of the creating dialect.
  std::string new_task_id(core::Dialect dialect) const;

 private:
  store::Store& store_;
  storage::ResultStorage& uploads_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  core::RandomSource random_;
  std::function<void()> on_created_;
  std::function<void(std::int64_t)> on_cancelled_;
  long long max_input_pixels_;
  TaskEvents* events_ = nullptr;
  TaskStarter* starter_ = nullptr;
  const billing::PriceTable* prices_ = nullptr;
  media::AddressPolicy callback_policy_;

  boost::asio::awaitable<core::Result<core::Task>> create_as(const store::ApiKey& key,
                                                             std::string id,
                                                             core::GenerationRequest request,
                                                             std::string param, Uploads uploads,
                                                             std::string idempotency_key);
  /// Cancels a task read just before: kConflict when it has ended meanwhile.
  boost::asio::awaitable<core::Status> cancel_found(const core::Task& task);
  /// The wait loop; `ended` (may be null) listens for a task known not to have ended before.
  boost::asio::awaitable<core::Result<core::Task>> wait_for(
      const store::ApiKey& key, std::string id,
      std::shared_ptr<TaskEvents::Subscription> ended, std::chrono::milliseconds timeout,
      std::chrono::milliseconds interval);
};

}  // namespace ig::tasks
