#include "tasks/dispatcher.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "core/fail_codes.hpp"
#include "core/sizes.hpp"
#include "media/mask.hpp"
#include "runtime/await_callback.hpp"
#include "storage/result_storage.hpp"
#include "tasks/input_source.hpp"
#include "tasks/log_failure.hpp"
#include "tasks/task_events.hpp"
#include "tasks/upstream_router.hpp"

namespace ig::tasks {

namespace asio = boost::asio;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

core::TaskOutcome failed(std::string code, std::string message) {
  core::TaskOutcome o;
  o.state = core::TaskState::kFailed;
  o.fail_code = std::move(code);
  o.fail_msg = std::move(message);
  return o;
}

std::string_view extension_for(std::string_view format) {
  if (format == "jpeg") {
    return "jpg";
  }
  return format;
}

// Inpainting edits the reference in place, so a masked task has the reference's size; an
// `auto` size with references follows the first reference's shape.
core::Size output_size(const core::GenerationRequest& req, const providers::GenerateJob& job) {
  if (job.mask && !job.references.empty()) {
    return core::Size{job.references.front().width, job.references.front().height};
  }
  if (req.size.width != 0 && req.size.height != 0) {
    return req.size;
  }
  if (job.references.empty()) {
    return *core::unified_table_size({1, 1}, req.tier);
  }
  const auto& first = job.references.front();
  return core::size_from_reference(first.width, first.height, req.tier);
}

bool is_cancellation(const std::exception& e) {
  auto* se = dynamic_cast<const boost::system::system_error*>(&e);
  return se != nullptr && se->code() == asio::error::operation_aborted;
}

/// Sleeps; false when the wait was cancelled.
asio::awaitable<bool> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(use_awaitable));
  co_return !ec;
}

}  // namespace

/// The router's call log and the providers' reports, written to the store for one run.
class detail::StoreCallLog final : public CallLog {
 public:
  StoreCallLog(store::Store& store, runtime::BlockingExecutor pool, const core::Clock& clock,
               const core::Task& task, int attempt, std::function<bool()> still_ours)
      : store_(store),
        pool_(pool),
        clock_(clock),
        task_id_(task.id),
        row_(task.row_id),
        attempt_(attempt),
        still_ours_(std::move(still_ours)) {}

  asio::awaitable<std::int64_t> begin(const CallRecord& call) override {
    store::UpstreamCall row;
    row.task_row = row_;
    row.attempt = attempt_;
    row.route = call.route;
    row.provider_kind = call.provider_kind;
    row.started_ms = clock_.now_ms();
    auto id = co_await runtime::await_callback<core::Result<std::int64_t>>(
        [&](store::Store::Done<std::int64_t> done) {
          store_.begin_upstream_call_async(std::move(row), std::move(done));
        });
    if (!id) {
      spdlog::error("task={} attempt={} logging an upstream call failed: {}", task_id_, attempt_,
                    id.error().message);
      co_return 0;
    }
    co_return *id;
  }

  asio::awaitable<void> finish(std::int64_t id, const CallRecord& call) override {
    if (id == 0) {
      co_return;
    }
    if (call.error_class.empty()) {
      // A success: closed in the task's completion once its images are stored (take_success),
      // or by flush() when they are not. A crash before that leaves the call in flight, and
      // the next run treats it as the paid work it was.
      deferred_ = std::make_unique<std::pair<std::int64_t, CallRecord>>(id, call);
      co_return;
    }
    co_await write(id, call);
  }

  /// Hands a success's deferred end to the task's completion, which writes it.
  std::optional<core::TaskOutcome::CallEnd> take_success() {
    if (!deferred_) {
      return std::nullopt;
    }
    auto [id, call] = std::move(*deferred_);
    deferred_.reset();
    return core::TaskOutcome::CallEnd{id, call.http_status, call.duration_ms,
                                      std::move(call.upstream_id)};
  }

  /// Writes a success's deferred end, if any. Never throws.
  asio::awaitable<void> flush() {
    if (deferred_) {
      auto [id, call] = std::move(*deferred_);
      deferred_.reset();
      co_await write(id, call);
    }
  }

 private:
  asio::awaitable<void> write(std::int64_t id, const CallRecord& call) {
    auto st = co_await runtime::await_callback<core::Status>([&](store::Store::Done<core::Ok> done) {
      store_.finish_upstream_call_async(id, call.http_status, call.duration_ms, call.error_class,
                                        call.error_code, call.message, call.upstream_id,
                                        std::move(done));
    });
    if (!st && st.error().code == core::ErrorCode::kConflict) {
      // A later attempt took the task over (this run's lease ran out) and closed the call as
      // of unknown outcome; that record stands.
      spdlog::warn("task={} attempt={} call ended after a later attempt closed it: {} {}",
                   task_id_, attempt_, call.error_class.empty() ? "ok" : call.error_class,
                   call.error_code);
    } else if (!st) {
      spdlog::error("task={} attempt={} logging an upstream call's end failed: {}", task_id_,
                    attempt_, st.error().message);
    }
  }

 public:
  asio::awaitable<bool> upstream_accepted(const std::string& route,
                                          std::string upstream_id) override {
    // Durable before the provider goes on: a restart must find this work instead of paying for
    // it again. A database error is retried while the run still holds the task.
    auto delay = std::chrono::milliseconds(50);
    for (int tries = 0; tries < 12; ++tries) {
      auto written = co_await runtime::offload(
          pool_, [&] { return store_.set_upstream(row_, attempt_, route, upstream_id); });
      if (written) {
        if (*written == store::Fence::kFencedOut) {
          co_return false;
        }
        spdlog::info("task={} attempt={} upstream={} holds it as {}", task_id_, attempt_, route,
                     upstream_id);
        co_return true;
      }
      spdlog::error("task={} attempt={} recording upstream id {} failed: {}", task_id_, attempt_,
                    upstream_id, written.error().message);
      if (!still_ours_() || !co_await pause(delay)) {
        break;
      }
      delay = std::min(delay * 2, std::chrono::milliseconds(5000));
    }
    co_return false;
  }

 private:
  store::Store& store_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  std::string task_id_;
  std::int64_t row_;
  int attempt_;
  std::function<bool()> still_ours_;
  // Held by pointer: the log lives in a frame that waits through the upstream call, thousands
  // at once, and a success's end is only set after it.
  std::unique_ptr<std::pair<std::int64_t, CallRecord>> deferred_;
};

Dispatcher::Dispatcher(asio::io_context& ioc, runtime::BlockingExecutor pool, store::Store& store,
                       UpstreamRouter& router, InputSource& inputs,
                       storage::ResultStorage& results, const core::Clock& clock,
                       DispatcherConfig config)
    : ioc_(ioc),
      pool_(pool),
      store_(store),
      router_(router),
      inputs_(inputs),
      results_(results),
      clock_(clock),
      config_(std::move(config)),
      strand_(asio::make_strand(ioc)),
      timer_(strand_),
      keeper_timer_(strand_) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::start() {
  loop_done_ = false;
  asio::co_spawn(strand_, loop(), [this](std::exception_ptr e) {
    loop_done_ = true;
    log_failure(e, "dispatcher loop ended");
  });
  keeper_done_ = false;
  asio::co_spawn(strand_, keep_leases(), [this](std::exception_ptr e) {
    keeper_done_ = true;
    log_failure(e, "lease keeper ended");
  });
}

void Dispatcher::wake() {
  backlog_ = true;  // a task was queued: the next claim has something to find
  wake_loop();
}

void Dispatcher::wake_loop() {
  asio::post(strand_, [this] {
    wake_pending_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> Dispatcher::loop() {
  while (!stopping_) {
    wake_pending_ = false;
    // Every free slot is taken before the claim, so that reserve() (a create starting its
    // task at once) cannot hand one out as well meanwhile; the unused ones go back after.
    int before = running_.load();
    while (before < config_.concurrency &&
           !running_.compare_exchange_weak(before, config_.concurrency)) {
    }
    const int free = std::max(0, config_.concurrency - before);
    int launched = 0;
    std::size_t claimed = 0;
    if (free > 0) {
      const std::int64_t now = clock_.now_ms();
      const std::int64_t until = now + config_.lease.count();
      std::vector<store::Claim> claims;
      try {
        auto batch = co_await runtime::offload(pool_, [&] {
          return store_.claim_tasks(config_.owner, free, now, until, config_.max_attempts);
        });
        if (batch) {
          claims = std::move(batch->claims);
          for (const auto& t : batch->exhausted) {
            spdlog::warn("task={} attempt={} failed: {}", t.id, t.attempt, t.fail_code);
          }
          if (events_ != nullptr) {
            for (const auto& t : batch->exhausted) {
              events_->notify(t.id);  // ended (failed), with its refund and callback
            }
          }
        } else {
          spdlog::error("claiming tasks failed: {}", batch.error().message);
        }
      } catch (const std::exception& e) {
        spdlog::error("claiming tasks failed: {}", e.what());
      }
      claimed = claims.size();
      // Fewer than asked for: the queue is empty (tasks of other processes, and leases that
      // run out, are found by the poll).
      backlog_ = static_cast<int>(claimed) == free;
      for (auto& c : claims) {
        if (stopping_) {
          // Claimed while stopping: hand it straight back.
          const auto row = c.task.row_id;
          const int attempt = c.task.attempt;
          (void)co_await runtime::offload(pool_,
                                          [&] { return store_.release_task(row, attempt); });
          continue;
        }
        ++launched;
        launch(std::move(c), /*slot_taken=*/true);
      }
    }
    if (free > launched) {
      running_ -= free - launched;
    }
    if (stopping_) {
      break;
    }
    if (claimed > 0 && static_cast<int>(claimed) == free) {
      continue;  // there may be more work waiting
    }
    if (wake_pending_) {
      continue;
    }
    timer_.expires_after(config_.poll);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(use_awaitable));
    (void)ec;
  }
}

std::optional<TaskStarter::Slot> Dispatcher::reserve() {
  int now = running_.load();
  while (!stopping_ && now < config_.concurrency) {
    if (running_.compare_exchange_weak(now, now + 1)) {
      return Slot{config_.owner, clock_.now_ms() + config_.lease.count()};
    }
  }
  return std::nullopt;
}

void Dispatcher::unreserve() {
  --running_;
  if (backlog_) {
    wake_loop();  // the slot may be wanted by a queued task
  }
}

void Dispatcher::start(store::Claim claim) {
  launch(std::move(claim), /*slot_taken=*/true);
}

void Dispatcher::launch(store::Claim claim, bool slot_taken) {
  const RunKey key{claim.task.row_id, claim.task.attempt};
  auto executor = asio::make_strand(ioc_);
  auto signal = std::make_shared<asio::cancellation_signal>();
  {
    std::lock_guard lock(mu_);
    unfinished_.insert(key);
    if (stopping_) {
      // stop() has already cancelled the runs it saw: leave this claim to its release (stop()
      // waits for reserved slots to come back before it releases what is unfinished).
      if (slot_taken) {
        --running_;
      }
      return;
    }
    runs_[key] = Run{signal, executor};
  }
  if (!slot_taken) {
    ++running_;
  }
  if (events_ != nullptr) {
    events_->changed(claim.task.id);  // the claim wrote it running: live status readers wake
  }
  spdlog::info("task={} attempt={} claimed", claim.task.id, claim.task.attempt);
  const auto spawned = [this, key] {
    // co_spawn has connected the signal's slot by now; a cancellation requested before that
    // (stop() or abandon() between publishing the run and spawning it) found nothing to
    // cancel, so it is delivered again.
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(key); it != runs_.end() && (it->second.cancel_requested || stopping_)) {
      request_cancel(it->second);
    }
  };
  asio::co_spawn(executor, run(std::move(claim)),
                 asio::bind_cancellation_slot(signal->slot(), [this, key](std::exception_ptr e) {
                   log_failure(e, "task run ended by an exception");
                   {
                     std::lock_guard lock(mu_);
                     runs_.erase(key);
                   }
                   --running_;
                   // A freed slot goes to the queue only when it may hold work: claiming
                   // holds every free slot for a moment, and a create arriving then would
                   // be queued instead of started at once.
                   if (backlog_) {
                     wake_loop();
                   }
                 }));
  spawned();
}

// Cancellation is checked explicitly in these coroutines (throw_if_cancelled is off), so a
// step that has started, such as storing paid-for images, is never cut off halfway.
asio::awaitable<bool> Dispatcher::cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

asio::awaitable<void> Dispatcher::keep_leases() {
  const auto every = std::max(config_.lease / 3, std::chrono::milliseconds(10));
  // A round renews its leases in slices (one commit each), spread over the first half of the
  // round: 10,000 running tasks are 60 ms of the writer's CPU, and in one burst they would
  // delay every request and create that meets it. A run claimed just after a round's snapshot
  // is renewed within 1.5 rounds, half its lease.
  const std::size_t kSlice = std::max<std::size_t>(config_.lease_slice, 1);
  std::vector<store::RunRef> held;
  std::vector<store::RunRef> slice;
  auto next_round = std::chrono::steady_clock::now() + every;
  while (!stopping_) {
    keeper_timer_.expires_at(next_round);
    // Cancelled only by stop(), which the loop's condition sees.
    (void)co_await keeper_timer_.async_wait(asio::as_tuple(use_awaitable));
    if (stopping_) {
      break;
    }
    next_round = std::chrono::steady_clock::now() + every;
    held.clear();
    {
      std::lock_guard lock(mu_);
      for (const auto& [row, attempt] : unfinished_) {
        held.push_back({row, attempt});
      }
    }
    const std::size_t slices = (held.size() + kSlice - 1) / kSlice;
    const auto gap =
        slices > 1 ? every / 2 / static_cast<long>(slices) : std::chrono::milliseconds(0);
    for (std::size_t from = 0; from < held.size() && !stopping_; from += kSlice) {
      if (from > 0 && gap.count() > 0) {
        keeper_timer_.expires_after(gap);
        (void)co_await keeper_timer_.async_wait(asio::as_tuple(use_awaitable));
        if (stopping_) {
          break;
        }
      }
      const auto first = held.begin() + static_cast<std::ptrdiff_t>(from);
      slice.assign(first, first + static_cast<std::ptrdiff_t>(std::min(kSlice, held.size() - from)));
      co_await renew(slice);
    }
  }
}

asio::awaitable<void> Dispatcher::renew(const std::vector<store::RunRef>& runs) {
  const std::int64_t until = clock_.now_ms() + config_.lease.count();
  core::Result<std::vector<store::RunRef>> lost = std::vector<store::RunRef>{};
  try {
    lost = co_await runtime::offload(
        pool_, [this, &runs, until] { return store_.renew_leases(runs, until); });
  } catch (const std::exception& e) {
    lost = core::make_error(core::ErrorCode::kInternal, e.what());
  }
  if (!lost) {
    // The store is in trouble: a database error is not a lost lease. Try again next round;
    // the leases still have half their time to run.
    spdlog::error("renewing {} leases failed: {}", runs.size(), lost.error().message);
    co_return;
  }
  std::lock_guard lock(mu_);
  for (const auto& r : *lost) {
    // A run that ended meanwhile is fenced out too (its task is terminal): only one that
    // still counts the task as its own has lost it.
    if (unfinished_.erase({r.row_id, r.attempt}) == 0) {
      continue;
    }
    spdlog::warn("task row={} attempt={} lease lost; abandoning this run", r.row_id, r.attempt);
    if (auto it = runs_.find({r.row_id, r.attempt}); it != runs_.end()) {
      request_cancel(it->second);
    }
  }
}

// Its lease is kept by keep_leases(), which cancels the run when the lease is lost.
asio::awaitable<void> Dispatcher::run(store::Claim claim) {
  co_await asio::this_coro::throw_if_cancelled(false);
  core::Task& task = claim.task;
  const int attempt = task.attempt;
  core::TaskOutcome outcome;
  std::vector<std::string> images;
  try {
    co_await produce(task, attempt, images, outcome);
  } catch (const std::exception& e) {
    if (!is_cancellation(e)) {
      spdlog::error("task={} attempt={} failed with an exception: {}", task.id, attempt,
                    e.what());
    }
    outcome = failed("internal_error", "internal error while generating the image");
  }
  // A run cancelled before it produced images (shutdown, lost lease, the owner's cancel)
  // writes nothing: the task is released on shutdown, or belongs to another run, or is already
  // terminal. Images that were produced are kept: the write below is fenced by the attempt, so
  // it lands only if this run still owns the task, and paid work is not thrown away.
  if (outcome.state != core::TaskState::kSucceeded && co_await cancelled()) {
    spdlog::info("task={} attempt={} run cancelled before completion", task.id, attempt);
    co_return;
  }
  outcome.completed_ms = clock_.now_ms();
  const auto row = task.row_id;
  const std::optional<store::Fence> written = co_await complete(task, attempt, outcome);
  if (!written) {
    // The store never answered: left running, the lease runs out and the next claim finds this
    // run's calls in the log (a paid one is not made again).
    co_return;
  }
  {
    std::lock_guard lock(mu_);
    unfinished_.erase({row, attempt});
  }
  if (*written == store::Fence::kFencedOut) {
    spdlog::warn("task={} attempt={} finished after losing its lease; result discarded", task.id,
                 attempt);
    co_return;
  }
  if (events_ != nullptr) {
    // A waiter (a synchronous `openai` request) gets the task as it ended and its images:
    // it answers without reading the store or the files.
    std::shared_ptr<const TaskEvents::End> end;
    if (events_->listening(task.id)) {
      auto e = std::make_shared<TaskEvents::End>();
      e->task = task;
      e->task.state = outcome.state;
      e->task.fail_code = outcome.fail_code;
      e->task.fail_msg = outcome.fail_msg;
      e->task.results = outcome.results;
      e->task.completed_ms = outcome.completed_ms;
      e->task.usage = outcome.usage;
      if (images.size() == outcome.results.size()) {
        e->images = std::move(images);
      }
      end = std::move(e);
    }
    events_->notify(task.id, std::move(end));
  }
  spdlog::info("task={} attempt={} {}{}{}", task.id, attempt, core::to_string(outcome.state),
               outcome.fail_code.empty() ? "" : " code=", outcome.fail_code);
}

bool Dispatcher::holds(std::int64_t row, int attempt) {
  std::lock_guard lock(mu_);
  return unfinished_.contains({row, attempt});
}

asio::awaitable<std::optional<store::Fence>> Dispatcher::complete(const core::Task& task,
                                                                  int attempt,
                                                                  const core::TaskOutcome& outcome) {
  const auto row = task.row_id;
  auto delay = std::chrono::milliseconds(100);
  for (int tries = 1;; ++tries) {
    // No thread waits for the commit (the store reports its own exceptions as errors).
    core::Result<store::Fence> written = co_await runtime::await_callback<core::Result<store::Fence>>(
        [&](store::Store::Done<store::Fence> done) {
          store_.complete_task_async(row, attempt, outcome, std::move(done));
        });
    if (written) {
      co_return *written;
    }
    // A database error is not a lost lease: finished (maybe paid) work is worth waiting for.
    spdlog::error("task={} attempt={} writing the outcome failed (try {}): {}", task.id, attempt,
                  tries, written.error().message);
    const bool stopping = co_await cancelled();
    if (!holds(row, attempt) || (stopping && tries >= 3)) {
      co_return std::nullopt;
    }
    // Not cancellable: this write is the one thing the run still has to do.
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(asio::as_tuple(use_awaitable));
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

asio::awaitable<std::optional<core::TaskOutcome>> Dispatcher::earlier_calls(
    const core::Task& task, int attempt, std::string& resume_route) {
  if (attempt <= 1) {
    co_return std::nullopt;
  }
  const auto row = task.row_id;
  auto calls = co_await runtime::offload(pool_, [&] { return store_.list_upstream_calls(row); });
  if (!calls) {
    // Not knowing what an earlier run paid for, running again could pay twice.
    co_return failed(std::string(core::fail::kInternal),
                     "the task's earlier upstream calls could not be read; not run again");
  }
  // Calls an earlier run left open: the process stopped during them.
  const std::int64_t now = clock_.now_ms();
  for (auto& call : *calls) {
    if (call.attempt < attempt && call.error_class == "in_flight") {
      const std::int64_t duration = std::max<std::int64_t>(0, now - call.started_ms);
      (void)co_await runtime::offload(pool_, [&] {
        return store_.finish_upstream_call(call.id, 0, duration, "unknown",
                                           std::string(core::fail::kUpstreamUnknownOutcome),
                                           "the gateway stopped during the call", "");
      });
    }
  }
  if (!task.upstream_id.empty() && router_.can_resume(task.upstream_route)) {
    resume_route = task.upstream_route;
    spdlog::info("task={} attempt={} resumes upstream={} id={}", task.id, attempt,
                 task.upstream_route, task.upstream_id);
    co_return std::nullopt;
  }
  // Work an earlier run may have been billed for and that never reached the task: a call still
  // open when that run stopped, one whose outcome was unknown, or one that succeeded or failed
  // after doing the work without the task being completed.
  for (const auto& call : *calls) {
    if (call.attempt >= attempt) {
      continue;
    }
    const bool paid = call.error_class == "in_flight" || call.error_class == "unknown" ||
                      call.error_class.empty() || call.error_class == "failed";
    if (!paid || router_.resubmits_unknown(call.route)) {
      continue;
    }
    spdlog::warn("task={} attempt={} not resubmitted: an earlier call to {} has an unknown "
                 "outcome",
                 task.id, attempt, call.route);
    co_return failed(std::string(core::fail::kUpstreamUnknownOutcome),
                     "the gateway stopped while upstream " + call.route +
                         " was working on this task; its outcome is unknown and the task is not "
                         "sent again, so that it is not paid for twice");
  }
  co_return std::nullopt;
}

// produce() is split in stages, each its own coroutine: a coroutine's frame holds every local
// and temporary of its body for its whole life, and this one lives through the upstream wait,
// thousands at once. Only what the wait needs stays in it, and results are written where the
// caller keeps them (`outcome`, `routed`) rather than returned: a returned value is held twice,
// in the callee's promise and in a temporary of the caller's frame.
asio::awaitable<void> Dispatcher::produce(core::Task& task, int attempt,
                                          std::vector<std::string>& images,
                                          core::TaskOutcome& outcome) {
  std::string resume_route;
  providers::GenerateJob job;
  if (co_await prepare(task, attempt, resume_route, job, outcome)) {
    co_return;
  }
  // The router and providers see cancellation as error codes (their waits do not throw); what
  // follows them, storing images they produced, runs to the end.
  detail::StoreCallLog log(store_, pool_, clock_, task, attempt,
                           [this, row = task.row_id, attempt] { return holds(row, attempt); });
  RoutedResult routed;
  // Lent, not copied: the job holds the task's request through the call, so that a running
  // task keeps one copy of it. Nothing reads `task.request` until it is given back below.
  job.request = std::move(task.request);
  try {
    if (!resume_route.empty()) {
      co_await router_.resume(resume_route, job, log, routed);
    } else {
      co_await router_.generate(core::model_family(job.request), job, log, routed);
    }
  } catch (const std::exception& e) {
    if (!is_cancellation(e)) {
      spdlog::error("task={} attempt={} provider threw: {}", task.id, attempt, e.what());
    }
    routed.result = providers::GenerateResult{};
    routed.result.error =
        providers::GenerateError{"internal_error", "internal error while generating the image"};
  }
  task.request = std::move(job.request);
  co_await conclude(task, attempt, routed.result, log, images, outcome);
}

asio::awaitable<bool> Dispatcher::prepare(core::Task& task, int attempt,
                                          std::string& resume_route, providers::GenerateJob& job,
                                          core::TaskOutcome& outcome) {
  if (auto settled = co_await earlier_calls(task, attempt, resume_route)) {
    outcome = std::move(*settled);
    co_return true;
  }
  core::GenerationRequest& req = task.request;
  const std::size_t max_bytes = core::document_input_max_bytes(req.dialect);
  const auto stopped = [] { return failed("cancelled", "the run was cancelled"); };
  for (std::size_t i = 0; i < req.input_urls.size(); ++i) {
    if (co_await cancelled()) {
      outcome = stopped();
      co_return true;
    }
    auto loaded = co_await inputs_.load(req.input_urls[i],
                                        core::input_field_name(req.dialect, i), max_bytes);
    if (loaded.failure) {
      outcome = failed(loaded.failure->code, loaded.failure->message);
      co_return true;
    }
    job.references.push_back(std::move(*loaded.image));
  }
  if (!req.mask_url.empty() && !job.references.empty()) {
    auto loaded = co_await inputs_.load(
        req.mask_url, std::string(core::mask_field_name(req.dialect)), max_bytes);
    if (loaded.failure) {
      outcome = failed(loaded.failure->code, loaded.failure->message);
      co_return true;
    }
    const auto& ref = job.references.front();
    const auto& m = *loaded.image;
    if (auto problem = media::check_mask(m.mime, m.has_alpha, m.width, m.height, ref.width,
                                         ref.height)) {
      outcome = failed("invalid_mask", *problem);
      co_return true;
    }
    job.mask = std::move(*loaded.image);
  }
  if (auto size = output_size(req, job); size != req.size) {
    req.size = size;
    const auto row = task.row_id;
    (void)co_await runtime::offload(
        pool_, [&] { return store_.set_task_size(row, attempt, size.width, size.height); });
  }
  job.task_id = task.id;
  job.attempt = attempt;
  if (!resume_route.empty()) {
    job.resume_upstream_id = task.upstream_id;
  }
  if (co_await cancelled()) {
    outcome = stopped();
    co_return true;
  }
  co_return false;
}

asio::awaitable<void> Dispatcher::conclude(const core::Task& task, int attempt,
                                           providers::GenerateResult& generated,
                                           detail::StoreCallLog& log,
                                           std::vector<std::string>& images,
                                           core::TaskOutcome& outcome) {
  co_await asio::this_coro::throw_if_cancelled(false);
  if (generated.error) {
    co_await log.flush();
    outcome = failed(generated.error->code, generated.error->message);
    co_return;
  }
  if (static_cast<int>(generated.images.size()) != task.request.n) {
    co_await log.flush();
    outcome = failed("upstream_error", "the provider returned " +
                                           std::to_string(generated.images.size()) +
                                           " images instead of " +
                                           std::to_string(task.request.n));
    co_return;
  }
  outcome = core::TaskOutcome{};
  outcome.state = core::TaskState::kSucceeded;
  outcome.usage = generated.usage;
  const core::Status stored = co_await store_results(task, attempt, generated.images, outcome);
  if (!stored) {
    co_await log.flush();
    outcome = failed("internal_error", "could not store the generated image");
    co_return;
  }
  // The call's end is written with the task's outcome: one commit, not two.
  outcome.call_end = log.take_success();
  for (auto& img : generated.images) {
    images.push_back(std::move(img.bytes));
  }
}

asio::awaitable<core::Status> Dispatcher::store_results(const core::Task& task, int attempt,
                                                        std::vector<providers::ImageBytes>& images,
                                                        core::TaskOutcome& outcome) {
  const std::string_view format = core::effective_output_format(task.request);
  for (std::size_t i = 0; i < images.size(); ++i) {
    auto& img = images[i];
    core::ResultObject obj;
    // The attempt is part of the key, so a late write of a lost attempt can never replace the
    // files of the attempt that completed the task.
    obj.key = task.id + "/a" + std::to_string(attempt) + "-" + std::to_string(i + 1) + "." +
              std::string(extension_for(format));
    obj.content_type = img.mime.empty() ? std::string(core::mime_for_format(format)) : img.mime;
    obj.width = img.width;
    obj.height = img.height;
    auto st = co_await runtime::offload(pool_, [&] { return results_.put(obj.key, img.bytes); });
    if (!st) {
      spdlog::error("task={} storing result failed: {}", task.id, st.error().message);
      co_return st;
    }
    outcome.results.push_back(std::move(obj));
  }
  co_return core::ok_status();
}

void Dispatcher::request_cancel(Run& run) {
  run.cancel_requested = true;
  asio::post(run.executor, [sig = run.cancel] { sig->emit(asio::cancellation_type::terminal); });
}

void Dispatcher::abandon(std::int64_t row_id) {
  std::lock_guard lock(mu_);
  std::erase_if(unfinished_, [row_id](const RunKey& k) { return k.first == row_id; });
  for (auto it = runs_.lower_bound({row_id, std::numeric_limits<int>::min()});
       it != runs_.end() && it->first.first == row_id; ++it) {
    request_cancel(it->second);
  }
}

asio::awaitable<void> Dispatcher::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  asio::post(strand_, [this] {
    timer_.cancel();
    keeper_timer_.cancel();
  });
  {
    std::lock_guard lock(mu_);
    for (auto& [key, r] : runs_) {
      request_cancel(r);
    }
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while ((running_.load() > 0 || !loop_done_.load() || !keeper_done_.load()) &&
         std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(use_awaitable);
  }
  std::set<RunKey> leftover;
  {
    std::lock_guard lock(mu_);
    leftover.swap(unfinished_);
  }
  for (const auto& [row, attempt] : leftover) {
    const auto released =
        co_await runtime::offload(pool_, [&] { return store_.release_task(row, attempt); });
    spdlog::info("task row={} attempt={} {}", row, attempt,
                 !released                                ? "could not be released: " +
                                                                released.error().message
                 : *released == store::Fence::kApplied ? std::string("released for another run")
                                                        : std::string("was no longer ours"));
  }
}

}  // namespace ig::tasks
